"""``StreamResult``: what a streaming fit reports, and how it is assembled."""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from ._family import Family
from ._inference import _MAX_COND_EPS, pvalues
from ._linalg import inverse_and_condition
from ._pytree import Node, static_field
from ._result import GLMResult
from ._status import Status

__all__ = ["StreamResult", "assemble"]


class StreamResult(Node):
    """The result of :func:`jaxglm.fit_stream`: a :class:`GLMResult` without rows.

    Every field means what it means in :class:`GLMResult` (and matches R's
    ``glm()``), but the per-row ``mu`` and ``eta`` are not kept, since the rows
    never sat in memory together: compute them block by block with
    :func:`jaxglm.predict`.  ``jg.summary``, ``jg.predict`` and ``jg.check``
    accept it.
    """

    coef: jax.Array
    cov: jax.Array
    se: jax.Array
    z: jax.Array
    pvalues: jax.Array
    deviance: jax.Array
    null_deviance: jax.Array
    loglik: jax.Array
    aic: jax.Array
    bic: jax.Array
    scale: jax.Array
    df_resid: jax.Array
    df_model: jax.Array
    df_null: jax.Array
    nobs: jax.Array
    rank: jax.Array
    n_iter: jax.Array
    converged: jax.Array
    status: jax.Array
    aliased: jax.Array
    family: Family
    l2: jax.Array
    #: passes over the data, including the first and any final statistics pass
    n_passes: jax.Array
    #: rows read per pass, zero-weight rows included (R's BIC counts them)
    n_rows: jax.Array
    names: tuple[str, ...] | None = static_field(default=None)
    # jg.predict looks for a formula; a stream has none.
    formula: ClassVar[Any] = None
    # model-based covariance only (jg.with_cov takes in-memory results)
    cov_type: ClassVar[Any] = None
    # theta is estimated only by jg.fit_negbin
    theta_fit: ClassVar[Any] = None

    # The same statistics as GLMResult, so the same methods.
    conf_int = GLMResult.conf_int
    coef_table = GLMResult.coef_table
    estimates_dispersion = GLMResult.estimates_dispersion
    uses_t = GLMResult.uses_t
    n_dropped = GLMResult.n_dropped


@functools.partial(jax.jit, static_argnames=("use_t",))
def _coefficient_table(gram, penalty, aliased, coef_raw, scale, df_resid, *, use_t):
    fisher = gram + jnp.diag(penalty)
    inverse, cond = inverse_and_condition(fisher, aliased)
    cov = scale * inverse
    se = jnp.sqrt(jnp.diag(cov))
    coef = jnp.where(aliased, jnp.nan, coef_raw)
    z = coef / se
    p = pvalues(z, df_resid, use_t)
    return coef, cov, se, z, p, cond


def assemble(
    family: Family,
    final,
    *,
    coef_raw: np.ndarray,
    aliased: np.ndarray,
    penalty: np.ndarray,
    l2,
    loglik,
    null_deviance,
    has_intercept: bool,
    nobs: int,
    n_rows: int,
    n_iter: int,
    status: Status,
    n_passes: int,
) -> StreamResult:
    """The statistics of ``_inference.summarize`` from sums at the final point.

    Args:
        final: ``ModelSums`` at the final coefficients: the Fisher information
            ``X'WX``, the deviance and the Pearson statistic.
    """
    dtype = coef_raw.dtype
    rank = int(aliased.shape[0] - np.sum(aliased))
    df_resid = nobs - rank
    scale = np.ones((), dtype)
    if family.estimates_dispersion:
        scale = np.asarray(final.pearson / (df_resid if df_resid > 0 else np.nan))
    coef, cov, se, z, p, cond = _coefficient_table(
        final.gram, penalty, aliased, coef_raw, scale.astype(dtype),
        np.asarray(df_resid, dtype), use_t=family.estimates_dispersion,
    )  # fmt: skip
    loglik = np.asarray(loglik, dtype)
    k = np.asarray(rank + family.extra_loglik_params, dtype)
    aic = -2.0 * loglik + 2.0 * k
    bic = -2.0 * loglik + np.log(np.asarray(n_rows, dtype)) * k
    if status == Status.SUCCESS and not cond * np.finfo(dtype).eps < _MAX_COND_EPS:
        status = Status.SINGULAR
    intercept = int(has_intercept)

    def int32(value):
        return jnp.asarray(value, jnp.int32)

    def count(value):
        # Row counts as int64 numpy scalars: a stream may exceed 2**31 rows, and
        # JAX has no int64 without x64.
        return np.asarray(value, np.int64)

    return StreamResult(
        coef=coef,
        cov=cov,
        se=se,
        z=z,
        pvalues=p,
        deviance=jnp.asarray(final.deviance, dtype),
        null_deviance=jnp.asarray(null_deviance, dtype),
        loglik=jnp.asarray(loglik),
        aic=jnp.asarray(aic),
        bic=jnp.asarray(bic),
        scale=jnp.asarray(scale, dtype),
        df_resid=count(df_resid),
        df_model=int32(rank - intercept),
        df_null=count(nobs - intercept),
        nobs=count(nobs),
        rank=int32(rank),
        n_iter=int32(n_iter),
        converged=jnp.asarray(status == Status.SUCCESS),
        status=int32(status),
        aliased=jnp.asarray(aliased),
        family=family,
        l2=jnp.asarray(l2, dtype),
        n_passes=int32(n_passes),
        n_rows=count(n_rows),
    )
