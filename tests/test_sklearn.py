"""``jg.GLMRegressor`` as a scikit-learn estimator.

scikit-learn's own estimator checks run on the default (Gaussian) estimator; the
other families are compared with scikit-learn's PoissonRegressor, in a Pipeline and
under cross-validation. Each new data shape compiles a fit, so the data below
share shapes where they can.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

import jaxglm as jg
from checks import assert_close

pytest.importorskip("sklearn")
from sklearn.base import BaseEstimator, clone, is_regressor  # noqa: E402
from sklearn.linear_model import PoissonRegressor  # noqa: E402
from sklearn.model_selection import KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

N = 120


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(N, 3)) * np.array([1.0, 5.0, 0.2]) + np.array([0.0, 10, 1])
    eta = 0.3 + X @ np.array([0.4, 0.05, -1.0])
    return X, rng.poisson(np.exp(eta)).astype(float)


# Every generic check applies to the Gaussian regressor and passes; none is
# expected to fail. The API checks run always; the full set (legacy=True adds ~45
# checks on data of many shapes, about a minute of compiling on a small CPU) runs
# with JAXGLM_SLOW=1.
@parametrize_with_checks([jg.GLMRegressor()], legacy=False)
def test_sklearn_api_checks(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks([jg.GLMRegressor()])
def test_sklearn_all_estimator_checks(estimator, check):
    check(estimator)


def test_is_a_scikit_learn_regressor():
    est = jg.GLMRegressor(family=jg.NegativeBinomial(alpha=0.5), l2=2.0)
    assert isinstance(est, BaseEstimator) and is_regressor(est)
    params = est.get_params()
    assert params == {
        "family": est.family,
        "l2": 2.0,
        "fit_intercept": True,
        "tol": 1e-8,
        "max_iter": 100,
    }
    copy = clone(est)  # deep-copies the family
    assert isinstance(copy.family, jg.NegativeBinomial) and copy.l2 == 2.0
    assert float(copy.family.alpha) == 0.5
    assert copy.set_params(family="poisson", max_iter=50) is copy
    assert copy.family == "poisson" and est.family is params["family"]
    with pytest.raises(ValueError, match="Invalid parameter"):
        copy.set_params(alpha=1.0)


def test_poisson_matches_jg_fit_and_sklearn(counts):
    X, y = counts
    est = jg.GLMRegressor(family=jg.Poisson(), tol=1e-12).fit(X, y)
    res = jg.fit(jg.add_intercept(X), y, jg.Poisson(), tol=1e-12)
    assert_close(est.intercept_, res.coef[0], rtol=1e-12, what="intercept")
    assert_close(est.coef_, res.coef[1:], rtol=1e-12, what="coef")
    assert est.result_.names is None and est.n_features_in_ == 3
    assert_close(est.predict(X), res.mu, rtol=1e-12, what="mu")
    # score is D^2 on the data given: on the training data 1 - deviance / null.
    d2 = 1.0 - float(res.deviance) / float(res.null_deviance)
    assert_close(est.score(X, y), d2, rtol=1e-10, what="D^2")

    sk = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000).fit(X, y)
    assert_close(est.coef_, sk.coef_, rtol=1e-6, atol=1e-8, what="sklearn coef")
    assert_close(est.score(X, y), sk.score(X, y), rtol=1e-8, what="sklearn D^2")
    # sklearn's alpha averages the deviance over rows; our l2 sums it.
    alpha = 0.05
    ridge = clone(est).set_params(l2=N * alpha).fit(X, y)
    sk_ridge = PoissonRegressor(alpha=alpha, tol=1e-12, max_iter=1000).fit(X, y)
    assert_close(ridge.coef_, sk_ridge.coef_, rtol=1e-6, atol=1e-8, what="l2 coef")
    assert_close(ridge.intercept_, sk_ridge.intercept_, rtol=1e-6, what="l2 b0")


def test_pipeline_and_cross_validation(counts):
    X, y = counts
    folds = KFold(n_splits=4, shuffle=True, random_state=0)
    ours = make_pipeline(StandardScaler(), jg.GLMRegressor(family="poisson"))
    theirs = make_pipeline(StandardScaler(), PoissonRegressor(alpha=0.0, tol=1e-10))
    scores = cross_val_score(ours, X, y, cv=folds)
    expected = cross_val_score(theirs, X, y, cv=folds)
    assert_close(scores, expected, rtol=1e-5, what="cross-validated D^2")

    ours.fit(X, y, glmregressor__sample_weight=np.full(N, 2.0))
    scaled = StandardScaler().fit_transform(X)
    res = jg.fit(jg.add_intercept(scaled), y, jg.Poisson(), weights=np.full(N, 2.0))
    assert_close(ours.predict(X), res.mu, rtol=1e-9, what="pipeline mu")
    assert_close(ours[-1].result_.coef, res.coef, rtol=1e-9, what="pipeline coef")


def test_without_intercept_and_pickle(counts):
    X, y = counts
    design = jg.add_intercept(X)
    est = jg.GLMRegressor(family=jg.Poisson, fit_intercept=False).fit(design, y)
    assert est.intercept_ == 0.0 and est.coef_.shape == (4,)
    restored = pickle.loads(pickle.dumps(est))
    assert_close(restored.predict(design), est.predict(design), rtol=0.0)
    assert "GLMRegressor(family=<class" in repr(est)


def test_optional_dependencies_stay_lazy():
    # A fresh interpreter: importing jaxglm loads none of the optional libraries,
    # and each optional entry point says how to install what it lacks.
    code = """
import sys
import jaxglm as jg
loaded = [m for m in ("pandas", "formulaic", "sklearn") if m in sys.modules]
assert not loaded, loaded
sys.modules["sklearn"] = None
sys.modules["formulaic"] = None
for call, hint in [
    (lambda: jg.GLMRegressor(), "scikit-learn"),
    (lambda: jg.glm("y ~ x", {"y": [1.0], "x": [1.0]}), "jaxglm-stats[formula]"),
]:
    try:
        call()
    except ImportError as err:
        assert hint in str(err), err
    else:
        raise AssertionError("no ImportError")
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
