"""``jg.GLMRegressor`` and ``jg.GLMClassifier``: scikit-learn estimators around
:func:`jaxglm.fit`.

scikit-learn is optional and slow to import (it also imports pandas), so
``import jaxglm`` does not import this module: ``jaxglm.GLMRegressor`` and
``jaxglm.GLMClassifier`` are resolved on first access by the package's module
``__getattr__`` (PEP 562).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from ._fit import fit
from ._multinomial.family import Multinomial, log_probabilities
from ._predict import predict
from ._result import GLMResult
from ._validate import as_family

__all__ = ["GLMRegressor", "GLMClassifier"]

try:
    import sklearn.utils as _utils
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import multiclass as _multiclass
    from sklearn.utils import validation as _validation
except ImportError as err:  # pragma: no cover - depends on the environment
    hint = 'pip install "jaxglm-stats[sklearn]"'
    message = (
        f"GLMRegressor and GLMClassifier need scikit-learn; install it with: {hint}"
    )
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
        l1: lasso penalty ``l1 * sum |coef|`` on the same scale (intercept
            unpenalised; zeroed coefficients are exactly 0): glmnet's
            ``lambda * alpha`` times the sum of the weights, with
            ``standardize = FALSE`` (see ``jg.fit``).

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
        l1: float = 0.0,
    ):
        # scikit-learn's clone needs every argument stored unchanged.
        self.family = family
        self.l2 = l2
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.l1 = l1

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
            l1=self.l1,
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


class GLMClassifier(ClassifierMixin, BaseEstimator):
    """Multinomial (softmax) logistic regression as a scikit-learn classifier.

    ``fit`` encodes the labels as ``classes_`` (sorted, scikit-learn's order),
    adds an intercept column (unless ``fit_intercept=False``) and calls
    :func:`jaxglm.fit` with ``jg.Multinomial(n_classes=len(classes_))``: the
    baseline-category logit model with ``classes_[0]`` as the reference class.
    With two classes this is logistic regression (the numbers of
    ``jg.Binomial()`` on ``y == classes_[1]``). The full R-style result
    (standard errors, deviance, AIC, ...) is kept in ``result_``.

    Matches R: ``nnet::multinom(y ~ X, weights = sample_weight)`` (and
    ``glm(y ~ X, binomial)`` for two classes) when ``l2 = 0``; R's ``factor``
    sorts the levels too, so its reference class is ``classes_[0]``.

    scikit-learn: ``LogisticRegression(C=np.inf)`` (``penalty=None`` before
    scikit-learn 1.8) fits the same probabilities; its ``coef_`` for K > 2
    classes uses the symmetric softmax parameterisation, whose rows minus the
    row of ``classes_[0]`` are this ``coef_``. ``LogisticRegression`` minimises
    ``C * sum(sample_weight * log_loss) + ||w||^2 / 2``, so ``l2 = 1 / C``
    gives the same fit for two classes; for K > 2 scikit-learn penalises the
    symmetric coefficients (``sum_k ||w_k||^2``), a different penalty on the
    baseline logits than ``l2``, and the penalised fits differ.

    Data in which the classes are (quasi-)separated have no maximum-likelihood
    estimate with ``l2 = 0``: the fit stops with status ``SEPARATION`` and
    warns :class:`jaxglm.ConvergenceWarning`; ``coef_`` is the last iterate,
    large but finite, and its class predictions still follow the separating
    direction. Set ``l2 > 0`` for a finite, unique solution.

    Args:
        l2: ridge penalty ``l2/2 * ||coef||^2`` on the log-likelihood scale,
            summed over the K - 1 baseline logits, the intercepts unpenalised.
        fit_intercept: prepend a column of ones to ``X``.
        tol: R's relative deviance convergence tolerance.
        max_iter: maximum Newton iterations.

    Attributes:
        classes_: (K,) the class labels, sorted; ``classes_[0]`` is the
            reference class.
        coef_: (K - 1, n_features) baseline-category logit coefficients: row
            k - 1 is the log-odds of ``classes_[k]`` against ``classes_[0]``
            (``result_.coef[1:].T``; aliased, collinear, ones set to 0). For two
            classes, (1, n_features) as ``LogisticRegression``.
        intercept_: (K - 1,) intercepts of the same logits (zeros without
            ``fit_intercept``).
        result_: the :class:`GLMResult` of the multinomial fit.
        n_iter_: Newton iterations used.
        n_features_in_, feature_names_in_: as every scikit-learn estimator.

    Raises:
        ImportError: on first access to ``jaxglm.GLMClassifier`` without
            scikit-learn.
    """

    def __init__(
        self,
        l2: float = 0.0,
        fit_intercept: bool = True,
        tol: float = 1e-8,
        max_iter: int = 100,
    ):
        # scikit-learn's clone needs every argument stored unchanged.
        self.l2 = l2
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter

    # --- fitting ----------------------------------------------------------------

    def fit(self, X, y, sample_weight=None) -> GLMClassifier:
        """Fit to ``X`` (n, n_features) and class labels ``y`` (n,) of any type.

        ``sample_weight`` are R's prior weights (a weight of 2 counts a row
        twice). Returns ``self``.

        Raises:
            ValueError: if fewer than two classes occur in ``y`` (or carry
                positive ``sample_weight``), or for invalid inputs.
        """
        X, y = _validation.validate_data(
            self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2
        )
        _multiclass.check_classification_targets(y)
        classes, labels = np.unique(y, return_inverse=True)
        if sample_weight is not None:
            sample_weight = _validation._check_sample_weight(
                sample_weight, X, dtype=X.dtype
            )
            present = np.unique(labels[sample_weight > 0])
        else:
            present = np.arange(len(classes))
        if len(present) < 2:
            weighted = " with positive sample_weight" if len(classes) > 1 else ""
            found = classes[present] if len(present) else classes
            raise ValueError(
                f"GLMClassifier needs samples of at least 2 classes, but y has "
                f"only one class{weighted}: {found.tolist()}"
            )
        design = _with_intercept(X) if self.fit_intercept else X
        res = fit(
            design,
            labels,
            Multinomial(n_classes=len(classes)),
            weights=sample_weight,
            l2=self.l2,
            tol=self.tol,
            max_iter=self.max_iter,
        )
        # Aliased coefficients are NaN in result_ (R's NA); they count as 0 in
        # predictions, as in jg.predict.
        coef = np.where(np.asarray(res.aliased)[:, None], 0.0, np.asarray(res.coef))
        if self.fit_intercept:
            self.intercept_ = coef[0]
            self.coef_ = coef[1:].T
        else:
            self.intercept_ = np.zeros(coef.shape[1], coef.dtype)
            self.coef_ = coef.T
        self.classes_ = classes
        self.n_iter_ = int(res.n_iter)
        self.result_: GLMResult = res
        return self

    # --- predicting -------------------------------------------------------------

    def _logits(self, X) -> np.ndarray:
        """(n, K - 1) baseline logits of the rows of ``X``."""
        _validation.check_is_fitted(self)
        X = _validation.validate_data(
            self, X, dtype=[np.float64, np.float32], reset=False
        )
        # The fitted state decides, even if fit_intercept was set since.
        if self.result_.coef.shape[0] == X.shape[1] + 1:
            X = _with_intercept(X)
        return np.asarray(predict(self.result_, X, which="linear"))

    def decision_function(self, X) -> np.ndarray:
        """Log-odds against ``classes_[0]``: (n,) for two classes (of
        ``classes_[1]``, as scikit-learn's binary classifiers), else (n, K) with
        a first column of zeros."""
        eta = self._logits(X)
        if eta.shape[1] == 1:
            return eta[:, 0]
        return np.concatenate([np.zeros_like(eta[:, :1]), eta], axis=1)

    def predict_log_proba(self, X) -> np.ndarray:
        """Log class probabilities, (n, K), finite even where a probability
        underflows to 0."""
        return np.asarray(log_probabilities(jnp.asarray(self._logits(X))))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, (n, K), columns in the order of ``classes_``."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row, (n,), from ``classes_``."""
        eta = self._logits(X)
        best = np.where(eta.max(axis=1) > 0, eta.argmax(axis=1) + 1, 0)
        return self.classes_[best]
