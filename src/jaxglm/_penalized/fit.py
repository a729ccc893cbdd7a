"""``jg.fit(..., l1=...)``: the elastic-net route of ``jg.fit``.

``jg.fit`` sends a fit here when ``l1`` is traced or not zero; a concrete
``l1 == 0`` keeps the ridge IRLS of ``_irls.py`` (bit for bit, no recompile).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._buckets import unpad
from .._inference import summarize
from .._irls import constant_columns
from .._status import Status, warn_if_failed
from .._validate import cast_family, is_concrete, prepare, valid_input_mask
from .._vmap_chunks import in_chunks
from .implicit import fit_penalized_coef
from .irls import penalized_start

__all__ = ["fit_penalized", "fit_penalized_traced", "check_l1", "l1_is_zero"]


def l1_is_zero(l1) -> bool:
    """A concrete ``l1`` that is 0 everywhere: ``jg.fit`` keeps its ridge IRLS."""
    if isinstance(l1, jax.core.Tracer):
        return False
    try:
        return bool(np.all(np.asarray(l1) == 0))
    except (TypeError, ValueError):
        return False


def check_l1(l1, p: int, name: str = "l1"):
    """``l1`` as an array, scalar or (p,); raises for a bad shape or, when
    concrete, a negative or non-finite value."""
    if isinstance(l1, jax.core.Tracer | jax.Array):
        array = l1
    else:
        try:
            array = np.asarray(l1, dtype=float)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a number or an array, got {l1!r}") from err
    if array.ndim not in (0, 1) or (array.ndim == 1 and array.shape[0] != p):
        raise ValueError(
            f"{name} must be a scalar or have one entry per column of X ({p},), "
            f"got shape {array.shape}"
        )
    if is_concrete(array):
        values = np.asarray(array)
        if not np.isfinite(values).all() or (values < 0).any():
            raise ValueError(f"{name} must be finite and non-negative, got {l1}")
    return array


def fit_penalized_traced(
    X, y, weights, offset, l1, l2, family, *, tol, max_iter, has_offset, n_rows=None
):
    """The whole elastic-net fit on prepared arrays; traceable."""
    l1 = jnp.broadcast_to(jnp.asarray(l1, X.dtype), (X.shape[1],))
    valid_input = (
        valid_input_mask(family, X, y, weights, offset, l2)
        & jnp.all(jnp.isfinite(l1))
        & jnp.all(l1 >= 0)
    )
    # The intercept is not penalised (as glmnet).
    const = constant_columns(X)
    l1_vec = jnp.where(const, 0.0, l1)
    l2_vec = jnp.where(const, 0.0, l2)
    start = penalized_start(family, X, y, weights, offset)
    out = fit_penalized_coef(
        X, y, weights, offset, l1_vec, l2_vec, family, valid_input, tol, max_iter,
        *start,
    )  # fmt: skip
    # Standard errors and the rest come from the active set (a zeroed
    # coefficient is treated like an aliased one): descriptive only, the
    # selection is not accounted for.
    dropped = (out.coef == 0) & (l1_vec > 0)
    res = summarize(
        family, X, y, weights, offset, l2_vec, l2, out.coef, dropped, out.n_iter,
        out.status, has_offset=has_offset, tol=tol, max_iter=max_iter,
        n_rows=n_rows,
    )  # fmt: skip
    coef = jnp.where(dropped, 0.0, res.coef)
    return res.replace(
        coef=coef, z=coef / res.se, status=out.status,
        converged=out.status == Status.SUCCESS,
    )  # fmt: skip


_compiled = jax.jit(in_chunks(fit_penalized_traced), static_argnames=("has_offset",))


def fit_penalized(X, y, family, *, weights, offset, l1, l2, tol, max_iter):
    """Eager entry of ``jg.fit`` for an elastic-net fit (see ``jg.fit``)."""
    if not is_concrete(l1):
        # A traced l1 makes the fit traced: prepare then skips its value
        # checks (they become INVALID_INPUT), as for a traced l2.
        l2 = jnp.asarray(l2) + 0.0 * jnp.sum(jnp.asarray(l1))
    X, y, weights, offset_arr, l2, n_rows = prepare(
        X, y, family, weights, offset, l2, tol, max_iter, pad=True
    )
    l1 = jnp.asarray(check_l1(l1, X.shape[1]), X.dtype)
    res = _compiled(
        X, y, weights, offset_arr, l1, l2, cast_family(family, X.dtype),
        tol=jnp.asarray(tol, X.dtype), max_iter=jnp.asarray(max_iter, jnp.int32),
        has_offset=offset is not None, n_rows=jnp.asarray(n_rows, jnp.int32),
    )  # fmt: skip
    if is_concrete(res):
        res = unpad(res, n_rows)
        warn_if_failed(res)
    return res
