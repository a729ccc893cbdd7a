"""``jg.Multinomial``: the family object of a categorical response."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import links
from .._family import Family
from .._pytree import static_field

__all__ = ["Multinomial", "log_probabilities", "full_logits"]


class Multinomial(Family):
    """Categorical response with K classes, softmax of baseline-category logits.

    ``eta`` has K - 1 columns, class k against class 0 (the reference), so
    ``mu = softmax([0, eta])``.  Matches R: ``nnet::multinom`` and
    ``VGAM::vglm(family = multinomial(refLevel = 1))``.

    Args:
        n_classes: the number of classes K.  Eagerly it defaults to
            ``max(y) + 1`` for label data (or the columns of a count matrix);
            under ``jit``/``vmap`` with labels it must be given.
    """

    n_classes: int | None = static_field(default=None)
    link: links.Link | None = None

    name = "multinomial"
    default_link = links.Logit
    mean_support = "unit"
    separation_prone = True
    support_text = "integer class labels 0..K-1 or non-negative counts"

    def __post_init__(self):
        if self.link is not None and not isinstance(self.link, links.Logit):
            raise ValueError(
                "Multinomial uses baseline-category logits only; leave link unset"
            )
        super().__post_init__()
        k = self.n_classes
        if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 2):
            raise ValueError(
                f"n_classes must be an int >= 2 (the number of classes), got {k!r}"
            )

    def valid_y(self, y):
        # Labels: integers >= 0 (and < n_classes when known); counts: >= 0.
        ok = jnp.isfinite(y) & (y >= 0)
        if y.ndim == 1:
            ok = ok & (y == jnp.round(y))
            if self.n_classes is not None:
                ok = ok & (y < self.n_classes)
        return ok


def full_logits(eta: jax.Array) -> jax.Array:
    """(..., K-1) baseline logits -> (..., K) logits with class 0 at zero."""
    zeros = jnp.zeros(eta.shape[:-1] + (1,), eta.dtype)
    return jnp.concatenate([zeros, eta], axis=-1)


def log_probabilities(eta: jax.Array) -> jax.Array:
    """log softmax of baseline logits (..., K-1) -> (..., K), stable for any eta."""
    return jax.nn.log_softmax(full_logits(eta), axis=-1)
