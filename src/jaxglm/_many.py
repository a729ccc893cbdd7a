"""``jg.fit_many``: many responses against one shared design, in one compiled call.

The eQTL/GWAS pattern: ``Y`` holds m responses, one per row, all regressed on
the same ``X``.  ``X`` is closed over by ``vmap`` (``in_axes=None``), so it is
never copied m times; each fit keeps its own convergence and status.  For the
Gaussian family with identity link and shared weights, IRLS is one weighted
least-squares solve, so a single factorisation of ``X'WX`` serves every
response.

Very many responses are fitted in batches of equal shape (``batch_size``): one
compile, a Python loop over the batches, and an optional progress bar.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import links
from ._buckets import bucket_at_most, paddable, row_bucket
from ._families import Gaussian
from ._family import Family
from ._fit import fit_traced
from ._inference import summarize
from ._irls import constant_columns
from ._linalg import (
    aliased_columns,
    gram,
    row_products,
    solve_spd,
    use_row_products,
)
from ._multinomial.family import Multinomial
from ._multinomial.fit import (
    check_response,
    fit_multinomial_traced,
    prepare_multinomial,
)
from ._progressbar import progress_bar, wants_progress
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

# Without a batch_size, fit_many works in batches of about BATCH_ELEMENTS
# response entries (batch x n), between MIN_BATCH and MAX_BATCH responses. The
# per-response (batch, n) arrays of one IRLS step then stay in cache: measured
# on 2 cores (benchmarks/README.md, bench_batch), 10,000 Poisson fits of n = 1000
# took 1.3-1.6 s in batches of 128-512 and 1.7-2.3 s in batches of 3334-4096;
# logistic fits of n = 500 were fastest at 512-1024 a batch, of n = 100 at 2048.
# Smaller batches also bound the working memory.  A batch is one vmap, not cut
# into _vmap_chunks' chunks: with a shared design each Gram is one matrix
# multiply over the batch, and chunks of 64 responses made the compiled batches
# of 10,000 Poisson fits slower (1.04-1.06 s against 0.86-0.87 s: two runs in
# one process, alternating, medians of 5).
BATCH_ELEMENTS = 2**18
MIN_BATCH = 128
MAX_BATCH = 4096


def default_batch_size(n: int) -> int:
    """Responses per compiled call for responses of length ``n``: a row bucket
    (``_buckets.row_bucket``), so that even batches below it are buckets too."""
    return bucket_at_most(
        int(min(MAX_BATCH, max(MIN_BATCH, BATCH_ELEMENTS // max(n, 1))))
    )


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
    # Computed once, outside vmap: every fit's Gram is then a row of one
    # matrix multiply (weights of all fits) x (row products of X).
    products = row_products(X) if use_row_products(X) else None
    return jax.vmap(
        lambda y, w, o: fit_traced(
            X, y, w, o, l2, family, products=products, **options
        ),
        in_axes=(0, w_axis, o_axis),
    )(Y, weights, offset)


@functools.partial(jax.jit, static_argnames=("w_axis",))
def _fit_many_multinomial_compiled(X, Y, weights, l2, family, *, tol, max_iter, w_axis):
    return jax.vmap(
        lambda y, w: fit_multinomial_traced(
            X, y, w, l2, family, tol=tol, max_iter=max_iter
        ),
        in_axes=(0, w_axis),
    )(Y, weights)


def _batch_size(batch_size, m: int, n: int, concrete: bool) -> int:
    """Responses per compiled call: ``batch_size``, the default, or all ``m``."""
    if batch_size is None:
        largest = default_batch_size(n)
        if not (concrete and m > largest):
            return max(m, 1)
        # As even as possible, so padding the last batch wastes little, and
        # rounded up to a row bucket, so that a new m seldom means a new batch
        # shape to compile (10,000 responses of n = 1000: 40 batches of 256;
        # 300: 2 of 160).
        batches = -(-m // largest)
        return row_bucket(-(-m // batches))
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise ValueError(
            f"batch_size must be a positive integer (responses per compiled "
            f"call) or None, got {batch_size!r}"
        )
    if batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive integer (responses per compiled "
            f"call) or None, got {batch_size}"
        )
    return min(int(batch_size), max(m, 1))


def _rows(value, axis, index):
    """Rows ``index`` of a per-response (m, n) input; shared inputs as they are."""
    return value if axis is None else value[index]


def _in_batches(
    run, Y, weights, offset, w_axis, o_axis, size, bar, *, wait: bool
) -> GLMResult:
    """``run`` on ``size``-response slices of Y, concatenated along axis 0.

    The last slice is padded to ``size`` by repeating the last response (its
    fits are dropped), so every call has one shape and compiles once.  With
    ``wait`` (concrete inputs), each batch finishes before the next is sent, so
    the bar is true and at most one batch's intermediates are alive; a single
    batch is padded to its bucket (``_buckets.row_bucket``), so that a new
    number of responses does not compile again, and results are cut and joined
    on the host, where new shapes compile nothing.
    """
    m = Y.shape[0]
    if size >= m:
        target = row_bucket(m) if wait else m
        if target > m:
            index = np.minimum(np.arange(target), m - 1)
            Y = Y[index]
            weights = _rows(weights, w_axis, index)
            offset = _rows(offset, o_axis, index)
        res = run(Y, weights, offset)
        if wait:
            jax.block_until_ready(res)
            res = _host_rows(res, m)
        bar.update(m)
        return res
    parts = []
    for start in range(0, m, size):
        index = np.minimum(np.arange(start, start + size), m - 1)
        res = run(Y[index], _rows(weights, w_axis, index), _rows(offset, o_axis, index))
        kept = min(size, m - start)
        if wait:
            jax.block_until_ready(res)
            parts.append(jax.device_get(res))
        else:
            parts.append(jax.tree.map(lambda leaf, kept=kept: leaf[:kept], res))
        bar.update(kept)
    if wait:
        joined = jax.tree.map(lambda *leaves: np.concatenate(leaves)[:m], *parts)
        return jax.device_put(joined)
    return jax.tree.map(lambda *leaves: jnp.concatenate(leaves), *parts)


def _host_rows(res, m: int):
    """The first ``m`` fits of a batch result, cut on the host."""
    if jax.tree.leaves(res)[0].shape[0] == m:
        return res
    host = jax.device_get(res)
    return jax.device_put(jax.tree.map(lambda a: np.asarray(a)[:m], host))


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
    batch_size: int | None = None,
    progress: bool | None = None,
) -> GLMResult:
    """Fit one GLM per response, all sharing the design ``X``.

    Equivalent to ``jax.vmap(lambda y: jg.fit(X, y, family))(Y)`` but validates
    eagerly, never copies ``X``, and solves Gaussian/identity batches with one
    factorisation.

    Long runs go in batches: the responses are split into ``batch_size`` rows
    (the last batch padded to the same shape, so there is one compile), fitted
    one batch after another in a Python loop, and the results concatenated;
    they equal the results of one call. The working memory of the fits then
    grows with the batch rather than with m. Without ``batch_size`` the batches
    hold about 262,144 response entries (128 to 4096 responses: 256 of n = 1000),
    as even as possible, which keeps one step's arrays in cache (measured 1.3-1.4x
    faster than batches of thousands on CPU).

    Args:
        X: shared design matrix, (n, p).
        Y: responses, **(m, n): one response per row** (batch first, like the
            leading batch axis of every result field); for ``jg.Multinomial``
            (m, n) class labels or (m, n, K) counts.
        family: family and link, shared by all fits.
        weights: prior weights, (n,) shared or (m, n) per response.
        offset: offset, (n,) shared or (m, n) per response.
        l2, tol, max_iter: as in :func:`jaxglm.fit`.
        batch_size: responses per compiled call; None: even batches of at
            most ``max(128, min(4096, 2**18 // n))``. Under ``jax.jit`` only an
            explicit ``batch_size`` splits the batch (the loop is then unrolled).
        progress: show a progress bar over the batches: None (default) only
            when run interactively (a terminal or Jupyter) and there is more
            than one batch; True always; False never. Uses tqdm when installed
            (``pip install "jaxglm-stats[progress]"``), else a line on stderr.

    Returns:
        A :class:`GLMResult` whose fields have a leading axis of length m.

    Raises:
        ValueError: mismatched shapes, invalid values (as :func:`jaxglm.fit`),
            a ``batch_size`` that is not a positive integer, or a ``progress``
            that is not None, True or False.
    """
    family = as_family(family)
    show = wants_progress(progress)
    if not isinstance(Y, jax.Array):
        Y = np.asarray(Y.to_numpy() if hasattr(Y, "to_numpy") else Y)
    if isinstance(family, Multinomial):
        return _fit_many_multinomial(
            X, Y, family, weights, offset, l2, tol, max_iter, batch_size, show,
            progress,
        )  # fmt: skip
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
    concrete = is_concrete(X, Y, weights, offset, l2, family)
    size = _batch_size(batch_size, m, n, concrete)
    if concrete:
        check_values(family, X, Y, weights, offset, l2, y_name="Y")
    X_arr, _, _, _, l2_arr = prepare(X, Y[0], family, None, None, l2, tol, max_iter)
    dtype = X_arr.dtype
    if concrete and paddable(Y):  # cast and batch on the host: no compiles
        Y = np.asarray(Y, dtype)
    weights = jnp.ones(n, dtype) if weights is None else jnp.asarray(weights, dtype)
    offset_arr = jnp.zeros(n, dtype) if offset is None else jnp.asarray(offset, dtype)
    shared = (
        isinstance(family, Gaussian)
        and isinstance(family.link, links.Identity)
        and w_axis is None
    )
    family = cast_family(family, dtype)
    tol_arr = jnp.asarray(tol, dtype)
    max_iter_arr = jnp.asarray(max_iter, jnp.int32)

    has_offset = offset is not None

    def run(Y, weights, offset):
        return _fit_many_compiled(
            X_arr, jnp.asarray(Y, dtype), weights, offset, l2_arr, family,
            tol=tol_arr, max_iter=max_iter_arr, has_offset=has_offset,
            w_axis=w_axis, o_axis=o_axis, shared=shared,
        )  # fmt: skip

    # A bar needs concrete results to wait for; with one batch, only on request.
    show = show and concrete and (size < m or progress is True)
    bar = progress_bar(m, "fit_many", enabled=show)
    try:
        res = _in_batches(
            run, Y, weights, offset_arr, w_axis, o_axis, size, bar, wait=concrete
        )
    finally:
        bar.close()
    if is_concrete(res):
        warn_if_failed(res)
    return res


def _fit_many_multinomial(
    X, Y, family, weights, offset, l2, tol, max_iter, batch_size, show, progress
) -> GLMResult:
    """:func:`fit_many` for ``jg.Multinomial``: Y (m, n) labels or (m, n, K)."""
    if Y.ndim not in (2, 3):
        raise ValueError(
            f"Y must be (m, n) class labels or (m, n, K) counts for Multinomial, "
            f"got shape {Y.shape}"
        )
    m, n = Y.shape[:2]
    if np.shape(X)[:1] != (n,):
        raise ValueError(
            f"Y has shape {Y.shape} (m responses of length n) but X has shape "
            f"{np.shape(X)}; Y must be (m, n) with n = rows of X"
        )
    w_axis = _batch_axis(weights, m, n, "weights")
    concrete = is_concrete(X, Y, weights, l2)
    size = _batch_size(batch_size, m, n, concrete)
    if Y.ndim == 2 and family.n_classes is None:
        if not concrete:
            raise ValueError(
                "Multinomial(n_classes=None) cannot infer the number of classes "
                "from traced labels; pass jg.Multinomial(n_classes=K)"
            )
        check_values(Gaussian(), np.zeros((1, 1)), Y, None, None, 0.0, y_name="Y")
        family = Multinomial(n_classes=max(int(np.max(Y)) + 1, 2))
    first_weights = None if weights is None else jnp.asarray(weights).reshape(-1, n)[0]
    X_arr, _, _, l2_arr, family = prepare_multinomial(
        X, Y[0], family, first_weights, offset, l2, tol, max_iter
    )
    if concrete:
        check_response(np.asarray(Y), family.n_classes)
        if weights is not None:
            check_values(Gaussian(), np.zeros((1, 1)), np.zeros(1), weights, None, 0.0)
    dtype = X_arr.dtype
    if concrete and paddable(Y):  # cast and batch on the host: no compiles
        Y = np.asarray(Y, dtype)
    weights = jnp.ones(n, dtype) if weights is None else jnp.asarray(weights, dtype)
    tol_arr = jnp.asarray(tol, dtype)
    max_iter_arr = jnp.asarray(max_iter, jnp.int32)

    def run(Y, weights, _offset):
        return _fit_many_multinomial_compiled(
            X_arr, jnp.asarray(Y, dtype), weights, l2_arr, family,
            tol=tol_arr, max_iter=max_iter_arr, w_axis=w_axis,
        )  # fmt: skip

    show = show and concrete and (size < m or progress is True)
    bar = progress_bar(m, "fit_many", enabled=show)
    try:
        res = _in_batches(run, Y, weights, None, w_axis, None, size, bar, wait=concrete)
    finally:
        bar.close()
    if is_concrete(res):
        warn_if_failed(res)
    return res
