"""``jg.predict``: the mean or linear predictor of a fit on new rows."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._multinomial.family import Multinomial, full_logits
from ._result import GLMResult

__all__ = ["predict"]


def predict(
    res: GLMResult,
    X_new: ArrayLike,
    offset: ArrayLike | None = None,
    which: str = "mean",
) -> jax.Array:
    """Predictions of a fitted GLM for the rows of ``X_new``.

    Matches R: ``predict(fit, newdata, type = "response" | "link")``.

    Args:
        res: a fit from :func:`jaxglm.fit` (one fit; ``vmap`` for a batch).
        X_new: design matrix with the fit's columns, (m, p); for a
            :func:`jaxglm.glm` fit also a data frame (or dict of columns),
            from which the formula rebuilds the design with the fit's levels
            and its offset terms (rows with missing values predict NaN).
        offset: added to the linear predictor, (m,); R's ``offset`` in newdata.
            For a formula fit it replaces the offset computed from the data;
            it is required when the fit's offset was an array.
        which: ``"mean"`` for ``mu`` or ``"linear"`` for ``eta``.

    Returns:
        (m,) predictions; for a multinomial fit (m, K) class probabilities
        (``"mean"``) or (m, K-1) baseline logits (``"linear"``).  Aliased
        coefficients count as 0, as in R.
    """
    if which not in ("mean", "linear"):
        raise ValueError(f'which must be "mean" or "linear", got {which!r}')
    if res.formula is not None and (
        hasattr(X_new, "columns") or isinstance(X_new, Mapping)
    ):
        X_new, data_offset = res.formula.design(X_new, offset is not None)
        offset = data_offset if offset is None else offset
    if hasattr(X_new, "to_numpy") and not isinstance(X_new, jax.Array):
        X_new = X_new.to_numpy()
    multinomial = isinstance(res.family, Multinomial)
    aliased = res.aliased[:, None] if multinomial else res.aliased
    coef = jnp.where(aliased, 0.0, res.coef)
    X_new = jnp.asarray(X_new, dtype=coef.dtype)
    if X_new.ndim == 1:
        X_new = X_new[None, :]
    p = coef.shape[0] if multinomial else coef.shape[-1]
    if X_new.ndim != 2 or X_new.shape[-1] != p:
        raise ValueError(
            f"X_new has shape {X_new.shape} but the fit has {p} "
            "coefficients per linear predictor; pass an (m, p) design with the "
            "fit's columns"
        )
    eta = X_new @ coef
    if multinomial:
        if offset is not None:
            raise ValueError("offset is not supported for Multinomial fits")
        if which == "linear":
            return eta
        return jax.nn.softmax(full_logits(eta), axis=-1)
    if offset is not None:
        offset = jnp.asarray(offset, dtype=coef.dtype)
        if offset.ndim > 1 or (offset.ndim == 1 and offset.shape[0] != X_new.shape[0]):
            raise ValueError(
                f"offset has shape {offset.shape} but X_new has {X_new.shape[0]} "
                "rows; pass one offset per row"
            )
        eta = eta + offset
    if which == "linear":
        return eta
    return res.family.link.inverse(eta)
