"""``GLMResult``: everything a fit reports, as one pytree."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri

from ._diagnostics import residuals
from ._family import Family
from ._pytree import Node, static_field

__all__ = ["GLMResult"]


class GLMResult(Node):
    """The result of :func:`jaxglm.fit`; under ``vmap`` every leaf gains a batch axis.

    Numbers match R's ``glm()`` / ``summary.glm()``: see API.md for each field.
    Aliased coefficients (``rank < p``) are NaN, as R's NA.
    """

    coef: jax.Array
    cov: jax.Array
    se: jax.Array
    z: jax.Array
    pvalues: jax.Array
    deviance: jax.Array
    null_deviance: jax.Array
    loglik: jax.Array
    aic: jax.Array
    bic: jax.Array
    scale: jax.Array
    df_resid: jax.Array
    df_model: jax.Array
    df_null: jax.Array
    nobs: jax.Array
    rank: jax.Array
    mu: jax.Array
    eta: jax.Array
    #: the response and prior weights of the fit, (n,) (R's ``y``, ``prior.weights``)
    y: jax.Array
    weights: jax.Array
    n_iter: jax.Array
    converged: jax.Array
    status: jax.Array
    aliased: jax.Array
    family: Family
    l2: jax.Array
    names: tuple[str, ...] | None = static_field(default=None)
    # jg.glm's FormulaSpec (formula, levels, dropped rows), for predict on new
    # data frames; compared by identity, so it is hashable as static data.
    formula: Any = static_field(default=None)

    def conf_int(self, level: float = 0.95) -> jax.Array:
        """Wald confidence intervals ``coef -/+ z_{(1+level)/2} se``, (p, 2).

        Matches R: ``confint.default``; statsmodels' ``conf_int``.
        """
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {level}")
        dtype = jnp.result_type(self.coef)
        crit = ndtri(jnp.asarray(0.5 + level / 2.0, dtype=dtype))
        return jnp.stack([self.coef - crit * self.se, self.coef + crit * self.se], -1)

    def residuals(self, kind: str = "deviance") -> jax.Array:
        """Residuals of the fit, (n,); see :func:`jaxglm.residuals`.

        Matches R: ``residuals(fit, type = kind)``.
        """
        return residuals(self, kind)

    @property
    def estimates_dispersion(self) -> bool:
        """Whether ``scale`` was estimated (t-based p-values) or fixed at 1."""
        return type(self.family).estimates_dispersion

    @property
    def n_dropped(self) -> int:
        """Rows :func:`jaxglm.glm` dropped for missing values (0 for ``fit``).

        Matches R: the "(k observations deleted due to missingness)" line.
        """
        return 0 if self.formula is None else int(self.formula.n_dropped)

    def coef_table(self, level: float = 0.95):
        """The coefficient table as a pandas DataFrame indexed by ``names``.

        Columns ``estimate, se, z`` (``t`` where dispersion is estimated)``, p,
        ci_lower, ci_upper`` (Wald intervals at ``level``).

        Matches R: ``coef(summary(fit))`` with ``confint.default(fit)``.

        Raises:
            ImportError: pandas is not installed.
            ValueError: for a vmapped batch of fits; index one fit first.
        """
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError(
                "coef_table needs pandas; install it with: pip install "
                '"jaxglm-stats[formula]"'
            ) from err
        coef = np.asarray(self.coef)
        if coef.ndim != 1:
            raise ValueError(
                f"coef_table describes one fit, got a batch of shape "
                f"{coef.shape[:-1]}; use jax.tree.map(lambda a: a[i], res)"
            )
        names = list(self.names) if self.names else [f"x{j}" for j in range(len(coef))]
        ci = np.asarray(self.conf_int(level))
        stat = "t" if self.estimates_dispersion else "z"
        return pd.DataFrame(
            {
                "estimate": coef,
                "se": np.asarray(self.se),
                stat: np.asarray(self.z),
                "p": np.asarray(self.pvalues),
                "ci_lower": ci[:, 0],
                "ci_upper": ci[:, 1],
            },
            index=pd.Index(names, name="term"),
        )
