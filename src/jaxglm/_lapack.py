"""LAPACK for large p, one matrix per call even under ``vmap``.

A batched LAPACK custom call can hang the CPU runtime on a small machine
(``_dense`` explains how), so above ``_dense.MAX_P`` columns, where LAPACK is
the fast route for one matrix, a vmapped call is turned into a ``lax.map``
over the batch: each LAPACK call then sees a single matrix and runs inline on
its thread.  For these sizes a factorization is O(p^3) work, so the loop costs
nothing a batched call would have saved.

``jax.custom_batching.custom_vmap`` supplies the batching rule but not reverse
mode, so each function that statistics are differentiated through
(``inverse_spd``, ``inverse``) carries a ``custom_jvp`` whose tangent is plain
matrix products of the primal inverse: ``d(A^-1) = -A^-1 dA A^-1``.  The IRLS
solve and the condition number are never differentiated (the coefficients'
derivative is implicit; the condition number only sets a status).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

__all__ = ["cho_solve", "eigvalsh", "inverse", "inverse_spd"]


def _one_matrix_per_call(fn):
    """``fn`` as a ``custom_vmap`` that maps over a batch one matrix at a time."""
    wrapped = custom_vmap(fn)

    @wrapped.def_vmap
    def rule(axis_size, in_batched, *args):
        full = tuple(
            a if batched else jnp.broadcast_to(a, (axis_size, *jnp.shape(a)))
            for a, batched in zip(args, in_batched, strict=True)
        )
        # ``wrapped`` again, not ``fn``: a nested vmap maps level by level.
        out = jax.lax.map(lambda xs: wrapped(*xs), full)
        return out, jax.tree.map(lambda _: True, out)

    return wrapped


def _cho_solve(G, B):
    L = jnp.linalg.cholesky(G)
    x = jax.scipy.linalg.cho_solve((L, True), B)
    return x, jnp.all(jnp.isfinite(L))


_cho_solve_one = custom_vmap(_cho_solve)


@_cho_solve_one.def_vmap
def _cho_solve_rule(axis_size, in_batched, G, B):
    if not in_batched[0]:
        # Many right-hand sides against one matrix: one call, the batch as
        # extra columns of B.
        B = jnp.moveaxis(B, 0, -1)
        x, ok = _cho_solve_one(G, B.reshape(B.shape[0], -1))
        x = jnp.moveaxis(x.reshape(B.shape), -1, 0)
        return (x, jnp.broadcast_to(ok, (axis_size,))), (True, True)
    if not in_batched[1]:
        B = jnp.broadcast_to(B, (axis_size, *B.shape))
    out = jax.lax.map(lambda xs: _cho_solve_one(*xs), (G, B))
    return out, (True, True)


def cho_solve(G: jax.Array, B: jax.Array):
    """``(G^{-1} B, ok)`` by Cholesky for SPD G; ``ok``: the factor is finite.

    Not differentiable in reverse mode (the IRLS step and streamed fits need
    no derivative: the coefficients' derivative is implicit).
    """
    return _cho_solve_one(G, B)


_eigvalsh = _one_matrix_per_call(lambda A: jnp.linalg.eigvalsh(A))


def eigvalsh(A: jax.Array) -> jax.Array:
    """Eigenvalues of a symmetric matrix, ascending (no derivative)."""
    return _eigvalsh(jax.lax.stop_gradient(A))


def _spd_inverse(G):
    eye = jnp.eye(G.shape[-1], dtype=G.dtype)
    return jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(G), True), eye)


def _differentiable_inverse(invert, symmetric: bool, doc: str):
    """``invert`` (one matrix per call under vmap) with the tangent
    ``d(A^-1) = -A^-1 dA A^-1``: matrix products, so reverse mode works."""

    @jax.custom_jvp
    def inverse(A):
        return invert(A)

    @inverse.defjvp
    def _jvp(primals, tangents):
        (A,), (dA,) = primals, tangents
        inv = inverse(A)
        if symmetric:  # A is read as symmetric, as jnp.linalg.cholesky reads it
            dA = 0.5 * (dA + dA.T)
        return inv, -inv @ dA @ inv

    inverse.__doc__ = doc
    return inverse


inverse_spd = _differentiable_inverse(
    _one_matrix_per_call(_spd_inverse),
    symmetric=True,
    doc="Inverse of a symmetric positive definite matrix (NaN if it is not).",
)
inverse = _differentiable_inverse(
    _one_matrix_per_call(lambda A: jnp.linalg.inv(A)),
    symmetric=False,
    doc="Inverse of a general square matrix (LU with partial pivoting).",
)
