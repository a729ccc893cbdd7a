"""The ``Family`` base class: what IRLS and inference need from a distribution."""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp

from . import links as _links
from ._pytree import Node

__all__ = ["Family", "as_param"]


def as_param(value: jax.typing.ArrayLike, like: jax.Array) -> jax.Array:
    """A family parameter cast to the working dtype, so float32 stays float32."""
    return jnp.asarray(value).astype(jnp.result_type(like))


def _resolve_link(link, default: type[_links.Link]) -> _links.Link:
    if link is None:
        return default()
    if isinstance(link, type) and issubclass(link, _links.Link):
        try:
            return link()
        except TypeError as err:
            raise TypeError(
                f"link={link.__name__} is a class that needs arguments; "
                f"pass an instance such as {link.__name__}(...)"
            ) from err
    if isinstance(link, str):
        names = {name.lower(): name for name in _links.__all__ if name != "Link"}
        key = link.replace("_", "").replace("-", "").replace(" ", "").lower()
        if key in names:
            return getattr(_links, names[key])()
        raise ValueError(
            f"link={link!r} is not a known link name; use one of "
            f"{', '.join(sorted(names.values()))} or a jg.links.Link instance"
        )
    if not isinstance(link, _links.Link):
        raise TypeError(
            f"link must be a jg.links.Link instance (e.g. jg.links.Log()), "
            f"got {type(link).__name__}"
        )
    return link


class Family(Node):
    """An exponential-dispersion family with its link.

    Subclasses define ``variance``, ``unit_deviance``, ``loglik`` and
    ``starting_mu`` as pure functions of arrays; parameters are leaves.
    """

    # Each concrete family declares its own ``link`` field after its parameters,
    # so ``NegativeBinomial(0.5)`` sets alpha as API.md's signature promises (a
    # ``link`` annotation here would fix its position first in every subclass).

    name: ClassVar[str] = "family"
    default_link: ClassVar[type[_links.Link]] = _links.Identity
    estimates_dispersion: ClassVar[bool] = False
    #: which means the family can have: "real", "positive" or "unit".
    mean_support: ClassVar[str] = "real"
    #: parameters counted by R's logLik beyond the coefficients (the dispersion).
    extra_loglik_params: ClassVar[int] = 0
    #: fitted means numerically at the edge of the support signal separation.
    separation_prone: ClassVar[bool] = False
    #: the canonical link (Fisher scoring is Newton's method with it), or None.
    canonical_link: ClassVar[type[_links.Link] | None] = None

    @property
    def uses_canonical_link(self) -> bool:
        """Whether the link is the canonical one, so that the expected and
        observed information coincide."""
        return (
            self.canonical_link is not None and type(self.link) is self.canonical_link
        )

    def __post_init__(self):
        link = _resolve_link(self.link, self.default_link)
        object.__setattr__(self, "link", link)
        if link.mean_range == "unit" and self.mean_support != "unit":
            raise ValueError(
                f"{type(self).__name__} cannot use the {type(link).__name__} link: "
                f"its inverse only gives means in (0, 1), but a "
                f"{type(self).__name__} mean can be any "
                f"{'positive' if self.mean_support == 'positive' else 'real'} "
                "value; choose a link such as Log or Identity"
            )

    # --- the distribution -------------------------------------------------
    def variance(self, mu: jax.Array) -> jax.Array:
        """Variance function V(mu): Var(y) = scale * V(mu) / weight."""
        raise NotImplementedError

    def unit_deviance(self, y: jax.Array, mu: jax.Array) -> jax.Array:
        """Deviance of one observation with weight 1 (R's ``dev.resids``)."""
        raise NotImplementedError

    def deviance(self, y: jax.Array, mu: jax.Array, weights: jax.Array) -> jax.Array:
        """Total deviance, sum of weighted unit deviances (zero-weight rows add 0)."""
        unit = self.unit_deviance(y, mu)
        return jnp.sum(jnp.where(weights > 0, weights * unit, 0.0))

    def fitting_deviance(
        self, y: jax.Array, mu: jax.Array, weights: jax.Array
    ) -> jax.Array:
        """The deviance IRLS steps by (halving, convergence): ``deviance`` up to
        a constant, but smooth where R's reported deviance is clipped (quasi
        ``mu^2`` at y = 0), so that its minimum is the quasi-score root."""
        return self.deviance(y, mu, weights)

    def loglik(
        self, y: jax.Array, mu: jax.Array, weights: jax.Array, scale: jax.Array
    ) -> jax.Array:
        """Log-likelihood at the given dispersion, with R's ``family()$aic`` terms."""
        raise NotImplementedError

    def loglik_scale(self, deviance: jax.Array, weights: jax.Array) -> jax.Array:
        """The dispersion R plugs into the likelihood for AIC (1 if fixed)."""
        return jnp.ones_like(deviance)

    def starting_mu(self, y: jax.Array, weights: jax.Array) -> jax.Array:
        """Initial means, R's ``mustart``."""
        return y

    # --- validity -----------------------------------------------------------
    def valid_mu(self, mu: jax.Array) -> jax.Array:
        """Elementwise: is ``mu`` a possible mean for this family?"""
        return jnp.isfinite(mu)

    def valid_params(self) -> jax.Array:
        """Are the family parameters valid?  Traceable, for ``INVALID_INPUT``."""
        return jnp.ones((), bool)

    def valid_y(self, y: jax.Array) -> jax.Array:
        """Elementwise: is ``y`` in the support of the response?"""
        return jnp.isfinite(y)

    support_text: ClassVar[str] = "finite"
