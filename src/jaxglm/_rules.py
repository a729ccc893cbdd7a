"""The IRLS decisions every loop shares: tolerance, step acceptance, halving,
convergence and the final status.

R's ``glm.fit`` rules with glm2's rise test (see ``_irls.py`` for why):

* converged when ``|dev - dev_old| / (|dev| + 0.1) < tol`` after an accepted step;
* a trial whose objective is non-finite or whose predictor is invalid is halved
  towards the last accepted point, at most ``MAX_HALVINGS`` times;
* so is a trial that raises the objective by more than rounding (``rise``),
  except on the first step, whose reference point is only a start;
* only a full (not halved) step can meet the deviance rule: a halved step's
  small change says nothing about the distance to the optimum;
* a fit whose linear predictor still moves by more than ``SEPARATION_STEP``
  on rows within ``SEPARATION_EDGE`` of the edge of the support when the
  deviance rule is met is separated: its MLE is at infinity.  So is a fit
  whose rows away from the edge no longer pin down every coefficient; that
  test also runs every ``SEPARATION_PROBE_EVERY`` iterations while a fit is
  still running off (``separation_probe_due``), so a separated fit stops
  early in float32 too, where rounding slows its run to infinity to a crawl;
* a fit that ends at the iteration limit gets the same separation verdict as
  one that met the deviance rule;
* a converged fit with a non-canonical link, which Fisher scoring leaves about
  sqrt(tol) from the MLE, takes one Newton step with the observed information,
  kept if it solved and did not raise the objective (``polish_kept``).

The Fisher-scoring loop (``_irls.py``), its batched and shared-design forms and
the multinomial Newton loop (``_multinomial/irls.py``) all call these
functions, so a rule is changed in one place.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._status import Status

__all__ = [
    "MAX_HALVINGS",
    "SEPARATION_STEP",
    "SEPARATION_EDGE",
    "SEPARATION_PROBE_EVERY",
    "separation_probe_due",
    "TOL_FLOOR_EPS",
    "Tolerances",
    "tolerances",
    "relative_change",
    "Verdict",
    "judge_step",
    "keep_going",
    "stopped_for_separation_check",
    "step_failure",
    "final_status",
    "polish_kept",
    "at_most_once",
]

MAX_HALVINGS = 30
# A tolerance below a few ulps of the deviance can never be met; float32 fits
# use this many epsilons instead (about 1.2e-6) when tol asks for less.
TOL_FLOOR_EPS = 10.0
# Separation: a final eta step this large on rows whose mean is this close to
# the edge of the support means the MLE is at infinity.
SEPARATION_STEP = 0.1
SEPARATION_EDGE = 1e-3
# While a fit keeps running off, test for separation every this many steps.
SEPARATION_PROBE_EVERY = 8


class Tolerances(NamedTuple):
    converge: jax.Array  # R's relative deviance tolerance, floored
    rise: jax.Array  # a rise of the objective below this is rounding


def tolerances(tol, dtype) -> Tolerances:
    """The convergence tolerance in ``dtype`` and the rise a step may make.

    Rises below sqrt(eps) (or tol) are rounding near the optimum and are
    accepted, so that batched and single fits, which round differently, take
    the same steps.
    """
    eps = jnp.finfo(dtype).eps
    converge = jnp.maximum(tol, TOL_FLOOR_EPS * eps).astype(dtype)
    rise = jnp.maximum(converge, jnp.sqrt(eps)).astype(dtype)
    return Tolerances(converge, rise)


def relative_change(objective, previous):
    """R's ``(dev - dev_old) / (|dev| + 0.1)``."""
    return (objective - previous) / (jnp.abs(objective) + 0.1)


class Verdict(NamedTuple):
    accept: jax.Array  # take the trial as the new point
    give_up: jax.Array  # invalid after every halving: NONFINITE
    converged: jax.Array  # accepted and the deviance rule is met


def judge_step(valid, solved, change, n_iter, halvings, tol: Tolerances) -> Verdict:
    """Accept, halve or give up on one trial point.

    Args:
        valid: the trial's objective is finite and its predictor valid.
        solved: the Newton system that gave the trial was solved (a halved
            trial counts as solved).
        change: :func:`relative_change` of the trial against the last point.
        n_iter: accepted steps so far; halvings: halvings of this trial so far.
    """
    worse = (n_iter > 0) & (change >= tol.rise)
    out_of_halvings = halvings >= MAX_HALVINGS
    accept = valid & solved & (~worse | out_of_halvings)
    give_up = ~valid & out_of_halvings
    full_step = halvings == 0
    converged = accept & full_step & (jnp.abs(change) < tol.converge)
    return Verdict(accept, give_up, converged)


def step_failure(singular, give_up):
    """The status a trial leaves: SINGULAR (no Newton step), NONFINITE, or SUCCESS."""
    return jnp.where(
        singular, Status.SINGULAR, jnp.where(give_up, Status.NONFINITE, Status.SUCCESS)
    ).astype(jnp.int32)


def separation_probe_due(accepted, n_iter, step, any_edge):
    """Whether to test for separation inside the loop after this step: an
    accepted step that moved eta by more than ``SEPARATION_STEP`` while rows sit
    at the edge, on every ``SEPARATION_PROBE_EVERY``-th iteration."""
    return (
        accepted
        & (n_iter % SEPARATION_PROBE_EVERY == 0)
        & (step > SEPARATION_STEP)
        & any_edge
    )


def stopped_for_separation_check(failure):
    """Fits whose end the separation tests judge: converged or at the
    iteration limit (the same verdict either way), or stopped by a singular
    Newton matrix (a separated fit's matrix breaks down while running off)."""
    return (failure == Status.SUCCESS) | (failure == Status.SINGULAR)


def keep_going(converged, n_iter, max_iter, failure):
    """The loop condition: not converged, under ``max_iter``, nothing failed."""
    return ~converged & (n_iter < max_iter) & (failure == Status.SUCCESS)


def final_status(separated, failure, converged):
    """One status per fit: separation first, then a failure, then convergence."""
    return jnp.where(
        separated,
        Status.SEPARATION,
        jnp.where(
            failure != Status.SUCCESS,
            failure,
            jnp.where(converged, Status.SUCCESS, Status.MAX_ITER),
        ),
    ).astype(jnp.int32)


def polish_kept(solved, valid, change, tol: Tolerances):
    """Whether the closing observed-information Newton step is kept: it was
    solved (an indefinite information fails the Cholesky), lands on a valid
    point and raises the objective by no more than rounding."""
    return solved & valid & (change < tol.rise)


def at_most_once(flag, compute, default, operand):
    """``compute(operand)`` where ``flag`` holds, else ``default``: a
    ``lax.cond`` that stays one under ``vmap``.

    A cond whose flag is batched runs both branches for every fit, on
    operands all broadcast to the batch (a shared design included); this
    while loop runs ``compute`` once if any fit in the batch asks for it and
    not at all otherwise, on its operands as they are (for a single fit it is
    a plain cond).  ``operand`` (a per-row vector ``compute`` depends on)
    travels through the loop behind an optimization barrier: otherwise XLA
    sees ``compute``'s work as loop-invariant and hoists it out of the loop,
    running it whatever the flag (seen in a profile: the separation rank
    test's Gram ran for a batch where no fit asked for it).
    """

    def body(carry):
        _, _, x = carry
        return jnp.zeros((), bool), compute(x), jax.lax.optimization_barrier(x)

    init = (flag, default, operand)
    return jax.lax.while_loop(lambda carry: carry[0], body, init)[1]
