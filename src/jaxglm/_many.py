"""``jg.fit_many``: many responses against one shared design, in one compiled call.

The eQTL/GWAS pattern: ``Y`` holds m responses, one per row, all regressed on
the same ``X``.  ``X`` is closed over by ``vmap`` (``in_axes=None``), so it is
never copied m times; each fit keeps its own convergence and status.  For the
Gaussian family with identity link and shared weights, IRLS is one weighted
least-squares solve, so a single factorisation of ``X'WX`` serves every
response.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import links
from ._families import Gaussian
from ._family import Family
from ._fit import fit_traced
from ._inference import summarize
from ._irls import constant_columns
from ._linalg import aliased_columns, gram, solve_spd
from ._result import GLMResult
from ._status import Status, warn_if_failed
from ._validate import (
    as_family,
    cast_family,
    check_values,
    is_concrete,
    prepare,
    valid_input_mask,
)

__all__ = ["fit_many"]


def _batch_axis(value, m: int, n: int, name: str):
    """0 if ``value`` is per-response (m, n), None if shared (n,) or absent."""
    if value is None:
        return None
    shape = np.shape(value)
    if shape == (n,):
        return None
    if shape == (m, n):
        return 0
    raise ValueError(
        f"{name} has shape {shape}; pass ({n},) to share it across responses or "
        f"({m}, {n}) for one row per response"
    )


def _gaussian_identity(X, Y, weights, offset, l2, family, *, tol, max_iter, has_offset):
    """All responses from one Cholesky factor of ``X'WX``: no iteration needed."""
    aliased = aliased_columns(X, weights > 0)
    penalty = jnp.where(constant_columns(X), 0.0, l2)
    G = gram(X, weights) + jnp.diag(penalty)
    offsets = jnp.broadcast_to(offset, Y.shape)  # (n,) shared or (m, n)
    rhs = (weights[:, None] * X).T @ (Y - offsets).T  # (p, m)
    coef, ok = jax.vmap(lambda b: solve_spd(G, b, aliased), in_axes=1)(rhs)

    def one(y, offset, coef, ok):
        valid = valid_input_mask(family, X, y, weights, offset, l2)
        status = jnp.where(
            ~valid,
            Status.INVALID_INPUT,
            jnp.where(
                ok & jnp.all(jnp.isfinite(coef)), Status.SUCCESS, Status.SINGULAR
            ),
        ).astype(jnp.int32)
        coef = jnp.where(valid, coef, jnp.nan)
        return summarize(
            family, X, y, weights, offset, penalty, l2, coef, aliased,
            jnp.ones((), jnp.int32), status,
            has_offset=has_offset, tol=tol, max_iter=max_iter,
        )  # fmt: skip

    return jax.vmap(one)(Y, offsets, coef, ok)


@functools.partial(
    jax.jit,
    static_argnames=("has_offset", "w_axis", "o_axis", "shared"),
)
def _fit_many_compiled(
    X, Y, weights, offset, l2, family, *, tol, max_iter, has_offset, w_axis, o_axis,
    shared,
):  # fmt: skip
    options = dict(tol=tol, max_iter=max_iter, has_offset=has_offset)
    if shared:
        return _gaussian_identity(X, Y, weights, offset, l2, family, **options)
    return jax.vmap(
        lambda y, w, o: fit_traced(X, y, w, o, l2, family, **options),
        in_axes=(0, w_axis, o_axis),
    )(Y, weights, offset)


def fit_many(
    X: ArrayLike,
    Y: ArrayLike,
    family: Family = Gaussian(),
    *,
    weights: ArrayLike | None = None,
    offset: ArrayLike | None = None,
    l2: ArrayLike = 0.0,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> GLMResult:
    """Fit one GLM per response, all sharing the design ``X``.

    Equivalent to ``jax.vmap(lambda y: jg.fit(X, y, family))(Y)`` but validates
    eagerly, never copies ``X``, and solves Gaussian/identity batches with one
    factorisation.

    Args:
        X: shared design matrix, (n, p).
        Y: responses, **(m, n): one response per row** (batch first, like the
            leading batch axis of every result field).
        family: family and link, shared by all fits.
        weights: prior weights, (n,) shared or (m, n) per response.
        offset: offset, (n,) shared or (m, n) per response.
        l2, tol, max_iter: as in :func:`jaxglm.fit`.

    Returns:
        A :class:`GLMResult` whose fields have a leading axis of length m.
    """
    family = as_family(family)
    if not isinstance(Y, jax.Array):
        Y = np.asarray(Y.to_numpy() if hasattr(Y, "to_numpy") else Y)
    if Y.ndim != 2:
        raise ValueError(
            f"Y must be 2-D with one response per row, (m, n); got shape {Y.shape}"
        )
    m, n = Y.shape
    if np.shape(X)[:1] != (n,):
        raise ValueError(
            f"Y has shape {Y.shape} (m responses of length n) but X has shape "
            f"{np.shape(X)}; Y must be (m, n) with n = rows of X (transpose Y if "
            "its responses are columns)"
        )
    w_axis = _batch_axis(weights, m, n, "weights")
    o_axis = _batch_axis(offset, m, n, "offset")
    if is_concrete(X, Y, weights, offset, l2, family):
        check_values(family, X, Y, weights, offset, l2, y_name="Y")
    X_arr, _, _, _, l2_arr = prepare(X, Y[0], family, None, None, l2, tol, max_iter)
    dtype = X_arr.dtype
    Y = jnp.asarray(Y, dtype)
    weights = jnp.ones(n, dtype) if weights is None else jnp.asarray(weights, dtype)
    offset_arr = jnp.zeros(n, dtype) if offset is None else jnp.asarray(offset, dtype)
    shared = (
        isinstance(family, Gaussian)
        and isinstance(family.link, links.Identity)
        and w_axis is None
    )
    res = _fit_many_compiled(
        X_arr, Y, weights, offset_arr, l2_arr, cast_family(family, dtype),
        tol=jnp.asarray(tol, dtype), max_iter=jnp.asarray(max_iter, jnp.int32),
        has_offset=offset is not None,
        w_axis=w_axis, o_axis=o_axis, shared=shared,
    )  # fmt: skip
    if is_concrete(res):
        warn_if_failed(res)
    return res
