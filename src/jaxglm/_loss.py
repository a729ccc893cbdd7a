"""``jg.loss``: a GLM's half deviance as a loss of the linear predictor.

Each family's half unit deviance is written from ``eta`` in log space (``log mu``,
``log(1 - mu)`` and ``1 / mu`` per link), so a network head trained on it stays
finite, with finite gradients, far beyond where ``mu`` itself is representable.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr

from . import _families as fams
from . import links
from ._family import Family, as_param
from ._multinomial.family import Multinomial, full_logits
from ._validate import as_family

__all__ = ["loss"]

# log(1 - exp(-exp(t))): below _SMALL_T its series log x - x/2 (x = e^t) is exact to
# rounding in float64 (the next term is x^2/24); above _BIG_T exp(-e^t) underflows
# to 0 in float32 and float64 alike, so the value is exactly 0.
_SMALL_T = -20.0
_BIG_T = 7.0


def _cut(t: jax.Array) -> float:
    # Squares and products of two continued exponentials stay finite.
    return math.log(float(jnp.finfo(t.dtype).max)) / 4.0


def _exp(t):
    """exp(t), continued beyond c = log(max)/4 by exp(c)(1 + d + d^2/2), d = t - c."""
    c = _cut(t)
    d = jnp.maximum(t - c, 0.0)
    taylor = math.exp(c) * (1.0 + d + 0.5 * d * d)
    return jnp.where(t <= c, jnp.exp(jnp.minimum(t, c)), taylor)


def _expm1(t):
    c = _cut(t)
    return jnp.where(t <= c, jnp.expm1(jnp.minimum(t, c)), _exp(t) - 1.0)


def _log1m_exp_neg_exp(t):
    """log(1 - exp(-exp(t))), double-where so every branch is finite."""
    small = jnp.minimum(t, _SMALL_T)
    middle = jnp.clip(t, _SMALL_T, _BIG_T)
    return jnp.where(
        t < _SMALL_T,
        small - 0.5 * jnp.exp(small),
        jnp.log(-jnp.expm1(-jnp.exp(middle))),
    )


def _is(link, cls) -> bool:
    # A subclass that redefines the inverse is a different link: use the fallback.
    return isinstance(link, cls) and type(link).inverse is cls.inverse


def _mu(link, eta):
    if _is(link, links.Log):
        return _exp(eta)
    return link.inverse(eta)


def _cauchit_log_mu(eta):
    # mu = atan2(1, -eta) / pi = 1/2 + atan(eta) / pi, with no cancellation at -inf
    return jnp.log(jnp.arctan2(1.0, -eta)) - math.log(math.pi)


# (link, log mu, log(1 - mu)) as functions of eta; None: computed from mu.
_LOG_MU = (
    (links.Log, lambda e: e, None),
    (links.Logit, lambda e: -jax.nn.softplus(-e), lambda e: -jax.nn.softplus(e)),
    (links.Probit, log_ndtr, lambda e: log_ndtr(-e)),
    (links.CLogLog, _log1m_exp_neg_exp, lambda e: -_exp(e)),
    (links.LogLog, lambda e: -_exp(-e), lambda e: _log1m_exp_neg_exp(-e)),
    (links.Cauchit, _cauchit_log_mu, lambda e: _cauchit_log_mu(-e)),
    (links.Inverse, lambda e: -jnp.log(e), None),
    (links.InverseSquared, lambda e: -0.5 * jnp.log(e), None),
    (links.Sqrt, lambda e: 2.0 * jnp.log(jnp.abs(e)), None),
)


def _from_eta(link, column):
    for cls, *log_terms in _LOG_MU:
        if _is(link, cls):
            return log_terms[column]
    return None


def _log_mu(link, eta):
    log_mu = _from_eta(link, 0)
    return jnp.log(link.inverse(eta)) if log_mu is None else log_mu(eta)


def _log1m_mu(link, eta):
    log1m_mu = _from_eta(link, 1)
    return jnp.log1p(-_mu(link, eta)) if log1m_mu is None else log1m_mu(eta)


def _inv_mu(link, eta):
    if _is(link, links.Log):
        return _exp(-eta)
    if _is(link, links.Inverse):
        return eta
    if _is(link, links.InverseSquared):
        return jnp.sqrt(eta)
    return 1.0 / link.inverse(eta)


def _xlogx(y):
    positive = y > 0
    safe_y = jnp.where(positive, y, 1.0)
    return jnp.where(positive, safe_y * jnp.log(safe_y), 0.0)


def _times(y, log_term):
    # 0 * log 0 = 0, as in the family's y log(y / mu).
    return jnp.where(y == 0, 0.0, y * log_term)


def _boxcox(k, s):
    """(exp(k s) - 1) / k, and s at k = 0."""
    zero = k == 0
    safe_k = jnp.where(zero, 1.0, k)
    return jnp.where(zero, s, _expm1(safe_k * s) / safe_k)


def _gaussian(family, eta, y):
    return 0.5 * (y - _mu(family.link, eta)) ** 2


def _binomial(family, eta, y):
    link = family.link
    saturated = _xlogx(y) + _xlogx(1.0 - y)
    return (
        saturated
        - _times(y, _log_mu(link, eta))
        - _times(1.0 - y, _log1m_mu(link, eta))
    )


def _poisson(family, eta, y):
    link = family.link
    return _xlogx(y) - y - _times(y, _log_mu(link, eta)) + _mu(link, eta)


def _gamma(family, eta, y):
    link = family.link
    return y * _inv_mu(link, eta) - 1.0 - jnp.log(y) + _log_mu(link, eta)


def _inverse_gaussian(family, eta, y):
    # (y - mu)^2 / (2 y mu^2) as a square, so continued exps cannot cancel.
    return 0.5 * (y * _inv_mu(family.link, eta) - 1.0) ** 2 / y


def _negative_binomial(family, eta, y):
    link = family.link
    alpha = as_param(family.alpha, eta)
    if _is(link, links.Log):
        log1p_alpha_mu = jax.nn.softplus(eta + jnp.log(alpha))
    else:
        log1p_alpha_mu = jnp.log1p(alpha * _mu(link, eta))
    tail = (y + 1.0 / alpha) * (jnp.log1p(alpha * y) - log1p_alpha_mu)
    return _xlogx(y) - _times(y, _log_mu(link, eta)) - tail


def _tweedie(family, eta, y):
    # statmod's dev.resids / 2.  For y > 0 it is y^(2-p) g(v), v = y / mu = e^s,
    # g = (v^q - 1)/q - (v^r - 1)/r with q = p - 1, r = p - 2 (log v at 0).
    link = family.link
    p = as_param(family.power, eta)
    log_mu = _log_mu(link, eta)
    positive = y > 0
    safe_y = jnp.where(positive, y, 1.0)
    s = jnp.log(safe_y) - log_mu
    q, r = p - 1.0, p - 2.0
    middle = _boxcox(q, s) - _boxcox(r, s)
    # For p > 2 both powers of v grow as s -> inf: factor them so the continued
    # exps multiply instead of cancelling (which could turn the loss negative).
    high = p > 2.0
    q_high = jnp.where(high, q, 2.0)
    r_high = jnp.where(high, r, 1.0)
    factored = _exp(r_high * s) * (_exp(s) / q_high - 1.0 / r_high) + (
        1.0 / r_high - 1.0 / q_high
    )
    y_pow = jnp.where(positive, safe_y ** (2.0 - p), 0.0)
    at_positive = y_pow * jnp.where(high, factored, middle)
    # y = 0: mu^(2-p) / (2-p); statmod's y + 0.1 gives log(mu / 0.1) at p = 2.
    is_two = p == 2.0
    b = jnp.where(is_two, 1.0, 2.0 - p)
    at_zero = jnp.where(is_two, log_mu - math.log(0.1), _exp(b * log_mu) / b)
    gaussian = 0.5 * (y - _mu(link, eta)) ** 2
    return jnp.where(p == 0.0, gaussian, jnp.where(positive, at_positive, at_zero))


_HALF_DEVIANCES = (
    (fams.Gaussian, _gaussian),
    (fams.Binomial, _binomial),
    (fams.Poisson, _poisson),
    (fams.Gamma, _gamma),
    (fams.InverseGaussian, _inverse_gaussian),
    (fams.NegativeBinomial, _negative_binomial),
    (fams.Tweedie, _tweedie),
)


def _half_deviance(family, eta, y):
    for cls, half_deviance in _HALF_DEVIANCES:
        if isinstance(family, cls) and type(family).unit_deviance is cls.unit_deviance:
            return half_deviance(family, eta, y)
    return family.unit_deviance(y, family.link.inverse(eta)) / 2.0


def _multinomial(family, eta, y):
    if eta.ndim != 2:
        raise ValueError(
            f"eta has shape {eta.shape} but Multinomial needs (n, K) logits or "
            "(n, K-1) baseline logits"
        )
    labels = y.ndim == 1
    k = family.n_classes
    if not labels:
        if k is not None and y.shape[1] != k:
            raise ValueError(
                f"y has {y.shape[1]} columns but n_classes={k}; pass one column "
                "of counts per class"
            )
        k = y.shape[1]
    if k is not None and eta.shape[1] == k - 1:
        eta = full_logits(eta)
    elif k is not None and eta.shape[1] != k:
        raise ValueError(
            f"eta has {eta.shape[1]} columns but there are {k} classes; pass (n, "
            f"{k}) logits or (n, {k - 1}) baseline logits (class 0 the reference)"
        )
    log_p = jax.nn.log_softmax(eta, axis=-1)
    if labels:
        picked = jnp.take_along_axis(log_p, y.astype(jnp.int32)[:, None], axis=1)
        return -picked[:, 0]
    return -jnp.sum(_times(y.astype(eta.dtype), log_p), axis=1)


def loss(
    family: Family,
    eta: jax.typing.ArrayLike,
    y: jax.typing.ArrayLike,
    weights: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """Mean half deviance of a GLM as a function of the linear predictor.

    ``mean_i(weights_i * unit_deviance(y_i, linkinv(eta_i)) / 2)``, divided by n
    (not by the sum of the weights): the loss of a network whose last
    pre-activation output is ``eta`` and whose head is the family's inverse link.
    Binomial/Logit is sigmoid + binary cross-entropy, Multinomial is softmax +
    cross-entropy, Poisson/Log is exp + Poisson NLL, Gaussian/Identity is half
    the squared error.  Binomial and Poisson differ from those NLLs by a constant
    in ``eta`` (the saturated log-likelihood: ``y log y + (1-y) log(1-y)``, zero
    for 0/1 labels, and ``y log y - y``), so gradients are the same.  Multinomial
    keeps nnet's convention (-log-likelihood without the multinomial coefficient),
    which is exactly the cross-entropy.

    It is computed from ``eta`` in log space, so it is finite with finite
    gradients for any finite ``eta`` when the inverse link maps the real line
    into the family's means (Binomial with Logit, Probit, CLogLog, LogLog,
    Cauchit; Log for the positive families; Gaussian/Identity; Sqrt for counts
    except at ``eta = 0``).  Exponentials of ``eta`` are exact up to
    ``c = log(finfo.max) / 4`` (about 177 in float64, 22 in float32) and continue
    as ``exp(c)(1 + d + d^2/2)``, ``d = eta - c``, beyond, so squares and products
    stay finite (to ``|eta|`` of about 1e5 in float32); there the loss is a
    smooth, growing stand-in, not the exact deviance.  Links that cannot reach
    the support (Identity or Inverse on a positive family with ``eta <= 0``,
    InverseSquared with ``eta < 0``, Log on Binomial with ``eta > 0``) give NaN
    there.  Other families fall back to ``family.unit_deviance``.

    Matches R: ``sum(family$dev.resids(y, linkinv(eta), w)) / (2 n)``.

    Args:
        family: a jaxglm family instance, e.g. ``jg.Binomial()`` (or its name).
        eta: linear predictor, floating, (n,) (or (n, ...), summed per row).  For
            ``jg.Multinomial()``, (n, K) logits or (n, K-1) baseline logits
            against class 0: with ``n_classes`` set (or count data of K
            columns) the number of columns decides; with labels and no
            ``n_classes`` eta is taken as (n, K) logits.
        y: response, shaped like ``eta``; for Multinomial (n,) integer labels or
            (n, K) counts / probabilities.
        weights: prior weights, (n,); rows with weight 0 add nothing.  Default 1.

    Returns:
        The scalar loss, in the dtype of ``eta``.

    Raises:
        TypeError: ``family`` is not a family instance, or ``eta`` is not floating.
        ValueError: the shapes of ``eta``, ``y`` and ``weights`` do not match.
    """
    if isinstance(family, type):
        raise TypeError(
            f"family={family.__name__} is a class; pass an instance such as "
            f"jg.{family.__name__}()"
        )
    family = as_family(family)  # a name such as "poisson", or a TypeError
    eta = jnp.asarray(eta)
    if not jnp.issubdtype(eta.dtype, jnp.floating):
        raise TypeError(
            f"eta has dtype {eta.dtype} but must be floating (the linear "
            "predictor); cast it with eta.astype(jnp.float32)"
        )
    if eta.ndim == 0:
        raise ValueError("eta is a scalar; pass one linear predictor per row, (n,)")
    n = eta.shape[0]
    y = jnp.asarray(y)
    if isinstance(family, Multinomial):
        if y.ndim not in (1, 2) or y.shape[0] != n:
            raise ValueError(
                f"y has shape {y.shape} but eta has {n} rows; pass (n,) labels or "
                "(n, K) counts"
            )
        unit = _multinomial(family, eta, y)
    else:
        if y.shape != eta.shape:
            raise ValueError(
                f"y has shape {y.shape} but eta has shape {eta.shape}; pass one "
                "response per linear predictor"
            )
        unit = _half_deviance(family, eta, y.astype(eta.dtype))
        unit = jnp.sum(unit, axis=tuple(range(1, unit.ndim)))
    if weights is None:
        return jnp.sum(unit) / n
    weights = jnp.asarray(weights)
    if weights.shape != (n,):
        raise ValueError(
            f"weights has shape {weights.shape} but eta has {n} rows; pass one "
            "weight per row, (n,)"
        )
    weights = weights.astype(eta.dtype)
    return jnp.sum(jnp.where(weights > 0, weights * unit, 0.0)) / n
