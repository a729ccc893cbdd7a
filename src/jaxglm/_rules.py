"""The IRLS decisions every loop shares: tolerance, step acceptance, halving,
convergence and the final status.

R's ``glm.fit`` rules with glm2's rise test (see ``_irls.py`` for why):

* converged when ``|dev - dev_old| / (|dev| + 0.1) < tol`` after an accepted step;
* a trial whose objective is non-finite or whose predictor is invalid is halved
  towards the last accepted point, at most ``MAX_HALVINGS`` times;
* so is a trial that raises the objective by more than rounding (``rise``),
  except on the first step, whose reference point is only a start;
* a fit whose linear predictor still moves by more than ``SEPARATION_STEP``
  on rows within ``SEPARATION_EDGE`` of the edge of the support when the
  deviance rule is met is separated: its MLE is at infinity.

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
    "TOL_FLOOR_EPS",
    "Tolerances",
    "tolerances",
    "relative_change",
    "Verdict",
    "judge_step",
    "keep_going",
    "step_failure",
    "final_status",
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
    return Verdict(accept, give_up, accept & (jnp.abs(change) < tol.converge))


def step_failure(singular, give_up):
    """The status a trial leaves: SINGULAR (no Newton step), NONFINITE, or SUCCESS."""
    return jnp.where(
        singular, Status.SINGULAR, jnp.where(give_up, Status.NONFINITE, Status.SUCCESS)
    ).astype(jnp.int32)


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
