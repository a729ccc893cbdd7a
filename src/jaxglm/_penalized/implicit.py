"""Derivatives of an elastic-net fit by implicit differentiation on its active set.

At the solution the non-zero coefficients A satisfy the smooth equations

    s_A(b) = X_A' r(b) - l2_A b_A - l1_A sign(b_A) = 0

and the zero ones stay zero under a small enough change of the data or of the
penalties (strict complementarity: |X_j'r| < l1_j).  So ``db_A = -J_AA^-1
ds_A/dtheta dtheta`` with J the observed information plus ``l2`` (``jax.jacfwd``
of the score, as ``_implicit.py``) and ``db_j = 0`` off A.  The derivative is
the derivative of the fit *on a fixed active set*: at a penalty where a
coefficient enters or leaves the model the path has a kink and this is the
one-sided derivative of the side where the active set is the current one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._linalg import solve_general
from .design import DenseDesign, transposed
from .irls import PenalizedOutput, penalized_irls
from .prox import proximal_gradient, uses_first_order

__all__ = [
    "fit_penalized_coef",
    "implicit_solution",
    "penalized_score",
    "solve_penalized",
]


def penalized_score(coef, X, y, weights, offset, l1, l2, family, inactive):
    """The elastic-net score on the active set; the coefficient off it."""
    eta = X @ coef + offset
    mu = family.link.inverse(eta)
    mu_eta = family.link.inverse_deriv(eta)
    used = weights > 0
    variance = jnp.where(used, family.variance(mu), 1.0)
    per_row = jnp.where(used, weights * (y - mu) * mu_eta / variance, 0.0)
    full = X.T @ per_row - l2 * coef - l1 * jnp.sign(coef)
    return jnp.where(inactive, coef, full)


def solve_penalized(
    X, y, weights, offset, l1, l2, family, valid_input, tol, max_iter,
    coef_start, eta_start, mu_start, gram_start=None, XT=None, score_start=None,
    scale=None, gram_valid=None,
) -> PenalizedOutput:  # fmt: skip
    """:func:`penalized_irls` or, for more than ``prox.WIDE_P`` columns,
    :func:`proximal_gradient` (chosen by shape); not differentiated."""
    if uses_first_order(X):
        return proximal_gradient(
            family, X, y, weights, offset, l1, l2, valid_input, tol, max_iter,
            coef_start,
        )  # fmt: skip
    if gram_start is not None and gram_start.shape != (X.shape[1],) * 2:
        gram_start = None
    design = DenseDesign(X, transposed(X) if XT is None else XT)
    return penalized_irls(
        family, design, y, weights, offset, l1, l2, valid_input, tol, max_iter,
        coef_start, eta_start, mu_start, gram_start, score_start, scale, gram_valid,
    )  # fmt: skip


@jax.custom_jvp
def fit_penalized_coef(
    X, y, weights, offset, l1, l2, family, valid_input, tol, max_iter,
    coef_start, eta_start, mu_start, gram_start=None, XT=None, score_start=None,
    scale=None,
) -> PenalizedOutput:  # fmt: skip
    """:func:`solve_penalized` with the active-set implicit derivative
    (``gram``, ``eta`` and ``score`` are a warm start for the next fit of a
    path and carry no derivative)."""
    return solve_penalized(
        X, y, weights, offset, l1, l2, family, valid_input, tol, max_iter,
        coef_start, eta_start, mu_start, gram_start, XT, score_start, scale,
    )  # fmt: skip


def implicit_tangent(coef, data, tangents):
    """The tangent of a solution ``coef`` for tangents of its ``data`` (X, y,
    weights, offset, l1, l2, family): ``-J_AA^-1 ds_A`` on the active set."""
    inactive = coef == 0

    def score_of_data(X, y, weights, offset, l1, l2, family):
        return penalized_score(coef, X, y, weights, offset, l1, l2, family, inactive)

    _, dscore = jax.jvp(score_of_data, data, tangents)
    J = jax.jacfwd(penalized_score)(coef, *data, inactive)
    return jnp.where(inactive, 0.0, -solve_general(J, dscore))


@jax.custom_jvp
def implicit_solution(coef, X, y, weights, offset, l1, l2, family):
    """``coef``, a solution found by any route (a path's active-set stages),
    carrying the active-set implicit derivative; the route itself is not
    differentiated."""
    return coef


@implicit_solution.defjvp
def _implicit_solution_jvp(primals, tangents):
    coef, *data = primals
    return coef, implicit_tangent(coef, tuple(data), tuple(tangents[1:]))


@fit_penalized_coef.defjvp
def _fit_penalized_coef_jvp(primals, tangents):
    out = fit_penalized_coef(*primals)
    dcoef = implicit_tangent(out.coef, tuple(primals[:7]), tuple(tangents[:7]))
    int_zero = np.zeros((), dtype=jax.dtypes.float0)
    return out, PenalizedOutput(
        coef=dcoef, n_iter=int_zero, status=int_zero, gram=jnp.zeros_like(out.gram),
        eta=jnp.zeros_like(out.eta), score=jnp.zeros_like(out.score),
    )  # fmt: skip
