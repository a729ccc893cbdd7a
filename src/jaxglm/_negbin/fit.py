"""``jg.fit_negbin``: the negative binomial GLM with theta estimated (MASS ``glm.nb``).

MASS's alternation, in one ``lax.while_loop``: a Poisson fit, theta from its
means, then repeatedly the package's IRLS (``_irls.irls``, every decision rule
shared with ``jg.fit``) at the current theta and theta's profile-likelihood
solve at the new means, until the log-likelihood and log(theta) stop moving.
The coefficients and theta are orthogonal parameters (their expected cross
information is zero for every link), so the alternation converges in a few
rounds, to the joint maximum-likelihood estimate.

Derivatives come from the joint optimum, not the loop: at the solution the
score in ``(coef, log theta)`` is zero, so ``d(coef, log theta) = -J^{-1}
dscore`` with ``J`` its Jacobian (``_implicit.py``'s rule with theta added).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .._families import NegativeBinomial, Poisson
from .._formula import formula_fit
from .._implicit import score
from .._inference import summarize
from .._irls import irls
from .._linalg import aliased_columns, linear_predictor, solve_general
from .._result import GLMResult
from .._rules import final_status, keep_going, relative_change, tolerances
from .._status import ConvergenceWarning, Status, warn_if_failed
from .._validate import cast_family, is_concrete, prepare, valid_input_mask
from .._vmap_chunks import in_chunks
from .theta import (
    log_theta_bounds,
    moment_theta,
    solve_theta,
    theta_information,
    theta_score,
)

__all__ = ["fit_negbin", "fit_negbin_traced", "glm_nb"]


class NegbinOutput(NamedTuple):
    coef: jax.Array  # (p,), aliased entries 0
    log_theta: jax.Array
    boundary: jax.Array  # int32: +1 theta -> infinity, -1 theta -> 0, else 0
    n_iter: jax.Array  # int32: alternations
    status: jax.Array  # int32 Status code of the alternation


class _State(NamedTuple):
    coef: jax.Array
    log_theta: jax.Array
    boundary: jax.Array
    loglik: jax.Array
    n_iter: jax.Array
    converged: jax.Array
    failure: jax.Array


def _with_theta(family: NegativeBinomial, log_theta) -> NegativeBinomial:
    return family.replace(alpha=jnp.exp(-log_theta))


# The alternation stops when -2 loglik (relatively) and log(theta) move by
# less than tol, but never asks for less than this many epsilons: float32
# log-likelihoods and theta scores of a few hundred rows carry rounding of
# about 1e-5 (in float64 tol decides).
_NOISE_EPS = 1000.0


def _alternation_tol(tol, dtype):
    eps = jnp.finfo(dtype).eps
    return jnp.maximum(tolerances(tol, dtype).converge, _NOISE_EPS * eps).astype(dtype)


def _alternate(
    X, y, weights, offset, family, aliased, valid_input, tol, max_iter
) -> NegbinOutput:
    dtype = X.dtype
    alternation_tol = _alternation_tol(tol, dtype)
    penalty = jnp.zeros(X.shape[1], dtype)
    log_min, log_max = log_theta_bounds(dtype)

    def fit_at(fam, coef_start=None):
        """The package's IRLS (jg.fit's rules) at a fixed family, and its means;
        warm-started from ``coef_start`` as glm.nb passes ``etastart``."""
        out = irls(fam, X, y, weights, offset, penalty, aliased, valid_input, tol,
                   max_iter, coef_start=coef_start)  # fmt: skip
        return out, fam.link.inverse(linear_predictor(X, out.coef) + offset)

    def loglik(log_theta, mu):
        fam = _with_theta(family, log_theta)
        return fam.loglik(y, mu, weights, jnp.ones((), dtype))

    # MASS: a Poisson fit, then theta from its means (theta.ml's moment start).
    first, mu = fit_at(Poisson(link=family.link))
    start = jnp.log(jnp.clip(moment_theta(y, mu, weights), 1e-30, 1e30))
    theta0 = solve_theta(y, mu, weights, start, alternation_tol)
    # A Poisson fit that only ran out of iterations is a start like any other.
    failure = jnp.where(first.status == Status.MAX_ITER, Status.SUCCESS, first.status)

    def step(state: _State) -> _State:
        out, mu = fit_at(_with_theta(family, state.log_theta), state.coef)
        theta = solve_theta(y, mu, weights, state.log_theta, alternation_tol)
        new_loglik = loglik(theta.log_theta, mu)
        # R's glm.nb: |Lm0 - Lm| / d1 + |del| / d2 < epsilon, here scale-free:
        # the relative change of -2 loglik and the change of log(theta).
        change = jnp.abs(relative_change(-2.0 * new_loglik, -2.0 * state.loglik))
        moved = jnp.abs(theta.log_theta - state.log_theta)
        ok = out.status == Status.SUCCESS
        return _State(
            coef=out.coef,
            log_theta=theta.log_theta,
            boundary=theta.boundary,
            loglik=new_loglik,
            n_iter=state.n_iter + 1,
            converged=ok & (change < alternation_tol) & (moved < alternation_tol),
            failure=out.status,
        )

    def running(state: _State):
        return keep_going(state.converged, state.n_iter, max_iter, state.failure)

    init = _State(
        coef=first.coef,
        log_theta=theta0.log_theta,
        boundary=theta0.boundary,
        loglik=loglik(theta0.log_theta, mu),
        n_iter=jnp.zeros((), jnp.int32),
        converged=jnp.zeros((), bool),
        failure=failure.astype(jnp.int32),
    )
    final = jax.lax.while_loop(running, step, init)
    status = final_status(jnp.zeros((), bool), final.failure, final.converged)
    log_theta = jnp.clip(final.log_theta, log_min, log_max)
    return NegbinOutput(final.coef, log_theta, final.boundary, final.n_iter, status)


def joint_score(z, X, y, weights, offset, family, aliased, pinned):
    """The score in ``z = (coef, log theta)``, (p + 1,).

    The coefficients' part is ``_implicit.score`` at the family with this
    theta; theta's is ``theta * d loglik / d theta``.  ``pinned`` (theta at a
    boundary) replaces the latter by ``log theta`` itself, so theta is held
    fixed and the coefficients differentiate as at that theta.
    """
    coef, log_theta = z[:-1], z[-1]
    fam = _with_theta(family, log_theta)
    coef_score = score(coef, X, y, weights, offset, jnp.zeros_like(coef), fam, aliased)
    mu = family.link.inverse(linear_predictor(X, coef) + offset)
    theta = jnp.exp(log_theta)
    theta_part = jnp.where(
        pinned, log_theta, theta * theta_score(theta, y, mu, weights)
    )
    return jnp.concatenate([coef_score, theta_part[None]])


@jax.custom_jvp
def solve_negbin(
    X, y, weights, offset, family, aliased, valid_input, tol, max_iter
) -> NegbinOutput:
    """The alternation, with an implicit-function-theorem derivative."""
    return _alternate(X, y, weights, offset, family, aliased, valid_input, tol,
                      max_iter)  # fmt: skip


@solve_negbin.defjvp
def _solve_negbin_jvp(primals, tangents):
    X, y, weights, offset, family, aliased, *_ = primals
    dX, dy, dweights, doffset, dfamily, *_ = tangents
    out = solve_negbin(*primals)
    z = jnp.concatenate([out.coef, out.log_theta[None]])
    pinned = out.boundary != 0

    def score_of_data(X, y, weights, offset, family):
        return joint_score(z, X, y, weights, offset, family, aliased, pinned)

    _, dscore = jax.jvp(
        score_of_data,
        (X, y, weights, offset, family),
        (dX, dy, dweights, doffset, dfamily),
    )
    J = jax.jacfwd(joint_score)(z, X, y, weights, offset, family, aliased, pinned)
    dz = -solve_general(J, dscore)
    dcoef = jnp.where(aliased, 0.0, dz[:-1])
    int_zero = np.zeros((), dtype=jax.dtypes.float0)
    return out, NegbinOutput(dcoef, dz[-1], int_zero, int_zero, int_zero)


def fit_negbin_traced(X, y, weights, offset, family, *, tol, max_iter, has_offset):
    """The whole fit on arrays already prepared by ``prepare``; traceable."""
    dtype = X.dtype
    zero = jnp.zeros((), dtype)
    valid_input = valid_input_mask(family, X, y, weights, offset, zero)
    aliased = aliased_columns(X, weights > 0)
    out = solve_negbin(
        X, y, weights, offset, family, aliased, valid_input, tol, max_iter
    )
    fam = _with_theta(family, out.log_theta)
    # theta at a boundary is no maximum: MAX_ITER, as R's "iteration limit
    # reached" (the coefficients are those at theta_max, i.e. the Poisson limit).
    status = jnp.where(
        (out.status == Status.SUCCESS) & (out.boundary != 0),
        Status.MAX_ITER,
        out.status,
    ).astype(jnp.int32)
    res = summarize(
        fam, X, y, weights, offset, jnp.zeros(X.shape[1], dtype), zero, out.coef,
        aliased, out.n_iter, status, has_offset=has_offset, tol=tol,
        max_iter=max_iter,
    )  # fmt: skip
    theta = jnp.exp(out.log_theta)
    theta_se = 1.0 / jnp.sqrt(theta_information(theta, y, res.mu, weights))
    theta_fit = jnp.where(
        out.boundary > 0, jnp.inf, jnp.where(out.boundary < 0, 0.0, theta)
    )
    # MASS's logLik.negbin counts theta as a parameter: df = rank + 1.
    n = jnp.asarray(y.shape[0], dtype)
    return res.replace(
        aic=res.aic + 2.0,
        bic=res.bic + jnp.log(n),
        theta_fit=theta_fit,
        theta_stderr=jnp.where(out.boundary != 0, jnp.nan, theta_se),
    )


# tol and max_iter are traced, so changing them does not recompile.
_fit_compiled = jax.jit(in_chunks(fit_negbin_traced), static_argnames=("has_offset",))


def fit_negbin(
    X: ArrayLike,
    y: ArrayLike,
    *,
    link: Any = None,
    weights: ArrayLike | None = None,
    offset: ArrayLike | None = None,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> GLMResult:
    """Fit a negative binomial GLM, estimating theta by maximum likelihood.

    Var(y) = mu + mu^2 / theta.  The result's ``family`` is
    ``jg.NegativeBinomial(alpha=1/theta, link)``; ``theta`` and ``theta_se``
    are R's ``theta`` and ``SE.theta``; ``aic``/``bic`` count theta as a
    parameter; ``n_iter`` counts the alternations between the coefficients
    and theta.

    When the data show no overdispersion the likelihood rises all the way to
    theta = infinity (the Poisson model); the fit then stops at
    theta = 1e8 (float32: about 8e4), reports ``Status.MAX_ITER`` with
    ``theta = inf`` and ``theta_se = NaN``, and its coefficients are those of
    that Poisson limit.  A likelihood rising towards theta = 0 gives
    ``theta = 0`` the same way.  (R's glm.nb warns "iteration limit reached"
    and returns a large theta, or stops with an error.)

    Matches R: ``MASS::glm.nb(y ~ X - 1, weights, link)`` with
    ``offset(offset)`` (include the intercept column in ``X`` yourself).

    Args:
        X: design matrix, (n, p).
        y: non-negative counts, (n,).
        link: ``None`` (log), a link name such as ``"sqrt"`` or ``"identity"``,
            or a ``jg.links`` instance.
        weights: prior weights, (n,) (each row's log-likelihood is multiplied
            by its weight).
        offset: added to the linear predictor, (n,).
        tol: convergence tolerance of the IRLS fits and of the alternation.
        max_iter: iteration limit of each IRLS fit and of the alternation.

    Returns:
        A :class:`GLMResult` with ``theta_fit``/``theta_stderr`` set; works
        under ``jit``, ``vmap`` (each fit its own theta) and ``grad``.

    Raises:
        ValueError, TypeError: for invalid inputs when they are concrete; under
        tracing the fit reports ``Status.INVALID_INPUT`` instead.
    """
    # Evaluated now even under a caller's jit: the family's value checks would
    # otherwise see its default alpha as a tracer.
    with jax.ensure_compile_time_eval():
        family = NegativeBinomial(link=link)
    X, y, weights, offset_arr, _ = prepare(
        X, y, family, weights, offset, 0.0, tol, max_iter
    )
    res = _fit_compiled(
        X,
        y,
        weights,
        offset_arr,
        cast_family(family, X.dtype),
        tol=jnp.asarray(tol, X.dtype),
        max_iter=jnp.asarray(max_iter, jnp.int32),
        has_offset=offset is not None,
    )
    if is_concrete(res):
        _warn_if_failed(res)
    return res


def _warn_if_failed(res: GLMResult) -> None:
    theta = np.asarray(res.theta)
    at_boundary = (np.asarray(res.status) == Status.MAX_ITER) & (
        np.isinf(theta) | (theta == 0)
    )
    if theta.ndim == 0 and at_boundary:
        limit = "infinity" if np.isinf(theta) else "zero"
        hint = (
            "the data show no overdispersion and the Poisson model "
            "(jg.fit(X, y, jg.Poisson())) is the limit"
            if limit == "infinity"
            else "the likelihood rises as theta -> 0"
        )
        warnings.warn(
            f"fit failed with status MAX_ITER: theta grows without bound towards "
            f"{limit} (res.theta = {theta}); {hint}",
            ConvergenceWarning,
            stacklevel=3,
        )
        return
    warn_if_failed(res, stacklevel=4)


def _formula_fitter(X, y, family, *, weights=None, offset=None, **fit_options):
    """``formula_fit``'s fitter: the family only carries the link."""
    return fit_negbin(
        X, y, link=family.link, weights=weights, offset=offset, **fit_options
    )


def glm_nb(
    formula: str,
    data: Any,
    *,
    link: Any = None,
    weights: Any = None,
    offset: Any = None,
    na_action: str = "omit",
    **fit_options: Any,
) -> GLMResult:
    """:func:`fit_negbin` on an R-style formula and a data frame.

    Matches R: ``MASS::glm.nb(formula, data, weights, link)`` (an offset as
    ``+ offset(log(x))`` in the formula or through ``offset``).

    Args:
        formula: e.g. ``"Days ~ Eth + Sex + Age + Lrn"``.
        data: a pandas DataFrame or a dict of equal-length columns.
        link: as in :func:`fit_negbin`.
        weights, offset, na_action: as in :func:`jaxglm.glm`.
        **fit_options: passed to :func:`fit_negbin` (``tol``, ``max_iter``).

    Returns:
        A :class:`GLMResult` with ``names`` and ``theta`` set.
    """
    return formula_fit(
        formula, data, NegativeBinomial(link=link), weights=weights, offset=offset,
        na_action=na_action, fitter=_formula_fitter, frame_depth=2, **fit_options,
    )  # fmt: skip
