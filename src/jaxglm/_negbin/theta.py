"""The negative binomial ``theta`` at fixed means: score, information and solve.

MASS's ``theta.ml`` runs Newton's method on theta from the moment estimate
``sum(w) / sum(w (y / mu - 1)^2)``.  Here the same profile likelihood is
solved in ``s = log(theta)`` by a safeguarded Newton iteration: a bracket of
the score's sign change is kept, and a step that leaves it bisects instead,
so theta stays positive and the solve cannot diverge or oscillate.  When the
score is still positive at ``theta_max`` (the likelihood keeps rising as
theta grows: no overdispersion, the Poisson limit) or still negative at
``THETA_MIN``, the solve stops there and reports the boundary.

The score ``psi(theta + y) - psi(theta) - log1p(mu / theta) + (mu - y) / (mu +
theta)`` is a sum of terms of size y / theta that cancel to about
mu / theta^2; the digamma difference is taken from its asymptotic series for
theta >= 100 (exact in float64 there), so the sign of the score stays
readable up to theta ~ 1 / eps rather than 1 / sqrt(eps).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import digamma

__all__ = [
    "THETA_MIN",
    "log_theta_bounds",
    "moment_theta",
    "theta_score",
    "theta_information",
    "ThetaSolution",
    "solve_theta",
]

#: theta below this counts as zero (infinite overdispersion).
THETA_MIN = 1e-8
# theta above min(THETA_MAX, THETA_MAX_EPS / eps) counts as infinite: there a
# row's score (about mu / theta^2) is still ~100 times its rounding error
# (about eps y / theta); float64 1e8, float32 about 8e4.
THETA_MAX = 1e8
THETA_MAX_EPS = 0.01
# The digamma difference uses its asymptotic series from this theta on: the
# first omitted term, 1 / (240 x^8), is below 1e-18 at 100 (float64) and 5e-11
# at 10 (float32, whose digamma is only good to about 1e-6 relative, too
# coarse for the score's cancellation).
_SERIES_FROM = {True: 100.0, False: 10.0}
# Largest Newton step in log(theta) (a factor of e^3 = 20 in theta).
_MAX_LOG_STEP = 3.0
# Iterations of the theta solve: a bisection from the widest bracket reaches
# 1e-12 in about 45.
_MAX_THETA_ITER = 100


def log_theta_bounds(dtype) -> tuple[float, float]:
    """``(log THETA_MIN, log theta_max)`` for the working dtype."""
    eps = float(jnp.finfo(dtype).eps)
    return math.log(THETA_MIN), math.log(min(THETA_MAX, THETA_MAX_EPS / eps))


def _digamma_difference(theta, y):
    """``psi(theta + y) - psi(theta)``, accurate relative to y / theta for large theta.

    From ``psi(x) = log x - 1/(2x) - 1/(12x^2) + 1/(120x^4) - 1/(252x^6) + ...``
    with each difference formed in closed form, so nothing cancels.
    """
    start = _SERIES_FROM[jnp.finfo(jnp.result_type(theta)).bits > 32]
    large = theta >= start
    t = jnp.where(large, theta, start)
    s = t + y
    a, b = 1.0 / t**2, 1.0 / s**2
    d2 = y * (t + s) * a * b  # 1/t^2 - 1/s^2
    series = (
        jnp.log1p(y / t)
        + y / (2.0 * t * s)
        + d2 / 12.0
        - d2 * (a + b) / 120.0
        + d2 * (a * a + a * b + b * b) / 252.0
    )
    small = jnp.where(large, 1.0, theta)
    return jnp.where(large, series, digamma(small + y) - digamma(small))


def theta_score(theta, y, mu, weights):
    """d loglik / d theta at fixed ``mu`` (MASS ``theta.ml``'s ``score``)."""
    used = weights > 0
    per_row = (
        _digamma_difference(theta, y) - jnp.log1p(mu / theta) + (mu - y) / (mu + theta)
    )
    return jnp.sum(jnp.where(used, weights * per_row, 0.0))


def theta_information(theta, y, mu, weights):
    """-d^2 loglik / d theta^2 at fixed ``mu`` (``theta.ml``'s ``info``); R's
    ``SE.theta`` is ``1 / sqrt`` of it."""
    _, slope = jax.jvp(
        lambda t: theta_score(t, y, mu, weights), (theta,), (jnp.ones_like(theta),)
    )
    return -slope


def moment_theta(y, mu, weights):
    """``theta.ml``'s start ``sum(w) / sum(w (y / mu - 1)^2)`` (rows with w > 0)."""
    used = weights > 0
    safe_mu = jnp.where(used, mu, 1.0)
    spread = jnp.sum(jnp.where(used, weights * (y / safe_mu - 1.0) ** 2, 0.0))
    return jnp.sum(jnp.where(used, weights, 0.0)) / spread


class ThetaSolution(NamedTuple):
    log_theta: jax.Array
    #: +1: the likelihood still rises at theta_max (theta -> infinity);
    #: -1: it still rises towards THETA_MIN (theta -> 0); 0: interior maximum.
    boundary: jax.Array
    n_iter: jax.Array


class _State(NamedTuple):
    log_theta: jax.Array
    lo: jax.Array  # largest log theta seen with a positive score
    hi: jax.Array  # smallest log theta seen with a non-positive score
    lo_seen: jax.Array
    hi_seen: jax.Array
    step: jax.Array
    n_iter: jax.Array


def solve_theta(y, mu, weights, start, tol) -> ThetaSolution:
    """Maximise the likelihood in ``log(theta)`` at fixed ``mu``.

    Args:
        y, mu, weights: (n,).
        start: starting log(theta), a scalar (clipped into the bounds).
        tol: stop once a Newton step in log(theta) is smaller than this.
    """
    log_min, log_max = log_theta_bounds(y.dtype)

    def slope(s):
        theta = jnp.exp(s)
        return theta * theta_score(theta, y, mu, weights)

    def step(state: _State) -> _State:
        s = state.log_theta
        g, h = jax.jvp(slope, (s,), (jnp.ones_like(s),))
        rising = g > 0
        lo = jnp.where(rising, s, state.lo)
        hi = jnp.where(rising, state.hi, s)
        lo_seen = state.lo_seen | rising
        hi_seen = state.hi_seen | ~rising
        # Newton where the log-likelihood is concave in s, else a full step
        # uphill; either way at most _MAX_LOG_STEP.
        newton = jnp.where(h < 0, -g / jnp.where(h < 0, h, -1.0), jnp.sign(g) * 1e30)
        trial = s + jnp.clip(newton, -_MAX_LOG_STEP, _MAX_LOG_STEP)
        up, down = trial >= hi, trial <= lo
        trial = jnp.where(
            up & ~hi_seen,
            log_max,
            jnp.where(
                down & ~lo_seen,
                log_min,
                jnp.where(up | down, 0.5 * (lo + hi), trial),
            ),
        )
        at_edge = (lo >= log_max) | (hi <= log_min)
        trial = jnp.where(at_edge | ~jnp.isfinite(g), s, trial)
        return _State(
            trial, lo, hi, lo_seen, hi_seen, jnp.abs(trial - s), state.n_iter + 1
        )

    def running(state: _State):
        return (state.step >= tol) & (state.n_iter < _MAX_THETA_ITER)

    dtype = y.dtype
    s0 = jnp.clip(jnp.asarray(start, dtype), log_min, log_max)
    init = _State(
        log_theta=s0,
        lo=jnp.asarray(log_min, dtype),
        hi=jnp.asarray(log_max, dtype),
        lo_seen=jnp.zeros((), bool),
        hi_seen=jnp.zeros((), bool),
        step=jnp.full((), jnp.inf, dtype),
        n_iter=jnp.zeros((), jnp.int32),
    )
    final = jax.lax.while_loop(running, step, init)
    boundary = jnp.where(
        final.lo >= log_max, 1, jnp.where(final.hi <= log_min, -1, 0)
    ).astype(jnp.int32)
    return ThetaSolution(final.log_theta, boundary, final.n_iter)
