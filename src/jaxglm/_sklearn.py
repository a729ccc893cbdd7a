"""``jg.GLMRegressor``: a scikit-learn estimator around :func:`jaxglm.fit`.

scikit-learn is optional and slow to import (it also imports pandas), so
``import jaxglm`` does not import this module: ``jaxglm.GLMRegressor`` is
resolved on first access by the package's module ``__getattr__`` (PEP 562).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from ._fit import fit
from ._predict import predict
from ._result import GLMResult
from ._validate import as_family

__all__ = ["GLMRegressor"]

try:
    import sklearn.utils as _utils
    from sklearn.base import BaseEstimator, RegressorMixin
    from sklearn.utils import validation as _validation
except ImportError as err:  # pragma: no cover - depends on the environment
    hint = 'pip install "jaxglm-stats[sklearn]"'
    message = f"GLMRegressor needs scikit-learn; install it with: {hint}"
    raise ImportError(message) from err


def _sklearn():
    return _utils, _validation


def _with_intercept(X: np.ndarray) -> np.ndarray:
    return np.concatenate([np.ones((X.shape[0], 1), X.dtype), X], axis=1)


def _jnp(*arrays):
    return [jnp.asarray(a) for a in arrays]


class GLMRegressor(RegressorMixin, BaseEstimator):
    """A generalized linear model as a scikit-learn regressor.

    ``fit`` adds an intercept column (unless ``fit_intercept=False``) and calls
    :func:`jaxglm.fit`; the full R-style result is kept in ``result_``.

    Matches R: ``glm(y ~ X, family, weights = sample_weight)`` when ``l2 = 0``.

    Args:
        family: a family instance (``jg.Poisson()``), class, or name
            (``"poisson"``). The default is the name ``"gaussian"`` (ordinary
            least squares) because scikit-learn wants defaults that are plain
            values.
        l2: ridge penalty ``l2/2 * ||coef||^2`` on the log-likelihood scale, the
            intercept unpenalised; scikit-learn's ``PoissonRegressor(alpha=a)``
            on n rows is ``l2 = n * a``.
        fit_intercept: prepend a column of ones to ``X``.
        tol: R's relative deviance convergence tolerance.
        max_iter: maximum IRLS iterations.

    Attributes:
        coef_: (n_features,) coefficients, aliased (collinear) ones set to 0.
        intercept_: the intercept (0.0 without ``fit_intercept``).
        result_: the :class:`GLMResult` (standard errors, deviance, AIC, ...).
        n_iter_: IRLS iterations used.
        n_features_in_, feature_names_in_: as every scikit-learn estimator.

    Raises:
        ImportError: on first access to ``jaxglm.GLMRegressor`` without scikit-learn.
    """

    def __init__(
        self,
        family: Any = "gaussian",
        l2: float = 0.0,
        fit_intercept: bool = True,
        tol: float = 1e-8,
        max_iter: int = 100,
    ):
        # scikit-learn's clone needs every argument stored unchanged.
        self.family = family
        self.l2 = l2
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter

    def __sklearn_tags__(self):
        utils, _ = _sklearn()
        try:
            positive_only = type(as_family(self.family)).mean_support != "real"
        except (TypeError, ValueError):
            positive_only = False
        return utils.Tags(
            estimator_type="regressor",
            target_tags=utils.TargetTags(
                required=True, single_output=True, positive_only=positive_only
            ),
            regressor_tags=utils.RegressorTags(),
            input_tags=utils.InputTags(two_d_array=True),
        )

    # --- fitting ----------------------------------------------------------------

    def fit(self, X, y, sample_weight=None) -> GLMRegressor:
        """Fit the GLM to ``X`` (n, n_features) and ``y`` (n,); returns ``self``.

        ``sample_weight`` are R's prior weights (Binomial: trials, with ``y``
        the proportion of successes).
        """
        _, validation = _sklearn()
        family = as_family(self.family)
        X, y = validation.validate_data(
            self,
            X,
            y,
            dtype=[np.float64, np.float32],
            y_numeric=True,
            ensure_min_samples=2,
        )
        if sample_weight is not None:
            sample_weight = validation._check_sample_weight(
                sample_weight, X, dtype=X.dtype
            )
        design = _with_intercept(X) if self.fit_intercept else X
        res = fit(
            design,
            y,
            family,
            weights=sample_weight,
            l2=self.l2,
            tol=self.tol,
            max_iter=self.max_iter,
        )
        # Aliased coefficients are NaN in result_ (R's NA); they count as 0 in
        # predictions, as in jg.predict.
        coef = np.where(np.asarray(res.aliased), 0.0, np.asarray(res.coef))
        self.intercept_ = float(coef[0]) if self.fit_intercept else 0.0
        self.coef_ = coef[1:] if self.fit_intercept else coef
        self.n_iter_ = int(res.n_iter)
        self.result_: GLMResult = res
        return self

    def predict(self, X) -> np.ndarray:
        """The fitted mean ``mu`` for the rows of ``X``, (n,)."""
        _, validation = _sklearn()
        validation.check_is_fitted(self)
        X = validation.validate_data(
            self, X, dtype=[np.float64, np.float32], reset=False
        )
        # The fitted state decides, even if fit_intercept was set since.
        if self.result_.coef.shape[-1] == X.shape[1] + 1:
            X = _with_intercept(X)
        return np.asarray(predict(self.result_, X))

    def score(self, X, y, sample_weight=None) -> float:
        """D², the fraction of deviance explained on ``(X, y)``.

        ``1 - deviance(y, mu) / deviance(y, weighted mean of y)``, as
        scikit-learn's GLM regressors; R² for the Gaussian family.
        """
        _, validation = _sklearn()
        mu = self.predict(X)
        y = validation.check_array(y, ensure_2d=False, dtype=mu.dtype)
        if sample_weight is None:
            weights = np.ones_like(y)
        else:
            weights = validation._check_sample_weight(sample_weight, X, dtype=mu.dtype)
        family = self.result_.family
        null_mu = np.full_like(y, np.average(y, weights=weights))
        deviance = np.sum(weights * np.asarray(family.unit_deviance(*_jnp(y, mu))))
        null = np.sum(weights * np.asarray(family.unit_deviance(*_jnp(y, null_mu))))
        return float(1.0 - deviance / null)
