"""``GLMResult``: everything a fit reports, as one pytree."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri

from ._diagnostics import residuals
from ._family import Family
from ._multinomial.family import Multinomial
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
    #: class names of a multinomial fit (``jg.glm``), class 0 the reference
    classes: tuple[str, ...] | None = static_field(default=None)
    #: ``jg.fit_negbin``: R's theta and SE.theta of ``glm.nb`` (None for other
    #: fits; the ``theta`` / ``theta_se`` properties give NaN then)
    theta_fit: jax.Array | None = None
    theta_stderr: jax.Array | None = None
    #: what ``cov`` is: None for the model-based (Fisher) covariance, else a
    #: label such as "HC3" set by ``jg.with_cov`` (summary then says so)
    cov_type: str | None = static_field(default=None)

    @property
    def theta(self) -> jax.Array:
        """R's ``theta`` of ``glm.nb`` for ``jg.fit_negbin`` results, else NaN."""
        if self.theta_fit is None:
            return jnp.full(jnp.shape(self.deviance), jnp.nan)
        return self.theta_fit

    @property
    def theta_se(self) -> jax.Array:
        """R's ``SE.theta`` of ``glm.nb`` for ``jg.fit_negbin`` results, else NaN."""
        if self.theta_stderr is None:
            return jnp.full(jnp.shape(self.deviance), jnp.nan)
        return self.theta_stderr

    @property
    def is_multinomial(self) -> bool:
        """Whether this is a multinomial fit (``coef`` is (p, K-1))."""
        return isinstance(self.family, Multinomial)

    @property
    def coef_ndim(self) -> int:
        """Dimensions of ``coef`` for one fit: 2 for multinomial, else 1."""
        return 2 if self.is_multinomial else 1

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names of a multinomial fit: ``classes``, else "0", "1", ..."""
        if not self.is_multinomial:
            raise ValueError("class_names is defined for Multinomial fits only")
        if self.classes is not None:
            return tuple(self.classes)
        return tuple(str(k) for k in range(self.family.n_classes))

    def conf_int(self, level: float = 0.95) -> jax.Array:
        """Wald confidence intervals ``coef -/+ z_{(1+level)/2} se``, (p, 2)
        ((p, K-1, 2) for a multinomial fit).

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
        if self.is_multinomial:
            raise ValueError(
                "residuals are not defined for Multinomial fits; use res.y and "
                "res.mu (fitted class probabilities)"
            )
        return residuals(self, kind)

    @property
    def estimates_dispersion(self) -> bool:
        """Whether ``scale`` was estimated (t-based p-values) or fixed at 1."""
        return type(self.family).estimates_dispersion

    @property
    def uses_t(self) -> bool:
        """Whether ``z`` and ``pvalues`` are t statistics (dispersion estimated,
        model-based covariance) rather than z (normal) statistics; a robust
        covariance from :func:`jaxglm.with_cov` gives z tests, as lmtest's
        ``coeftest`` for a glm."""
        return self.estimates_dispersion and self.cov_type is None

    @property
    def n_dropped(self) -> int:
        """Rows :func:`jaxglm.glm` dropped for missing values (0 for ``fit``).

        Matches R: the "(k observations deleted due to missingness)" line.
        """
        return 0 if self.formula is None else int(self.formula.n_dropped)

    def coef_table(self, level: float = 0.95):
        """The coefficient table as a pandas DataFrame indexed by ``names``.

        Columns ``estimate, se, z`` (``t`` where dispersion is estimated)``, p,
        ci_lower, ci_upper`` (Wald intervals at ``level``).  A multinomial
        fit's table is in long form, indexed by (class, term).

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
        if coef.ndim != self.coef_ndim:
            raise ValueError(
                f"coef_table describes one fit, got a batch of shape "
                f"{coef.shape[: coef.ndim - self.coef_ndim]}; use "
                "jax.tree.map(lambda a: a[i], res)"
            )
        p = coef.shape[0]
        names = list(self.names) if self.names else [f"x{j}" for j in range(p)]
        ci = np.asarray(self.conf_int(level))
        stat = "t" if self.uses_t else "z"
        columns = {
            "estimate": coef,
            "se": np.asarray(self.se),
            stat: np.asarray(self.z),
            "p": np.asarray(self.pvalues),
            "ci_lower": ci[..., 0],
            "ci_upper": ci[..., 1],
        }
        if not self.is_multinomial:
            return pd.DataFrame(columns, index=pd.Index(names, name="term"))
        # Long form: all terms of class 1, then class 2, ... (nnet's order).
        classes = self.class_names[1:]
        index = pd.MultiIndex.from_product([classes, names], names=["class", "term"])
        return pd.DataFrame(
            {key: value.T.ravel() for key, value in columns.items()}, index=index
        )
