"""Link functions ``g(mu) = eta`` as pytrees of pure functions.

A link needs only :meth:`Link.inverse`; the base class derives ``link`` (by a
safeguarded Newton solve), ``inverse_deriv`` (d mu / d eta) and ``deriv``
(d eta / d mu) with autodiff.  The built-in links override them with closed
forms that clip the way R's ``make.link`` does, so fits match R at the edges.
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr, ndtri

from ._pytree import Node

__all__ = [
    "Link",
    "Identity",
    "Log",
    "Logit",
    "Probit",
    "CLogLog",
    "LogLog",
    "Cauchit",
    "Inverse",
    "InverseSquared",
    "Sqrt",
    "Power",
]

_NEWTON_STEPS = 60


def _eps(x: jax.Array) -> jax.Array:
    return jnp.asarray(jnp.finfo(jnp.result_type(x)).eps, dtype=jnp.result_type(x))


class Link(Node):
    """Base class of links; subclasses must define ``inverse(eta)``.

    ``mean_range`` says which means the inverse can produce: ``"real"``,
    ``"positive"`` or ``"unit"`` (the open interval (0, 1)); families use it to
    refuse links that cannot hold their mean.
    """

    mean_range: ClassVar[str] = "real"

    def inverse(self, eta: jax.Array) -> jax.Array:
        """Mean from the linear predictor, ``mu = g^{-1}(eta)``."""
        raise NotImplementedError(
            f"{type(self).__name__} must define inverse(eta) to be a link"
        )

    def inverse_deriv(self, eta: jax.Array) -> jax.Array:
        """d mu / d eta, elementwise, by forward-mode autodiff of ``inverse``."""
        eta = jnp.asarray(eta)
        return jax.jvp(self.inverse, (eta,), (jnp.ones_like(eta),))[1]

    def link(self, mu: jax.Array) -> jax.Array:
        """``eta = g(mu)``; by default the inverse is inverted numerically.

        Newton's method on ``inverse(eta) - mu`` with the step capped at 1 in
        absolute size, so a monotone inverse converges from ``eta = 0``; a user
        link should override this with a closed form when one exists.
        """
        mu = jnp.asarray(mu)

        def step(_, eta):
            resid = self.inverse(eta) - mu
            slope = self.inverse_deriv(eta)
            safe = jnp.where(slope == 0, 1.0, slope)
            delta = jnp.where(slope == 0, 0.0, resid / safe)
            return eta - jnp.clip(delta, -1.0, 1.0)

        return jax.lax.fori_loop(0, _NEWTON_STEPS, step, jnp.zeros_like(mu))

    def deriv(self, mu: jax.Array) -> jax.Array:
        """d eta / d mu, the reciprocal of ``inverse_deriv`` at ``link(mu)``."""
        return 1.0 / self.inverse_deriv(self.link(mu))

    def valid_eta(self, eta: jax.Array) -> jax.Array:
        """Elementwise: is ``eta`` inside the domain of the inverse?"""
        return jnp.isfinite(eta)


class Identity(Link):
    """``eta = mu``."""

    def link(self, mu):
        return mu

    def inverse(self, eta):
        return eta

    def inverse_deriv(self, eta):
        return jnp.ones_like(eta)

    def deriv(self, mu):
        return jnp.ones_like(mu)


class Log(Link):
    """``eta = log(mu)``; the inverse is floored at machine epsilon as in R."""

    mean_range = "positive"

    def link(self, mu):
        return jnp.log(mu)

    def inverse(self, eta):
        return jnp.maximum(jnp.exp(eta), _eps(eta))

    def inverse_deriv(self, eta):
        return jnp.maximum(jnp.exp(eta), _eps(eta))

    def deriv(self, mu):
        return 1.0 / mu


class Logit(Link):
    """``eta = log(mu / (1 - mu))``, canonical for the binomial."""

    mean_range = "unit"

    def link(self, mu):
        return jnp.log(mu) - jnp.log1p(-mu)

    def inverse(self, eta):
        eps = _eps(eta)
        return jnp.clip(jax.nn.sigmoid(eta), eps, 1.0 - eps)

    def inverse_deriv(self, eta):
        mu = jax.nn.sigmoid(eta)
        return jnp.maximum(mu * (1.0 - mu), _eps(eta))

    def deriv(self, mu):
        return 1.0 / (mu * (1.0 - mu))


class Probit(Link):
    """``eta = Phi^{-1}(mu)``, the standard normal quantile."""

    mean_range = "unit"

    def link(self, mu):
        return ndtri(mu)

    def _clip(self, eta):
        thresh = -ndtri(_eps(eta))
        return jnp.clip(eta, -thresh, thresh)

    def inverse(self, eta):
        return ndtr(self._clip(eta))

    def inverse_deriv(self, eta):
        eta = self._clip(eta)
        density = jnp.exp(-0.5 * eta**2) / jnp.sqrt(2.0 * jnp.pi)
        return jnp.maximum(density, _eps(eta))

    def deriv(self, mu):
        eta = ndtri(mu)
        return jnp.sqrt(2.0 * jnp.pi) * jnp.exp(0.5 * eta**2)


class CLogLog(Link):
    """``eta = log(-log(1 - mu))``, complementary log-log."""

    mean_range = "unit"

    def link(self, mu):
        return jnp.log(-jnp.log1p(-mu))

    def inverse(self, eta):
        eps = _eps(eta)
        return jnp.clip(-jnp.expm1(-jnp.exp(eta)), eps, 1.0 - eps)

    def inverse_deriv(self, eta):
        eta = jnp.minimum(eta, 700.0)
        return jnp.maximum(jnp.exp(eta - jnp.exp(eta)), _eps(eta))

    def deriv(self, mu):
        return -1.0 / ((1.0 - mu) * jnp.log1p(-mu))


class LogLog(Link):
    """``eta = -log(-log(mu))``, the log-log link (statsmodels' ``LogLog``)."""

    mean_range = "unit"

    def link(self, mu):
        return -jnp.log(-jnp.log(mu))

    def inverse(self, eta):
        eps = _eps(eta)
        return jnp.clip(jnp.exp(-jnp.exp(-eta)), eps, 1.0 - eps)

    def inverse_deriv(self, eta):
        eta = jnp.maximum(eta, -700.0)
        return jnp.maximum(jnp.exp(-eta - jnp.exp(-eta)), _eps(eta))

    def deriv(self, mu):
        return -1.0 / (mu * jnp.log(mu))


class Cauchit(Link):
    """``eta = tan(pi (mu - 1/2))``, the Cauchy quantile."""

    mean_range = "unit"

    def link(self, mu):
        return jnp.tan(jnp.pi * (mu - 0.5))

    def _clip(self, eta):
        thresh = 1.0 / jnp.tan(jnp.pi * _eps(eta))  # -qcauchy(eps), as R
        return jnp.clip(eta, -thresh, thresh)

    def inverse(self, eta):
        return 0.5 + jnp.arctan(self._clip(eta)) / jnp.pi

    def inverse_deriv(self, eta):
        eta = self._clip(eta)
        return jnp.maximum(1.0 / (jnp.pi * (1.0 + eta**2)), _eps(eta))

    def deriv(self, mu):
        return jnp.pi / jnp.cos(jnp.pi * (mu - 0.5)) ** 2


class Inverse(Link):
    """``eta = 1 / mu``, canonical for the Gamma."""

    def link(self, mu):
        return 1.0 / mu

    def inverse(self, eta):
        return 1.0 / eta

    def inverse_deriv(self, eta):
        return -1.0 / eta**2

    def deriv(self, mu):
        return -1.0 / mu**2

    def valid_eta(self, eta):
        return jnp.isfinite(eta) & (eta != 0)


class InverseSquared(Link):
    """``eta = 1 / mu^2``, canonical for the inverse Gaussian."""

    mean_range = "positive"

    def link(self, mu):
        return 1.0 / mu**2

    def inverse(self, eta):
        return 1.0 / jnp.sqrt(eta)

    def inverse_deriv(self, eta):
        return -1.0 / (2.0 * eta**1.5)

    def deriv(self, mu):
        return -2.0 / mu**3

    def valid_eta(self, eta):
        return jnp.isfinite(eta) & (eta > 0)


class Sqrt(Link):
    """``eta = sqrt(mu)``."""

    mean_range = "positive"

    def link(self, mu):
        return jnp.sqrt(mu)

    def inverse(self, eta):
        return eta**2

    def inverse_deriv(self, eta):
        return 2.0 * eta

    def deriv(self, mu):
        return 0.5 / jnp.sqrt(mu)

    def valid_eta(self, eta):
        return jnp.isfinite(eta) & (eta > 0)


class Power(Link):
    """``eta = mu^p``; ``p = 0`` is the log link, as R's ``power(0)``.

    ``p`` is an array leaf, so a batch of power links can be vmapped.
    """

    mean_range = "positive"
    p: jax.typing.ArrayLike = 1.0

    def _is_log(self):
        return jnp.asarray(self.p) == 0

    def _safe_p(self):
        return jnp.where(self._is_log(), 1.0, self.p)

    def link(self, mu):
        p = self._safe_p().astype(jnp.result_type(mu))
        return jnp.where(self._is_log(), jnp.log(mu), mu**p)

    def inverse(self, eta):
        p = self._safe_p().astype(jnp.result_type(eta))
        safe_eta = jnp.where(self._is_log(), 1.0, eta)
        powered = safe_eta ** (1.0 / p)
        return jnp.where(self._is_log(), jnp.maximum(jnp.exp(eta), _eps(eta)), powered)

    def inverse_deriv(self, eta):
        p = self._safe_p().astype(jnp.result_type(eta))
        safe_eta = jnp.where(self._is_log(), 1.0, eta)
        powered = safe_eta ** (1.0 / p - 1.0) / p
        return jnp.where(self._is_log(), jnp.maximum(jnp.exp(eta), _eps(eta)), powered)

    def deriv(self, mu):
        p = self._safe_p().astype(jnp.result_type(mu))
        return jnp.where(self._is_log(), 1.0 / mu, p * mu ** (p - 1.0))

    def valid_eta(self, eta):
        return jnp.isfinite(eta) & ((eta > 0) | self._is_log())
