"""``jg.fit``: validate, run the compiled IRLS, and assemble the result."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._buckets import unpad
from ._families import Gaussian
from ._family import Family
from ._implicit import fit_coef
from ._inference import summarize
from ._irls import constant_columns
from ._linalg import aliased_columns
from ._multinomial.family import Multinomial
from ._multinomial.fit import fit_multinomial
from ._penalized.fit import fit_penalized, l1_is_zero
from ._result import GLMResult
from ._status import warn_if_failed
from ._validate import (
    as_family,
    cast_family,
    is_concrete,
    prepare,
    valid_input_mask,
)
from ._vmap_chunks import in_chunks

__all__ = ["fit", "fit_traced", "add_intercept"]


def fit_traced(
    X, y, weights, offset, l2, family, *, tol, max_iter, has_offset, products=None,
    n_rows=None,
):  # fmt: skip
    """The whole fit on arrays already prepared by ``prepare``; traceable.

    ``products``: row products of X (``_linalg.row_products``) when X is shared
    by a batch of fits, so that their Grams are one matrix multiply.
    ``n_rows``: the rows before padding to a bucket (``_buckets.py``), for BIC.
    """
    valid_input = valid_input_mask(family, X, y, weights, offset, l2)
    aliased = aliased_columns(X, weights > 0, products)
    # The intercept is not penalised (as glum and scikit-learn).
    penalty = jnp.where(constant_columns(X), 0.0, l2)
    out = fit_coef(
        X, y, weights, offset, penalty, family, aliased, valid_input, tol, max_iter,
        products,
    )  # fmt: skip
    return summarize(
        family,
        X,
        y,
        weights,
        offset,
        penalty,
        l2,
        out.coef,
        aliased,
        out.n_iter,
        out.status,
        has_offset=has_offset,
        tol=tol,
        max_iter=max_iter,
        products=products,
        n_rows=n_rows,
    )


# vmap of a fit runs in cache-sized chunks of the batch (_vmap_chunks.py).
fit_traced_in_chunks = in_chunks(fit_traced)

# tol and max_iter are traced, so changing them does not recompile.
_fit_compiled = jax.jit(fit_traced_in_chunks, static_argnames=("has_offset",))


def fit(
    X: ArrayLike,
    y: ArrayLike,
    family: Family = Gaussian(),
    *,
    weights: ArrayLike | None = None,
    offset: ArrayLike | None = None,
    l2: ArrayLike = 0.0,
    l1: ArrayLike = 0.0,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> GLMResult:
    """Fit a generalized linear model by iteratively reweighted least squares.

    Matches R: ``glm(y ~ X - 1, family, weights, offset)`` (include the
    intercept column in ``X`` yourself, e.g. with :func:`add_intercept`).

    Args:
        X: design matrix, (n, p).
        y: response, (n,); for Binomial the proportion of successes; for
            Multinomial (n,) integer class labels or an (n, K) count matrix.
        family: a family instance with its link, e.g. ``jg.Poisson()``.
        weights: prior weights, (n,) (R's ``weights``; Binomial trials).
        offset: added to the linear predictor, (n,).
        l2: ridge penalty ``l2/2 * ||coef||^2`` on the log-likelihood scale
            (``deviance/2``); constant (intercept) columns are not penalised.
        l1: lasso penalty ``l1 * sum |coef|`` on the same scale, a scalar or
            one per column (penalty factors); the intercept is not penalised
            and zeroed coefficients are exactly 0.  With ``l1 > 0`` (or traced)
            the fit is IRLS with coordinate descent (glmnet's method) and
            converges when the deviance rule and the KKT conditions hold;
            ``se``/``cov`` are then those of the active set, not post-selection
            inference; ``jax.grad`` reaches ``l1`` and ``l2`` (exact while the
            set of non-zero coefficients does not change).  Matches R:
            ``glmnet(standardize = FALSE)`` at ``lambda = l1 / sum(weights)``
            with ``alpha = 1`` (see API.md).
        tol: R's convergence rule ``|dev - dev_old| / (|dev| + 0.1) < tol``.
        max_iter: maximum IRLS iterations.

    Returns:
        A :class:`GLMResult`; works under ``jit``, ``vmap`` and ``grad``.

    Raises:
        ValueError, TypeError: for invalid inputs when they are concrete; under
        tracing the fit reports ``Status.INVALID_INPUT`` instead.
    """
    family = as_family(family)
    if not l1_is_zero(l1):
        if isinstance(family, Multinomial):
            raise ValueError("l1 is not supported for jg.Multinomial(); use l2")
        return fit_penalized(
            X, y, family, weights=weights, offset=offset, l1=l1, l2=l2, tol=tol,
            max_iter=max_iter,
        )  # fmt: skip
    if isinstance(family, Multinomial):
        return fit_multinomial(
            X, y, family, weights=weights, offset=offset, l2=l2, tol=tol,
            max_iter=max_iter,
        )  # fmt: skip
    X, y, weights, offset_arr, l2, n_rows = prepare(
        X, y, family, weights, offset, l2, tol, max_iter, pad=True
    )
    res = _fit_compiled(
        X,
        y,
        weights,
        offset_arr,
        l2,
        cast_family(family, X.dtype),
        tol=jnp.asarray(tol, X.dtype),
        max_iter=jnp.asarray(max_iter, jnp.int32),
        has_offset=offset is not None,
        n_rows=jnp.asarray(n_rows, jnp.int32),
    )
    if is_concrete(res):
        res = unpad(res, n_rows)
        warn_if_failed(res)
    return res


def add_intercept(X: ArrayLike) -> jax.Array:
    """Prepend a column of ones to ``X``, (n, p) -> (n, p + 1)."""
    X = jnp.asarray(X)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"X must be 1-D or 2-D, got shape {X.shape}")
    dtype = X.dtype if jnp.issubdtype(X.dtype, jnp.floating) else jnp.zeros(()).dtype
    return jnp.concatenate([jnp.ones((X.shape[0], 1), dtype), X.astype(dtype)], 1)
