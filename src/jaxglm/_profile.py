"""Profile-likelihood confidence intervals, as R's ``confint(fit)`` for a glm.

R (MASS's ``profile.glm`` + ``confint.profile.glm``) walks each coefficient
away from its estimate in steps of ``zmax / 5`` standard errors, at most 9
steps each way, refitting the other coefficients at every step (a fit
without that column and with ``offset + X_j b``), until the signed root
``z = sign(b - coef) sqrt((deviance(b) - deviance) / dispersion)`` reaches
``zmax``.  The interval is where a cubic spline through ``(b, z)`` (R's
``spline()``, method "fmm", at ``3 m`` points), read backwards by linear
interpolation (``approx``), crosses ``qnorm((1 -/+ level) / 2)``.  We take
the same steps, all coefficients and steps as one batch of fits (the ones
past R's stopping rule are computed and then ignored), and the same spline
and interpolation, so the numbers are R's, approximation included: the
exact crossing of the profile differs from R's at about the 1e-4 level.
"""

from __future__ import annotations

import functools
import math
import statistics

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ._families import Binomial, Poisson
from ._formula import design_of_fit
from ._implicit import fit_coef
from ._multinomial.family import Multinomial
from ._result import GLMResult
from ._status import Status
from ._validate import check_loop_options, is_concrete, valid_input_mask

__all__ = ["confint_profile"]

# R's profile.glm: maxsteps = 10 (the loop runs while step < maxsteps, so 9
# steps each way), del = zmax / 5.
_STEPS = 9
_STEPS_PER_ZMAX = 5
# R stops ("profiling has found a better solution") when a constrained fit's
# deviance is below the fit's by more than this, in dispersion units; we give
# NaN for that coefficient instead.
_BELOW_FIT = 1e-3
# The constrained fits are batched over coefficients in chunks of at most
# this many elements of (fits, n, p) working arrays.
_BATCH_ELEMENTS = 2**25


def confint_profile(
    res: GLMResult,
    X: ArrayLike | None = None,
    level: float = 0.95,
    *,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> jax.Array:
    """Profile-likelihood confidence intervals for the coefficients of a fit.

    Each bound is where the signed root of the deviance increase (scaled by
    the dispersion) of the fit with that coefficient held fixed crosses the
    normal quantile, found on R's grid of refits with R's spline
    interpolation.  Unlike Wald intervals they follow the shape of the
    likelihood, which is far from quadratic for small or sparse binomial and
    Poisson data.

    Matches R: ``confint(fit, level = level)`` (MASS's ``confint.glm``; for
    ``glm.nb`` fits with theta held fixed).

    Args:
        res: a fit from :func:`jaxglm.fit`, or a ``vmap``-ped batch of fits
            (every leaf with the same leading batch axes).
        X: the design matrix the fit used, (n, p), or one per fit of a batch
            (..., n, p); the offset and prior weights are taken from ``res``.
            None for a formula fit (:func:`jaxglm.glm`): its design is rebuilt
            from the stored rows.
        level: confidence level, in (0, 1).
        tol, max_iter: convergence rule of the constrained fits (as
            :func:`jaxglm.fit`; R uses the original fit's ``control``).

    Returns:
        (p, 2) lower and upper bounds ((..., p, 2) for a batch).  NaN rows for
        aliased coefficients, and for every coefficient of a fit that did not
        converge (its ``status`` is not SUCCESS, e.g. separation); a NaN bound
        where the profile does not reach the cutoff within R's 9 steps (R's NA).

    Raises:
        ValueError: ``level`` outside (0, 1), ``X`` of the wrong shape, a
            penalised (``l2 > 0``) or multinomial fit.
        TypeError: ``res`` is not a :class:`GLMResult`.
    """
    if not isinstance(res, GLMResult):
        raise TypeError(
            f"res must be a GLMResult from jg.fit, got {type(res).__name__}"
        )
    if isinstance(res.family, Multinomial):
        raise ValueError(
            "confint_profile does not support Multinomial fits (R's confint for "
            "multinom is not a glm profile); use res.conf_int() for Wald intervals"
        )
    level = _check_level(level)
    check_loop_options(tol, max_iter)
    coef = jnp.asarray(res.coef)
    batch_shape = coef.shape[:-1]
    n, p = res.y.shape[-1], coef.shape[-1]
    X = _check_design(design_of_fit(res, X, "confint_profile"), batch_shape, n, p,
                      coef.dtype)  # fmt: skip
    if is_concrete(res.l2) and np.any(np.asarray(res.l2) != 0):
        raise ValueError(
            f"res is a penalised fit (l2 = {np.asarray(res.l2)}); profile "
            "likelihood intervals are defined for unpenalised fits (l2 = 0)"
        )

    a = (1.0 - level) / 2.0
    alpha = a / 2.0  # MASS's confint.glm profiles at alpha = (1 - level) / 4
    # R's switch on family$family: binomial and poisson get a chi-squared grid;
    # every other family (quasi ones, "Negative Binomial(theta)", Gamma, ...)
    # sqrt(qf(1 - alpha, 1, n - p)), with R's n (zero-weight rows too) and p
    # (aliased columns too).
    if isinstance(res.family, Binomial | Poisson) and not res.estimates_dispersion:
        zmax = _normal_quantile(1.0 - alpha / 2.0)  # sqrt(qchisq(1 - alpha, 1))
    else:
        zmax = _student_t_quantile(1.0 - alpha / 2.0, n - p)
    cutoffs = (_normal_quantile(a), _normal_quantile(1.0 - a))
    return _confint_compiled(
        res,
        X,
        jnp.asarray(zmax, X.dtype),
        jnp.asarray(cutoffs, X.dtype),
        jnp.asarray(tol, X.dtype),
        jnp.asarray(max_iter, jnp.int32),
        batch_ndim=len(batch_shape),
    )


# The level's numbers, tol and max_iter are traced: changing them does not
# recompile.
@functools.partial(jax.jit, static_argnames=("batch_ndim",))
def _confint_compiled(res, X, zmax, cutoffs, tol, max_iter, *, batch_ndim):
    profile = _profile_one
    for _ in range(batch_ndim):
        X_axis = 0 if X.ndim > 2 else None
        profile = jax.vmap(profile, in_axes=(0, X_axis, None, None, None, None))
    return profile(res, X, zmax, cutoffs, tol, max_iter)


def _check_level(level) -> float:
    try:
        value = float(level)
    except (TypeError, jax.errors.ConcretizationTypeError) as err:
        raise ValueError(
            f"level must be a number in (0, 1), got {level!r}; it sets R's grid "
            "of refits, so it cannot be traced"
        ) from err
    if not 0.0 < value < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return value


def _check_design(X, batch_shape, n, p, dtype) -> jax.Array:
    X = jnp.asarray(X)
    if not jnp.issubdtype(X.dtype, jnp.number) or jnp.iscomplexobj(X):
        raise TypeError(f"X must be a real numeric array, got dtype {X.dtype}")
    expected = (n, p)
    if (
        X.shape[-2:] != expected
        or X.ndim not in (2, 2 + len(batch_shape))
        or (X.ndim > 2 and X.shape[:-2] != batch_shape)
    ):
        batch = f" or {batch_shape + expected}" if batch_shape else ""
        raise ValueError(
            f"X has shape {X.shape} but the fit has n = {n} rows and p = {p} "
            f"coefficients; pass the design matrix of the fit, shape {expected}{batch}"
        )
    return X.astype(dtype)


def _profile_one(res: GLMResult, X, zmax, cutoffs, tol, max_iter):
    """(p, 2) intervals of one fit; see :func:`confint_profile`."""
    dtype = X.dtype
    p = X.shape[1]
    family = res.family
    aliased = res.aliased
    coef = jnp.where(aliased, 0.0, res.coef)
    offset = res.eta - X @ coef
    zero = jnp.zeros((), dtype)
    valid_input = valid_input_mask(family, X, res.y, res.weights, offset, zero)
    delta = zmax / _STEPS_PER_ZMAX
    k = jnp.arange(1, _STEPS + 1, dtype=dtype)
    # Down then up, each in R's order (1, 2, ..., 9 steps away).
    multiples = jnp.concatenate([-k, k]) * delta

    def deviances(j):
        # R drops column j (and the aliased ones); a zero column held at 0
        # by the aliased mask is the same fit with the shapes unchanged.
        dropped = aliased | (jnp.arange(p) == j)
        X_j = jnp.where(dropped[None, :], 0.0, X)
        values = coef[j] + multiples * res.se[j]

        def deviance_at(value):
            offset_j = offset + X[:, j] * value
            out = fit_coef(
                X_j, res.y, res.weights, offset_j, jnp.zeros(p, dtype), family,
                dropped, valid_input, tol, max_iter,
            )  # fmt: skip
            mu = family.link.inverse(X_j @ out.coef + offset_j)
            return family.deviance(res.y, mu, res.weights)

        return values, jax.vmap(deviance_at)(values)

    chunk = max(1, min(p, _BATCH_ELEMENTS // (2 * _STEPS * X.size)))
    if chunk >= p:
        values, deviance = jax.vmap(deviances)(jnp.arange(p))
    else:
        values, deviance = jax.lax.map(deviances, jnp.arange(p), batch_size=chunk)

    rise = (deviance - res.deviance) / res.scale
    below_fit = rise <= -_BELOW_FIT
    z = jnp.sign(multiples)[None, :] * jnp.sqrt(jnp.maximum(rise, 0.0))
    intervals, usable = jax.vmap(_interval, in_axes=(0, 0, 0, 0, None, None))(
        coef, values, z, below_fit, zmax, cutoffs
    )
    ok = usable & ~aliased & (res.status == Status.SUCCESS) & (res.l2 == 0)
    return jnp.where(ok[:, None], intervals, jnp.nan)


def _interval(coef, values, z, below_fit, zmax, cutoffs):
    """R's confint.profile.glm for one coefficient: ((2,) bounds, usable).

    ``values`` and ``z`` are (18,): 9 steps down, then 9 up.
    """
    down, up = z[:_STEPS], z[_STEPS:]
    # R takes step k only while every earlier step had |z| < zmax.
    taken_down = _taken(down, zmax)
    taken_up = _taken(up, zmax)
    taken = jnp.concatenate([taken_down, taken_up])
    usable = ~jnp.any(taken & (below_fit | ~jnp.isfinite(z)))
    n_down = jnp.sum(taken_down)
    n_knots = n_down + jnp.sum(taken_up) + 1
    # Knots in increasing order: 9..1 steps down, the estimate, 1..9 up; the
    # ones R took are the window starting 9 - n_down steps down.
    x = jnp.concatenate([values[:_STEPS][::-1], coef[None], values[_STEPS:]])
    y = jnp.concatenate([down[::-1], jnp.zeros(1, z.dtype), up])
    position = jnp.arange(x.shape[0])
    index = jnp.minimum(_STEPS - n_down + position, x.shape[0] - 1)
    knot = position < n_knots
    x = jnp.where(knot, x[index], x[index[-1]])
    y = jnp.where(knot, y[index], 0.0)
    safe_y = jnp.where(jnp.isfinite(y), y, 0.0)
    grid_x, grid_z, n_grid = _spline(x, safe_y, n_knots)
    bounds = jax.vmap(_approx, in_axes=(None, None, None, 0))(
        grid_z, grid_x, n_grid, cutoffs
    )
    return bounds, usable


def _taken(z, zmax):
    below = jnp.abs(z) < zmax
    return jnp.concatenate([jnp.ones(1, bool), jnp.cumprod(below[:-1]).astype(bool)])


def _spline(x, y, n):
    """R's ``spline(x, y)`` (method "fmm", ``3 n`` points) on the first ``n``
    of the padded knots ``x`` (increasing) and ``y``: (xout, yout, 3 n)."""
    b, c, d = _fmm_coefficients(x, y, n)
    size = 3 * x.shape[0]
    count = 3 * n
    last = n - 1
    start, stop = x[0], x[last]
    # R's seq.int(from, to, length.out): from the nearer end on each half.
    i = jnp.arange(size)
    step = (stop - start) / (count - 1).astype(x.dtype)
    xout = jnp.where(
        i < count // 2,
        start + i.astype(x.dtype) * step,
        stop - (count - 1 - i).astype(x.dtype) * step,
    )
    xout = jnp.where(i == 0, start, jnp.where(i >= count - 1, stop, xout))
    # R's spline_eval: the knot interval x[k] <= u (the last knot's at the end).
    padded = jnp.where(jnp.arange(x.shape[0]) < n, x, jnp.inf)
    k = jnp.clip(
        jnp.searchsorted(padded, xout, side="right", method="compare_all") - 1, 0, last
    )
    dx = xout - x[k]
    yout = y[k] + dx * (b[k] + dx * (c[k] + dx * d[k]))
    return xout, yout, count


def _fmm_coefficients(x, y, n):
    """Forsythe, Malcolm & Moler's cubic spline (R's ``fmm_spline``, splines.c)
    through the first ``n >= 3`` knots: the end third derivatives match those
    of the cubics through the first and last four knots.  Returns (b, c, d),
    the polynomial coefficients of each knot's interval."""
    size = x.shape[0]
    i = jnp.arange(size)
    last = n - 1
    inside = i < last
    width = jnp.where(inside, jnp.diff(x, append=x[-1:]), 1.0)
    slope = jnp.where(inside, jnp.diff(y, append=y[-1:]) / width, 0.0)
    width_before = jnp.concatenate([width[:1], width[:-1]])
    slope_before = jnp.concatenate([slope[:1], slope[:-1]])
    # Tridiagonal system: diagonal b, off-diagonal width, right-hand side c.
    b = 2.0 * (width_before + width)
    c = slope - slope_before

    def at(a, k):
        return a[jnp.clip(k, 0, size - 1)]

    first = at(c, 2) / (x[3] - x[1]) - at(c, 1) / (x[2] - x[0])
    first = first * width[0] ** 2 / (x[3] - x[0])
    end = at(c, n - 2) / (at(x, n - 1) - at(x, n - 3)) - at(c, n - 3) / (
        at(x, n - 2) - at(x, n - 4)
    )
    end = -end * at(width, n - 2) ** 2 / (at(x, n - 1) - at(x, n - 4))
    four = n > 3
    b = jnp.where(i == 0, -width[0], jnp.where(i == last, -at(width, n - 2), b))
    c = jnp.where(
        i == 0,
        jnp.where(four, first, 0.0),
        jnp.where(i == last, jnp.where(four, end, 0.0), c),
    )
    b = jnp.where(i <= last, b, 1.0)
    c = jnp.where(i <= last, c, 0.0)

    def eliminate(carry, row):
        b_prev, c_prev, w_prev = carry
        b_i, c_i, w_i, active = row
        t = w_prev / b_prev
        b_i = jnp.where(active, b_i - t * w_prev, b_i)
        c_i = jnp.where(active, c_i - t * c_prev, c_i)
        return (b_i, c_i, w_i), (b_i, c_i)

    rows = (b[1:], c[1:], width[1:], i[1:] <= last)
    _, (b_rest, c_rest) = jax.lax.scan(eliminate, (b[0], c[0], width[0]), rows)
    b = jnp.concatenate([b[:1], b_rest])
    c = jnp.concatenate([c[:1], c_rest])

    def substitute(c_next, row):
        b_i, c_i, w_i, k = row
        c_i = jnp.where(
            k == last,
            c_i / b_i,
            jnp.where(k < last, (c_i - w_i * c_next) / b_i, 0.0),
        )
        return c_i, c_i

    _, c = jax.lax.scan(
        substitute, jnp.zeros((), x.dtype), (b, c, width, i), reverse=True
    )
    c_next = jnp.concatenate([c[1:], c[-1:]])
    b = slope - width * (c_next + 2.0 * c)
    d = (c_next - c) / width
    b_end = at(slope, n - 2) + at(width, n - 2) * (at(c, n - 2) + 2.0 * at(c, n - 1))
    b = jnp.where(i == last, b_end, b)
    d = jnp.where(i == last, at(d, n - 2), d)
    d = jnp.where(i <= last, d, 0.0)
    return b, 3.0 * c, d


def _approx(x, y, n, v):
    """R's ``approx(x, y, xout = v)$y`` over the first ``n`` points: x sorted
    (stably), linear interpolation, NA (NaN) outside the range of x."""
    valid = jnp.arange(x.shape[0]) < n
    order = jnp.argsort(jnp.where(valid, x, jnp.inf), stable=True)
    xs, ys = x[order], y[order]
    k = jnp.clip(
        jnp.searchsorted(xs, v, side="right", method="compare_all") - 1, 0, n - 2
    )
    x0, x1, y0, y1 = xs[k], xs[k + 1], ys[k], ys[k + 1]
    gap = x1 - x0
    ratio = (v - x0) / jnp.where(gap == 0, 1.0, gap)
    value = jnp.where(gap == 0, y0, y0 + (y1 - y0) * ratio)
    inside = (v >= xs[0]) & (v <= xs[n - 1])
    return jnp.where(inside, value, jnp.nan)


def _normal_quantile(prob: float) -> float:
    # In double precision whatever JAX's precision (R's qnorm).
    return statistics.NormalDist().inv_cdf(prob)


@functools.cache
def _student_t_quantile(prob: float, df: int) -> float:
    """R's ``qt(prob, df)`` for prob > 1/2 (NaN for df < 1), by bisection on
    ``P(T > t) = I_{df / (df + t^2)}(df / 2, 1 / 2) / 2`` in double precision."""
    if df < 1:
        return math.nan
    tail = 2.0 * (1.0 - prob)
    lo, hi = 0.0, 1.0  # I_x increases in x; t falls as x rises
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _beta_regularized(df / 2.0, 0.5, mid) < tail:
            lo = mid
        else:
            hi = mid
    x = 0.5 * (lo + hi)
    return math.sqrt(df * (1.0 - x) / x)


def _beta_regularized(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta ``I_x(a, b)`` by its continued fraction
    (Numerical Recipes 6.4, modified Lentz)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        + a * math.log(x) + b * math.log1p(-x)
    )  # fmt: skip
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300

    def guard(value):
        return tiny if abs(value) < tiny else value

    c, d = 1.0, 1.0 / guard(1.0 - (a + b) * x / (a + 1.0))
    h = d
    for m in range(1, 1000):
        even = m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m))
        d = 1.0 / guard(1.0 + even * d)
        c = guard(1.0 + even / c)
        h *= d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0))
        d = 1.0 / guard(1.0 + odd * d)
        c = guard(1.0 + odd / c)
        h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return h
