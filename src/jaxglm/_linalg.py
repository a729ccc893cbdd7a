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

import jax
import jax.numpy as jnp

__all__ = ["aliased_columns", "condition_number", "gram", "solve_spd", "inverse_spd"]

# Relative squared residual norm below which a column counts as aliased, in
# units of the dtype's epsilon times p (Cholesky on X'X loses about p eps).
_RANK_TOL_EPS = 10.0


def gram(X: jax.Array, weights: jax.Array) -> jax.Array:
    """``X' diag(weights) X``, (p, p)."""
    return X.T @ (weights[:, None] * X)


def aliased_columns(X: jax.Array, used: jax.Array) -> jax.Array:
    """Boolean (p,) mask of columns that are linear combinations of earlier ones.

    Args:
        X: design matrix, (n, p).
        used: rows that carry weight, (n,) bool.
    """
    p = X.shape[1]
    G = gram(X, used.astype(X.dtype))
    diag = jnp.diag(G)
    scale = jnp.where(diag > 0, 1.0 / jnp.sqrt(jnp.where(diag > 0, diag, 1.0)), 0.0)
    G = G * scale[:, None] * scale[None, :]
    tol = _RANK_TOL_EPS * p * jnp.finfo(X.dtype).eps

    def column(j, carry):
        L, aliased = carry
        # Residual column j of the Cholesky factor given columns < j.
        col = G[:, j] - L @ L[j, :]
        pivot = col[j]
        is_aliased = ~(pivot > tol)
        root = jnp.sqrt(jnp.where(is_aliased, 1.0, pivot))
        below = jnp.arange(p) > j
        new = jnp.where(below & ~is_aliased, col / root, 0.0)
        new = new.at[j].set(jnp.where(is_aliased, 0.0, root))
        return L.at[:, j].set(new), aliased.at[j].set(is_aliased)

    L0 = jnp.zeros_like(G)
    _, aliased = jax.lax.fori_loop(0, p, column, (L0, jnp.zeros(p, dtype=bool)))
    return aliased


def _masked(G: jax.Array, aliased: jax.Array) -> jax.Array:
    """Aliased rows/columns replaced by the identity, so the rest solve alone."""
    keep = ~aliased
    both = keep[:, None] & keep[None, :]
    return jnp.where(both, G, jnp.eye(G.shape[0], dtype=G.dtype))


def _factor(G: jax.Array, aliased: jax.Array):
    G = _masked(G, aliased)
    diag = jnp.diag(G)
    scale = 1.0 / jnp.sqrt(jnp.where(diag > 0, diag, 1.0))
    L = jnp.linalg.cholesky(G * scale[:, None] * scale[None, :])
    return L, scale


def solve_spd(G: jax.Array, b: jax.Array, aliased: jax.Array):
    """Solve ``G x = b`` on the non-aliased block; aliased entries of x are 0.

    Returns:
        (x, ok): the solution, (p,), and whether the factorisation was finite.
    """
    L, scale = _factor(G, aliased)
    rhs = jnp.where(aliased, 0.0, b) * scale
    x = jax.scipy.linalg.cho_solve((L, True), rhs) * scale
    ok = jnp.all(jnp.isfinite(L))
    return jnp.where(aliased, 0.0, x), ok


def inverse_spd(G: jax.Array, aliased: jax.Array) -> jax.Array:
    """Inverse of ``G`` on the non-aliased block, NaN in aliased rows/columns."""
    L, scale = _factor(G, aliased)
    eye = jnp.eye(G.shape[0], dtype=G.dtype)
    inv = jax.scipy.linalg.cho_solve((L, True), eye) * scale[:, None] * scale[None, :]
    drop = aliased[:, None] | aliased[None, :]
    return jnp.where(drop, jnp.nan, inv)


def condition_number(G: jax.Array, aliased: jax.Array) -> jax.Array:
    """2-norm condition number of ``G`` scaled to unit diagonal, aliased block excluded.

    It bounds the relative error of a Cholesky solve by ``cond * eps``: past
    about ``0.1 / eps`` the IRLS steps are noise and a fit is flagged.
    """
    G = _masked(G, aliased)
    diag = jnp.diag(G)
    scale = 1.0 / jnp.sqrt(jnp.where(diag > 0, diag, 1.0))
    eigenvalues = jnp.linalg.eigvalsh(G * scale[:, None] * scale[None, :])
    return eigenvalues[-1] / eigenvalues[0]
