"""The wide route: accelerated proximal gradient (FISTA) for many columns.

When p is in the thousands the Newton matrix X'WX (p^2 memory, n p^2 work per
step) is what costs; a first-order method needs only ``X b`` and ``r @ X``.
This is FISTA (Beck & Teboulle 2009) on ``deviance/2 + l2/2 |b|^2`` with the
soft-threshold prox of ``l1 |b|_1``, a backtracking step, and the adaptive
restart of O'Donoghue & Candes (2015) when the objective rises.  Columns are
scaled to unit weighted norm first (a diagonal metric), so the step is not
set by the worst-scaled column.  It stops on the same KKT test as the IRLS
route (``irls.kkt_violation``), so both routes reach the same optimum; the
status codes are the same too (``MAX_ITER`` after ``max_iter`` x
``ITER_PER_IRLS`` steps).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._family import Family
from .._rules import tolerances
from .._status import Status
from .cd import soft_threshold
from .design import kkt_scale
from .irls import (
    KKT_FLOOR_EPS,
    KKT_FRACTION,
    PenalizedOutput,
    kkt_violation,
    loglik_score,
)

__all__ = ["WIDE_P", "uses_first_order", "proximal_gradient"]

# Columns from which jg.fit / fit_path take this route (decided on the shape).
WIDE_P = 2048
# First-order steps allowed per IRLS iteration of max_iter.
ITER_PER_IRLS = 200
# Backtracking: grow the inverse step by this factor; let it shrink each step.
GROW = 2.0
SHRINK = 0.9
MAX_BACKTRACKS = 60


def uses_first_order(X) -> bool:
    """The route is chosen by shape alone, so it costs no recompile."""
    return X.shape[1] > WIDE_P


class _State(NamedTuple):
    coef: jax.Array
    previous: jax.Array
    momentum: jax.Array  # FISTA's t
    lipschitz: jax.Array
    objective: jax.Array
    n_iter: jax.Array
    converged: jax.Array
    failure: jax.Array


def proximal_gradient(
    family: Family, X, y, weights, offset, l1, l2, valid_input, tol, max_iter,
    coef_start,
) -> PenalizedOutput:  # fmt: skip
    """Fit one elastic-net GLM by FISTA; the arguments are ``penalized_irls``'s."""
    dtype = X.dtype
    tols = tolerances(tol, dtype)
    eps = jnp.finfo(dtype).eps
    kkt_tol = jnp.maximum(KKT_FRACTION * jnp.sqrt(tols.converge), KKT_FLOOR_EPS * eps)
    scale = kkt_scale(X, weights)
    total = jnp.sum(jnp.where(weights > 0, weights, 0.0))
    col = scale / jnp.sqrt(total)  # sqrt(sum w x_j^2): unit-norm columns
    Xs = X / col[None, :]
    l1s, l2s = l1 / col, l2 / col**2

    def smooth(c):
        eta = Xs @ c + offset
        mu = family.link.inverse(eta)
        deviance = family.fitting_deviance(y, mu, weights)
        value = deviance / 2.0 + jnp.sum(l2s * c**2) / 2.0
        valid = jnp.all(family.link.valid_eta(eta)) & jnp.all(family.valid_mu(mu))
        return jnp.where(valid, value, jnp.inf), eta, mu

    def full_objective(c):
        return smooth(c)[0] + jnp.sum(l1s * jnp.abs(c))

    def step(state: _State) -> _State:
        t_next = (1.0 + jnp.sqrt(1.0 + 4.0 * state.momentum**2)) / 2.0
        v = state.coef + (state.momentum - 1.0) / t_next * (state.coef - state.previous)
        f_v, eta_v, mu_v = smooth(v)
        grad = -loglik_score(family, Xs, y, weights, eta_v, mu_v) + l2s * v

        def candidate(L):
            u = soft_threshold(v - grad / L, l1s / L)
            f_u = smooth(u)[0]
            d = u - v
            ok = f_u <= f_v + grad @ d + L / 2.0 * (d @ d) + 10 * eps * jnp.abs(f_v)
            return u, ok

        def backtrack(carry):
            L, _, _, k = carry
            L = L * GROW
            u, ok = candidate(L)
            return L, u, ok, k + 1

        L0 = state.lipschitz * SHRINK
        u0, ok0 = candidate(L0)
        L, u, ok, _ = jax.lax.while_loop(
            lambda c: ~c[2] & (c[3] < MAX_BACKTRACKS), backtrack, (L0, u0, ok0, 0)
        )
        objective = full_objective(u)
        # Adaptive restart: a rise drops the momentum (the next step is a
        # plain proximal-gradient step from the last point).
        eta_u = Xs @ u + offset
        mu_u = family.link.inverse(eta_u)
        kkt = kkt_violation(family, Xs, y, weights, eta_u, mu_u, u, l1s, l2s,
                            scale / col)  # fmt: skip
        kkt_ok = kkt <= kkt_tol
        # A rise within rounding is no rise (near the optimum it is noise).
        rounding = 10.0 * eps * jnp.abs(state.objective)
        rose = (objective - state.objective > rounding) & ~kkt_ok
        failure = jnp.where(
            ok & jnp.isfinite(objective), state.failure, Status.NONFINITE
        ).astype(jnp.int32)
        return _State(
            coef=jnp.where(rose, state.coef, u),
            previous=jnp.where(rose, state.coef, state.coef),
            momentum=jnp.where(rose, 1.0, t_next).astype(dtype),
            lipschitz=L,
            objective=jnp.where(rose, state.objective, objective),
            n_iter=state.n_iter + 1,
            converged=kkt_ok,
            failure=failure,
        )

    def running(state: _State):
        return (
            ~state.converged
            & (state.n_iter < max_iter * ITER_PER_IRLS)
            & (state.failure == Status.SUCCESS)
        )

    c0 = coef_start * col
    init = _State(
        coef=c0,
        previous=c0,
        momentum=jnp.ones((), dtype),
        lipschitz=jnp.ones((), dtype),
        objective=full_objective(c0),
        n_iter=jnp.zeros((), jnp.int32),
        converged=jnp.zeros((), bool),
        failure=jnp.where(valid_input, Status.SUCCESS, Status.INVALID_INPUT).astype(
            jnp.int32
        ),
    )
    final = jax.lax.while_loop(running, step, init)
    status = jnp.where(
        final.failure != Status.SUCCESS,
        final.failure,
        jnp.where(final.converged, Status.SUCCESS, Status.MAX_ITER),
    ).astype(jnp.int32)
    coef = jnp.where(status == Status.INVALID_INPUT, jnp.nan, final.coef / col)
    # No Gram and no score to hand on: a path on this route recomputes them.
    return PenalizedOutput(
        coef=coef, n_iter=final.n_iter, status=status, gram=jnp.zeros((0, 0), dtype),
        eta=X @ jnp.nan_to_num(coef) + offset, score=jnp.zeros(X.shape[1], dtype),
    )  # fmt: skip
