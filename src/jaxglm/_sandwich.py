"""Robust (sandwich) covariances of a fitted GLM, as R's ``sandwich`` package.

For a glm, sandwich's ``vcovHC`` and ``vcovCL`` reduce to one closed form.  With
``s_i`` the score contribution (working residual times working weight, R's
``estfun.glm`` times the dispersion), ``A = X'WX`` (``bread.glm`` over ``nobs``
times the dispersion), ``n`` all rows and ``nobs`` the rows of non-zero weight,

    V = (nobs / n)^2 A^-1 M A^-1,

    HC0: M = sum_i s_i^2 x_i x_i'          HC1: HC0 times n / (n - k)
    HC2: s_i^2 / (1 - h_i)                 HC3: s_i^2 / (1 - h_i)^2
    clustered: M = G / (G - 1) sum_g S_g S_g',  S_g = sum_{i in g} s_i x_i,
               and HC1 times (n - 1) / (n - k)

with ``k`` the rank, ``h`` the hat values (:func:`jaxglm.influence`) and ``G``
the number of clusters.  The dispersion cancels (the bread multiplies by it and
``estfun.glm`` divides by it).  The factor ``(nobs / n)^2`` is R's: sandwich
divides by ``NROW(estfun)``, zero-weight rows included, but the bread is
``cov.unscaled * nobs``; zero-weight rows add nothing else.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ._diagnostics import _influence
from ._formula import design_of_fit
from ._inference import pvalues
from ._irls import constant_columns, working_weights
from ._linalg import gram, inverse_spd
from ._multinomial.family import Multinomial
from ._result import GLMResult

__all__ = ["HC_TYPES", "CLUSTER_TYPES", "vcov", "with_cov"]

HC_TYPES = ("HC0", "HC1", "HC2", "HC3")
#: sandwich's clustered HC2/HC3 need a matrix per cluster; not implemented.
CLUSTER_TYPES = ("HC0", "HC1")


def _sandwich(res_arrays, X, cluster, hc1, hat_power, *, leverage: bool):
    """One fit's sandwich covariance, (p, p); ``cluster`` None or codes in [0, n).

    ``hc1`` (traced bool) applies HC1's small-sample factor; with ``leverage``
    (HC2/HC3) the squared scores are divided by ``(1 - h)^hat_power``.  Only
    ``leverage`` and whether there are clusters are static, so HC0/HC1 share
    one compile and HC2/HC3 another.
    """
    family, y, mu, eta, weights, aliased, l2, scale, rank, df_resid, nobs = res_arrays
    dtype = X.dtype
    n = X.shape[0]
    used = weights > 0
    w, mu_eta = working_weights(family, eta, mu, weights)
    variance = jnp.where(used, family.variance(mu), 1.0)
    # estfun.glm: working residual (y - mu) / mu_eta times working weight
    # weights mu_eta^2 / V, written without the division by mu_eta.
    score = jnp.where(used, weights * (y - mu) * mu_eta / variance, 0.0)
    kept = jnp.where(aliased[None, :], 0.0, X)
    # The penalized information for l2 > 0, as res.cov (R has no such fit).
    penalty = jnp.where(constant_columns(X), 0.0, l2)
    bread = inverse_spd(gram(kept, w) + jnp.diag(penalty), aliased)
    drop = aliased[:, None] | aliased[None, :]
    bread = jnp.where(drop, 0.0, bread)

    rows = jnp.asarray(n, dtype)
    k = rank.astype(dtype)
    if cluster is not None:
        # sandwich::meatCL with cadjust = TRUE; G counts every cluster present,
        # zero-weight rows included, as R's length(unique(cluster)).
        sums = jax.ops.segment_sum(score[:, None] * kept, cluster, num_segments=n)
        present = jax.ops.segment_sum(jnp.ones(n, dtype), cluster, num_segments=n)
        groups = jnp.sum(present > 0).astype(dtype)
        meat = (sums.T @ sums) * (groups / (groups - 1.0))
        meat = jnp.where(hc1, meat * ((rows - 1.0) / (rows - k)), meat)
        in_range = jnp.all((cluster >= 0) & (cluster < n))
        meat = jnp.where(in_range, meat, jnp.nan)
    else:
        omega = score**2
        omega = jnp.where(hc1, omega * (rows / (rows - k)), omega)
        if leverage:
            hat = _influence(
                family, X, y, mu, eta, weights, aliased, l2, scale, rank, df_resid
            ).hat
            # sandwich::meatHC; a hat value of 1 gives 0 / 0 = NaN, as in R.
            omega = omega / (1.0 - hat) ** hat_power
        meat = gram(kept, omega)
    factor = (nobs.astype(dtype) / rows) ** 2
    cov = factor * (bread @ meat @ bread)
    return jnp.where(drop, jnp.nan, cov)


@functools.partial(
    jax.jit,
    static_argnames=("leverage", "batch_ndim", "shared_X", "shared_cluster"),
)
def _vcov_compiled(
    res_arrays,
    X,
    cluster,
    hc1,
    hat_power,
    *,
    leverage,
    batch_ndim,
    shared_X,
    shared_cluster,
):
    fn = functools.partial(_sandwich, leverage=leverage)
    in_axes = (0, None if shared_X else 0, None if shared_cluster else 0, None, None)
    for _ in range(batch_ndim):
        fn = jax.vmap(fn, in_axes=in_axes)
    return fn(res_arrays, X, cluster, hc1, hat_power)


def _check_fit(res: GLMResult, what: str) -> None:
    if not isinstance(res, GLMResult):
        raise TypeError(
            f"res must be a GLMResult from jaxglm.fit or jaxglm.glm, got "
            f"{type(res).__name__}"
        )
    if isinstance(res.family, Multinomial):
        raise ValueError(
            f"{what} is defined for single-response GLMs, not Multinomial fits"
        )


def _remap(labels: np.ndarray) -> np.ndarray:
    """Codes 0..G-1 of the labels along the last axis, each fit on its own."""
    flat = labels.reshape(-1, labels.shape[-1])
    codes = np.stack([np.unique(row, return_inverse=True)[1] for row in flat])
    return codes.reshape(labels.shape).astype(np.int32)


def _cluster_codes(cluster, batch: tuple[int, ...], n: int):
    """Validated cluster codes and whether one vector serves the whole batch."""
    shapes = f"({n},)" + (f" or {(*batch, n)}" if batch else "")
    if isinstance(cluster, jax.core.Tracer):
        if not jnp.issubdtype(cluster.dtype, jnp.integer):
            raise TypeError(
                f"cluster has dtype {cluster.dtype}; under jit or vmap pass integer "
                f"cluster ids in 0..n-1 (remap labels first, e.g. with "
                f"np.unique(labels, return_inverse=True)[1])"
            )
        labels = cluster
    else:
        if hasattr(cluster, "to_numpy"):
            cluster = cluster.to_numpy()
        labels = np.asarray(cluster)
        if labels.dtype.kind == "f" and np.isnan(labels).any():
            raise ValueError(
                "cluster has NaN values; every observation needs a cluster "
                "(R's vcovCL refuses NAs in cluster too)"
            )
        if labels.dtype == object and any(v is None for v in labels.ravel()):
            raise ValueError("cluster has missing (None) values; give every row one")
    if labels.shape != (n,) and labels.shape != (*batch, n):
        raise ValueError(
            f"cluster has shape {tuple(labels.shape)} but the fit has n={n} "
            f"observations; pass one cluster id per observation, {shapes}"
        )
    shared = labels.shape == (n,)
    if isinstance(labels, np.ndarray):
        labels = jnp.asarray(_remap(labels))
    return labels.astype(jnp.int32), shared


def vcov(
    res: GLMResult,
    X: ArrayLike | None = None,
    type: str = "HC0",
    cluster: ArrayLike | None = None,
) -> jax.Array:
    """Heteroskedasticity-consistent or cluster-robust (sandwich) covariance.

    The sandwich ``A^-1 M A^-1`` of the information ``A = X'WX`` and the outer
    products ``M`` of the score contributions ``s_i x_i`` (the working residual
    times the working weight), with HC0-HC3's corrections or summed within
    clusters (see the module docstring for the formulas).  Prior weights and
    offsets enter through the fit; zero-weight rows count in n, as R's.

    Matches R: ``sandwich::vcovHC(fit, type)`` and, with ``cluster``,
    ``sandwich::vcovCL(fit, cluster, type)`` (its default adjustment
    ``G / (G - 1)``, and ``(n - 1) / (n - k)`` for HC1).  R drops aliased
    coefficients from the matrix; here their rows and columns are NaN.

    Cluster ids: eagerly any labels (integers, strings, floats), recoded to
    0..G-1 for each fit.  Under ``jit``/``vmap`` (traced ids) they must be
    integers in 0..n-1, not necessarily consecutive (G is the number of ids
    present); a traced id outside that range makes the matrix NaN.

    Args:
        res: a fit from :func:`jaxglm.fit` or :func:`jaxglm.glm`; for a batch of
            fits every field has leading batch axes.
        X: the design matrix of the fit, (n, p); for a batch either one shared
            (n, p) design or one per fit, (..., n, p).  None for a formula fit
            (:func:`jaxglm.glm`): its design is rebuilt from the stored rows.
        type: ``"HC0"``, ``"HC1"``, ``"HC2"`` or ``"HC3"``; with ``cluster``
            ``"HC0"`` or ``"HC1"``.
        cluster: cluster id of each observation, (n,) or one row per fit
            (..., n); None for the heteroskedasticity-consistent estimators.

    Returns:
        The covariance, (p, p) ((..., p, p) for a batch).

    Raises:
        ValueError: for an unknown ``type``, ``X`` or ``cluster`` of the wrong
            shape, missing cluster ids, or a Multinomial fit.
        TypeError: for non-integer traced cluster ids, or ``res`` not a fit.
    """
    _check_fit(res, "vcov")
    allowed = HC_TYPES if cluster is None else CLUSTER_TYPES
    if type not in allowed:
        what = "clustered covariance (cluster given)" if cluster is not None else ""
        raise ValueError(
            f"type={type!r} is not a {what or 'sandwich'} type; use one of "
            f"{', '.join(repr(t) for t in allowed)}"
        )
    X = design_of_fit(res, X, "vcov")
    dtype = jnp.result_type(res.mu)
    if not isinstance(X, jax.Array):
        X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X)
    X = jnp.asarray(X, dtype)
    batch = tuple(np.shape(res.mu)[:-1])
    n, p = np.shape(res.mu)[-1], np.shape(res.coef)[-1]
    shared_X = X.shape == (n, p)
    if not shared_X and X.shape != (*batch, n, p):
        expected = f"({n}, {p})" + (f" or {(*batch, n, p)}" if batch else "")
        raise ValueError(
            f"X has shape {X.shape} but the fit has n={n} observations and p={p} "
            f"coefficients; pass the design matrix of the fit, {expected}"
        )
    shared_cluster = True
    if cluster is not None:
        cluster, shared_cluster = _cluster_codes(cluster, batch, n)
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
        res.nobs,
    )
    return _vcov_compiled(
        res_arrays,
        X,
        cluster,
        jnp.asarray(type == "HC1"),
        jnp.asarray(2 if type == "HC3" else 1, dtype),
        leverage=type in ("HC2", "HC3"),
        batch_ndim=len(batch),
        shared_X=shared_X,
        shared_cluster=shared_cluster,
    )


def with_cov(
    res: GLMResult,
    cov: ArrayLike | None = None,
    *,
    X: ArrayLike | None = None,
    type: str = "HC0",
    cluster: ArrayLike | None = None,
    cov_type: str | None = None,
) -> GLMResult:
    """The same fit with another covariance: ``cov``, ``se``, ``z``, ``pvalues``.

    ``se = sqrt(diag(cov))``, ``z = coef / se`` and two-sided normal p-values,
    for every family (a z test even where the dispersion is estimated);
    ``conf_int`` then gives Wald intervals from the new ``se``.  Everything
    else is unchanged.  ``with_cov(res, X=X, type="HC3")`` is
    ``with_cov(res, vcov(res, X, "HC3"), cov_type="HC3")``.

    Matches R: ``lmtest::coeftest(fit, vcov = V)`` (for a glm ``coeftest``
    uses ``df = Inf``, the normal distribution) and ``lmtest::coefci(fit,
    vcov = V)``.

    Args:
        res: a fit (or a batch of fits).
        cov: the covariance, (p, p) ((..., p, p) for a batch); None to compute
            :func:`vcov` from ``X``, ``type`` and ``cluster``.
        X, type, cluster: passed to :func:`vcov` when ``cov`` is None.
        cov_type: the label stored in ``res.cov_type`` (shown by summary);
            by default ``type`` (``"CL-" + type`` with clusters) for a computed
            covariance and ``"user"`` for a given one.

    Returns:
        A :class:`GLMResult` with ``cov``, ``se``, ``z``, ``pvalues`` and
        ``cov_type`` replaced.

    Raises:
        ValueError: ``cov`` of the wrong shape, both or neither of ``cov`` and
            ``X``, or what :func:`vcov` raises.
    """
    _check_fit(res, "with_cov")
    if cov_type is not None and not isinstance(cov_type, str):
        raise TypeError(f"cov_type must be a str label, got {cov_type!r}")
    if cov is None:
        if X is None:
            raise ValueError(
                "with_cov needs cov, a (p, p) matrix, or X (with type and cluster) "
                "to compute one: with_cov(res, X=X, type='HC3')"
            )
        cov = vcov(res, X, type, cluster)
        label = type if cluster is None else f"CL-{type}"
    else:
        if X is not None or cluster is not None:
            raise ValueError("pass either cov or X (and cluster) to with_cov, not both")
        label = "user"
    coef = res.coef
    cov = jnp.asarray(cov, jnp.result_type(coef))
    p = np.shape(coef)[-1]
    expected = (*np.shape(coef), p)
    if cov.shape != expected:
        raise ValueError(
            f"cov has shape {cov.shape} but the fit has p={p} coefficients"
            + (f" and batch shape {expected[:-2]}" if len(expected) > 2 else "")
            + f"; pass a covariance of shape {expected}"
        )
    se = jnp.sqrt(jnp.diagonal(cov, axis1=-2, axis2=-1))
    z = coef / se
    return res.replace(
        cov=cov,
        se=se,
        z=z,
        pvalues=pvalues(z, res.df_resid, use_t=False),
        cov_type=label if cov_type is None else cov_type,
    )
