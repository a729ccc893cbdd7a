"""A path's lambdas in active-set stages: few columns while few are active.

glmnet's strategy (Friedman, Hastie & Tibshirani 2010, section 2.6, with the
sequential strong rule of Tibshirani et al. 2012): at each lambda, fit only the
columns that are active or pass the strong rule, then test the KKT conditions
of all the others with one pass over X and refit with any that fail.  Under
jit a fit's number of columns is static, so the path runs in stages of growing
capacity (16, 32, 64, ... columns, up to a third of p): a stage walks the
lambdas while their candidate columns fit in it, fitting only those columns
(their rows of the stored X', gathered: contiguous, so cheap), and hands the
rest of the path to the next stage when they do not; the last stage is the
full solver (``solve_penalized``).  Whatever a stage cannot finish -- too many
columns, too many KKT rounds, a fit that did not converge, invalid input -- is
handed on, so the full solver has the last word.  Under ``vmap``
(cross-validation folds) a stage runs until every fold has left it.

The work of a stage's IRLS step is ``capacity / p`` of a full pass and its
Newton matrix ``(capacity / p)^2`` of a full Gram, cheap enough to form afresh:
Newton's quadratic convergence then replaces the linear one of a reused matrix.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._family import Family
from .._status import Status
from .design import RowDesign
from .implicit import solve_penalized
from .irls import kkt_tolerance, penalized_irls, row_score

__all__ = ["PathProblem", "PathFits", "stage_capacities", "fit_lambdas", "fit_null"]

# Stage capacities: MIN_CAPACITY doubled while at most p / CAPACITY_DIVISOR
# (beyond that a gathered fit saves little over the full one and its extra
# KKT pass costs as much).
MIN_CAPACITY = 16
CAPACITY_DIVISOR = 3
# KKT rounds (refits with the columns that failed) per lambda in a stage.
MAX_ROUNDS = 8


def stage_capacities(p: int, first_order: bool) -> tuple[int, ...]:
    """The static column capacities of a path's restricted stages."""
    if first_order:  # the wide route fits all columns by proximal gradient
        return ()
    capacities = []
    capacity = MIN_CAPACITY
    while capacity <= p // CAPACITY_DIVISOR:
        capacities.append(capacity)
        capacity *= 2
    return tuple(capacities)


class PathProblem(NamedTuple):
    """What every lambda of a path shares."""

    family: Family
    design: RowDesign | None  # the standardised design (IRLS route), or
    X: jax.Array | None  # (n, p) the same, materialised (first-order route)
    y: jax.Array
    weights: jax.Array
    offset: jax.Array
    scale: jax.Array  # (p,) kkt_scale
    l1_unit: jax.Array  # (p,) l1 per unit of lambda
    l2_unit: jax.Array  # (p,) l2 per unit of lambda
    lambdas: jax.Array  # (L,)
    valid_input: jax.Array
    tol: jax.Array
    max_iter: jax.Array


class PathFits(NamedTuple):
    """The walk along the lambdas: the warm start, and the results so far."""

    index: jax.Array  # the next lambda to fit
    coef: jax.Array  # (p,) the last solution ...
    eta: jax.Array  # (n,) ... its linear predictor,
    mu: jax.Array
    score: jax.Array  # (p,) X'r there, all columns,
    gram: jax.Array  # (p, p) and the full solver's last Newton matrix
    gram_valid: jax.Array  # (False until the full solver formed one)
    coefs: jax.Array  # (L, p)
    n_iter: jax.Array  # (L,)
    status: jax.Array  # (L,)


class _Round(NamedTuple):
    need: jax.Array  # (p,) the columns to fit
    coef: jax.Array
    eta: jax.Array
    mu: jax.Array
    score: jax.Array
    n_iter: jax.Array
    fitted: jax.Array  # the last restricted fit succeeded
    done: jax.Array  # ... and no other column violates the KKT conditions
    rounds: jax.Array


def strong_set(score, l1, l1_previous):
    """The sequential strong rule: a column at 0 whose |score| at the previous
    solution is below ``2 l1 - l1_previous`` is unlikely to enter (the KKT
    test after the fit catches those that do)."""
    return jnp.abs(score) >= 2.0 * l1 - l1_previous


def _restricted_fit(problem: PathProblem, capacity: int, need, coef, eta, mu, l1, l2,
                    tol, score=None):  # fmt: skip
    """Fit the ``need`` columns (at most ``capacity``), the others held at 0,
    from ``coef`` (with ``eta``, ``mu`` and, if known, every column's
    ``score`` there); returns the full coefficients, the fit, and the score of
    every column at the solution."""
    family, p = problem.family, problem.design.n_columns
    idx = jnp.nonzero(need, size=capacity, fill_value=0)[0]
    used = jnp.arange(capacity) < jnp.sum(need)

    def subset(v, fill=0.0):
        return jnp.where(used, v[idx], fill)

    out = penalized_irls(
        family, problem.design.take(idx, used), problem.y, problem.weights,
        problem.offset, subset(l1), subset(l2), problem.valid_input, tol,
        problem.max_iter, subset(coef), eta, mu,
        score_start=None if score is None else subset(score),
        scale=subset(problem.scale, 1.0),
    )  # fmt: skip
    full = jnp.zeros(p, coef.dtype).at[idx].add(jnp.where(used, out.coef, 0.0))
    mu = family.link.inverse(out.eta)
    rows = row_score(family, out.eta, mu, problem.y, problem.weights)
    return full, out, mu, problem.design.score(rows)


def _attempt(problem: PathProblem, capacity: int, fits: PathFits):
    """Lambda ``fits.index`` on at most ``capacity`` columns: a _Round, done
    when solved.  The columns fitted are those active, those the strong rule
    names and the unpenalised ones, and any the KKT test then finds wanting."""
    last = problem.lambdas.shape[0] - 1
    i = jnp.minimum(fits.index, last)
    lam = problem.lambdas[i]
    previous = problem.lambdas[jnp.maximum(i - 1, 0)]
    l1, l2 = lam * problem.l1_unit, lam * problem.l2_unit
    strong = strong_set(fits.score, l1, previous * problem.l1_unit)
    kkt_tol = kkt_tolerance(problem.tol, fits.coef.dtype)

    def running(r: _Round):
        fits_in = jnp.sum(r.need) <= capacity
        return ~r.done & r.fitted & fits_in & (r.rounds < MAX_ROUNDS)

    def refit(r: _Round):
        coef, out, mu, score = _restricted_fit(
            problem, capacity, r.need, r.coef, r.eta, r.mu, l1, l2, problem.tol,
            r.score,
        )  # fmt: skip
        violation = jnp.maximum(jnp.abs(score) - l1, 0.0) / problem.scale
        violators = ~r.need & (violation > kkt_tol)
        fitted = out.status == Status.SUCCESS
        return _Round(
            need=r.need | violators, coef=coef, eta=out.eta, mu=mu, score=score,
            n_iter=r.n_iter + out.n_iter, fitted=fitted,
            done=fitted & ~jnp.any(violators), rounds=r.rounds + 1,
        )  # fmt: skip

    start = _Round(
        need=(fits.coef != 0) | strong | (problem.l1_unit == 0), coef=fits.coef,
        eta=fits.eta, mu=fits.mu, score=fits.score,
        n_iter=jnp.zeros((), jnp.int32), fitted=jnp.ones((), bool),
        done=jnp.zeros((), bool), rounds=jnp.zeros((), jnp.int32),
    )  # fmt: skip
    return jax.lax.while_loop(running, refit, start)


def _restricted_stage(problem: PathProblem, capacity: int, fits: PathFits) -> PathFits:
    """Walk the lambdas from ``fits.index`` while each is solved on at most
    ``capacity`` columns; stop at the first that is not."""
    n_lambda = problem.lambdas.shape[0]

    def running(state):
        fits, handed_on = state
        return (fits.index < n_lambda) & ~handed_on

    def step(state):
        fits, _ = state
        r = _attempt(problem, capacity, fits)
        ok = r.done

        def keep(new, old):
            return jnp.where(ok, new, old)

        i = fits.index
        fits = fits._replace(
            index=i + ok.astype(i.dtype),
            coef=keep(r.coef, fits.coef),
            eta=keep(r.eta, fits.eta),
            mu=keep(r.mu, fits.mu),
            score=keep(r.score, fits.score),
            coefs=fits.coefs.at[i].set(keep(r.coef, fits.coefs[i])),
            n_iter=fits.n_iter.at[i].set(keep(r.n_iter, fits.n_iter[i])),
            status=fits.status.at[i].set(keep(Status.SUCCESS, fits.status[i])),
        )
        return fits, ~ok

    return jax.lax.while_loop(running, step, (fits, jnp.zeros((), bool)))[0]


def _fit_all_columns(problem: PathProblem, l1, l2, tol, coef, eta, mu, gram=None,
                     gram_valid=None, score=None):  # fmt: skip
    """One fit with every column, on the route the design's shape picks."""
    if problem.design is None:
        return solve_penalized(
            problem.X, problem.y, problem.weights, problem.offset, l1, l2,
            problem.family, problem.valid_input, tol, problem.max_iter, coef, eta, mu,
        )  # fmt: skip
    return penalized_irls(
        problem.family, problem.design, problem.y, problem.weights, problem.offset,
        l1, l2, problem.valid_input, tol, problem.max_iter, coef, eta, mu, gram,
        score, problem.scale, gram_valid,
    )  # fmt: skip


def _full_stage(problem: PathProblem, fits: PathFits) -> PathFits:
    """The remaining lambdas with every column (the full solver)."""
    n_lambda = problem.lambdas.shape[0]
    family = problem.family

    def step(fits: PathFits) -> PathFits:
        i = fits.index
        lam = problem.lambdas[i]
        out = _fit_all_columns(
            problem, lam * problem.l1_unit, lam * problem.l2_unit, problem.tol,
            fits.coef, fits.eta, fits.mu, fits.gram, fits.gram_valid, fits.score,
        )  # fmt: skip
        # A failed fit does not poison the warm start of the next lambda.
        ok = (
            jnp.all(jnp.isfinite(out.coef))
            & jnp.all(jnp.isfinite(out.gram))
            & jnp.all(jnp.isfinite(out.score))
        )

        def keep(new, old):
            return jnp.where(ok, new, old)

        return fits._replace(
            index=i + 1,
            coef=keep(out.coef, fits.coef),
            eta=keep(out.eta, fits.eta),
            mu=keep(family.link.inverse(out.eta), fits.mu),
            score=keep(out.score, fits.score),
            gram=keep(out.gram, fits.gram),
            gram_valid=fits.gram_valid | ok,
            coefs=fits.coefs.at[i].set(out.coef),
            n_iter=fits.n_iter.at[i].set(out.n_iter),
            status=fits.status.at[i].set(out.status),
        )

    return jax.lax.while_loop(lambda f: f.index < n_lambda, step, fits)


def fit_lambdas(problem: PathProblem, start: PathFits, capacities) -> PathFits:
    """Every lambda of the path, from the warm start ``start`` (index 0)."""
    fits = start
    for capacity in capacities:
        fits = _restricted_stage(problem, capacity, fits)
    return _full_stage(problem, fits)


def fit_null(problem: PathProblem, coef, eta, mu, null_l1, tol, capacities):
    """The null fit (every penalised coefficient held at 0 by ``null_l1``):
    on the unpenalised columns alone when a stage can hold them.  Returns
    (coef, eta, mu, the score of every column)."""
    family = problem.family
    zero = jnp.zeros_like(null_l1)

    def full(_):
        out = _fit_all_columns(problem, null_l1, zero, tol, coef, eta, mu)
        mu_out = family.link.inverse(out.eta)
        if problem.design is not None:
            return out.coef, out.eta, mu_out, out.score
        # The first-order route hands on no score.
        rows = row_score(family, out.eta, mu_out, problem.y, problem.weights)
        return out.coef, out.eta, mu_out, rows @ problem.X

    if not capacities:
        return full(None)

    free = null_l1 == 0  # (not batched over folds: a real cond under vmap)

    def restricted(_):
        coef_out, out, mu_out, score = _restricted_fit(
            problem, capacities[0], free, coef, eta, mu, null_l1, zero, tol
        )
        return coef_out, out.eta, mu_out, score

    fits_in = jnp.sum(free) <= capacities[0]
    return jax.lax.cond(fits_in, restricted, full, None)
