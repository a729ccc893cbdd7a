"""Newton's method for multinomial regression in one ``lax.while_loop``.

The coefficients are a (p, K-1) matrix ``B``; the loop works on the vector
``theta = B.T.ravel()`` (all terms of class 1, then class 2, ..., nnet's
order).  With the canonical (softmax) link Newton and Fisher scoring coincide:
the Newton matrix is

    H = sum_i W_i (x_i x_i') kron (diag(mu_i) - mu_i mu_i')   over classes 1..K-1,

formed as one Gram of the (n, p (K-1)) matrix ``[mu_1 X, ..., mu_{K-1} X]``
(the off-diagonal blocks) plus K-1 weighted Grams of X with weights
``W mu_j (1 - mu_j)`` (the diagonal blocks, with ``1 - mu_j`` summed from the
other classes so it does not cancel): no (n, K, p, p) temporary.

The loop follows ``_rules``: R's relative deviance rule, halving of invalid or
rising trials, statuses.  It starts from the intercept-only fit (the class
proportions), which is also the point a first step halves towards.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._irls import constant_columns
from .._linalg import solve_general, solve_spd
from .._rules import (
    SEPARATION_EDGE,
    SEPARATION_STEP,
    at_most_once,
    final_status,
    judge_step,
    keep_going,
    relative_change,
    step_failure,
    tolerances,
)
from .._status import Status
from .family import log_probabilities

__all__ = [
    "MultinomialOutput",
    "fit_coef",
    "newton_matrix",
    "score",
    "deviance",
    "class_totals",
]


class MultinomialOutput(NamedTuple):
    coef: jax.Array  # (p, K-1), aliased rows 0
    n_iter: jax.Array
    status: jax.Array


class _State(NamedTuple):
    theta: jax.Array  # last accepted coefficients, (p (K-1),)
    trial: jax.Array
    halvings: jax.Array
    eta: jax.Array  # (n, K-1)
    objective: jax.Array
    step: jax.Array
    n_iter: jax.Array
    converged: jax.Array
    failure: jax.Array


def as_matrix(theta: jax.Array, p: int) -> jax.Array:
    """(p (K-1),) in nnet's order -> (p, K-1)."""
    return theta.reshape(-1, p).T


def class_totals(counts: jax.Array, weights: jax.Array) -> jax.Array:
    """Weighted count of each class, (K,)."""
    return jnp.sum(jnp.where(weights[:, None] > 0, weights[:, None] * counts, 0.0), 0)


def deviance(counts, weights, eta) -> jax.Array:
    """``-2 sum_i w_i sum_k y_ik log mu_ik`` (nnet's residual deviance)."""
    log_mu = log_probabilities(eta)
    used = (weights[:, None] > 0) & (counts > 0)
    terms = jnp.where(used, weights[:, None] * counts * log_mu, 0.0)
    return -2.0 * jnp.sum(terms)


def _probabilities(eta):
    """(mu, 1 - mu) for classes 0..K-1, the complement summed without cancelling."""
    mu = jnp.exp(log_probabilities(eta))
    zeros = jnp.zeros_like(mu[..., :1])
    before = jnp.concatenate([zeros, jnp.cumsum(mu, -1)[..., :-1]], -1)
    after = jnp.concatenate([jnp.cumsum(mu[..., ::-1], -1)[..., -2::-1], zeros], -1)
    return mu, before + after


def newton_matrix(X, row_weights, eta) -> jax.Array:
    """``H`` above, (p (K-1), p (K-1)); ``row_weights`` = w_i times row totals."""
    n, p = X.shape
    mu, rest = _probabilities(eta)
    m = eta.shape[-1]
    wx = jnp.where(row_weights > 0, row_weights, 0.0)
    # Off-diagonal blocks: -X' diag(W mu_j mu_k) X, as one Gram.
    scaled = (X[:, None, :] * mu[:, 1:, None]).reshape(n, m * p)
    off = -(scaled * wx[:, None]).T @ scaled
    # Diagonal blocks: X' diag(W mu_j (1 - mu_j)) X.
    v = wx[:, None] * mu[:, 1:] * rest[:, 1:]
    diag = jnp.einsum("nj,na,nb->jab", v, X, X)
    blocks = jnp.eye(m, dtype=X.dtype)[:, None, :, None] * diag[:, :, None, :]
    on_diagonal = np.kron(np.eye(m, dtype=bool), np.ones((p, p), bool))
    return jnp.where(on_diagonal, blocks.reshape(m * p, m * p), off)


def score(theta, X, counts, weights, penalty):
    """Penalised score ``X' W (y/m - mu)`` per class, in nnet's order."""
    p = X.shape[1]
    eta = X @ as_matrix(theta, p)
    mu = jnp.exp(log_probabilities(eta))
    totals = jnp.sum(counts, -1)
    used = (weights > 0)[:, None]
    resid = jnp.where(used, weights[:, None] * (counts - totals[:, None] * mu), 0.0)
    return (X.T @ resid[:, 1:]).T.ravel() - penalty * theta


def _start(X, counts, weights):
    """Coefficients of the intercept-only fit (log class-proportion ratios)."""
    totals = class_totals(counts, weights)
    # A class never seen has no finite intercept; start it well below the
    # others (the fit is flagged SEPARATION, see below).
    floor = 1e-3 * jnp.sum(totals) / totals.shape[0]
    safe = jnp.where(totals > 0, totals, floor)
    intercepts = jnp.log(safe[1:]) - jnp.log(safe[0])
    const = constant_columns(X)
    first = jnp.argmax(const)
    start = jnp.where(
        (jnp.arange(X.shape[1]) == first)[:, None] & jnp.any(const),
        intercepts[None, :] / X[0][first],
        0.0,
    )
    return start.T.ravel()


def _newton(X, counts, weights, penalty, aliased, valid_input, tol, max_iter):
    n, p = X.shape
    m = counts.shape[1] - 1
    dtype = X.dtype
    tols = tolerances(tol, dtype)
    row_weights = weights * jnp.sum(counts, -1)
    start = _start(X, counts, weights)
    aliased_theta = jnp.tile(aliased, m)
    start = jnp.where(aliased_theta, 0.0, start)

    def evaluate(theta):
        eta = X @ as_matrix(theta, p)
        return eta, deviance(counts, weights, eta) + jnp.sum(penalty * theta**2)

    def step(state: _State) -> _State:
        halving = state.halvings > 0

        def newton(eta):
            H = newton_matrix(X, row_weights, eta) + jnp.diag(penalty)
            b = score(state.theta, X, counts, weights, penalty)
            delta, ok = solve_spd(H, b, aliased_theta)
            return state.theta + delta, ok

        scored, solved = at_most_once(
            ~halving, newton, (state.theta, jnp.ones((), bool)), state.eta
        )
        trial = jnp.where(halving, 0.5 * (state.trial + state.theta), scored)
        ok = halving | solved
        eta, objective = evaluate(trial)
        valid = jnp.isfinite(objective) & jnp.all(jnp.isfinite(eta))
        change = relative_change(objective, state.objective)
        verdict = judge_step(valid, ok, change, state.n_iter, state.halvings, tols)
        accept = verdict.accept
        used_step = jnp.where((weights > 0)[:, None], jnp.abs(eta - state.eta), 0.0)

        def pick(new, old):
            return jnp.where(accept, new, old)

        return _State(
            theta=pick(trial, state.theta),
            trial=trial,
            halvings=jnp.where(accept, 0, state.halvings + 1).astype(jnp.int32),
            eta=pick(eta, state.eta),
            objective=pick(objective, state.objective),
            step=pick(jnp.max(used_step), state.step),
            n_iter=state.n_iter + accept.astype(jnp.int32),
            converged=verdict.converged,
            failure=step_failure(~ok, verdict.give_up),
        )

    def running(state: _State):
        return keep_going(state.converged, state.n_iter, max_iter, state.failure)

    eta0, objective0 = evaluate(start)
    init = _State(
        theta=start,
        trial=start,
        halvings=jnp.zeros((), jnp.int32),
        eta=eta0,
        objective=objective0,
        step=jnp.zeros((), dtype),
        n_iter=jnp.zeros((), jnp.int32),
        converged=jnp.zeros((), bool),
        failure=jnp.where(valid_input, Status.SUCCESS, Status.INVALID_INPUT).astype(
            jnp.int32
        ),
    )
    final = jax.lax.while_loop(running, step, init)

    # Separation (_rules): the predictor still running off on rows fitted at
    # the edge; a class never observed has its MLE at -infinity too.
    used = weights > 0
    mu = jnp.exp(log_probabilities(final.eta))
    at_edge = jnp.any(mu < SEPARATION_EDGE, -1) & used
    stopped = final.converged | (final.failure == Status.SINGULAR)
    running_off = jnp.any(at_edge) & (final.step > SEPARATION_STEP)
    unobserved = jnp.any(class_totals(counts, weights) == 0)
    separated = (stopped & running_off) | (unobserved & valid_input)
    status = final_status(separated, final.failure, final.converged)
    theta = jnp.where(status == Status.INVALID_INPUT, jnp.nan, final.theta)
    return MultinomialOutput(as_matrix(theta, p), final.n_iter, status)


@jax.custom_jvp
def fit_coef(X, counts, weights, penalty, aliased, valid_input, tol, max_iter):
    """Newton's method with an implicit-function-theorem derivative for ``coef``.

    At the optimum the penalised score is zero, so ``dtheta = H^{-1} dscore``
    with ``H`` the (penalised) Newton matrix, the negative score Jacobian.
    """
    return _newton(X, counts, weights, penalty, aliased, valid_input, tol, max_iter)


@fit_coef.defjvp
def _fit_coef_jvp(primals, tangents):
    X, counts, weights, penalty, aliased, *_ = primals
    dX, dcounts, dweights, dpenalty, *_ = tangents
    out = fit_coef(*primals)
    p, m = out.coef.shape
    aliased_theta = jnp.tile(aliased, m)
    theta = jnp.where(aliased_theta, 0.0, out.coef.T.ravel())

    def score_of_data(X, counts, weights, penalty):
        return score(theta, X, counts, weights, penalty)

    _, dscore = jax.jvp(
        score_of_data, (X, counts, weights, penalty), (dX, dcounts, dweights, dpenalty)
    )
    eta = X @ as_matrix(theta, p)
    H = newton_matrix(X, weights * jnp.sum(counts, -1), eta) + jnp.diag(penalty)
    H = jnp.where(
        aliased_theta[:, None] | aliased_theta[None, :],
        jnp.eye(H.shape[0], dtype=H.dtype),
        H,
    )
    dtheta = jnp.where(aliased_theta, 0.0, solve_general(H, dscore))
    int_zero = np.zeros((), dtype=jax.dtypes.float0)
    return out, MultinomialOutput(as_matrix(dtheta, p), int_zero, int_zero)
