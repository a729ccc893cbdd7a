"""Quasi-likelihood families: R's ``quasipoisson()``, ``quasibinomial()`` and
``quasi(link, variance)``.

A quasi family keeps its parent's mean-variance relation, so the coefficients are
the parent's, but the dispersion is estimated (Pearson chi-squared / df_resid) and
the p-values are t-based; there is no likelihood, so ``loglik``, ``aic`` and
``bic`` are NaN (R's NA).  Deviances, starting values and the valid means follow
``stats::quasipoisson``, ``stats::quasibinomial`` and ``stats::quasi`` exactly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import links
from ._families import Binomial, Poisson, _y_log_y_over
from ._family import Family
from ._pytree import static_field

__all__ = ["QuasiPoisson", "QuasiBinomial", "Quasi", "VARIANCES"]

#: R's ``quasi(variance = )`` names, in R's order of its error message.
VARIANCES = ("constant", "mu(1-mu)", "mu", "mu^2", "mu^3")

# R spells the inverse-squared link "1/mu^2", which is not a Python-style name.
_R_LINK_NAMES = {"1/mu^2": links.InverseSquared}


def _r_link(link):
    if isinstance(link, str) and link.replace(" ", "") in _R_LINK_NAMES:
        return _R_LINK_NAMES[link.replace(" ", "")]()
    return link


def _mu2_unclipped(y, mu):
    """R's quasi ``mu^2`` unit deviance before its ``pmax(., 0)``."""
    safe_y = jnp.where(y == 0, 1.0, y)
    return -2.0 * (jnp.log(safe_y) - jnp.log(mu) - (y - mu) / mu)


def _no_likelihood(mu: jax.Array) -> jax.Array:
    return jnp.full((), jnp.nan, dtype=jnp.result_type(mu))


class QuasiPoisson(Poisson):
    """Counts with Var(y) = scale mu, the dispersion estimated.

    Poisson's coefficients and deviance; Pearson dispersion, t-based p-values and
    no likelihood (``loglik``, ``aic``, ``bic`` NaN).  Matches R: ``quasipoisson()``.
    """

    name = "quasipoisson"
    estimates_dispersion = True

    def __post_init__(self):
        object.__setattr__(self, "link", _r_link(self.link))
        super().__post_init__()

    def loglik(self, y, mu, weights, scale):
        return _no_likelihood(mu)


class QuasiBinomial(Binomial):
    """Proportions ``y`` in [0, 1] (``weights`` = trials), Var(y) = scale mu(1-mu).

    Binomial's coefficients and deviance; Pearson dispersion, t-based p-values and
    no likelihood (``loglik``, ``aic``, ``bic`` NaN).  Matches R: ``quasibinomial()``.
    """

    name = "quasibinomial"
    estimates_dispersion = True

    def __post_init__(self):
        object.__setattr__(self, "link", _r_link(self.link))
        super().__post_init__()

    def loglik(self, y, mu, weights, scale):
        return _no_likelihood(mu)


# Per variance function: (mean support, canonical link, separation-prone, y text).
_VARIANCE_FACTS = {
    "constant": ("real", links.Identity, False, "finite"),
    "mu(1-mu)": ("unit", links.Logit, True, "proportions in [0, 1]"),
    "mu": ("positive", links.Log, True, "non-negative values"),
    "mu^2": ("positive", links.Inverse, False, "non-negative values"),
    "mu^3": ("positive", links.InverseSquared, False, "positive values"),
}


def _check_variance(variance) -> str:
    if not isinstance(variance, str):
        raise TypeError(
            f"variance must be one of the strings {', '.join(map(repr, VARIANCES))} "
            f"(R's quasi(variance = )), got {type(variance).__name__}"
        )
    key = variance.replace(" ", "")
    if key not in VARIANCES:
        raise ValueError(
            f"variance={variance!r} is invalid: possible values are "
            f"{', '.join(map(repr, VARIANCES))} (R's quasi(variance = ))"
        )
    return key


class Quasi(Family):
    """Quasi-likelihood with a chosen link and variance function V(mu).

    ``variance`` is one of ``"constant"``, ``"mu(1-mu)"``, ``"mu"``, ``"mu^2"``,
    ``"mu^3"``; ``Quasi()`` is R's ``quasi()``: identity link, constant variance.
    The dispersion is estimated (Pearson), p-values are t-based, and ``loglik``,
    ``aic``, ``bic`` are NaN.  Deviances and starting values are R's.

    Matches R: ``quasi(link, variance)``.

    Args:
        link: a link instance, class or name (R's names, ``"1/mu^2"`` included);
            identity by default.
        variance: the variance function's name, a static string.
    """

    link: links.Link | None = None
    #: the variance function's name (R's ``family$varfun``); static.
    varfun: str = static_field(default="constant")

    name = "quasi"
    default_link = links.Identity
    estimates_dispersion = True

    def __init__(
        self,
        link: links.Link | str | None = None,
        variance: str = "constant",
        *,
        varfun: str | None = None,
    ):
        # varfun= is the field's own name, so that dataclasses.replace works.
        key = _check_variance(variance if varfun is None else varfun)
        object.__setattr__(self, "link", _r_link(link))
        object.__setattr__(self, "varfun", key)
        self.__post_init__()

    def __repr__(self) -> str:
        return f"Quasi(link={self.link!r}, variance={self.varfun!r})"

    # Facts that depend on the variance function (a static field), so they are
    # properties rather than the ClassVars other families use.
    @property
    def mean_support(self) -> str:  # type: ignore[override]
        return _VARIANCE_FACTS[self.varfun][0]

    @property
    def canonical_link(self) -> type[links.Link]:  # type: ignore[override]
        return _VARIANCE_FACTS[self.varfun][1]

    @property
    def separation_prone(self) -> bool:  # type: ignore[override]
        return _VARIANCE_FACTS[self.varfun][2]

    @property
    def support_text(self) -> str:  # type: ignore[override]
        return _VARIANCE_FACTS[self.varfun][3]

    def variance(self, mu):
        kind = self.varfun
        if kind == "constant":
            return jnp.ones_like(mu)
        if kind == "mu(1-mu)":
            return mu * (1.0 - mu)
        if kind == "mu":
            return mu
        return mu**2 if kind == "mu^2" else mu**3

    def unit_deviance(self, y, mu):
        # stats::quasi's dev.resids for each variance function.
        kind = self.varfun
        if kind == "constant":
            return (y - mu) ** 2
        if kind == "mu(1-mu)":
            return 2.0 * (_y_log_y_over(y, mu) + _y_log_y_over(1.0 - y, 1.0 - mu))
        if kind == "mu":
            return 2.0 * (_y_log_y_over(y, mu) - (y - mu))
        if kind == "mu^2":
            # R: pmax(-2 (log(ifelse(y == 0, 1, y) / mu) - (y - mu) / mu), 0).
            return jnp.maximum(_mu2_unclipped(y, mu), 0.0)
        return (y - mu) ** 2 / (y * mu**2)

    def fitting_deviance(self, y, mu, weights):
        if self.varfun != "mu^2":
            return self.deviance(y, mu, weights)
        # R clips mu^2's unit deviance at 0, which at y = 0 makes it flat for
        # mu < e: a rising-step halving then stalls short of the quasi-score
        # root R's glm.fit (which never halves a rising step) converges to.
        # Unclipped, 2 (log mu + y / mu) + const has the score as its gradient.
        unit = _mu2_unclipped(y, mu)
        return jnp.sum(jnp.where(weights > 0, weights * unit, 0.0))

    def loglik(self, y, mu, weights, scale):
        return _no_likelihood(mu)

    def starting_mu(self, y, weights):
        kind = self.varfun
        if kind == "constant":
            return y
        if kind == "mu(1-mu)":
            return jnp.clip(y, 0.001, 0.999)
        return y + 0.1 * (y == 0)

    def valid_mu(self, mu):
        kind = self.varfun
        if kind == "constant":
            return jnp.isfinite(mu)
        if kind == "mu(1-mu)":
            return jnp.isfinite(mu) & (mu > 0) & (mu < 1)
        return jnp.isfinite(mu) & (mu > 0)

    def valid_y(self, y):
        # R's quasi() does not check y, but its deviance is NaN (or infinite for
        # mu^3 at y = 0) off these sets, and glm() then stops.
        kind = self.varfun
        if kind == "constant":
            return jnp.isfinite(y)
        if kind == "mu(1-mu)":
            return jnp.isfinite(y) & (y >= 0) & (y <= 1)
        if kind == "mu^3":
            return jnp.isfinite(y) & (y > 0)
        return jnp.isfinite(y) & (y >= 0)
