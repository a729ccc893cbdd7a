"""``GLMResult``: everything a fit reports, as one pytree."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtri

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
    n_iter: jax.Array
    converged: jax.Array
    status: jax.Array
    aliased: jax.Array
    family: Family
    l2: jax.Array
    names: tuple[str, ...] | None = static_field(default=None)

    def conf_int(self, level: float = 0.95) -> jax.Array:
        """Wald confidence intervals ``coef -/+ z_{(1+level)/2} se``, (p, 2).

        Matches R: ``confint.default``; statsmodels' ``conf_int``.
        """
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {level}")
        dtype = jnp.result_type(self.coef)
        crit = ndtri(jnp.asarray(0.5 + level / 2.0, dtype=dtype))
        return jnp.stack([self.coef - crit * self.se, self.coef + crit * self.se], -1)

    @property
    def estimates_dispersion(self) -> bool:
        """Whether ``scale`` was estimated (t-based p-values) or fixed at 1."""
        return type(self.family).estimates_dispersion
