"""Coefficients as a differentiable function of the data, by implicit differentiation.

At the optimum the penalised score ``s(coef, theta) = 0``, so
``dcoef = -J^{-1} (ds/dtheta . dtheta)`` with ``J = ds/dcoef`` the observed
(not Fisher) information, taken by ``jax.jacfwd`` so non-canonical links get
the right derivative.  IRLS is never unrolled: memory does not grow with the
iteration count and the derivative is exact at convergence.  Reverse mode
follows by transposition of this linear rule.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._family import Family
from ._irls import IRLSOutput, irls
from ._linalg import linear_predictor, solve_general

__all__ = ["fit_coef", "score"]


def score(coef, X, y, weights, offset, penalty, family: Family, aliased):
    """Penalised score ``X' w (y - mu) mu'(eta) / V(mu) - penalty coef``.

    Aliased coefficients are pinned at zero, so their score is the coefficient.
    """
    eta = linear_predictor(X, coef) + offset
    mu = family.link.inverse(eta)
    mu_eta = family.link.inverse_deriv(eta)
    used = weights > 0
    variance = jnp.where(used, family.variance(mu), 1.0)
    per_row = jnp.where(used, weights * (y - mu) * mu_eta / variance, 0.0)
    full = X.T @ per_row - penalty * coef
    return jnp.where(aliased, coef, full)


@jax.custom_jvp
def fit_coef(
    X, y, weights, offset, penalty, family, aliased, valid_input, tol, max_iter,
    products=None,
) -> IRLSOutput:  # fmt: skip
    """IRLS with an implicit-function-theorem derivative for ``coef``.

    ``products`` (row products of X, or None) only speeds up the iterations;
    the derivative comes from the score, which depends on X alone.
    """
    return irls(
        family, X, y, weights, offset, penalty, aliased, valid_input, tol, max_iter,
        products,
    )  # fmt: skip


@fit_coef.defjvp
def _fit_coef_jvp(primals, tangents):
    X, y, weights, offset, penalty, family, aliased, *_ = primals
    dX, dy, dweights, doffset, dpenalty, dfamily, *_ = tangents
    out = fit_coef(*primals)
    coef = out.coef

    def score_of_data(X, y, weights, offset, penalty, family):
        return score(coef, X, y, weights, offset, penalty, family, aliased)

    _, dscore = jax.jvp(
        score_of_data,
        (X, y, weights, offset, penalty, family),
        (dX, dy, dweights, doffset, dpenalty, dfamily),
    )
    J = jax.jacfwd(score)(coef, X, y, weights, offset, penalty, family, aliased)
    dcoef = -solve_general(J, dscore)
    dcoef = jnp.where(aliased, 0.0, dcoef)
    int_zero = np.zeros((), dtype=jax.dtypes.float0)
    return out, IRLSOutput(coef=dcoef, n_iter=int_zero, status=int_zero)
