"""``jg.fit_stream``: a GLM on data read block by block, one pass per IRLS step.

The iteration is ``_irls.irls`` with its loop turned inside out: the state
lives on the host, and each pass over the data evaluates one trial point
(deviance, validity) and, at the same point, the normal equations of the next
step.  Starting values, step halving, R's convergence rule and the separation
tests are the in-memory fit's, so a stream gives ``jg.fit``'s answer to
rounding.  The intercept-only fit behind the null deviance (needed when there
is an offset) runs in the same passes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._chunks import as_source
from ._families import Gaussian
from ._family import Family
from ._linalg import aliased_from_gram, solve_spd
from ._rules import (
    SEPARATION_PROBE_EVERY,
    SEPARATION_STEP,
    Tolerances,
    final_status,
    judge_step,
    keep_going,
    polish_kept,
    relative_change,
    separation_probe_due,
    stopped_for_separation_check,
    tolerances,
)
from ._status import Status, warn_if_failed
from ._stream_pass import Control, Layout, ModelSums, PassSums, Point, run_pass
from ._stream_progress import PassProgress
from ._stream_result import StreamResult, assemble
from ._validate import as_family, cast_family, check_loop_options

__all__ = ["fit_stream"]


class _Model(NamedTuple):
    penalty: Any  # (q,)
    aliased: Any  # (q,) bool
    safe_coef: Any  # (q,) where a failed first step halves towards


class _Track(NamedTuple):
    """One IRLS fit between passes, as ``_irls._State``."""

    coef: Any  # last accepted coefficients
    trial: Any
    halvings: int
    objective: Any  # deviance plus the ridge penalty
    step: Any
    n_iter: int
    converged: bool
    failure: Status
    accepted: ModelSums  # sums at the accepted point (mustart at first)


@jax.jit
def _scoring_step(gram, rhs, coef, penalty, aliased):
    delta, ok = solve_spd(gram + jnp.diag(penalty), rhs - penalty * coef, aliased)
    return coef + delta, ok


_aliased = jax.jit(aliased_from_gram)


def _initial(sums: ModelSums, q: int, dtype) -> _Track:
    zeros = np.zeros(q, dtype)
    return _Track(
        coef=zeros, trial=zeros, halvings=0, objective=sums.fitting_deviance,
        step=np.zeros((), dtype), n_iter=0, converged=False,
        failure=Status.SUCCESS, accepted=sums,
    )  # fmt: skip


def _running(track: _Track | None, max_iter: int) -> bool:
    return track is not None and bool(
        keep_going(track.converged, track.n_iter, max_iter, track.failure)
    )


def _propose(track: _Track, model: _Model, max_iter: int):
    """(track, trial): the next point to evaluate, None when there is none."""
    if not _running(track, max_iter):
        return track, None
    if track.halvings > 0:
        previous = model.safe_coef if track.n_iter == 0 else track.coef
        return track, (0.5 * (track.trial + previous)).astype(track.coef.dtype)
    trial, ok = _scoring_step(
        track.accepted.gram, track.accepted.rhs, track.coef, model.penalty,
        model.aliased,
    )  # fmt: skip
    if not ok:
        return track._replace(failure=Status.SINGULAR), None
    return track, np.asarray(trial)


def _update(
    track: _Track, trial, sums: ModelSums, model: _Model, tols: Tolerances
) -> _Track:
    """Accept or reject the trial, as one pass of ``_irls.irls``'s loop."""
    objective = sums.fitting_deviance + np.sum(model.penalty * trial**2)
    valid = bool(np.isfinite(objective)) and not sums.invalid
    change = relative_change(objective, track.objective)
    verdict = judge_step(valid, True, change, track.n_iter, track.halvings, tols)
    failure = Status.NONFINITE if bool(verdict.give_up) else Status.SUCCESS
    if bool(verdict.accept):
        return _Track(
            coef=trial, trial=trial, halvings=0, objective=objective,
            step=sums.step, n_iter=track.n_iter + 1,
            converged=bool(verdict.converged), failure=failure, accepted=sums,
        )  # fmt: skip
    return track._replace(
        trial=trial, halvings=track.halvings + 1, converged=False, failure=failure
    )


def _separated_now(track: _Track, family: Family, aliased) -> bool:
    """``_irls``'s in-loop separation probe on the pass that was just accepted
    (its ``rest_gram`` is formed on the passes where a probe can fall due)."""
    sums = track.accepted
    due = separation_probe_due(True, track.n_iter, sums.step, sums.at_edge)
    return (
        family.separation_prone
        and bool(due)
        and bool(np.any(np.asarray(_aliased(sums.rest_gram)) & ~aliased))
    )


@jax.jit
def _observed_step(positive, negative, score, coef, penalty, aliased):
    information = positive - negative + jnp.diag(penalty)
    delta, ok = solve_spd(information, score - penalty * coef, aliased)
    return coef + delta, ok


def _polish(passes, main: _Track, final: ModelSums, model: _Model, tols, known):
    """``_irls._newton_polish`` in two passes: the observed information at the
    converged point, then the trial; (coef, sums) of the point kept."""
    here = Point(main.coef, main.coef, np.asarray(False))
    observed = passes.run("polish", here, observed=True, **known).main
    trial, solved = _observed_step(
        observed.gram, observed.negative_gram, observed.rhs, main.coef,
        model.penalty, model.aliased,
    )  # fmt: skip
    trial = np.asarray(trial)
    sums = passes.run("polish", Point(trial, main.coef, np.asarray(False)), **known)
    objective = sums.main.fitting_deviance + np.sum(model.penalty * trial**2)
    valid = bool(np.isfinite(objective)) and not sums.main.invalid
    change = relative_change(objective, main.objective)
    if bool(polish_kept(bool(solved), valid, change, tols)):
        return trial, sums.main
    return main.coef, final


def _point(track: _Track | None, trial, q: int, dtype) -> Point:
    if track is None:
        zeros = np.zeros(q, dtype)
        return Point(zeros, zeros, np.asarray(True))
    coef = track.coef if trial is None else trial
    return Point(coef, track.coef, np.asarray(track.n_iter == 0))


def _check_options(l2, tol, max_iter) -> None:
    check_loop_options(tol, max_iter)
    l2_value = np.asarray(l2)
    if l2_value.ndim != 0 or not np.isfinite(l2_value) or l2_value < 0:
        raise ValueError(f"l2 must be a finite non-negative scalar penalty, got {l2}")


class _Passes:
    """Runs passes over one stream, counting them; the layout comes from the first."""

    def __init__(self, source, family, dtype, progress: PassProgress):
        self.source, self.family, self.dtype = source, family, dtype
        self.progress = progress
        self.layout: Layout | None = None
        self.count = 0
        nan = np.asarray(np.nan, dtype)
        self.defaults = dict(
            start=False, setup=False, gram=True, observed=False, rest_gram=False,
            ybar=nan,
            total_weight=nan, loglik_scale=np.ones((), dtype),
        )  # fmt: skip

    def run(self, what: str, main=None, null=None, **control) -> PassSums:
        ctrl = Control(**{**self.defaults, **control})
        ctrl = Control(*(jnp.asarray(v) for v in ctrl))
        self.layout, sums = run_pass(
            self.source, self.family, ctrl, main, null, self.layout,
            self.progress, self.count, what,
        )  # fmt: skip
        self.count += 1
        note = f"deviance {float(sums.main.deviance):.8g}"
        self.progress.finish(note)
        return sums


def fit_stream(
    chunks,
    family: Family = Gaussian(),
    *,
    l2: float = 0.0,
    tol: float = 1e-8,
    max_iter: int = 100,
    progress: bool | None = None,
) -> StreamResult:
    """Fit a GLM to data too large for memory, reading it one block at a time.

    The same fit as :func:`jaxglm.fit` on all the rows at once (to rounding):
    Fisher scoring from R's starting values with step halving and R's
    convergence rule, each iteration one pass over the blocks.  Only one block
    (and a (p, p) matrix) is in memory at a time.  Sums over rows are formed in
    the default float dtype: float64 when ``jax_enable_x64`` is on (recommended:
    the sums run over every row), else float32; float32 data are transferred as
    float32 and widened on the device.

    Matches R: ``glm(y ~ X - 1, family, weights, offset)``; biglm's ``bigglm``
    also takes one pass over the data per iteration.

    Args:
        chunks: a function returning a fresh iterator of blocks, called once per
            pass; each block is a tuple ``(X, y)``, ``(X, y, weights)`` or
            ``(X, y, weights, offset)`` or a dict with those keys, with numpy
            (or memory-mapped) arrays: X (m, p), the others (m,).  Blocks may
            differ in length; the first sets the compiled block shape (the
            last and shorter blocks are padded, longer ones split), so make it
            a full one.  :func:`chunks_from_arrays` and
            :func:`chunks_from_parquet` make such functions.  A list of blocks
            also works.
        family: family and link, as in :func:`jaxglm.fit`.
        l2, tol, max_iter: as in :func:`jaxglm.fit`.
        progress: show a line per pass (with tqdm when installed); None shows
            it only when stderr is a terminal.

    Returns:
        A :class:`StreamResult`: every :class:`GLMResult` statistic except the
        per-row ``mu`` and ``eta``, plus ``n_passes``.

    Raises:
        ValueError, TypeError: for a bad block (the message names the chunk
            and the argument) or option, before the fit goes further; the
            whole stream is checked on the first pass.
    """
    family = as_family(family)
    source = as_source(chunks)
    _check_options(l2, tol, max_iter)
    dtype = np.dtype(jax.dtypes.canonicalize_dtype(np.float64))
    family = cast_family(family, dtype)
    tols = tolerances(tol, dtype)
    try:
        n_chunks = len(chunks)  # chunks_from_arrays / _parquet, a list of blocks
    except TypeError:
        n_chunks = None
    passes = _Passes(source, family, dtype, PassProgress(progress, n_chunks))

    start = passes.run("start", start=True, setup=True)
    layout = passes.layout
    assert layout is not None
    setup = start.setup
    if layout.nobs == 0:
        raise ValueError("weights are all zero; at least one row must carry weight")
    total = setup.total_weight
    ybar = setup.weighted_y / total
    mean_offset = setup.weighted_offset / total
    known = dict(ybar=ybar, total_weight=total)
    if setup.bad_start:  # mustart needs ybar, which only the first pass gave
        start = passes.run("start", start=True, **known)

    p = layout.p
    first_row = layout.first_row.astype(dtype)
    const = ~setup.varies & (first_row != 0)
    has_intercept = bool(const.any())
    aliased = np.asarray(_aliased(setup.used_gram))
    penalty = np.where(const, 0.0, l2).astype(dtype)
    link_ybar = np.asarray(family.link.link(jnp.asarray(ybar)))
    first = int(np.argmax(const))
    safe = np.zeros(p, dtype)
    if has_intercept:
        safe[first] = (link_ybar - mean_offset) / first_row[first]
    main_model = _Model(penalty, aliased, safe)
    null_model = _Model(
        np.zeros(1, dtype), np.zeros(1, bool), np.full(1, link_ybar - mean_offset)
    )
    main = _initial(start.main, p, dtype)
    null = None
    if layout.has_offset and has_intercept:
        assert start.null is not None
        null = _initial(start.null, 1, dtype)

    last = start
    while _running(main, max_iter) or _running(null, max_iter):
        main, main_trial = _propose(main, main_model, max_iter)
        if null is not None:
            null, null_trial = _propose(null, null_model, max_iter)
        else:
            null_trial = None
        if main_trial is None and null_trial is None:
            continue
        # The pass that could end a probe interval also forms the Gram over
        # the rows not fitted exactly, for _separated_now.
        probe = (
            family.separation_prone and (main.n_iter + 1) % SEPARATION_PROBE_EVERY == 0
        )
        last = passes.run(
            f"iteration {main.n_iter + 1}",
            _point(main, main_trial, p, dtype),
            _point(null, null_trial, 1, dtype),
            rest_gram=probe and main_trial is not None,
            **known,
        )
        if main_trial is not None:
            before = main.n_iter
            main = _update(main, main_trial, last.main, main_model, tols)
            if main.n_iter > before and _separated_now(main, family, aliased):
                main = main._replace(failure=Status.SEPARATION)
        if null_trial is not None:
            assert null is not None and last.null is not None
            null = _update(null, null_trial, last.null, null_model, tols)

    # The statistics need sums at the final coefficients: the last accepted
    # pass has them, unless no step was accepted (they are at mustart then).
    final_point = _point(main, None, p, dtype)._replace(ref_is_start=np.asarray(False))
    final = main.accepted
    if main.n_iter == 0:
        last = passes.run("statistics", final_point, **known)
        final = last.main
    # as _irls.irls: the separation tests judge a fit that converged, ran to
    # the iteration limit or broke down while running off
    separation_check = family.separation_prone and bool(
        stopped_for_separation_check(main.failure)
    )
    running_off = bool(final.at_edge) and main.step > SEPARATION_STEP
    rank_test = separation_check and not running_off and bool(final.exact)
    if rank_test:
        extra = passes.run(
            "separation test", final_point, gram=False, rest_gram=True, **known
        )
        final = final._replace(rest_gram=extra.main.rest_gram)
    separated = separation_check and (
        running_off
        or (
            rank_test and bool(np.any(np.asarray(_aliased(final.rest_gram)) & ~aliased))
        )
    )
    status = Status(int(final_status(separated, main.failure, main.converged)))
    coef = main.coef
    if status == Status.SUCCESS and not family.uses_canonical_link:
        coef, final = _polish(passes, main, final, main_model, tols, known)
    if type(family).loglik_scale is not Family.loglik_scale:
        loglik_scale = final.deviance / setup.loglik_rows
        extra = passes.run(
            "statistics", Point(coef, coef, np.asarray(False)), gram=False,
            loglik_scale=loglik_scale, **known,
        )  # fmt: skip
        final = final._replace(loglik=extra.main.loglik)

    if not has_intercept:
        null_deviance = setup.no_model_deviance
    elif null is not None:
        null_deviance = (
            null.accepted.deviance if null.n_iter > 0 else setup.no_model_deviance
        )
    else:
        null_deviance = last.mean_deviance
    res = assemble(
        family, final, coef_raw=coef, aliased=aliased, penalty=penalty, l2=l2,
        loglik=final.loglik, null_deviance=null_deviance,
        has_intercept=has_intercept, nobs=layout.nobs, n_rows=layout.n_rows,
        n_iter=main.n_iter, status=status, n_passes=passes.count,
    )  # fmt: skip
    warn_if_failed(res)
    return res
