"""From fitted coefficients to R's ``summary.glm`` statistics.

Everything here is ordinary JAX on top of ``coef``, so derivatives of any
statistic flow through the implicit derivative of the coefficients.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import betainc, ndtr

from ._family import Family
from ._irls import constant_columns, irls, working_weights
from ._linalg import gram, inverse_and_condition, linear_predictor
from ._result import GLMResult
from ._status import Status

__all__ = ["summarize", "pvalues", "flag_ill_conditioned"]

# cond(X'WX) * eps above this means the weighted least-squares solves are noise.
_MAX_COND_EPS = 0.1


def pvalues(z: jax.Array, df: jax.Array, use_t: bool) -> jax.Array:
    """Two-sided p-values: Student t on ``df`` (dispersion estimated) or normal."""
    if use_t:
        dfz = jnp.where(df > 0, df, 1.0).astype(z.dtype)
        p = betainc(0.5 * dfz, 0.5, dfz / (dfz + z**2))
        return jnp.where(df > 0, p, jnp.nan)
    return 2.0 * ndtr(-jnp.abs(z))


def flag_ill_conditioned(status, cond, dtype):
    """SINGULAR for a fit whose information matrix is numerically singular in
    the working precision (float32 reaches this much sooner): not trusted."""
    ill_conditioned = ~(cond * jnp.finfo(dtype).eps < _MAX_COND_EPS)
    return jnp.where(
        (status == Status.SUCCESS) & ill_conditioned, Status.SINGULAR, status
    ).astype(jnp.int32)


def _null_deviance(family, X, y, weights, offset, has_offset, tol, max_iter):
    """R's null deviance: intercept-only (with offset) if X has an intercept."""
    used = weights > 0
    has_intercept = jnp.any(constant_columns(X))
    no_model = family.deviance(y, family.link.inverse(offset), weights)
    if has_offset:
        ones = jnp.ones((X.shape[0], 1), X.dtype)
        coef = irls(
            family,
            ones,
            y,
            weights,
            offset,
            jnp.zeros(1, X.dtype),
            jnp.zeros(1, bool),
            jnp.all(jnp.isfinite(offset)),
            tol,
            max_iter,
        ).coef
        intercept_mu = family.link.inverse(coef[0] + offset)
    else:
        total = jnp.sum(jnp.where(used, weights, 0.0))
        intercept_mu = jnp.sum(jnp.where(used, weights * y, 0.0)) / total
        intercept_mu = jnp.broadcast_to(intercept_mu, y.shape)
    with_intercept = family.deviance(y, intercept_mu, weights)
    return jnp.where(has_intercept, with_intercept, no_model), has_intercept


def summarize(
    family: Family,
    X,
    y,
    weights,
    offset,
    penalty,
    l2,
    coef_raw,
    aliased,
    n_iter,
    status,
    *,
    has_offset: bool,
    tol: float,
    max_iter: int,
    names=None,
    products=None,
    n_rows=None,
) -> GLMResult:
    """Assemble a :class:`GLMResult` from the IRLS solution.

    ``n_rows``: the data's rows when X was padded with zero-weight rows to a
    bucket (``_buckets.py``); R's BIC counts every real row.
    """
    dtype = X.dtype
    used = weights > 0
    eta = linear_predictor(X, coef_raw, shared=products is not None) + offset
    mu = family.link.inverse(eta)
    deviance = family.deviance(y, mu, weights)

    nobs = jnp.sum(used).astype(jnp.int32)
    rank = (X.shape[1] - jnp.sum(aliased)).astype(jnp.int32)
    df_resid = nobs - rank

    if family.estimates_dispersion:
        pearson = jnp.where(used, weights * (y - mu) ** 2, 0.0) / jnp.where(
            used, family.variance(mu), 1.0
        )
        scale = jnp.sum(pearson) / jnp.where(df_resid > 0, df_resid, jnp.nan)
    else:
        scale = jnp.ones((), dtype)

    w, _ = working_weights(family, eta, mu, weights)
    fisher = gram(X, w, products) + jnp.diag(penalty)
    inverse, cond = inverse_and_condition(fisher, aliased)
    cov = scale * inverse
    se = jnp.sqrt(jnp.diag(cov))
    coef = jnp.where(aliased, jnp.nan, coef_raw)
    z = coef / se
    p = pvalues(z, df_resid, family.estimates_dispersion)

    null_deviance, has_intercept = _null_deviance(
        family, X, y, weights, offset, has_offset, tol, max_iter
    )
    loglik = family.loglik(y, mu, weights, family.loglik_scale(deviance, weights))
    k = (rank + family.extra_loglik_params).astype(dtype)
    aic = -2.0 * loglik + 2.0 * k
    # API.md: R's BIC() counts every row, zero-weight rows included.
    rows = y.shape[0] if n_rows is None else n_rows
    bic = -2.0 * loglik + jnp.log(jnp.asarray(rows, dtype)) * k

    status = flag_ill_conditioned(status, cond, dtype)
    failed = status != Status.SUCCESS
    return GLMResult(
        coef=coef,
        cov=cov,
        se=se,
        z=z,
        pvalues=p,
        deviance=deviance,
        null_deviance=null_deviance,
        loglik=loglik,
        aic=aic,
        bic=bic,
        scale=scale.astype(dtype),
        df_resid=df_resid,
        df_model=rank - has_intercept.astype(jnp.int32),
        df_null=nobs - has_intercept.astype(jnp.int32),
        nobs=nobs,
        rank=rank,
        mu=mu,
        eta=eta,
        y=y,
        weights=weights,
        n_iter=n_iter,
        converged=~failed,
        status=status,
        aliased=aliased,
        family=family,
        l2=l2,
        names=names,
    )
