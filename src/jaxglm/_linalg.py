"""Weighted least-squares linear algebra: rank detection and SPD solves.

The IRLS step solves ``(X'WX + l2 P) delta = X'W r``.  We form the Gram matrix
(a symmetric rank-n update, the cheapest route for tall-thin X) and solve by
Cholesky after scaling to unit diagonal, which removes the column-scale part of
the conditioning -- the part that hurts float32 most.  The step is computed as
an increment from the current coefficients, so rounding in the solve only slows
convergence; the fixed point (score = 0) is evaluated directly.

Aliased (linearly dependent) columns are found once, before the loop, in the
spirit of R's ``dqrdc2``: columns are taken left to right and a column whose
part orthogonal to the earlier kept columns is negligible is aliased.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from . import _dense, _lapack

__all__ = [
    "aliased_columns",
    "aliased_from_gram",
    "fast_gram_available",
    "gram",
    "inverse_spd",
    "linear_predictor",
    "normal_equations",
    "row_products",
    "use_row_products",
    "solve_general",
    "hat_diagonal",
    "inverse_and_condition",
    "solve_spd",
]

# Row blocks for the normal equations of tall designs (about 1 MB of float64
# at p = 50, so a block stays in cache), used from this many rows on.
_BLOCK_ROWS = 2048
_BLOCKED_MIN_ROWS = 8 * _BLOCK_ROWS
# With one device a block is one plain matrix multiply, faster than the
# grouped form (measured at n = 1e6, p = 50: grouped 2048-row steps 0.67-0.84 s,
# plain blocks of 8,192 to 65,536 rows 0.49-0.54 s, flat across that range).
_PLAIN_BLOCK_ROWS = 16384
# Row groups walked side by side: the most devices a row-sharded X can span
# without GSPMD gathering it (see normal_equations).
_MAX_GROUPS = 16

# A design shared by many fits (fit_many) gets its rows' products precomputed
# when they take at most this many elements (128 MiB in float64).
_ROW_PRODUCTS_MAX_ELEMENTS = 2**24

# Relative squared residual norm below which a column counts as aliased, in
# units of the dtype's epsilon times p (Cholesky on X'X loses about p eps).
_RANK_TOL_EPS = 10.0


def normal_equations(
    X: jax.Array,
    weights: jax.Array,
    target: jax.Array,
    fast_gram: bool = False,
    products: jax.Array | None = None,
):
    """``X' W X`` and ``X' W target`` for W = diag(weights >= 0), in one pass over X.

    For tall X the rows are taken in blocks: each block forms
    ``A = sqrt(w) [X_b, t_b]`` and adds ``A'A``, so no (n, p) temporary is
    materialised and the transposed mat-vec ``X' v`` (slow in XLA's CPU
    emitter) never happens.

    With one device the blocks are plain 2-D products (one matrix multiply
    each, the fastest form in XLA).  With several devices the rows are first
    cut into ``gcd(n, 16)`` contiguous groups, each walked block by block with
    its own running sum: when X is sharded by rows over up to 16 devices (a
    power of two dividing n), each group then lives on one device, so the walk
    needs no communication and the group sums meet in one small all-reduce; a
    single walk over all rows would make GSPMD gather the whole of X onto
    every device (``tests/test_sharding.py``).

    ``fast_gram`` forms ``X'WX`` in float32 within each block (the block sums
    are added in X's dtype) and ``X'W target`` in X's dtype: for float64 data
    it took 0.33 s instead of 0.49-0.54 s at n = 1e6, p = 50, with relative
    error about 3e-8 there.
    IRLS uses it only for its Newton matrix, where an error of that size
    changes the step, not the fixed point: the score (``X'W target``) stays
    exact, so the converged coefficients are the float64 answer.

    ``products``, :func:`row_products` of X, turns the Gram into one
    vector-matrix product, ``weights @ products``: under ``vmap`` over fits
    that share X, one matrix multiply for the whole batch.

    Returns:
        (G, b): (p, p) and (p,).
    """
    n, p = X.shape
    if products is not None:
        return _symmetric_from_upper(weights @ products, p), (weights * target) @ X
    if n < _BLOCKED_MIN_ROWS:
        weighted = weights[:, None] * X
        return X.T @ weighted, weighted.T @ target

    fast_gram = fast_gram and fast_gram_available(X)
    groups = math.gcd(n, _MAX_GROUPS) if jax.device_count() > 1 else 1
    rows_per_group = n // groups
    block = (_BLOCK_ROWS if groups > 1 else _PLAIN_BLOCK_ROWS) // groups
    X = X.reshape(groups, rows_per_group, p)
    weights = weights.reshape(groups, rows_per_group)
    target = target.reshape(groups, rows_per_group)

    def block_sums(Xb, wb, tb):
        # (groups, rows, p) -> (groups, p + 1, p + 1): [[X'WX, X'Wt], [., t'Wt]].
        if groups == 1:
            return block_sums_2d(Xb[0], wb[0], tb[0])[None]
        A = jnp.concatenate([Xb, tb[..., None]], axis=-1) * jnp.sqrt(wb)[..., None]
        return jax.lax.dot_general(A, A, (((1,), (1,)), ((0,), (0,))))

    def block_sums_2d(Xb, wb, tb):
        if not fast_gram:
            A = jnp.concatenate([Xb, tb[:, None]], axis=1) * jnp.sqrt(wb)[:, None]
            return jax.lax.dot_general(A, A, (((0,), (0,)), ((), ())))
        A = (Xb * jnp.sqrt(wb)[:, None]).astype(jnp.float32)
        G = jax.lax.dot_general(A, A, (((0,), (0,)), ((), ()))).astype(Xb.dtype)
        b = jax.lax.dot_general(wb * tb, Xb, (((0,), (0,)), ((), ())))
        top = jnp.concatenate([G, b[:, None]], axis=1)
        return jnp.concatenate([top, jnp.zeros((1, p + 1), Xb.dtype)], axis=0)

    def add_block(i, total):
        def rows(a):
            return jax.lax.dynamic_slice_in_dim(a, i * block, block, axis=1)

        return total + block_sums(rows(X), rows(weights), rows(target))

    n_blocks = rows_per_group // block
    total = jax.lax.fori_loop(
        0, n_blocks, add_block, jnp.zeros((groups, p + 1, p + 1), X.dtype)
    )
    tail = slice(n_blocks * block, rows_per_group)
    if n_blocks * block < rows_per_group:
        total = total + block_sums(X[:, tail], weights[:, tail], target[:, tail])
    total = jnp.sum(total, axis=0)
    return total[:p, :p], total[:p, p]


def linear_predictor(X: jax.Array, coef: jax.Array, shared: bool = False):
    """``X @ coef``; for a design ``shared`` by a vmapped batch, ``coef @ X.T``.

    Under ``vmap`` over fits that share X, ``coef @ X.T`` is one (fits, p) x
    (p, n) multiply straight into (fits, n), where ``X @ coef`` gives (n, fits)
    and a transpose (measured in fit_many's IRLS step: as slow as the rest of
    the step).  For a single fit it is the other way round: XLA transposes the
    whole of X first (n = 1e6, p = 50: 1.4 s and 660 MiB more per fit).
    """
    return coef @ X.T if shared else X @ coef


def use_row_products(X: jax.Array) -> bool:
    """Whether :func:`row_products` of X is small enough to precompute."""
    n, p = X.shape
    return n * p * (p + 1) // 2 <= _ROW_PRODUCTS_MAX_ELEMENTS


def row_products(X: jax.Array) -> jax.Array:
    """Products ``X[:, i] * X[:, j]`` (i <= j) of each row, (n, p (p + 1) / 2).

    ``X' diag(w) X`` is then ``w @ row_products(X)``, unpacked: for a design
    shared by many fits (``fit_many``) every fit's Gram comes from one matrix
    multiply, (fits, n) x (n, p (p + 1) / 2), instead of one small product per
    fit, which XLA runs far below the machine's speed.
    """
    i, j = np.triu_indices(X.shape[1])
    return X[:, i] * X[:, j]


def _symmetric_from_upper(upper: jax.Array, p: int) -> jax.Array:
    """(p, p) symmetric matrix from its upper triangle in ``triu_indices`` order."""
    i, j = np.triu_indices(p)
    index = np.zeros((p, p), dtype=np.int32)
    index[i, j] = np.arange(len(i))
    index[j, i] = np.arange(len(i))
    return upper[index]


def fast_gram_available(X: jax.Array) -> bool:
    """Whether ``normal_equations(X, ..., fast_gram=True)`` takes the float32
    Gram: float64 X tall enough to be walked in blocks, on one device."""
    return (
        X.dtype == jnp.float64
        and X.shape[0] >= _BLOCKED_MIN_ROWS
        and jax.device_count() == 1
    )


def gram(
    X: jax.Array, weights: jax.Array, products: jax.Array | None = None
) -> jax.Array:
    """``X' diag(weights) X``, (p, p), for non-negative weights."""
    return normal_equations(X, weights, jnp.zeros_like(weights), products=products)[0]


def aliased_columns(
    X: jax.Array, used: jax.Array, products: jax.Array | None = None
) -> jax.Array:
    """Boolean (p,) mask of columns that are linear combinations of earlier ones.

    Args:
        X: design matrix, (n, p).
        used: rows that carry weight, (n,) bool.
        products: :func:`row_products` of X, or None.
    """
    n_used = jnp.sum(used.astype(jnp.int32))
    return aliased_from_gram(gram(X, used.astype(X.dtype), products), n_used)


def aliased_from_gram(G: jax.Array, max_rank: jax.Array | None = None) -> jax.Array:
    """:func:`aliased_columns` from the Gram matrix ``X' diag(used) X``, (p, p).

    Streaming fits accumulate the Gram over blocks of rows and decide here.
    ``max_rank``, the number of rows used, bounds the rank for certain: once
    that many columns are kept the rest are aliased, whatever rounding leaves
    of their pivots (a Gram squares X's rounding, so on a design with fewer
    rows than columns a dependent column's pivot can land just above the
    tolerance).
    """
    p = G.shape[0]
    diag = jnp.diag(G)
    scale = jnp.where(diag > 0, 1.0 / jnp.sqrt(jnp.where(diag > 0, diag, 1.0)), 0.0)
    G = G * scale[:, None] * scale[None, :]
    tol = _RANK_TOL_EPS * p * jnp.finfo(G.dtype).eps

    def column(j, carry):
        L, aliased, kept = carry
        # Residual column j of the Cholesky factor given columns < j.
        col = G[:, j] - L @ L[j, :]
        pivot = col[j]
        is_aliased = ~(pivot > tol)
        if max_rank is not None:
            is_aliased = is_aliased | (kept >= max_rank)
        root = jnp.sqrt(jnp.where(is_aliased, 1.0, pivot))
        below = jnp.arange(p) > j
        new = jnp.where(below & ~is_aliased, col / root, 0.0)
        new = new.at[j].set(jnp.where(is_aliased, 0.0, root))
        kept = kept + (~is_aliased).astype(jnp.int32)
        return L.at[:, j].set(new), aliased.at[j].set(is_aliased), kept

    start = (jnp.zeros_like(G), jnp.zeros(p, dtype=bool), jnp.zeros((), jnp.int32))
    _, aliased, _ = jax.lax.fori_loop(0, p, column, start)
    return aliased


def _masked(G: jax.Array, aliased: jax.Array) -> jax.Array:
    """Aliased rows/columns replaced by the identity, so the rest solve alone."""
    keep = ~aliased
    both = keep[:, None] & keep[None, :]
    return jnp.where(both, G, jnp.eye(G.shape[0], dtype=G.dtype))


def solve_general(A: jax.Array, b: jax.Array) -> jax.Array:
    """``A^{-1} b`` for a general square A, differentiable."""
    if A.shape[-1] <= _dense.MAX_P:
        return _dense.lu_solve(A, b)
    return _lapack.inverse(A) @ b


def hat_diagonal(A: jax.Array, n: int) -> jax.Array:
    """Diagonal of ``A (A'A)^{-1} A'`` for the first n rows of a tall A.

    Small p: from the Householder Q, which does not square A's condition
    number (it matters in float32).  Large p: ``a_i' (A'A)^{-1} a_i`` from the
    LAPACK inverse, one matrix per call under vmap (``_lapack``).
    """
    if A.shape[-1] <= _dense.MAX_P:
        return jnp.sum(_dense.qr_q(A)[:n] ** 2, axis=1)
    rows = A[:n]
    return jnp.sum((rows @ _lapack.inverse_spd(A.T @ A)) * rows, axis=1)


def _unit_diagonal(G: jax.Array, aliased: jax.Array):
    """G with aliased rows/columns set to the identity, scaled to unit
    diagonal (the column-scale part of the conditioning removed), and the scale."""
    G = _masked(G, aliased)
    diag = jnp.diag(G)
    scale = 1.0 / jnp.sqrt(jnp.where(diag > 0, diag, 1.0))
    return G * scale[:, None] * scale[None, :], scale


def solve_spd(G: jax.Array, b: jax.Array, aliased: jax.Array):
    """Solve ``G x = b`` on the non-aliased block; aliased entries of x are 0.

    Small p by the ``_dense`` loops, large p by LAPACK (``_lapack``); neither
    makes a batched LAPACK call, which can hang on a small CPU.

    Returns:
        (x, ok): the solution, (p,), and whether the factorisation was finite.
    """
    G, scale = _unit_diagonal(G, aliased)
    rhs = jnp.where(aliased, 0.0, b) * scale
    if G.shape[-1] <= _dense.MAX_P:
        L = _dense.cholesky(G)
        x, ok = _dense.cho_solve(L, rhs), jnp.all(jnp.isfinite(L))
    else:
        x, ok = _lapack.cho_solve(G, rhs)
    return jnp.where(aliased, 0.0, x * scale), ok


def inverse_spd(G: jax.Array, aliased: jax.Array) -> jax.Array:
    """Inverse of ``G`` on the non-aliased block, NaN in aliased rows/columns."""
    return inverse_and_condition(G, aliased)[0]


def inverse_and_condition(G: jax.Array, aliased: jax.Array):
    """:func:`inverse_spd` of G and the 2-norm condition number of G scaled to
    unit diagonal (aliased block excluded), from one factorization.

    The condition number bounds the relative error of a Cholesky solve by
    ``cond * eps``: past about ``0.1 / eps`` the IRLS steps are noise and a
    fit is flagged.  For small p it is ``lambda_max(G) lambda_max(G^-1)`` by
    repeated squaring (within 1% above the exact value; NaN when G is not
    positive definite), which needs no LAPACK eigensolver.  It only sets a
    status, so it carries no derivative.
    """
    unit, scale = _unit_diagonal(G, aliased)
    if G.shape[-1] <= _dense.MAX_P:
        eye = jnp.eye(G.shape[0], dtype=G.dtype)
        inv_unit = _dense.cho_solve(_dense.cholesky(unit), eye)
        fixed_unit, fixed_inv = jax.lax.stop_gradient((unit, inv_unit))
        cond = _dense.extreme_eigenvalue(fixed_unit) * _dense.extreme_eigenvalue(
            0.5 * (fixed_inv + fixed_inv.T)
        )
    else:
        inv_unit = _lapack.inverse_spd(unit)
        eigenvalues = _lapack.eigvalsh(unit)
        cond = eigenvalues[-1] / eigenvalues[0]
    drop = aliased[:, None] | aliased[None, :]
    inv = jnp.where(drop, jnp.nan, inv_unit * scale[:, None] * scale[None, :])
    return inv, cond
