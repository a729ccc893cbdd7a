"""The seven families of API.md, each a pytree of pure functions.

Deviances, starting values and log-likelihoods follow R's ``family`` objects
(``stats``), MASS's ``negative.binomial`` and statmod's ``tweedie``, so fitted
statistics agree with R's ``glm()``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, xlogy

from . import links
from ._family import Family, as_param
from ._special import log_choose, log_factorial

__all__ = [
    "Gaussian",
    "Binomial",
    "Poisson",
    "Gamma",
    "InverseGaussian",
    "NegativeBinomial",
    "Tweedie",
]


def _concrete(value) -> np.ndarray | None:
    """A family parameter's value for an eager check, None while traced.

    NumPy, not jnp: inside ``jit`` even a constant's jnp test is staged and
    has no truth value, so a family built inside a jitted function would fail.
    """
    if isinstance(value, jax.core.Tracer):
        return None
    return np.asarray(value)


def _positive_weighted(weights: jax.Array) -> jax.Array:
    return weights > 0


def _y_log_y_over(y: jax.Array, mu: jax.Array) -> jax.Array:
    """``y log(y / mu)`` with the limit 0 at y = 0 (R's ``y_log_y``).

    Double-where rather than ``xlogy(y, y / mu)``, whose derivative in mu is
    0/0 at y = 0, which would turn gradients of the deviance into NaN.
    """
    positive = y > 0
    safe_y = jnp.where(positive, y, 1.0)
    # log(y) - log(mu), not log(y / mu): a subnormal ratio is flushed to zero on
    # CPU, which would give -inf for a tiny positive y.
    return jnp.where(positive, safe_y * (jnp.log(safe_y) - jnp.log(mu)), 0.0)


class Gaussian(Family):
    """Normal response, Var(y) = scale / weight.  Matches R: ``gaussian()``."""

    link: links.Link | None = None

    name = "gaussian"
    default_link = links.Identity
    canonical_link = links.Identity
    estimates_dispersion = True
    extra_loglik_params = 1

    def variance(self, mu):
        return jnp.ones_like(mu)

    def unit_deviance(self, y, mu):
        return (y - mu) ** 2

    def loglik_scale(self, deviance, weights):
        return deviance / jnp.sum(_positive_weighted(weights))

    def loglik(self, y, mu, weights, scale):
        # R: -(n (log(2 pi dev / n) + 1) - sum(log w)) / 2, i.e. each row a
        # normal density with variance scale / w_i (zero-weight rows dropped).
        used = _positive_weighted(weights)
        safe_w = jnp.where(used, weights, 1.0)
        dens = -0.5 * (
            jnp.log(2 * jnp.pi * scale / safe_w) + safe_w * (y - mu) ** 2 / scale
        )
        return jnp.sum(jnp.where(used, dens, 0.0))


class Binomial(Family):
    """Proportions ``y`` in [0, 1] with ``weights`` = trials.  R: ``binomial()``."""

    link: links.Link | None = None

    name = "binomial"
    default_link = links.Logit
    canonical_link = links.Logit
    mean_support = "unit"
    separation_prone = True
    support_text = "proportions in [0, 1]"

    def variance(self, mu):
        return mu * (1.0 - mu)

    def unit_deviance(self, y, mu):
        return 2.0 * (_y_log_y_over(y, mu) + _y_log_y_over(1.0 - y, 1.0 - mu))

    def loglik(self, y, mu, weights, scale):
        # R's binomial()$aic: dbinom(round(m y), round(m), mu) with m = weights,
        # so grouped data include log C(m, k).
        used = _positive_weighted(weights)
        trials = jnp.round(weights)
        successes = jnp.round(weights * y)
        dens = (
            log_choose(trials, successes)
            + xlogy(successes, mu)
            + xlogy(trials - successes, 1.0 - mu)
        )
        return jnp.sum(jnp.where(used, dens, 0.0))

    def starting_mu(self, y, weights):
        return (weights * y + 0.5) / (weights + 1.0)

    def valid_mu(self, mu):
        return jnp.isfinite(mu) & (mu > 0) & (mu < 1)

    def valid_y(self, y):
        return jnp.isfinite(y) & (y >= 0) & (y <= 1)


class Poisson(Family):
    """Counts, Var(y) = mu.  Matches R: ``poisson()``."""

    link: links.Link | None = None

    name = "poisson"
    default_link = links.Log
    canonical_link = links.Log
    mean_support = "positive"
    separation_prone = True
    support_text = "non-negative counts"

    def variance(self, mu):
        return mu

    def unit_deviance(self, y, mu):
        return 2.0 * (_y_log_y_over(y, mu) - (y - mu))

    def loglik(self, y, mu, weights, scale):
        dens = xlogy(y, mu) - mu - log_factorial(y)
        return jnp.sum(jnp.where(_positive_weighted(weights), weights * dens, 0.0))

    def starting_mu(self, y, weights):
        return y + 0.1

    def valid_mu(self, mu):
        return jnp.isfinite(mu) & (mu > 0)

    def valid_y(self, y):
        return jnp.isfinite(y) & (y >= 0)


class Gamma(Family):
    """Positive continuous response, Var(y) = scale mu^2.  R: ``Gamma()``."""

    link: links.Link | None = None

    name = "Gamma"
    default_link = links.Inverse
    canonical_link = links.Inverse
    mean_support = "positive"
    estimates_dispersion = True
    extra_loglik_params = 1
    support_text = "positive values"

    def variance(self, mu):
        return mu**2

    def unit_deviance(self, y, mu):
        return -2.0 * (jnp.log(y / mu) - (y - mu) / mu)

    def loglik_scale(self, deviance, weights):
        return deviance / jnp.sum(jnp.where(weights > 0, weights, 0.0))

    def loglik(self, y, mu, weights, scale):
        # R's Gamma()$aic: sum(w * dgamma(y, 1/scale, scale = mu * scale, log)).
        shape = 1.0 / scale
        theta = mu * scale
        safe_y = jnp.where(y > 0, y, 1.0)
        dens = (
            (shape - 1.0) * jnp.log(safe_y)
            - safe_y / theta
            - gammaln(shape)
            - shape * jnp.log(theta)
        )
        return jnp.sum(jnp.where(_positive_weighted(weights), weights * dens, 0.0))

    def valid_mu(self, mu):
        return jnp.isfinite(mu) & (mu > 0)

    def valid_y(self, y):
        return jnp.isfinite(y) & (y > 0)


class InverseGaussian(Family):
    """Positive response, Var(y) = scale mu^3.  R: ``inverse.gaussian()``."""

    link: links.Link | None = None

    name = "inverse.gaussian"
    default_link = links.InverseSquared
    canonical_link = links.InverseSquared
    mean_support = "positive"
    estimates_dispersion = True
    extra_loglik_params = 1
    support_text = "positive values"

    def variance(self, mu):
        return mu**3

    def unit_deviance(self, y, mu):
        return (y - mu) ** 2 / (y * mu**2)

    def loglik_scale(self, deviance, weights):
        return deviance / jnp.sum(jnp.where(weights > 0, weights, 0.0))

    def loglik(self, y, mu, weights, scale):
        safe_y = jnp.where(y > 0, y, 1.0)
        dens = -0.5 * (
            jnp.log(2 * jnp.pi * scale * safe_y**3)
            + (safe_y - mu) ** 2 / (scale * safe_y * mu**2)
        )
        return jnp.sum(jnp.where(_positive_weighted(weights), weights * dens, 0.0))

    def valid_mu(self, mu):
        return jnp.isfinite(mu) & (mu > 0)

    def valid_y(self, y):
        return jnp.isfinite(y) & (y > 0)


class NegativeBinomial(Family):
    """Counts with Var(y) = mu + alpha mu^2 and fixed ``alpha`` (= 1 / theta).

    Matches R: ``MASS::negative.binomial(theta = 1 / alpha)``.
    """

    alpha: jax.typing.ArrayLike = 1.0
    link: links.Link | None = None

    name = "negative.binomial"
    default_link = links.Log
    mean_support = "positive"
    separation_prone = True
    support_text = "non-negative counts"

    def __post_init__(self):
        super().__post_init__()
        alpha = _concrete(self.alpha)
        if alpha is not None and not np.all(np.isfinite(alpha) & (alpha > 0)):
            raise ValueError(
                f"NegativeBinomial alpha must be positive and finite (Var = mu + "
                f"alpha mu^2), got {self.alpha}; alpha -> 0 is the Poisson family"
            )

    def valid_params(self):
        alpha = jnp.asarray(self.alpha)
        return jnp.isfinite(alpha) & (alpha > 0)

    def variance(self, mu):
        return mu + as_param(self.alpha, mu) * mu**2

    def unit_deviance(self, y, mu):
        alpha = as_param(self.alpha, mu)
        # (y + theta) log((y + theta) / (mu + theta)), written with log1p so it
        # stays accurate for small alpha.
        tail = (y + 1.0 / alpha) * (jnp.log1p(alpha * y) - jnp.log1p(alpha * mu))
        return 2.0 * (_y_log_y_over(y, mu) - tail)

    def loglik(self, y, mu, weights, scale):
        theta = 1.0 / as_param(self.alpha, mu)
        dens = (
            gammaln(theta + y)
            - gammaln(theta)
            - log_factorial(y)
            + theta * jnp.log(theta)
            + xlogy(y, mu)
            - (y + theta) * jnp.log(mu + theta)
        )
        return jnp.sum(jnp.where(_positive_weighted(weights), weights * dens, 0.0))

    def starting_mu(self, y, weights):
        return y + (y == 0) / 6.0

    def valid_mu(self, mu):
        return jnp.isfinite(mu) & (mu > 0)

    def valid_y(self, y):
        return jnp.isfinite(y) & (y >= 0)


class Tweedie(Family):
    """Tweedie family, Var(y) = scale mu^power, for power 0 or >= 1.

    Matches R: ``statmod::tweedie(var.power = power, link.power = 0)``.  R has no
    likelihood for it, so ``loglik``/``aic``/``bic`` are NaN, as R's NA.
    """

    power: jax.typing.ArrayLike = 1.5
    link: links.Link | None = None

    name = "Tweedie"
    default_link = links.Log
    mean_support = "positive"
    estimates_dispersion = True
    support_text = "non-negative values (positive when power >= 2)"

    def __post_init__(self):
        super().__post_init__()
        power = _concrete(self.power)
        if power is not None:
            if not np.all(np.isfinite(power) & ((power == 0) | (power >= 1))):
                raise ValueError(
                    f"Tweedie power must be 0 or >= 1 (no Tweedie distribution has "
                    f"0 < power < 1), got {self.power}"
                )

    def valid_params(self):
        power = jnp.asarray(self.power)
        return jnp.isfinite(power) & ((power == 0) | (power >= 1))

    def variance(self, mu):
        return mu ** as_param(self.power, mu)

    def unit_deviance(self, y, mu):
        # statmod's tweedie()$dev.resids, with the power = 1 and power = 2 limits
        # taken by double-where so gradients in power stay finite.
        p = as_param(self.power, mu)
        is_one, is_two = p == 1.0, p == 2.0
        p_theta = jnp.where(is_one, 0.5, p)
        p_kappa = jnp.where(is_two, 1.5, p)
        y1 = y + 0.1 * (y == 0)
        theta = jnp.where(
            is_one,
            jnp.log(y1 / mu),
            (y1 ** (1.0 - p_theta) - mu ** (1.0 - p_theta)) / (1.0 - p_theta),
        )
        safe_y = jnp.where(y > 0, y, 1.0)
        y_pow = jnp.where(y > 0, safe_y ** (2.0 - p_kappa), 0.0)
        kappa = jnp.where(
            is_two,
            jnp.log(y1 / mu),
            (y_pow - mu ** (2.0 - p_kappa)) / (2.0 - p_kappa),
        )
        return 2.0 * (y * theta - kappa)

    def loglik(self, y, mu, weights, scale):
        return jnp.full((), jnp.nan, dtype=jnp.result_type(mu))

    def starting_mu(self, y, weights):
        return y + 0.1 * (y == 0)

    def valid_mu(self, mu):
        return jnp.isfinite(mu) & (mu > 0)

    def valid_y(self, y):
        p = as_param(self.power, y)
        nonneg = jnp.where(p >= 2.0, y > 0, y >= 0)
        return jnp.isfinite(y) & jnp.where(p == 0, True, nonneg)
