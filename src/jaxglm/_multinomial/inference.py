"""From multinomial coefficients to the statistics of ``nnet``/``VGAM``.

Standard errors, z and p-values are VGAM's (Wald, normal), the covariance is
nnet's ``vcov`` (terms of class 1, then class 2, ...), the deviance, AIC and
log-likelihood nnet's.  Plain JAX on top of ``coef``, so derivatives of any
statistic flow through the implicit derivative of the coefficients.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.special import xlogy

from .._inference import flag_ill_conditioned, pvalues
from .._irls import constant_columns
from .._linalg import inverse_and_condition
from .._result import GLMResult
from .._status import Status
from .family import Multinomial, log_probabilities
from .irls import as_matrix, class_totals, deviance, newton_matrix

__all__ = ["summarize"]


def _null_deviance(X, counts, weights):
    """Intercept-only fit (class proportions) if X has an intercept, else 1/K."""
    totals = class_totals(counts, weights)
    k = counts.shape[1]
    proportions = totals / jnp.sum(totals)
    with_intercept = -2.0 * jnp.sum(xlogy(totals, proportions))
    without = -2.0 * jnp.sum(totals) * jnp.log(1.0 / k)
    has_intercept = jnp.any(constant_columns(X))
    return jnp.where(has_intercept, with_intercept, without), has_intercept


def summarize(
    family: Multinomial,
    X,
    counts,
    weights,
    penalty,
    l2,
    coef_raw,
    aliased,
    n_iter,
    status,
) -> GLMResult:
    """Assemble a :class:`GLMResult` for a multinomial fit.

    ``coef_raw`` is (p, K-1) with aliased rows 0; ``penalty`` (p (K-1),).
    """
    dtype = X.dtype
    n, p = X.shape
    m = coef_raw.shape[1]
    aliased_theta = jnp.tile(aliased, m)
    eta = X @ coef_raw
    mu = jnp.exp(log_probabilities(eta))
    dev = deviance(counts, weights, eta)

    used = (weights > 0) & (jnp.sum(counts, -1) > 0)
    nobs = jnp.sum(used).astype(jnp.int32)
    rank = ((p - jnp.sum(aliased)) * m).astype(jnp.int32)

    information = newton_matrix(X, weights * jnp.sum(counts, -1), eta) + jnp.diag(
        penalty
    )
    cov, cond = inverse_and_condition(information, aliased_theta)
    se = as_matrix(jnp.sqrt(jnp.diag(cov)), p)
    coef = jnp.where(aliased[:, None], jnp.nan, coef_raw)
    z = coef / se
    null_deviance, has_intercept = _null_deviance(X, counts, weights)
    intercepts = (m * has_intercept).astype(jnp.int32)

    k = rank.astype(dtype)
    loglik = -0.5 * dev
    aic = dev + 2.0 * k
    # R's BIC() on a multinom fit takes log(sum of the weights): each row
    # counts as w_i times its number of observations (1681 for MASS::housing
    # with weights Freq, not its 72 rows).
    n_weighted = jnp.sum(jnp.where(weights > 0, weights * jnp.sum(counts, -1), 0.0))
    bic = dev + jnp.log(n_weighted) * k
    status = flag_ill_conditioned(status, cond, dtype)
    failed = status != Status.SUCCESS
    return GLMResult(
        coef=coef,
        cov=cov,
        se=se,
        z=z,
        pvalues=pvalues(z, nobs, use_t=False),
        deviance=dev,
        null_deviance=null_deviance,
        loglik=loglik,
        aic=aic,
        bic=bic,
        scale=jnp.ones((), dtype),
        df_resid=nobs * m - rank,
        df_model=rank - intercepts,
        df_null=nobs * m - intercepts,
        nobs=nobs,
        rank=rank,
        mu=mu,
        eta=eta,
        y=counts,
        weights=weights,
        n_iter=n_iter,
        converged=~failed,
        status=status,
        aliased=aliased,
        family=family,
        l2=l2,
    )
