"""One pass over a stream: per-block IRLS sums, compiled once, added up on the device.

Every pass evaluates the model at one point (mustart on the first pass, then
the coefficients IRLS is trying) and adds, block by block, what the next step
and the final statistics need: ``X'WX``, ``X'Wz``, the deviance, the Pearson
statistic, the log-likelihood and the validity tests of ``_irls.irls``.  Blocks
are padded to one shape, so the block function compiles once per stream, and
the running totals stay on the device, so reading the next block from disk
overlaps the arithmetic on the last one.
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._chunks import Block, check_block, naming_chunk, pieces, read_block
from ._family import Family
from ._irls import _at_edge, _fitted_exactly, observed_score, working_weights
from ._linalg import gram, normal_equations
from ._rules import SEPARATION_EDGE
from ._stream_progress import PassProgress

__all__ = ["Control", "Layout", "ModelSums", "PassSums", "Point", "run_pass"]

# Blocks dispatched ahead of the device: enough to overlap reading with
# arithmetic, few enough that a fast disk cannot queue the whole file in memory.
_IN_FLIGHT = 2


class Point(NamedTuple):
    """Where one model is evaluated on a pass."""

    coef: Any  # (q,); ignored on the start pass
    ref: Any  # (q,) last accepted coefficients, the origin of ``step``
    ref_is_start: Any  # bool: nothing accepted yet, the origin is mustart


class Control(NamedTuple):
    """What a pass computes; arrays, so changing them does not recompile."""

    start: Any  # bool: evaluate at mustart (the first IRLS pass)
    setup: Any  # bool: also accumulate SetupSums
    gram: Any  # bool: form the normal equations
    observed: Any  # bool: form the observed information and score instead
    rest_gram: Any  # bool: form X'X over rows not fitted exactly
    ybar: Any  # weighted mean of y (NaN until known)
    total_weight: Any  # sum of the weights (NaN until known)
    loglik_scale: Any  # dispersion plugged into the log-likelihood


class ModelSums(NamedTuple):
    """Sums over the rows for one model at the evaluated point."""

    gram: Any  # (q, q) X'WX with the working weights (observed: X'W+X)
    rhs: Any  # (q,) X'W target (observed: the score X'r)
    negative_gram: Any  # (q, q) observed only: X'W-X, the information's minus part
    deviance: Any
    fitting_deviance: Any  # what the steps are judged by (Family.fitting_deviance)
    invalid: Any  # bool: some row has an invalid eta or mu
    step: Any  # max |eta - eta_ref| over weighted rows
    at_edge: Any  # bool: some weighted mean at the edge of the support
    exact: Any  # bool: some weighted row fitted exactly at the edge
    rest_gram: Any  # (q, q) X'X over weighted rows not fitted exactly
    pearson: Any  # sum w (y - mu)^2 / V(mu)
    loglik: Any


class SetupSums(NamedTuple):
    """Facts about the data, gathered on the first pass."""

    used_gram: Any  # (p, p) X'X over rows with weight (aliasing)
    varies: Any  # (p,) bool: column differs from the first row somewhere
    total_weight: Any
    weighted_y: Any
    weighted_offset: Any
    loglik_rows: Any  # the denominator of family.loglik_scale
    no_model_deviance: Any  # deviance of mu = linkinv(offset)
    bad_start: Any  # bool: some mustart needs the ybar repair


class PassSums(NamedTuple):
    main: ModelSums
    null: ModelSums | None  # intercept-only model, fitted when there is an offset
    setup: SetupSums
    mean_deviance: Any  # deviance of mu = ybar (null deviance, no offset)


class Layout(NamedTuple):
    """The shape of a stream, learnt on its first pass."""

    rows: int  # rows per padded block: the first block's
    p: int
    has_weights: bool
    has_offset: bool
    first_row: np.ndarray  # (p,)
    template: PassSums  # shapes of the totals (jax.ShapeDtypeStruct leaves)
    n_rows: int = 0
    nobs: int = 0  # rows with non-zero weight
    n_chunks: int = 0


def _start_mu(family: Family, y, weights, ybar, total_weight):
    """R's mustart, repaired where invalid for the link, as ``_irls._start``."""
    link = family.link
    mu0 = family.starting_mu(y, weights)
    ok = family.valid_mu(mu0) & link.valid_eta(link.link(mu0))
    return jnp.where(ok, mu0, family.starting_mu(ybar, total_weight)), ok


def _model_sums(family, X, y, weights, offset, real, point, ctrl, eta0, mu0):
    dtype, q = X.dtype, X.shape[1]
    used = weights > 0
    eta_coef = X @ point.coef + offset
    eta = jnp.where(ctrl.start, eta0, eta_coef)
    mu = jnp.where(ctrl.start, mu0, family.link.inverse(eta_coef))
    ref_eta = jnp.where(point.ref_is_start, eta0, X @ point.ref + offset)
    w, mu_eta = working_weights(family, eta, mu, weights)
    # As _irls: the full working response on the first step, the increment after.
    resid = jnp.where(used, (y - mu) / mu_eta, 0.0)
    target = resid + jnp.where(ctrl.start, eta - offset, 0.0)
    zeros = (jnp.zeros((q, q), dtype), jnp.zeros(q, dtype))

    def observed():
        # _irls._newton_polish's observed information, in its two signs
        r, w_obs = observed_score(family, eta, y, weights)
        return (
            gram(X, jnp.maximum(w_obs, 0.0)),
            X.T @ r,
            gram(X, jnp.maximum(-w_obs, 0.0)),
        )

    def fisher():
        return (*jax.lax.cond(
            ctrl.gram, lambda: normal_equations(X, w, target), lambda: zeros
        ), zeros[0])  # fmt: skip

    G, b, negative_gram = jax.lax.cond(ctrl.observed, observed, fisher)
    exact = _fitted_exactly(family, y, mu) & used
    rest_gram = jax.lax.cond(
        ctrl.rest_gram, lambda: gram(X, (used & ~exact).astype(dtype)), lambda: zeros[0]
    )
    if family.estimates_dispersion:
        pearson = jnp.sum(
            jnp.where(used, weights * (y - mu) ** 2, 0.0)
            / jnp.where(used, family.variance(mu), 1.0)
        )
    else:
        pearson = jnp.zeros((), dtype)
    valid = family.link.valid_eta(eta) & family.valid_mu(mu)
    return ModelSums(
        gram=G,
        rhs=b,
        negative_gram=negative_gram,
        deviance=family.deviance(y, mu, weights),
        fitting_deviance=family.fitting_deviance(y, mu, weights),
        invalid=jnp.any(real & ~valid),
        step=jnp.max(jnp.where(used, jnp.abs(eta - ref_eta), 0.0)),
        at_edge=jnp.any(_at_edge(family, mu, SEPARATION_EDGE) & used),
        exact=jnp.any(exact),
        rest_gram=rest_gram,
        pearson=pearson,
        loglik=family.loglik(y, mu, weights, ctrl.loglik_scale).astype(dtype),
    )


def _setup_sums(family, X, y, weights, offset, real, first_row, ok_start):
    dtype = X.dtype
    used = weights > 0
    one = jnp.ones((), dtype)
    return SetupSums(
        used_gram=gram(X, used.astype(dtype)),
        varies=jnp.any(real[:, None] & (X != first_row[None, :]), axis=0),
        total_weight=jnp.sum(jnp.where(used, weights, 0.0)),
        weighted_y=jnp.sum(jnp.where(used, weights * y, 0.0)),
        weighted_offset=jnp.sum(jnp.where(used, weights * offset, 0.0)),
        # R's dispersion for the likelihood is deviance / (count of weighted
        # rows, or total weight): 1 / loglik_scale(1) adds up over blocks.
        loglik_rows=(one / family.loglik_scale(one, weights)).astype(dtype),
        no_model_deviance=family.deviance(y, family.link.inverse(offset), weights),
        bad_start=jnp.any(real & ~ok_start),
    )


def _block_sums(block: Block, n_real, first_row, main, null, ctrl, family):
    dtype = ctrl.loglik_scale.dtype
    X = block.X.astype(dtype)
    y = block.y.astype(dtype)
    rows = X.shape[0]
    real = jnp.arange(rows) < n_real
    weights = jnp.ones(rows, dtype) if block.weights is None else block.weights
    weights = jnp.where(real, weights.astype(dtype), 0.0)
    offset = (
        jnp.zeros(rows, dtype) if block.offset is None else block.offset.astype(dtype)
    )
    mu0, ok_start = _start_mu(family, y, weights, ctrl.ybar, ctrl.total_weight)
    eta0 = family.link.link(mu0)
    data = (family, X, y, weights, offset, real)
    main_sums = _model_sums(*data, main, ctrl, eta0, mu0)
    null_sums = None
    if null is not None:
        ones = jnp.ones((rows, 1), dtype)
        null_sums = _model_sums(*data[:1], ones, *data[2:], null, ctrl, eta0, mu0)

    def setup():
        return _setup_sums(*data, first_row.astype(dtype), ok_start)

    shapes = jax.eval_shape(setup)
    setup_sums = jax.lax.cond(
        ctrl.setup,
        setup,
        lambda: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes),
    )
    mean = jnp.broadcast_to(ctrl.ybar, y.shape)
    return PassSums(
        main=main_sums,
        null=null_sums,
        setup=setup_sums,
        mean_deviance=family.deviance(y, mean, weights),
    )


def _combine(total: PassSums, new: PassSums) -> PassSums:
    """Add block sums: ``or`` for flags, ``max`` for steps, ``+`` otherwise."""
    out = jax.tree.map(lambda a, b: a | b if a.dtype == bool else a + b, total, new)

    def steps(out_model, a, b):
        return out_model._replace(step=jnp.maximum(a.step, b.step))

    out = out._replace(main=steps(out.main, total.main, new.main))
    if out.null is not None:
        out = out._replace(null=steps(out.null, total.null, new.null))
    return out


@jax.jit
def _accumulate(totals, block, n_real, first_row, main, null, ctrl, family):
    new = _block_sums(block, n_real, first_row, main, null, ctrl, family)
    return _combine(totals, new)


def _new_layout(block: Block) -> Layout:
    return Layout(
        rows=block.X.shape[0],
        p=block.X.shape[1],
        has_weights=block.weights is not None,
        has_offset=block.offset is not None,
        first_row=np.asarray(block.X[0]),
        template=None,  # type: ignore[arg-type]  # set at the first block
    )


def _start_point(q: int, dtype) -> Point:
    zeros = np.zeros(q, dtype)
    return Point(zeros, zeros, np.asarray(True))


def _check_same_layout(block: Block, layout: Layout, index: int) -> None:
    with naming_chunk(index):
        if block.X.shape[1] != layout.p:
            raise ValueError(
                f"X has {block.X.shape[1]} columns but the first chunk had "
                f"{layout.p}; every chunk needs the same columns"
            )
        for name, had in (
            ("weights", layout.has_weights),
            ("offset", layout.has_offset),
        ):
            has = getattr(block, name) is not None
            if has != had:
                raise ValueError(
                    f"{name} is {'given' if has else 'missing'} but the first "
                    f"chunk {'had' if had else 'had no'} {name}; give {name} "
                    "in every chunk or in none"
                )


def run_pass(
    source,
    family: Family,
    ctrl: Control,
    main: Point | None,
    null: Point | None,
    layout: Layout | None,
    progress: PassProgress,
    index: int,
    what: str,
) -> tuple[Layout, PassSums]:
    """Read every block once and return the layout and the summed ``PassSums``.

    On the first pass (``layout`` None) each block is also checked as ``jg.fit``
    checks its inputs, and the layout is learnt; later passes check that the
    stream yields the same rows again.  A ``None`` point is mustart (with zero
    coefficients), for passes before the number of columns is known.
    """
    first = layout is None
    dtype = np.dtype(ctrl.loglik_scale.dtype)
    totals = None
    in_flight: deque = deque()
    n_rows = nobs = n_chunks = 0
    progress.start(index, what)
    for chunk_index, item in enumerate(source()):
        block = read_block(item, chunk_index, dtype)
        m = block.X.shape[0]
        if m == 0:
            continue
        if layout is None:
            layout = _new_layout(block)
        else:
            _check_same_layout(block, layout, chunk_index)
        main = _start_point(layout.p, dtype) if main is None else main
        null = _start_point(1, dtype) if null is None else null
        if first:
            check_block(block, chunk_index, family)
            weights = block.weights
            nobs += m if weights is None else int(np.count_nonzero(weights > 0))
        n_rows += m
        n_chunks += 1
        for piece, n_real in pieces(block, layout.rows):
            args = (
                piece,
                np.int32(n_real),
                layout.first_row,
                main,
                null if layout.has_offset else None,
                ctrl,
                family,
            )
            if totals is None:
                if layout.template is None:
                    layout = layout._replace(
                        template=jax.eval_shape(_block_sums, *args)
                    )
                totals = jax.tree.map(
                    lambda s: jnp.zeros(s.shape, s.dtype), layout.template
                )
            totals = _accumulate(totals, *args)
            in_flight.append(totals)
            if len(in_flight) > _IN_FLIGHT:
                jax.block_until_ready(in_flight.popleft())
        progress.advance(m)
    if layout is None or totals is None:
        raise ValueError(
            "chunks yielded no rows; a fit needs at least one observation"
            if first
            else "chunks yielded no rows on a later pass: the function must "
            "return a fresh iterator over the same data every time it is called"
        )
    if first:
        layout = layout._replace(n_rows=n_rows, nobs=nobs, n_chunks=n_chunks)
    elif n_rows != layout.n_rows:
        raise RuntimeError(
            f"chunks yielded {n_rows} rows on pass {index} but {layout.n_rows} on "
            "the first pass; the function must return the same data every time"
        )
    return layout, jax.device_get(totals)
