"""Iteratively reweighted least squares (Fisher scoring) in one ``lax.while_loop``.

This follows R's ``glm.fit``: start from the family's ``mustart``, iterate
weighted least squares on the working response, halve the step while the
deviance is non-finite or the mean/linear predictor is invalid, and stop when
``|dev - dev_old| / (|dev| + 0.1) < tol``.  Three departures, all in the user's
favour:

* The first step, which R takes with no previous coefficients (and so cannot
  halve: "please supply starting values"), halves towards the intercept-only
  fit.  Poisson/identity or Gamma/identity then converge from the default start.
* A step that raises the deviance (by more than rounding) is halved, as in
  the glm2 package, so non-canonical links cannot overshoot and diverge.
* A fit that meets the deviance rule while its linear predictor is still
  running off to infinity -- the signature of (quasi-)separation, where each
  Newton step moves the separated rows by about one unit of eta while their
  fitted means sit at the edge of the support -- is flagged ``SEPARATION``
  instead of being reported as converged with huge coefficients.

One saving that changes no answer: large float64 fits form the Newton matrix
X'WX in float32 (about 1.5x as fast on a CPU) while far from the optimum; the
score stays float64 and the converging steps are exact Newton steps, so the
fixed point and the statistics are the float64 ones (and the iteration count
too on well-conditioned data; see tests/test_fast_gram.py).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._family import Family
from ._linalg import (
    aliased_columns,
    fast_gram_available,
    gram,
    linear_predictor,
    normal_equations,
    solve_spd,
)
from ._rules import (
    SEPARATION_EDGE,
    SEPARATION_STEP,
    at_most_once,
    final_status,
    judge_step,
    keep_going,
    polish_kept,
    relative_change,
    separation_probe_due,
    step_failure,
    stopped_for_separation_check,
    tolerances,
)
from ._status import Status

__all__ = [
    "IRLSOutput",
    "irls",
    "working_weights",
    "observed_score",
    "constant_columns",
]

# Large float64 fits form the Newton matrix in float32 (``fast_gram``) while
# the last accepted step changed the deviance by more than this (relative):
# far from the optimum a relative error of about 3e-8 in the matrix costs
# nothing (it scales the step error by cond(X'WX) * 3e-8), and the steps
# that converge are exact Newton steps.
_FAST_GRAM_ABOVE_CHANGE = 1e-5


class IRLSOutput(NamedTuple):
    coef: jax.Array  # (p,), aliased entries 0
    n_iter: jax.Array  # int32
    status: jax.Array  # int32 Status code


class _State(NamedTuple):
    coef: jax.Array  # last accepted coefficients
    trial: jax.Array  # coefficients being tried (halved while invalid)
    halvings: jax.Array  # halvings of the current trial so far
    eta: jax.Array
    mu: jax.Array
    objective: jax.Array  # deviance plus the ridge penalty
    step: jax.Array  # largest |change in eta| of the last step
    change: jax.Array  # relative objective change of the last accepted step
    exact_only: jax.Array  # a float32 Newton matrix failed: use exact ones
    n_iter: jax.Array
    converged: jax.Array
    failure: jax.Array  # Status code, SUCCESS while running


def working_weights(family: Family, eta, mu, weights):
    """IRLS weights ``w (dmu/deta)^2 / V(mu)`` and ``dmu/deta``; 0 where w = 0."""
    mu_eta = family.link.inverse_deriv(eta)
    variance = family.variance(mu)
    used = weights > 0
    safe_var = jnp.where(used, variance, 1.0)
    w = jnp.where(used, weights * mu_eta**2 / safe_var, 0.0)
    return w, mu_eta


def _newton_system(X, w, target, fast):
    """:func:`normal_equations`, with the float32 Gram where ``fast`` holds."""
    p = X.shape[1]
    zeros = (jnp.zeros((p, p), X.dtype), jnp.zeros(p, X.dtype))
    G_fast, b_fast = at_most_once(
        fast, lambda w: normal_equations(X, w, target, fast_gram=True), zeros, w
    )
    G_exact, b_exact = at_most_once(
        ~fast, lambda w: normal_equations(X, w, target), zeros, w
    )
    return jnp.where(fast, G_fast, G_exact), jnp.where(fast, b_fast, b_exact)


def constant_columns(X: jax.Array) -> jax.Array:
    """(p,) mask of columns holding one non-zero constant (an intercept)."""
    return jnp.all(X == X[:1], axis=0) & (X[0] != 0)


def _valid(family: Family, eta, mu, objective):
    return (
        jnp.isfinite(objective)
        & jnp.all(family.link.valid_eta(eta))
        & jnp.all(family.valid_mu(mu))
    )


def _start(family: Family, X, y, weights, offset):
    """R's mustart, repaired where it is invalid for the link, and a safe coef.

    The safe coefficients are the intercept-only fit when X has a constant
    column (the weighted mean of y is a valid mean for every family) and zero
    otherwise; the first step halves towards them if it lands somewhere invalid.
    """
    link = family.link
    used = weights > 0
    total = jnp.sum(jnp.where(used, weights, 0.0))
    ybar = jnp.sum(jnp.where(used, weights * y, 0.0)) / total
    mu0 = family.starting_mu(y, weights)
    ok = family.valid_mu(mu0) & link.valid_eta(link.link(mu0))
    mu0 = jnp.where(ok, mu0, family.starting_mu(ybar, total))
    eta0 = link.link(mu0)

    const = constant_columns(X)
    first = jnp.argmax(const)
    mean_offset = jnp.sum(jnp.where(used, weights * offset, 0.0)) / total
    # X[0][first], not X[0, first]: a dynamic index into a row-sharded X makes
    # GSPMD gather all of X onto every device; the static row slice does not.
    intercept = (link.link(ybar) - mean_offset) / X[0][first]
    safe_coef = jnp.where(
        (jnp.arange(X.shape[1]) == first) & jnp.any(const), intercept, 0.0
    )
    return mu0, eta0, safe_coef


def irls(
    family: Family,
    X: jax.Array,
    y: jax.Array,
    weights: jax.Array,
    offset: jax.Array,
    penalty: jax.Array,
    aliased: jax.Array,
    valid_input: jax.Array,
    tol: float,
    max_iter: int,
    products: jax.Array | None = None,
    coef_start: jax.Array | None = None,
) -> IRLSOutput:
    """Fit one GLM by Fisher scoring.

    Args:
        family: the family (with its link).
        X: design matrix, (n, p).
        y, weights, offset: response, prior weights and offset, (n,).
        penalty: ridge penalty per coefficient, (p,) (``l2`` or 0).
        aliased: columns held at zero, (p,) bool.
        valid_input: scalar bool; an invalid fit returns NaN at once.
        tol: R's relative deviance tolerance.
        max_iter: iteration limit.
        products: :func:`~jaxglm._linalg.row_products` of X, or None.
        coef_start: start from these coefficients (R's ``etastart = X coef +
            offset``; the first step halves towards them if it lands somewhere
            invalid), e.g. the previous fit of an alternation (glm.nb).
    """
    dtype = X.dtype
    tols = tolerances(tol, dtype)
    mu0, eta0, safe_coef = _start(family, X, y, weights, offset)
    if coef_start is not None:
        safe_coef = jnp.where(aliased, 0.0, coef_start)
        eta0 = linear_predictor(X, safe_coef, shared=products is not None) + offset
        mu0 = family.link.inverse(eta0)
    fast_possible = products is None and fast_gram_available(X)

    def evaluate(coef):
        eta = linear_predictor(X, coef, shared=products is not None) + offset
        mu = family.link.inverse(eta)
        objective = family.fitting_deviance(y, mu, weights) + jnp.sum(penalty * coef**2)
        return eta, mu, objective

    def step(state: _State) -> _State:
        # One pass of the loop either takes a Fisher scoring step from the last
        # accepted coefficients or, while the last trial was invalid, halves the
        # trial towards them (R's inner loop, folded in: one loop compiles
        # faster than two nested ones).
        previous = jnp.where(state.n_iter == 0, safe_coef, state.coef)
        fast = (
            fast_possible
            & ~state.exact_only
            & (state.halvings == 0)
            & (jnp.abs(state.change) > _FAST_GRAM_ABOVE_CHANGE)
        )

        def scoring_step(mu):
            w, mu_eta = working_weights(family, state.eta, mu, weights)
            # Working residual; on the first pass coef is 0 and eta is
            # link(mustart), so this is R's full working response z - offset.
            # Later passes solve for the increment only (eta = X coef + offset),
            # so rounding in the solve slows convergence but cannot bias it.
            resid = jnp.where(weights > 0, (y - mu) / mu_eta, 0.0)
            target = resid + jnp.where(state.n_iter == 0, state.eta - offset, 0.0)
            if fast_possible:
                G, b = _newton_system(X, w, target, fast)
            else:
                G, b = normal_equations(X, w, target, products=products)
            G = G + jnp.diag(penalty)
            b = b - penalty * state.coef
            delta, ok = solve_spd(G, b, aliased)
            return state.coef + delta, ok

        # Not a lax.cond: under vmap a cond with a per-fit flag batches every
        # operand of its branches, so a design X shared by the batch (fit_many)
        # would be copied once per fit on every pass.
        halving = state.halvings > 0
        scored, scored_ok = at_most_once(
            ~halving, scoring_step, (state.coef, jnp.ones((), bool)), state.mu
        )
        trial = jnp.where(halving, 0.5 * (state.trial + previous), scored)
        ok = halving | scored_ok
        eta, mu, objective = evaluate(trial)
        valid = _valid(family, eta, mu, objective)
        change = relative_change(objective, state.objective)
        # Unlike R's glm.fit (but as glm2), a step that raises the deviance is
        # halved too: Fisher scoring with a non-canonical link can overshoot
        # into a region where it runs off to infinity on data that have a
        # finite MLE (the rules: _rules.judge_step).
        verdict = judge_step(valid, ok, change, state.n_iter, state.halvings, tols)
        accept, give_up = verdict.accept, verdict.give_up
        # A float32 Newton matrix that does not factor is no verdict on the
        # data: the same step is retried with the exact matrix.
        retry = fast & ~ok
        failure = step_failure(~ok & ~retry, give_up)
        used_step = jnp.where(weights > 0, jnp.abs(eta - state.eta), 0.0)
        if family.separation_prone:
            # A fit still running off is tested for separation now and then
            # (_rules.separation_probe_due), so it need not crawl to max_iter.
            probe = separation_probe_due(
                accept,
                state.n_iter + 1,
                jnp.max(used_step),
                jnp.any(_at_edge(family, mu, SEPARATION_EDGE) & (weights > 0)),
            )
            separated_now = at_most_once(
                probe,
                lambda mu: _unidentified_without_edge_rows(
                    family, X, y, mu, weights > 0, aliased, products
                ),
                jnp.zeros((), bool),
                mu,
            )
            failure = jnp.where(separated_now, Status.SEPARATION, failure).astype(
                jnp.int32
            )

        def pick(new, old):
            return jnp.where(accept, new, old)

        return _State(
            coef=pick(trial, state.coef),
            trial=trial,
            halvings=jnp.where(accept | retry, 0, state.halvings + 1).astype(jnp.int32),
            eta=pick(eta, state.eta),
            mu=pick(mu, state.mu),
            objective=pick(objective, state.objective),
            step=pick(jnp.max(used_step), state.step),
            change=pick(change, state.change),
            exact_only=state.exact_only | retry,
            n_iter=state.n_iter + accept.astype(jnp.int32),
            # Only an exact Newton step may end the fit (see above).
            converged=verdict.converged & ~fast,
            failure=failure,
        )

    def running(state: _State):
        return keep_going(state.converged, state.n_iter, max_iter, state.failure)

    p = X.shape[1]
    init = _State(
        coef=jnp.zeros(p, dtype),
        trial=jnp.zeros(p, dtype),
        halvings=jnp.zeros((), jnp.int32),
        eta=eta0,
        mu=mu0,
        objective=family.fitting_deviance(y, mu0, weights),
        step=jnp.zeros((), dtype),
        change=jnp.full((), jnp.inf, dtype),
        exact_only=jnp.zeros((), bool),
        n_iter=jnp.zeros((), jnp.int32),
        converged=jnp.zeros((), bool),
        failure=jnp.where(valid_input, Status.SUCCESS, Status.INVALID_INPUT).astype(
            jnp.int32
        ),
    )
    final = jax.lax.while_loop(running, step, init)

    used = weights > 0
    running_off = jnp.any(_at_edge(family, final.mu, SEPARATION_EDGE) & used) & (
        final.step > SEPARATION_STEP
    )
    # A fit whose Cholesky broke down while its linear predictor ran off
    # (heavy-tailed links such as cauchit) is separated too, not singular.
    stopped = stopped_for_separation_check(final.failure)
    check = family.separation_prone & stopped
    # A saturating inverse link (cloglog towards 1, loglog towards 0) stops
    # moving once the separated rows' means round to the edge, so the step test
    # above misses it; the rank test below catches it.
    # At most once, in a while loop rather than a cond: under vmap a cond
    # would run the test (one more Gram product) for every fit in the batch.
    separated = check & (
        running_off
        | at_most_once(
            check & jnp.any(_fitted_exactly(family, y, final.mu) & used),
            lambda mu: _unidentified_without_edge_rows(
                family, X, y, mu, used, aliased, products
            ),
            jnp.zeros((), bool),
            final.mu,
        )
    )
    status = final_status(separated, final.failure, final.converged)
    coef = final.coef
    if not family.uses_canonical_link:
        coef = jnp.where(
            status == Status.SUCCESS,
            _newton_polish(family, X, y, weights, offset, penalty, aliased,
                           final.coef, final.eta, final.objective, tols, products),
            coef,
        )  # fmt: skip
    coef = jnp.where(status == Status.INVALID_INPUT, jnp.nan, coef)
    return IRLSOutput(coef=coef, n_iter=final.n_iter, status=status)


def _newton_polish(
    family, X, y, weights, offset, penalty, aliased, coef, eta, objective, tols,
    products,
):  # fmt: skip
    """One Newton step with the observed information from a converged fit.

    R's rule stops a non-canonical fit (where Fisher scoring converges only
    linearly) about sqrt(tol) from the MLE; one exact Newton step from there
    lands within rounding of it.  The observed information is
    ``X' diag(-dr/deta) X`` with ``r(eta)`` the per-row score factor, its
    derivative from autodiff.  The step is kept only if it solves (an
    indefinite information fails the Cholesky) and does not raise the
    objective beyond rounding; ``n_iter`` is R's count and does not change.
    """
    r, w_obs = observed_score(family, eta, y, weights)
    # Observed weights can be negative on some rows; the Gram takes
    # non-negative weights (it forms sqrt(w) X), so the two signs separately.
    positive = gram(X, jnp.maximum(w_obs, 0.0), products)
    p = X.shape[1]
    negative = at_most_once(
        jnp.any(w_obs < 0),
        lambda w: gram(X, jnp.maximum(-w, 0.0), products),
        jnp.zeros((p, p), X.dtype),
        w_obs,
    )
    information = positive - negative + jnp.diag(penalty)
    score = X.T @ r - penalty * coef
    delta, solved = solve_spd(information, score, aliased)
    trial = coef + delta
    trial_eta = linear_predictor(X, trial, shared=products is not None) + offset
    mu = family.link.inverse(trial_eta)
    trial_objective = family.fitting_deviance(y, mu, weights) + jnp.sum(
        penalty * trial**2
    )
    valid = _valid(family, trial_eta, mu, trial_objective)
    change = relative_change(trial_objective, objective)
    return jnp.where(polish_kept(solved, valid, change, tols), trial, coef)


def observed_score(family: Family, eta, y, weights):
    """Per-row log-likelihood score factor ``r = w (y - mu) mu' / V`` (the score
    is ``X' r``) and the observed-information weights ``-dr/deta`` (from
    autodiff), both 0 on zero-weight rows."""
    used = weights > 0

    def per_row(eta):
        mu = family.link.inverse(eta)
        variance = jnp.where(used, family.variance(mu), 1.0)
        mu_eta = family.link.inverse_deriv(eta)
        return jnp.where(used, weights * (y - mu) * mu_eta / variance, 0.0)

    r, dr = jax.jvp(per_row, (eta,), (jnp.ones_like(eta),))
    return r, jnp.where(used, -dr, 0.0)


def _at_edge(family: Family, mu, edge):
    if family.mean_support == "unit":
        return jnp.minimum(mu, 1.0 - mu) < edge
    return mu < edge


def _fitted_exactly(family: Family, y, mu):
    """Rows whose y sits on the edge of the support and whose mean is within
    ``SEPARATION_EDGE`` of it: the rows a separating direction would push."""
    if family.mean_support == "unit":
        return ((y == 1.0) & (1.0 - mu < SEPARATION_EDGE)) | (
            (y == 0.0) & (mu < SEPARATION_EDGE)
        )
    return (y == 0.0) & (mu < SEPARATION_EDGE)


def _unidentified_without_edge_rows(family: Family, X, y, mu, used, aliased, products):
    """Whether the rows not fitted exactly leave a coefficient direction free.

    At a finite MLE the rows with y strictly inside the support (and those
    fitted away from the edge) pin down every coefficient in practice; if they
    do not -- their design has lower rank than the whole design -- some
    direction moves only rows already at the edge, which is a
    (quasi-)separating direction: the likelihood keeps rising along it.  This
    is what a saturating link leaves behind once its means round to the edge.
    """
    rest = used & ~_fitted_exactly(family, y, mu)
    return jnp.any(aliased_columns(X, rest, products) & ~aliased)
