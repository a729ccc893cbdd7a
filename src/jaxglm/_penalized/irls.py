"""Penalised IRLS: Fisher scoring outer steps, coordinate descent inside.

glmnet's method (Friedman, Hastie & Tibshirani 2010, section 3): at the current
linear predictor form the IRLS quadratic (one Gram ``X'WX`` and ``X'Wz``) and
minimise it plus the elastic-net penalty exactly by coordinate descent
(``cd.py``), warm-started at the current coefficients.  The step decisions are
the shared ones of ``_rules.py`` (halving of invalid or rising trials, the
relative deviance change, the final status) on the penalised objective
``deviance + 2 l1 |b|_1 + l2 |b|^2`` (deviance/2 + penalty, doubled); a fit
converges only when, in addition, the KKT conditions hold:

    |X_j'r - l2_j b_j - l1_j sign(b_j)| <= tol_kkt   where b_j != 0
    |X_j'r| <= l1_j + tol_kkt                          where b_j == 0

with ``r`` the per-row score, measured per unit of weight and of the column's
weighted norm (the scale of glmnet's lambda on standardised columns).  A deviance
change that meets R's rule while the KKT conditions do not -- coordinate descent
stopped short -- tightens the inner threshold a hundredfold and steps again.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._family import Family
from .._irls import working_weights
from .._rules import (
    at_most_once,
    final_status,
    judge_step,
    keep_going,
    relative_change,
    step_failure,
    tolerances,
)
from .._status import Status
from .cd import cd_solve
from .design import DenseDesign, RowDesign, kkt_scale, transposed

__all__ = [
    "PenalizedOutput",
    "penalized_irls",
    "kkt_violation",
    "kkt_tolerance",
    "penalized_start",
    "row_score",
]

# The KKT tolerance is this fraction of sqrt(tol): 1e-8 at jg.fit's tol 1e-8,
# which with R's deviance rule gives about 1e-7 relative agreement with glmnet at
# thresh = 1e-14 on the stored references (1e-3 gave 1e-7 KKT and 1e-5 in the
# intercept's equation); never below KKT_FLOOR_EPS epsilons (float32: 1.2e-4).
KKT_FRACTION = 1e-4
KKT_FLOOR_EPS = 1e3
# Coordinate descent stops when no coordinate lowers the objective by more
# than this fraction of tol (relative to the objective); tightened 100x when
# the deviance rule holds and the KKT test fails.
CD_FRACTION = 1e-3
CD_TIGHTEN = 1e-2
# The Newton matrix X'WX (the n p^2 part of a step) is reused for up to this
# many steps: the score X'r is always exact, so a stale matrix changes the
# path to the optimum, not the optimum (the KKT test decides convergence).
# It is formed afresh when a step with a stale one was rejected or cut the KKT
# violation by less than ``GRAM_SLOW``.
GRAM_MAX_AGE = 10
GRAM_SLOW = 0.1
# Coordinate descent also runs until the quadratic's own KKT violation is this
# fraction of the outer KKT tolerance.
INNER_KKT = 0.1


class PenalizedOutput(NamedTuple):
    coef: jax.Array  # (p,)
    n_iter: jax.Array  # int32
    status: jax.Array  # int32 Status code
    gram: jax.Array  # (p, p) the last X'WX formed: a path's next warm start
    eta: jax.Array  # (n,) at coef, and
    score: jax.Array  # (p,) X'r there: the next fit's start, without a pass


class _State(NamedTuple):
    coef: jax.Array
    trial: jax.Array
    halvings: jax.Array
    eta: jax.Array
    mu: jax.Array
    objective: jax.Array
    change: jax.Array
    cd_fraction: jax.Array
    gram: jax.Array  # X'WX at some earlier point (``gram_age`` steps ago)
    gram_age: jax.Array
    refresh: jax.Array  # the next step forms X'WX afresh
    kkt: jax.Array  # KKT violation at the last accepted point
    score: jax.Array  # X'r at the last accepted point
    n_iter: jax.Array
    converged: jax.Array
    failure: jax.Array


def penalized_start(family: Family, X, y, weights, offset):
    """R's mustart (repaired where invalid) and the intercept-only coefficients
    (zero where X has no constant column): the start of a fit from nothing.
    ``X``: an (n, p) array or a path's ``RowDesign``."""
    link = family.link
    used = weights > 0
    total = jnp.sum(jnp.where(used, weights, 0.0))
    ybar = jnp.sum(jnp.where(used, weights * y, 0.0)) / total
    mu0 = family.starting_mu(y, weights)
    ok = family.valid_mu(mu0) & link.valid_eta(link.link(mu0))
    mu0 = jnp.where(ok, mu0, family.starting_mu(ybar, total))
    if isinstance(X, RowDesign):  # a path's design: column 0 is the constant 1
        p = X.n_columns
        const = (jnp.arange(p) == 0) & X.intercept
        value = jnp.ones((), y.dtype)
    else:
        p = X.shape[1]
        const = jnp.all(X == X[:1], axis=0) & (X[0] != 0)
        value = X[0][jnp.argmax(const)]
    first = jnp.argmax(const)
    mean_offset = jnp.sum(jnp.where(used, weights * offset, 0.0)) / total
    intercept = (link.link(ybar) - mean_offset) / value
    coef = jnp.where((jnp.arange(p) == first) & jnp.any(const), intercept, 0.0)
    return coef, link.link(mu0), mu0


def row_score(family: Family, eta, mu, y, weights):
    used = weights > 0
    variance = jnp.where(used, family.variance(mu), 1.0)
    mu_eta = family.link.inverse_deriv(eta)
    return jnp.where(used, weights * (y - mu) * mu_eta / variance, 0.0)


def loglik_score(family: Family, X, y, weights, eta, mu):
    """``X'r``, the log-likelihood's gradient, as ``r @ X`` (the IRLS routes
    use a stored X' instead, ``design.py``: on a CPU ``r @ X`` is 4x slower
    than ``X' @ r`` and ``X.T @ r`` 16x, n = 1e5, p = 200: 25, 6 and 98 ms)."""
    return row_score(family, eta, mu, y, weights) @ X


def kkt_tolerance(tol, dtype):
    """The scaled KKT violation a solution may keep (``KKT_FRACTION``)."""
    eps = jnp.finfo(dtype).eps
    converge = tolerances(tol, dtype).converge
    return jnp.maximum(KKT_FRACTION * jnp.sqrt(converge), KKT_FLOOR_EPS * eps)


def kkt_violation(family: Family, X, y, weights, eta, mu, coef, l1, l2, scale=None,
                  score=None):  # fmt: skip
    """Largest violation of the elastic-net KKT conditions, per unit weight and
    column norm (0 at an exact solution); ``score``: ``loglik_score`` if known."""
    if score is None:
        score = loglik_score(family, X, y, weights, eta, mu)
    gradient = score - l2 * coef
    at_zero = coef == 0
    violation = jnp.where(
        at_zero,
        jnp.maximum(jnp.abs(gradient) - l1, 0.0),
        jnp.abs(gradient - l1 * jnp.sign(coef)),
    )
    scale = kkt_scale(X, weights) if scale is None else scale
    return jnp.max(violation / scale)


def penalized_objective(family: Family, y, mu, weights, coef, l1, l2):
    """``deviance + 2 l1 |b|_1 + l2 |b|^2``: twice deviance/2 plus the penalty."""
    penalty = 2.0 * jnp.sum(l1 * jnp.abs(coef)) + jnp.sum(l2 * coef**2)
    return family.fitting_deviance(y, mu, weights) + penalty


def penalized_irls(
    family: Family, design, y, weights, offset, l1, l2, valid_input, tol, max_iter,
    coef_start, eta_start, mu_start, gram_start=None, score_start=None, scale=None,
    gram_valid=None,
) -> PenalizedOutput:  # fmt: skip
    """Fit one elastic-net GLM.

    Args:
        design: a ``design.DenseDesign`` or ``design.RowDesign`` (p columns),
            or an (n, p) array; y, weights, offset: (n,).
        l1, l2: (p,) penalties on the deviance/2 scale (0 for the intercept).
        valid_input: scalar bool; an invalid fit returns NaN at once.
        tol: R's relative deviance tolerance; max_iter: outer iterations.
        coef_start, eta_start, mu_start: the starting point (``penalized_start``
            or a warm start: the previous solution of a path).
        gram_start: X'WX from a nearby fit (the previous lambda), or None;
            ``gram_valid`` (scalar bool): whether it may be used.
        score_start: ``X'r`` at ``eta_start`` (the previous fit's ``score``),
            or None to compute it.
        scale: ``design.kkt_scale(weights)`` when the caller keeps it (a
            path), or None.  Both save a pass over X per lambda of a path.
    """
    if not hasattr(design, "predictor"):
        design = DenseDesign(design, transposed(design))
    dtype = design.dtype
    p = design.n_columns
    tols = tolerances(tol, dtype)
    eps = jnp.finfo(dtype).eps
    kkt_tol = kkt_tolerance(tol, dtype)
    cd_floor = 10.0 * eps
    scale = design.kkt_scale(weights) if scale is None else scale

    def score_at(eta, mu):
        return design.score(row_score(family, eta, mu, y, weights))

    def evaluate(coef):
        eta = design.predictor(coef) + offset
        mu = family.link.inverse(eta)
        return eta, mu, penalized_objective(family, y, mu, weights, coef, l1, l2)

    def step(state: _State) -> _State:
        fresh = state.refresh | (state.gram_age >= GRAM_MAX_AGE)

        def scoring_step(mu):
            w, _ = working_weights(family, state.eta, mu, weights)
            # Only the step's matrix: float32 where that is faster (tall
            # float64 X), as the exact score keeps the optimum float64's.
            G = at_most_once(fresh, design.gram, state.gram, w)
            # The IRLS quadratic around coef: X'Wz = G coef + X'r.
            c = G @ state.coef + state.score
            threshold = state.cd_fraction * (jnp.abs(state.objective) + 0.1)
            coef, _ = cd_solve(
                G, c, state.coef, l1, l2, threshold, scale, INNER_KKT * kkt_tol
            )
            return coef, jnp.all(jnp.isfinite(coef)), G

        halving = state.halvings > 0
        scored, scored_ok, G = at_most_once(
            ~halving, scoring_step, (state.coef, jnp.ones((), bool), state.gram),
            state.mu,
        )  # fmt: skip
        trial = jnp.where(halving, 0.5 * (state.trial + state.coef), scored)
        ok = halving | scored_ok
        eta, mu, objective = evaluate(trial)
        valid = (
            jnp.isfinite(objective)
            & jnp.all(family.link.valid_eta(eta))
            & jnp.all(family.valid_mu(mu))
        )
        change = relative_change(objective, state.objective)
        verdict = judge_step(valid, ok, change, state.n_iter, state.halvings, tols)
        score = score_at(eta, mu)
        kkt = kkt_violation(
            family, None, y, weights, eta, mu, trial, l1, l2, scale, score
        )
        kkt_ok = kkt <= kkt_tol
        # A step from a stale X'WX that failed is retried with a fresh one
        # before any halving.
        stale = ~halving & ~fresh
        retry = stale & ~verdict.accept
        accept = verdict.accept
        # The deviance rule met short of the optimum: coordinate descent
        # stopped early, so its threshold tightens (to rounding at most).
        short = verdict.converged & ~kkt_ok
        cd_fraction = jnp.where(
            short, jnp.maximum(state.cd_fraction * CD_TIGHTEN, cd_floor),
            state.cd_fraction,
        )  # fmt: skip

        def pick(new, old):
            return jnp.where(accept, new, old)

        return _State(
            coef=pick(trial, state.coef),
            trial=trial,
            halvings=jnp.where(accept | retry, 0, state.halvings + 1).astype(jnp.int32),
            eta=pick(eta, state.eta),
            mu=pick(mu, state.mu),
            objective=pick(objective, state.objective),
            change=pick(change, state.change),
            cd_fraction=cd_fraction,
            gram=G,
            gram_age=jnp.where(
                halving, state.gram_age, jnp.where(fresh, 1, state.gram_age + 1)
            ).astype(jnp.int32),
            refresh=retry | (accept & stale & (kkt > GRAM_SLOW * state.kkt)),
            kkt=pick(kkt, state.kkt),
            score=pick(score, state.score),
            n_iter=state.n_iter + accept.astype(jnp.int32),
            # R's deviance rule and the KKT conditions (the rule alone can
            # stop short of the optimum when coordinate descent did).
            converged=accept & kkt_ok,
            failure=step_failure(~ok & ~retry, verdict.give_up & ~retry),
        )

    def running(state: _State):
        return keep_going(state.converged, state.n_iter, max_iter, state.failure)

    init = _State(
        coef=coef_start,
        trial=coef_start,
        halvings=jnp.zeros((), jnp.int32),
        eta=eta_start,
        mu=mu_start,
        objective=penalized_objective(family, y, mu_start, weights, coef_start, l1, l2),
        change=jnp.full((), jnp.inf, dtype),
        cd_fraction=jnp.maximum(CD_FRACTION * tols.converge, cd_floor).astype(dtype),
        gram=jnp.zeros((p, p), dtype) if gram_start is None else gram_start,
        gram_age=jnp.zeros((), jnp.int32),
        refresh=(
            jnp.asarray(gram_start is None)
            if gram_valid is None
            else ~jnp.asarray(gram_valid, bool) | (gram_start is None)
        ),
        kkt=jnp.full((), jnp.inf, dtype),
        score=score_at(eta_start, mu_start) if score_start is None else score_start,
        n_iter=jnp.zeros((), jnp.int32),
        converged=jnp.zeros((), bool),
        failure=jnp.where(valid_input, Status.SUCCESS, Status.INVALID_INPUT).astype(
            jnp.int32
        ),
    )
    final = jax.lax.while_loop(running, step, init)
    status = final_status(jnp.zeros((), bool), final.failure, final.converged)
    coef = jnp.where(status == Status.INVALID_INPUT, jnp.nan, final.coef)
    return PenalizedOutput(
        coef=coef, n_iter=final.n_iter, status=status, gram=final.gram,
        eta=final.eta, score=final.score,
    )  # fmt: skip
