"""Residuals and influence measures of a fitted GLM, as R's ``residuals.glm``,
``hatvalues``, ``cooks.distance`` and ``rstandard``.

Everything is plain ``jnp`` on the fields of a :class:`GLMResult`, so it works
under ``jit`` and ``vmap``.  A batched result (from ``jax.vmap`` of a fit or
from :func:`jaxglm.fit_many`) is mapped over its leading axes.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc, gammaln
from jax.typing import ArrayLike

from ._families import (
    Binomial,
    Gamma,
    Gaussian,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
    Tweedie,
)
from ._family import Family, as_param
from ._irls import constant_columns, working_weights
from ._linalg import hat_diagonal
from ._multinomial.family import Multinomial
from ._pytree import Node

if TYPE_CHECKING:  # _result imports this module for GLMResult.residuals
    from ._result import GLMResult

__all__ = ["Influence", "RESIDUAL_KINDS", "influence", "residuals"]

RESIDUAL_KINDS = ("response", "working", "pearson", "deviance", "anscombe")

# R's lm.influence sets hat values within this many epsilons of 1 to exactly 1
# (the observation is fitted exactly; its standardized residuals are NaN).
_HAT_ONE_EPS = 10.0


# --- Anscombe residuals: A(y) - A(mu) with A' = V^(-1/3) ---------------------------
def _beta_two_thirds(dtype) -> jax.Array:
    """B(2/3, 2/3), the complete beta function."""
    two_thirds = jnp.asarray(2.0 / 3.0, dtype)
    return jnp.exp(2.0 * gammaln(two_thirds) - gammaln(2.0 * two_thirds))


def _binomial_a(t):
    # A(t) = integral_0^t (s(1 - s))^(-1/3) ds = B(2/3, 2/3) I_t(2/3, 2/3)
    # (Cox & Snell 1968).
    a = jnp.asarray(2.0 / 3.0, t.dtype)
    return _beta_two_thirds(t.dtype) * betainc(a, a, t)


def _negbin_a(t, alpha):
    # A(t) = integral_0^t s^(-1/3) (1 + alpha s)^(-1/3) ds.  With u = alpha s /
    # (1 + alpha s) it is alpha^(-2/3) integral_0^w u^(-1/3) (1 - u)^(-4/3) du, and
    # integrating by parts, alpha^(-2/3) (3 w^(2/3) (1 - w)^(-1/3) - B I_w(2/3, 2/3))
    # -- statsmodels' hyp2f1 form, without a hypergeometric function.
    a = jnp.asarray(2.0 / 3.0, t.dtype)
    w = alpha * t / (1.0 + alpha * t)
    ratio = t / (1.0 + alpha * t)  # w / alpha, accurate for small alpha
    return 3.0 * ratio ** (2.0 / 3.0) * (1.0 + alpha * t) ** (1.0 / 3.0) - (
        _beta_two_thirds(t.dtype) * betainc(a, a, w) / alpha ** (2.0 / 3.0)
    )


def _tweedie_anscombe(y, mu, power):
    # c = (3 - p) / 3: (y^c - mu^c) / (c mu^(p/6)); the limit p = 3 is a log.
    is_three = power == 3.0
    c = jnp.where(is_three, 1.0, (3.0 - power) / 3.0)
    # y = 0 is possible only for power < 2, where c > 0 and y^c = 0.
    safe_y = jnp.where(y > 0, y, 1.0)
    y_pow = jnp.where(y > 0, safe_y**c, 0.0)
    general = (y_pow - mu**c) / (c * mu ** (power / 6.0))
    return jnp.where(is_three, jnp.log(y / mu) / jnp.sqrt(mu), general)


_ANSCOMBE_FAMILIES = (
    Gaussian,
    Binomial,
    Poisson,
    Gamma,
    InverseGaussian,
    NegativeBinomial,
    Tweedie,
)


def _check_anscombe(family: Family) -> None:
    if type(family) not in _ANSCOMBE_FAMILIES:
        raise ValueError(
            f"kind='anscombe' has no closed form for the family "
            f"{type(family).__name__}; Anscombe residuals are defined for "
            f"{', '.join(k.__name__ for k in _ANSCOMBE_FAMILIES)}; use "
            "kind='deviance' or kind='pearson'"
        )


def _anscombe_unit(family: Family, y, mu):
    """``(A(y) - A(mu)) V(mu)^(-1/6)`` for one observation of unit weight."""
    _check_anscombe(family)
    kind = type(family)
    if kind is Gaussian:
        return y - mu
    if kind is Poisson:
        return 1.5 * (y ** (2.0 / 3.0) - mu ** (2.0 / 3.0)) / mu ** (1.0 / 6.0)
    if kind is Gamma:
        return 3.0 * (jnp.cbrt(y) - jnp.cbrt(mu)) / jnp.cbrt(mu)
    if kind is InverseGaussian:
        return jnp.log(y / mu) / jnp.sqrt(mu)
    if kind is Binomial:
        return (_binomial_a(y) - _binomial_a(mu)) / (mu * (1.0 - mu)) ** (1.0 / 6.0)
    if kind is NegativeBinomial:
        alpha = as_param(family.alpha, mu)
        diff = _negbin_a(y, alpha) - _negbin_a(mu, alpha)
        return diff / (mu * (1.0 + alpha * mu)) ** (1.0 / 6.0)
    return _tweedie_anscombe(y, mu, as_param(family.power, mu))


# --- residuals ------------------------------------------------------------------
def _residuals(family, y, mu, eta, weights, df_resid, kind):
    used = weights > 0
    if kind == "response":
        return y - mu
    if kind == "working":
        return (y - mu) / family.link.inverse_deriv(eta)
    if kind == "pearson":
        variance = jnp.where(used, family.variance(mu), 1.0)
        return jnp.where(used, (y - mu) * jnp.sqrt(weights / variance), 0.0)
    if kind == "deviance":
        unit = jnp.where(used, weights * family.unit_deviance(y, mu), 0.0)
        root = jnp.sqrt(jnp.maximum(unit, 0.0))
        # R returns zeros when df_resid = 0 (residuals.glm).
        return jnp.where(df_resid > 0, jnp.where(y > mu, root, -root), 0.0)
    unit = _anscombe_unit(family, y, mu)
    return jnp.where(used, unit * jnp.sqrt(jnp.where(used, weights, 0.0)), 0.0)


def _not_multinomial(res, what: str) -> None:
    if isinstance(res.family, Multinomial):
        raise ValueError(
            f"{what} is defined for single-response GLMs, not Multinomial fits; "
            "compare res.y with res.mu (fitted class probabilities) instead"
        )


def _check_kind(kind: str) -> None:
    if kind not in RESIDUAL_KINDS:
        raise ValueError(
            f"kind={kind!r} is not a residual type; use one of "
            f"{', '.join(repr(k) for k in RESIDUAL_KINDS)}"
        )


def _map_batch(fn, batch_ndim: int, in_axes=0):
    for _ in range(batch_ndim):
        fn = jax.vmap(fn, in_axes=in_axes)
    return fn


@functools.partial(jax.jit, static_argnames=("kind", "batch_ndim"))
def _residuals_compiled(family, y, mu, eta, weights, df_resid, *, kind, batch_ndim):
    one_kind = functools.partial(_residuals, kind=kind)
    return _map_batch(one_kind, batch_ndim)(family, y, mu, eta, weights, df_resid)


def residuals(res: GLMResult, kind: str = "deviance") -> jax.Array:
    """Residuals of a fitted GLM, (n,) (batched results give (..., n)).

    ``response`` is ``y - mu``; ``working`` is ``(y - mu) / (dmu/deta)``;
    ``pearson`` is ``(y - mu) sqrt(w / V(mu))``; ``deviance`` is
    ``sign(y - mu) sqrt(w d(y, mu))``; ``anscombe`` is
    ``(A(y) - A(mu)) / (A'(mu) sqrt(V(mu))) sqrt(w)`` with ``A' = V^(-1/3)``, the
    transformation that makes the residuals most nearly normal.  None is divided
    by the dispersion (see :func:`influence` for standardized residuals).  Rows
    with zero prior weight get 0 for pearson, deviance and anscombe, as in R.

    Matches R: ``residuals(fit, type = kind)`` (``residuals.glm``, which returns
    zero deviance residuals when ``df_resid = 0``).  Anscombe residuals match
    statsmodels' ``resid_anscombe_unscaled`` (its ``resid_anscombe`` also
    divides by ``sqrt(scale)``).

    Args:
        res: a fit from :func:`jaxglm.fit`, :func:`jaxglm.glm` or
            :func:`jaxglm.fit_many`.
        kind: ``"response"``, ``"working"``, ``"pearson"``, ``"deviance"`` or
            ``"anscombe"``.

    Returns:
        The residuals, with the shape of ``res.mu``.

    Raises:
        ValueError: for an unknown ``kind``, or ``"anscombe"`` for a family
            without a closed form (a user-defined family).
    """
    _not_multinomial(res, "residuals")
    _check_kind(kind)
    if kind == "anscombe":
        _check_anscombe(res.family)
    return _residuals_compiled(
        res.family,
        res.y,
        res.mu,
        res.eta,
        res.weights,
        res.df_resid,
        kind=kind,
        batch_ndim=jnp.ndim(res.mu) - 1,
    )


# --- influence ------------------------------------------------------------------
class Influence(Node):
    """Leverage and influence of each observation, all (n,).

    Attributes:
        hat: diagonal of the hat matrix of the final weighted least-squares fit.
        cooks_distance: Cook's distance.
        std_deviance_resid: deviance residuals over ``sqrt(scale (1 - hat))``.
        std_pearson_resid: Pearson residuals over ``sqrt(scale (1 - hat))``.
    """

    hat: jax.Array
    cooks_distance: jax.Array
    std_deviance_resid: jax.Array
    std_pearson_resid: jax.Array


def _influence(family, X, y, mu, eta, weights, aliased, l2, scale, rank, df_resid):
    n = X.shape[0]
    w, _ = working_weights(family, eta, mu, weights)
    # hat = diag(Xw (Xw'Xw + P)^-1 Xw') from the QR of [Xw; sqrt(P)], which avoids
    # squaring the condition number of the Gram matrix (float32).  An aliased
    # column becomes a unit vector in the extra rows: orthogonal to the rest and
    # zero on the data rows, so it adds nothing, as R's pivoted QR drops it.
    penalty = jnp.where(constant_columns(X), 0.0, l2)
    weighted = jnp.where(aliased, 0.0, X) * jnp.sqrt(w)[:, None]
    extra = jnp.diag(jnp.where(aliased, 1.0, jnp.sqrt(penalty)))
    hat = hat_diagonal(jnp.concatenate([weighted, extra], axis=0), n)
    hat = jnp.where(hat > 1.0 - _HAT_ONE_EPS * jnp.finfo(X.dtype).eps, 1.0, hat)

    pearson = _residuals(family, y, mu, eta, weights, df_resid, "pearson")
    deviance = _residuals(family, y, mu, eta, weights, df_resid, "deviance")
    one_minus = 1.0 - hat

    def finite(value):  # R's rstandard / cooks.distance: infinite -> NaN
        return jnp.where(jnp.isinf(value), jnp.nan, value)

    denom = jnp.sqrt(scale * one_minus)
    cooks = (pearson / one_minus) ** 2 * hat / (scale * rank.astype(X.dtype))
    return Influence(
        hat=hat,
        cooks_distance=finite(cooks),
        std_deviance_resid=finite(deviance / denom),
        std_pearson_resid=finite(pearson / denom),
    )


@functools.partial(jax.jit, static_argnames=("batch_ndim", "shared_X"))
def _influence_compiled(res_arrays, X, *, batch_ndim, shared_X):
    in_axes = (0, None if shared_X else 0)

    def one(arrays, X):
        return _influence(arrays[0], X, *arrays[1:])

    return _map_batch(one, batch_ndim, in_axes)(res_arrays, X)


def influence(res: GLMResult, X: ArrayLike) -> Influence:
    """Hat values, Cook's distances and standardized residuals of a fit.

    The hat matrix is that of the final weighted least-squares step,
    ``W^(1/2) X (X'WX)^-1 X' W^(1/2)`` with the working weights at the fitted
    means and the aliased columns left out (with ``l2 > 0``, the penalized
    ``X'WX + P``).  Cook's distance is ``(r_P / (1 - h))^2 h / (scale rank)``
    with Pearson residuals ``r_P``; the standardized residuals divide by
    ``sqrt(scale (1 - h))``.  Where ``h`` is 1 (to 10 eps) the standardized
    residuals and Cook's distance are NaN, as R's.  Rows with zero prior weight,
    which R leaves out, have hat 0, Cook's distance 0 and residuals 0.

    Matches R: ``hatvalues(fit)``, ``cooks.distance(fit)``,
    ``rstandard(fit, type = "deviance")`` and ``rstandard(fit, type =
    "pearson")``, with ``scale`` = ``summary(fit)$dispersion`` (1 for a
    negative binomial with fixed alpha, as MASS's ``summary.negbin``).

    Args:
        res: a fit; for a batch of fits every field has leading batch axes.
        X: the design matrix of the fit, (n, p); for a batch either one shared
            (n, p) design or one per fit, (..., n, p).

    Returns:
        An :class:`Influence` with fields of the shape of ``res.mu``.

    Raises:
        ValueError: if ``X`` does not have the shape of the fit's design.
    """
    _not_multinomial(res, "influence")
    if not isinstance(X, jax.Array):
        X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X)
    X = jnp.asarray(X, jnp.result_type(res.mu))
    batch = tuple(np.shape(res.mu)[:-1])
    n, p = np.shape(res.mu)[-1], np.shape(res.coef)[-1]
    shared_X = X.shape == (n, p)
    if not shared_X and X.shape != (*batch, n, p):
        expected = f"({n}, {p})" + (f" or {(*batch, n, p)}" if batch else "")
        raise ValueError(
            f"X has shape {X.shape} but the fit has n={n} observations and p={p} "
            f"coefficients; pass the design matrix of the fit, {expected}"
        )
    res_arrays = (
        res.family,
        res.y,
        res.mu,
        res.eta,
        res.weights,
        res.aliased,
        res.l2,
        res.scale,
        res.rank,
        res.df_resid,
    )
    return _influence_compiled(res_arrays, X, batch_ndim=len(batch), shared_X=shared_X)
