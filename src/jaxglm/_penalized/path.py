"""``jg.fit_path``: an elastic-net path on glmnet's scale, one ``lax.scan``.

glmnet's objective is ``(1/n) sum w_i dev_i / 2 + lambda ((1 - alpha)/2 |b|^2 +
alpha |b|_1)`` with the weights scaled to sum n; multiplied by the weights' sum W
it is ``jg.fit``'s with ``l1 = W lambda alpha`` and ``l2 = W lambda (1 - alpha)``.
As glmnet, the columns are centred and (``standardize``) scaled by their weighted
population standard deviation, the penalty acts on the standardised
coefficients, and coefficients are returned on the original scale.  Each
lambda is warm-started from the previous solution, on the active columns while
few are active (``stages.py``); the standardised design is never formed for
the solver (``design.RowDesign`` centres and scales inside each product).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._families import Binomial, Gaussian
from .._family import Family
from .._pytree import Node
from .._validate import as_family, cast_family, is_concrete, prepare, valid_input_mask
from .design import RowDesign, kkt_scale, transposed
from .implicit import implicit_solution
from .irls import penalized_start
from .prox import uses_first_order
from .stages import PathFits, PathProblem, fit_lambdas, fit_null, stage_capacities

__all__ = [
    "PathResult",
    "fit_path",
    "path_traced",
    "check_path_options",
    "stored_transpose",
]

# glmnet: lambda_max divides by max(alpha, 1e-3), so a ridge path starts finite.
MIN_ALPHA_FOR_LAMBDA_MAX = 1e-3
# A penalty large enough to hold every penalised coefficient at 0 (the null fit).
_NULL_PENALTY = 1e30
NULL_TOL_FACTOR = 1e-6


class PathResult(Node):
    """An elastic-net path (:func:`jaxglm.fit_path`); L lambdas, p columns.

    Matches R: ``glmnet(x, y, family, alpha, lambda, standardize, weights,
    offset)``: ``lambdas`` = ``fit$lambda``, ``intercept`` = ``fit$a0``,
    ``coef`` = ``t(fit$beta)``, ``df`` = ``fit$df``, ``deviance`` =
    ``deviance(fit)``, ``null_deviance`` = ``fit$nulldev``, ``dev_ratio`` =
    ``fit$dev.ratio``.  ``status``/``n_iter`` are per lambda, as ``jg.fit``'s.
    """

    lambdas: jax.Array
    intercept: jax.Array
    coef: jax.Array
    deviance: jax.Array
    null_deviance: jax.Array
    dev_ratio: jax.Array
    df: jax.Array
    n_iter: jax.Array
    status: jax.Array
    alpha: jax.Array


def check_path_options(alpha, n_lambda, lambda_min_ratio, lambdas, penalty_factor, p):
    """Raise for an alpha outside [0, 1], bad lambdas or penalty factors."""
    if is_concrete(alpha):
        a = np.asarray(alpha)
        if a.ndim != 0 or not np.isfinite(a) or a < 0 or a > 1:
            raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if not isinstance(n_lambda, int | np.integer) or n_lambda < 1:
        raise ValueError(f"n_lambda must be a positive int, got {n_lambda!r}")
    if lambda_min_ratio is not None and not (0 < lambda_min_ratio < 1):
        raise ValueError(
            f"lambda_min_ratio must be in (0, 1), got {lambda_min_ratio!r}"
        )
    if lambdas is not None and is_concrete(lambdas):
        lam = np.asarray(lambdas, dtype=float)
        if lam.ndim != 1 or lam.size == 0:
            raise ValueError(f"lambdas must be a 1-D sequence, got shape {lam.shape}")
        if not np.isfinite(lam).all() or (lam < 0).any():
            raise ValueError("lambdas must be finite and non-negative")
    if penalty_factor is not None:
        pf = np.asarray(penalty_factor, dtype=float)
        if pf.shape != (p,):
            raise ValueError(
                f"penalty_factor has shape {pf.shape}; pass one factor per column "
                f"of X ({p},)"
            )
        if not np.isfinite(pf).all() or (pf < 0).any() or not (pf > 0).any():
            raise ValueError(
                "penalty_factor must be finite, non-negative and not all zero"
            )


def _centring(X, weights, standardize: bool, intercept: bool):
    """glmnet's centring and scaling: weighted means and population SDs."""
    total = jnp.sum(weights)
    mean = weights @ X / total if intercept else jnp.zeros(X.shape[1], X.dtype)
    if standardize:
        sd = jnp.sqrt(weights @ ((X - mean[None, :]) ** 2) / total)
        sd = jnp.where(sd > 0, sd, 1.0)
    else:
        sd = jnp.ones(X.shape[1], X.dtype)
    return mean, sd


def _materialised(X, mean, sd, intercept: bool):
    """The standardised design as an array (with its constant column)."""
    design = (X - mean[None, :]) / sd[None, :]
    if intercept:
        design = jnp.concatenate([jnp.ones((X.shape[0], 1), X.dtype), design], 1)
    return design


def path_traced(
    X, y, weights, offset, alpha, penalty_factor, lambdas, lambda_min_ratio, family,
    tol, max_iter, *, n_lambda: int, standardize: bool, intercept: bool, XT=None,
):  # fmt: skip
    """The whole path on prepared arrays; traceable and vmappable (over
    ``weights`` for cross-validation folds, which then share one ``XT``).
    ``XT``: ``stored_transpose(X, intercept)``, or None to form it here.
    ``lambdas`` None: glmnet's default sequence of ``n_lambda`` values."""
    dtype = X.dtype
    weights = jnp.where(weights > 0, weights, 0.0)
    total = jnp.sum(weights)
    mean, sd = _centring(X, weights, standardize, intercept)
    # The standardised design as an array: only the first-order route and
    # the derivative (``implicit_solution``) use it; unused, XLA drops it.
    design = _materialised(X, mean, sd, intercept)
    free = jnp.zeros(1 if intercept else 0, dtype)
    unit = jnp.concatenate([free, penalty_factor])
    ridge_unit = unit
    if isinstance(family, Gaussian):
        # glmnet standardises y for gaussian: its ridge term is on y / sd(y).
        centre = weights @ y / total if intercept else 0.0
        y_sd = jnp.sqrt(weights @ (y - centre) ** 2 / total)
        ridge_unit = unit / jnp.where(y_sd > 0, y_sd, 1.0)

    valid_input = (
        valid_input_mask(family, X, y, weights, offset, jnp.zeros((), dtype))
        & (alpha >= 0)
        & (alpha <= 1)
    )
    # Formed once for the whole path: X transposed (for every product and
    # the stages' gathered columns) and the KKT scale.
    first_order = uses_first_order(design)
    capacities = stage_capacities(design.shape[1], first_order)
    # The solver is not differentiated: ``implicit_solution`` below gives
    # each solution its derivative.
    fixed = jax.lax.stop_gradient
    if first_order:
        rows, dense = None, fixed(design)
        scale = kkt_scale(dense, fixed(weights))
    else:
        XT = transposed(X) if XT is None else XT
        rows = RowDesign(fixed(XT), fixed(mean), fixed(sd), intercept=intercept)
        dense = None
        scale = rows.kkt_scale(fixed(weights))
    problem = PathProblem(
        family=fixed(family), design=rows, X=dense, y=fixed(y),
        weights=fixed(weights), offset=fixed(offset), scale=scale,
        l1_unit=fixed(total * alpha * unit),
        l2_unit=fixed(total * (1.0 - alpha) * ridge_unit),
        lambdas=jnp.zeros(1, dtype),  # known after the null fit, below
        valid_input=valid_input, tol=fixed(tol),
        max_iter=max_iter,
    )  # fmt: skip
    coef0, eta0, mu0 = penalized_start(
        problem.family, dense if first_order else rows, problem.y, problem.weights,
        problem.offset,
    )  # fmt: skip
    # The null model: every penalised coefficient held at 0, solved to
    # rounding (lambda_max comes from its score).
    null_l1 = jnp.where(unit > 0, _NULL_PENALTY, 0.0).astype(dtype)
    null_coef, null_eta, null_mu, null_score = fit_null(
        problem, coef0, eta0, mu0, null_l1, NULL_TOL_FACTOR * problem.tol, capacities
    )
    null_deviance = family.deviance(y, family.link.inverse(null_eta), weights)
    if lambdas is None:
        ratio = jnp.where(
            unit > 0, jnp.abs(null_score) / jnp.where(unit > 0, unit, 1.0), 0.0
        )
        lambda_max = jnp.max(ratio) / (
            total * jnp.maximum(alpha, MIN_ALPHA_FOR_LAMBDA_MAX)
        )
        steps = jnp.linspace(0.0, 1.0, n_lambda, dtype=dtype)
        lambdas = lambda_max * lambda_min_ratio**steps
    lambdas = jnp.asarray(lambdas, dtype)

    n_lambda_out, p_design = lambdas.shape[0], design.shape[1]
    start = PathFits(
        index=jnp.zeros((), jnp.int32), coef=null_coef, eta=null_eta, mu=null_mu,
        score=null_score,
        gram=jnp.zeros((0, 0) if first_order else (p_design, p_design), dtype),
        gram_valid=jnp.zeros((), bool),
        coefs=jnp.zeros((n_lambda_out, p_design), dtype),
        n_iter=jnp.zeros(n_lambda_out, jnp.int32),
        status=jnp.zeros(n_lambda_out, jnp.int32),
    )  # fmt: skip
    fits = fit_lambdas(problem._replace(lambdas=fixed(lambdas)), start, capacities)
    l1s = (lambdas * alpha)[:, None] * (total * unit)[None, :]
    l2s = (lambdas * (1.0 - alpha))[:, None] * (total * ridge_unit)[None, :]
    solutions = jax.vmap(
        implicit_solution, in_axes=(0, None, None, None, None, 0, 0, None)
    )(fits.coefs, design, y, weights, offset, l1s, l2s, family)
    outs = fits._replace(coefs=solutions)
    coef_std = outs.coefs[:, 1:] if intercept else outs.coefs
    coef = coef_std / sd[None, :]
    if intercept:
        intercept_out = outs.coefs[:, 0] - coef @ mean
    else:
        intercept_out = jnp.zeros(lambdas.shape[0], dtype)
    eta = intercept_out[:, None] + coef @ X.T + offset[None, :]
    deviance = jax.vmap(lambda e: family.deviance(y, family.link.inverse(e), weights))(
        eta
    )
    return PathResult(
        lambdas=lambdas,
        intercept=intercept_out,
        coef=coef,
        deviance=deviance,
        null_deviance=null_deviance,
        dev_ratio=1.0 - deviance / null_deviance,
        df=jnp.sum(coef != 0, axis=1).astype(jnp.int32),
        n_iter=outs.n_iter,
        status=outs.status,
        alpha=jnp.asarray(alpha, dtype),
    )


_path_compiled = jax.jit(
    path_traced, static_argnames=("n_lambda", "standardize", "intercept")
)
_transposed_compiled = jax.jit(transposed)


def stored_transpose(X, intercept: bool):
    """X' for a path's solver (None on the first-order route), formed by its
    own compiled call: entering the path's program as a row-major parameter
    it is used in place.  Formed inside the program, XLA gave it a
    column-major layout (X itself) at a cond and transposed X again at each
    loop that wanted rows: three copies of 35-125 ms each at n = 1e5, p = 200
    (profiled)."""
    columns = jax.ShapeDtypeStruct((X.shape[0], X.shape[1] + int(intercept)), X.dtype)
    return None if uses_first_order(columns) else _transposed_compiled(X)


def prepare_path(
    X, y, family, weights, offset, alpha, lambdas, n_lambda, lambda_min_ratio,
    penalty_factor, tol, max_iter,
):  # fmt: skip
    """Validated arrays and options for :func:`path_traced`."""
    family = as_family(family)
    X, y, weights, offset, _ = prepare(
        X, y, family, weights, offset, 0.0, tol, max_iter
    )
    n, p = X.shape
    check_path_options(alpha, n_lambda, lambda_min_ratio, lambdas, penalty_factor, p)
    dtype = X.dtype
    if lambda_min_ratio is None:
        lambda_min_ratio = 1e-2 if n < p else 1e-4
    if penalty_factor is None:
        pf = jnp.ones(p, dtype)
    else:
        pf = np.asarray(penalty_factor, dtype=float)
        pf = jnp.asarray(pf * p / pf.sum(), dtype)  # glmnet rescales to sum p
    if lambdas is not None:
        lambdas = jnp.sort(jnp.asarray(lambdas, dtype))[::-1]  # glmnet: decreasing
    options = dict(
        alpha=jnp.asarray(alpha, dtype),
        penalty_factor=pf,
        lambdas=lambdas,
        lambda_min_ratio=jnp.asarray(lambda_min_ratio, dtype),
        family=cast_family(family, dtype),
        tol=jnp.asarray(tol, dtype),
        max_iter=jnp.asarray(max_iter, jnp.int32),
    )
    return X, y, weights, offset, options


def fit_path(
    X: jax.typing.ArrayLike,
    y: jax.typing.ArrayLike,
    family: Family = Gaussian(),
    *,
    alpha: float = 1.0,
    lambdas: jax.typing.ArrayLike | None = None,
    n_lambda: int = 100,
    lambda_min_ratio: float | None = None,
    standardize: bool = True,
    intercept: bool = True,
    weights: jax.typing.ArrayLike | None = None,
    offset: jax.typing.ArrayLike | None = None,
    penalty_factor: jax.typing.ArrayLike | None = None,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> PathResult:
    """Fit an elastic-net GLM along a decreasing sequence of penalties.

    Minimises ``(1/n) sum w_i dev_i / 2 + lambda ((1-alpha)/2 |b|^2 + alpha
    |b|_1)`` (weights scaled to sum n) at each lambda, warm-started along the
    path, with IRLS and coordinate descent; every solution passes a KKT check.
    The default sequence is glmnet's: ``n_lambda`` values from lambda_max (the
    smallest lambda that zeroes every coefficient) down to
    ``lambda_min_ratio * lambda_max`` (1e-4, or 1e-2 when n < p), evenly on
    the log scale.  Unlike glmnet, the whole sequence is fitted (glmnet may
    stop early once the deviance ratio stops moving).

    Matches R: ``glmnet(x, y, family, alpha, lambda, standardize, intercept,
    weights, offset, penalty.factor)``, gaussian's ridge quirk included (it
    standardises y, so with alpha < 1 its ridge term is on the scale of
    ``y / sd(y)``).

    Args:
        X: (n, p) predictors, without an intercept column.
        y: (n,) response (Binomial: proportions, with weights = trials).
        family: any jaxglm family with its link.
        alpha: the elastic-net mixing in [0, 1]: 1 is the lasso, 0 ridge.
        lambdas: (L,) penalties on glmnet's scale (sorted decreasing), or
            None for the default sequence.
        n_lambda, lambda_min_ratio: the default sequence's length and end.
        standardize: scale columns to unit weighted (population) SD first.
        intercept: fit an unpenalised intercept.
        weights, offset: (n,) prior weights and offset.
        penalty_factor: (p,) relative penalties (0: unpenalised), rescaled to
            sum p as glmnet.
        tol, max_iter: per-lambda tolerance and iteration limit, as ``jg.fit``.

    Returns:
        A :class:`PathResult`.

    Raises:
        ValueError, TypeError: for invalid concrete inputs (alpha outside
        [0, 1], negative lambdas, ...).
    """
    X, y, weights, offset, options = prepare_path(
        X, y, family, weights, offset, alpha, lambdas, n_lambda, lambda_min_ratio,
        penalty_factor, tol, max_iter,
    )  # fmt: skip
    n_out = n_lambda if options["lambdas"] is None else options["lambdas"].shape[0]
    return _path_compiled(
        X, y, weights, offset, **options, n_lambda=n_out, standardize=standardize,
        intercept=intercept, XT=stored_transpose(X, intercept),
    )  # fmt: skip


def cv_loss(family: Family, y, mu):
    """cv.glmnet's per-row deviance: the unit deviance, probabilities clipped to
    [1e-5, 1 - 1e-5] for binomial (as ``cv.lognet``)."""
    if isinstance(family, Binomial):
        mu = jnp.clip(mu, 1e-5, 1.0 - 1e-5)
    return family.unit_deviance(jnp.broadcast_to(y, mu.shape), mu)
