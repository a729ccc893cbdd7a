"""Demo: a Poisson rate model of motor insurance claims, as in R's `glm()`.

Run with `python -m jaxglm.demo`. Fits Claims ~ District + Group + Age with offset
log(Holders) on MASS's `Insurance` data and prints an R-style summary.
"""

from __future__ import annotations

import jax
import numpy as np

import jaxglm as jg
from jaxglm import datasets


def main() -> None:
    """Fit the insurance claims model and print its summary and a dispersion check."""
    # Float64 for R-level accuracy. Fine in a script; the library never sets this.
    jax.config.update("jax_enable_x64", True)

    X, y, offset, names = datasets.insurance_design()
    res = jg.fit(X, y, family=jg.Poisson(), offset=offset)

    print("Poisson GLM: Claims ~ District + Group + Age + offset(log(Holders))")
    print("Data: MASS::Insurance (64 cells); treatment coding, first level baseline")
    print()
    print(jg.summary(res, names=names))
    print()

    # Overdispersion check: Pearson chi-squared / df_resid is about 1 if the Poisson
    # variance holds; a quasi-Poisson fit would multiply the standard errors by its
    # square root.
    mu = np.asarray(res.mu)
    df_resid = float(res.df_resid)
    pearson_scale = float(np.sum((y - mu) ** 2 / mu)) / df_resid
    print(
        f"Poisson scale (fixed): {float(res.scale):.4g}; "
        f"Pearson chi2 / df_resid = {pearson_scale:.4f} on {df_resid:.0f} df "
        f"(quasi-Poisson SEs would be x{np.sqrt(pearson_scale):.3f})"
    )


if __name__ == "__main__":
    main()
