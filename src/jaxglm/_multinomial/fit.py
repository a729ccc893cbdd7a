"""``jg.fit`` with ``family=jg.Multinomial()``: validate, run Newton, summarise."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._irls import constant_columns
from .._linalg import aliased_columns
from .._result import GLMResult
from .._status import warn_if_failed
from .._validate import (
    _check_finite,
    _first_bad,
    _float_dtype,
    _to_array,
    check_loop_options,
    is_concrete,
)
from .._vmap_chunks import in_chunks
from .family import Multinomial
from .inference import summarize
from .irls import fit_coef

__all__ = [
    "check_response",
    "fit_multinomial",
    "fit_multinomial_traced",
    "prepare_multinomial",
]


def _labels_ok(y, k):
    return jnp.isfinite(y) & (y >= 0) & (y < k) & (y == jnp.round(y))


def check_response(y: np.ndarray, k: int) -> None:
    """Raise ValueError for labels outside 0..k-1 or negative / non-finite counts."""
    if y.ndim == 1:
        _check_finite("y", y)
        bad = (y < 0) | (y >= k) | (y != np.round(y))
        if bad.any():
            raise ValueError(
                f"y must hold integer class labels 0..{k - 1} for Multinomial("
                f"n_classes={k}), found {y[bad][0]} at index {_first_bad(bad)}"
            )
        return
    _check_finite("y", y)
    if (y < 0).any():
        raise ValueError(
            f"y counts must be non-negative, found {y[y < 0][0]} at row, column "
            f"{_first_bad(y < 0)}"
        )


def prepare_multinomial(X, y, family: Multinomial, weights, offset, l2, tol, max_iter):
    """Validate and convert; returns ``(X, counts, weights, l2, family)`` with
    ``counts`` (n, K) (one-hot rows for labels) and ``family.n_classes`` set."""
    check_loop_options(tol, max_iter)
    if offset is not None:
        raise ValueError(
            "offset is not supported for Multinomial fits; pass offset=None"
        )
    X = _to_array(X, "X")
    y = _to_array(y, "y")
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D design matrix (n, p), got shape {X.shape}")
    n, p = X.shape
    if n == 0 or p == 0:
        raise ValueError(f"X has shape {X.shape}; a fit needs rows and columns")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(
            f"y has shape {y.shape} but X has {n} rows; for Multinomial pass (n,) "
            "integer class labels or an (n, K) matrix of counts"
        )
    k = family.n_classes
    if y.ndim == 2:
        if k is not None and y.shape[1] != k:
            raise ValueError(
                f"y has {y.shape[1]} count columns but n_classes={k}; pass one "
                "column per class"
            )
        k = y.shape[1]
    elif k is None:
        if not is_concrete(y):
            raise ValueError(
                "Multinomial(n_classes=None) cannot infer the number of classes "
                "from traced labels under jit/vmap; pass jg.Multinomial(n_classes=K)"
            )
        _check_finite("y", y)
        k = int(np.max(y)) + 1 if y.size else 0
    if k < 2:
        raise ValueError(
            f"y has {k} class(es); a multinomial fit needs at least 2 (labels "
            "0..K-1, or set n_classes)"
        )
    arrays = {"X": X}
    if weights is not None:
        w = _to_array(weights, "weights")
        if w.ndim == 2 and w.shape[1] == 1:
            w = w[:, 0]
        if w.shape != (n,):
            raise ValueError(
                f"weights has shape {w.shape} but y has {n} rows; pass one weight "
                "per observation"
            )
        arrays["weights"] = w
    l2_array = _to_array(l2, "l2")
    if l2_array.ndim != 0:
        raise ValueError(f"l2 must be a scalar penalty, got shape {l2_array.shape}")

    if is_concrete(X, y, *arrays.values(), l2_array):
        _check_finite("X", np.asarray(X))
        check_response(np.asarray(y), k)
        if "weights" in arrays:
            w = np.asarray(arrays["weights"])
            _check_finite("weights", w)
            if (w < 0).any():
                raise ValueError(
                    f"weights must be non-negative, found {w[w < 0][0]} at index "
                    f"{_first_bad(w < 0)}"
                )
        totals = np.ones(n) if y.ndim == 1 else np.asarray(y).sum(1)
        w = np.asarray(arrays.get("weights", np.ones(n)))
        if not ((w > 0) & (totals > 0)).any():
            raise ValueError(
                "no row carries weight (weights or count rows are all zero)"
            )
        l2_value = np.asarray(l2_array)
        if not np.isfinite(l2_value) or l2_value < 0:
            raise ValueError(f"l2 must be a finite non-negative penalty, got {l2}")

    float_inputs = list(arrays.values()) + ([y] if y.ndim == 2 else [])
    dtype = _float_dtype(float_inputs)
    X = jnp.asarray(X, dtype)
    weights = jnp.asarray(arrays["weights"], dtype) if "weights" in arrays else None
    weights = jnp.ones(n, dtype) if weights is None else weights
    y = jnp.asarray(y, dtype)
    return X, y, weights, jnp.asarray(l2_array, dtype), Multinomial(n_classes=k)


def _as_counts(y, k, dtype):
    """Labels -> one-hot rows (out-of-range labels give a zero row); counts as is."""
    if y.ndim == 2:
        return y, jnp.all(jnp.isfinite(y) & (y >= 0))
    ok = _labels_ok(y, k)
    counts = jax.nn.one_hot(jnp.where(ok, y, 0).astype(jnp.int32), k, dtype=dtype)
    return counts, jnp.all(ok)


def fit_multinomial_traced(X, y, weights, l2, family: Multinomial, *, tol, max_iter):
    """The whole multinomial fit on prepared arrays; traceable."""
    k = family.n_classes
    counts, y_ok = _as_counts(y, k, X.dtype)
    used = weights > 0
    valid_input = (
        y_ok
        & jnp.all(jnp.isfinite(X))
        & jnp.all(jnp.isfinite(weights) & (weights >= 0))
        & jnp.any(used & (jnp.sum(counts, -1) > 0))
        & jnp.isfinite(l2)
        & (l2 >= 0)
    )
    aliased = aliased_columns(X, used)
    penalty = jnp.tile(jnp.where(constant_columns(X), 0.0, l2), k - 1)
    out = fit_coef(X, counts, weights, penalty, aliased, valid_input, tol, max_iter)
    return summarize(
        family, X, counts, weights, penalty, l2, out.coef, aliased, out.n_iter,
        out.status,
    )  # fmt: skip


_fit_compiled = jax.jit(in_chunks(fit_multinomial_traced, static=()))


def fit_multinomial(
    X, y, family: Multinomial, *, weights, offset, l2, tol, max_iter
) -> GLMResult:
    """``jg.fit`` for ``family=jg.Multinomial()`` (see :func:`jaxglm.fit`)."""
    X, y, weights, l2, family = prepare_multinomial(
        X, y, family, weights, offset, l2, tol, max_iter
    )
    res = _fit_compiled(
        X,
        y,
        weights,
        l2,
        family,
        tol=jnp.asarray(tol, X.dtype),
        max_iter=jnp.asarray(max_iter, jnp.int32),
    )
    if is_concrete(res):
        warn_if_failed(res)
    return res
