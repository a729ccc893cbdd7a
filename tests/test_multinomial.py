"""Multinomial regression against R (nnet::multinom, VGAM::vglm) and identities.

References: tests/reference/make_multinomial_reference.R (VGAM's exact IRLS for
coefficients, standard errors and covariance; nnet's deviance, AIC and BIC).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
from refdata import load

CASES = ["housing", "housing_counts", "survey", "survey_weighted", "fgl", "cars93"]


def _data(case):
    r = load(f"multinomial_{case}")
    X = np.asarray(r["X"], float)
    y = np.asarray(r["y_counts"], float) if "y_counts" in r else np.asarray(r["y"])
    return r, X, y, np.asarray(r["weights"], float)


@pytest.fixture(scope="module")
def fits():
    out = {}
    for case in CASES:
        r, X, y, w = _data(case)
        # R's references are at the optimum (VGAM at epsilon 1e-15).
        out[case] = jg.fit(X, y, family=jg.Multinomial(), weights=w, tol=1e-12)
    return out


@pytest.mark.parametrize("case", CASES)
def test_matches_r(case, fits):
    r, X, _, _ = _data(case)
    res = fits[case]
    assert int(res.status) == jg.Status.SUCCESS
    np.testing.assert_allclose(res.coef, r["coef"], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(res.se, r["se"], rtol=1e-7)
    np.testing.assert_allclose(res.z, r["z"], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(res.pvalues, r["pvalues"], rtol=1e-6, atol=1e-14)
    np.testing.assert_allclose(res.cov, r["cov"], rtol=1e-7, atol=1e-12)
    for field in ("deviance", "aic", "bic", "loglik", "null_deviance"):
        np.testing.assert_allclose(getattr(res, field), r[field], rtol=1e-10)
    assert int(res.rank) == r["vgam_rank"] == r["edf"]
    assert int(res.df_resid) == r["vgam_df_residual"]
    np.testing.assert_allclose(res.mu, r["fitted"], rtol=1e-7, atol=1e-12)
    assert res.coef.shape == (r["p"], r["K"] - 1)
    assert res.mu.shape == (r["n"], r["K"])
    assert res.conf_int().shape == (r["p"], r["K"] - 1, 2)
    pred = jg.predict(res, np.asarray(r["predict_X"], float))
    np.testing.assert_allclose(pred, r["predict_prob"], rtol=1e-7, atol=1e-12)


def test_nnet_coefficients_within_its_optimiser_accuracy(fits):
    # nnet's BFGS stops about 1e-6 short of the optimum VGAM's IRLS reaches.
    for case in CASES:
        r = load(f"multinomial_{case}")
        np.testing.assert_allclose(fits[case].coef, r["coef_nnet"], atol=2e-5)
        np.testing.assert_allclose(fits[case].se, r["se_nnet"], rtol=1e-4)


def test_default_tolerance_stops_within_a_thousandth_of_a_standard_error(fits):
    for case in CASES:
        _, X, y, w = _data(case)
        res = jg.fit(X, y, family=jg.Multinomial(), weights=w)
        exact = fits[case]
        assert np.abs((res.coef - exact.coef) / exact.se).max() < 1e-3
        np.testing.assert_allclose(res.deviance, exact.deviance, rtol=1e-9)


def test_count_matrix_equals_labels(fits):
    a, b = fits["housing"], fits["housing_counts"]
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-10)
    np.testing.assert_allclose(a.deviance, b.deviance, rtol=1e-12)
    assert int(a.nobs) == 72 and int(b.nobs) == 24


def test_formula_with_r_names_classes_and_predict():
    r = load("multinomial_housing")
    df = jg.datasets.load_housing(as_frame=True)
    res = jg.glm(
        "Sat ~ Infl + Type + Cont", df, family=jg.Multinomial(), weights="Freq"
    )
    assert res.names == tuple(r["terms"])
    assert res.classes == tuple(r["classes"])
    np.testing.assert_allclose(res.coef, r["coef"], rtol=1e-8, atol=1e-9)
    import pandas as pd

    new = pd.DataFrame(r["predict_newdata"])
    for column in new:
        new[column] = pd.Categorical(new[column], categories=df[column].cat.categories)
    np.testing.assert_allclose(
        jg.predict(res, new), r["predict_prob"], rtol=1e-7, atol=1e-12
    )
    table = res.coef_table()
    assert table.index.names == ["class", "term"]
    assert list(table.index[0]) == ["Medium", "(Intercept)"]
    np.testing.assert_allclose(table["estimate"], np.asarray(r["coef"]).T.ravel())
    text = str(jg.summary(res))
    assert "Coefficients: Medium vs Low" in text
    assert "Coefficients: High vs Low" in text
    assert "Residual Deviance: 3470.1" in text and "AIC: 3498.084" in text


def test_formula_cbind_counts():
    df = jg.datasets.load_housing(as_frame=True)
    wide = df.pivot_table(
        index=["Infl", "Type", "Cont"], columns="Sat", values="Freq", observed=True
    ).reset_index()
    res = jg.glm("cbind(Low, Medium, High) ~ Infl + Type + Cont", wide,
                 family=jg.Multinomial())  # fmt: skip
    assert res.classes == ("Low", "Medium", "High")
    np.testing.assert_allclose(
        res.coef, load("multinomial_housing")["coef"], rtol=1e-8, atol=1e-9
    )


def test_two_classes_equal_logistic_regression():
    r, X, _, _ = _data("cars93")
    y = (np.asarray(r["y"]) > 0).astype(float)
    multi = jg.fit(X, y, family=jg.Multinomial(), tol=1e-12)
    logit = jg.fit(X, y, family=jg.Binomial(), tol=1e-12)
    np.testing.assert_allclose(multi.coef[:, 0], logit.coef, rtol=1e-9)
    np.testing.assert_allclose(multi.se[:, 0], logit.se, rtol=1e-8)
    np.testing.assert_allclose(multi.deviance, logit.deviance, rtol=1e-12)
    np.testing.assert_allclose(multi.aic, logit.aic, rtol=1e-12)


def _score(res, X, counts, weights, l2=0.0):
    resid = weights[:, None] * (counts - counts.sum(1, keepdims=True) * res.mu)
    grad = X.T @ resid[:, 1:]
    penalty = np.where(np.all(X == X[:1], 0), 0.0, l2)[:, None]
    return grad - penalty * np.asarray(res.coef)


def test_score_is_zero_at_the_optimum_with_ridge():
    r, X, y, w = _data("survey_weighted")
    counts = np.eye(r["K"])[y]
    for l2 in (0.0, 3.0):
        res = jg.fit(X, y, family=jg.Multinomial(), weights=w, l2=l2)
        score = _score(res, X, counts, w, l2)
        assert np.abs(score).max() < 1e-8 * np.abs(X).max() * w.sum()
        np.testing.assert_allclose(res.loglik, -res.deviance / 2)
    assert float(res.deviance) > load("multinomial_survey_weighted")["deviance"]


def test_float32():
    r, X, y, w = _data("housing")
    res = jg.fit(X.astype(np.float32), y, family=jg.Multinomial(),
                 weights=w.astype(np.float32))  # fmt: skip
    assert res.coef.dtype == jnp.float32 and res.mu.dtype == jnp.float32
    assert int(res.status) == jg.Status.SUCCESS
    np.testing.assert_allclose(res.coef, r["coef"], rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(res.se, r["se"], rtol=2e-4)
    np.testing.assert_allclose(res.deviance, r["deviance"], rtol=1e-5)


def test_jit_vmap_bootstrap_equals_loop():
    r, X, y, _ = _data("survey")
    rng = np.random.default_rng(0)
    boot = rng.exponential(size=(6, X.shape[0]))  # Bayesian bootstrap weights
    family = jg.Multinomial(n_classes=r["K"])
    batched = jax.jit(jax.vmap(lambda w: jg.fit(X, y, family=family, weights=w)))(boot)
    for i in range(boot.shape[0]):
        one = jg.fit(X, y, family=family, weights=boot[i])
        np.testing.assert_allclose(batched.coef[i], one.coef, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(batched.se[i], one.se, rtol=1e-9)
        assert int(batched.status[i]) == int(one.status)


def test_fit_many_shared_design_labels_and_counts():
    r, X, y, _ = _data("fgl")
    rng = np.random.default_rng(1)
    Y = np.stack([y] + [rng.permutation(y) for _ in range(4)])
    res = jg.fit_many(X, Y, family=jg.Multinomial())
    assert res.coef.shape == (5, X.shape[1], r["K"] - 1)
    np.testing.assert_allclose(res.coef[0], r["coef"], rtol=1e-8, atol=1e-9)
    counts = np.eye(r["K"])[Y]
    by_counts = jg.fit_many(X, counts, family=jg.Multinomial(), batch_size=2)
    np.testing.assert_allclose(by_counts.coef, res.coef, rtol=1e-9, atol=1e-12)
    vmapped = jax.vmap(lambda y: jg.fit(X, y, family=jg.Multinomial(n_classes=r["K"])))(
        Y
    )
    np.testing.assert_allclose(vmapped.coef, res.coef, rtol=1e-9, atol=1e-12)


def test_gradients_match_finite_differences():
    r, X, y, w = _data("cars93")
    family = jg.Multinomial(n_classes=r["K"])

    def loss(weights, X, l2):
        res = jg.fit(X, y, family=family, weights=weights, l2=l2)
        return jnp.sum(res.coef[1:] ** 2) + res.deviance / 100

    grads = jax.grad(loss, argnums=(0, 1, 2))(w, X, 0.5)
    eps = 1e-6
    for argnum, index in ((0, 3), (1, (4, 2)), (2, ())):
        args = [w, X, 0.5]
        up, down = (
            [np.array(a, dtype=float) for a in args],
            [np.array(a, dtype=float) for a in args],
        )
        up[argnum][index] += eps
        down[argnum][index] -= eps
        fd = (loss(*up) - loss(*down)) / (2 * eps)
        np.testing.assert_allclose(grads[argnum][index], fd, rtol=2e-5)


def test_gradient_of_a_vmapped_batch():
    r, X, y, _ = _data("survey")
    family = jg.Multinomial(n_classes=r["K"])
    W = np.ones((3, X.shape[0]))

    def total(W):
        res = jax.vmap(lambda w: jg.fit(X, y, family=family, weights=w))(W)
        return jnp.sum(res.coef[:, 1, :])

    g = jax.grad(total)(W)
    one = jax.grad(lambda w: jnp.sum(jg.fit(X, y, family=family, weights=w).coef[1]))
    np.testing.assert_allclose(g[1], one(W[1]), rtol=1e-8, atol=1e-12)


def test_aliased_column_is_nan_with_r_rank():
    r, X, y, w = _data("survey")
    X2 = np.c_[X, X[:, 1] + X[:, 2]]
    res = jg.fit(X2, y, family=jg.Multinomial(), weights=w)
    assert int(res.status) == jg.Status.SUCCESS
    assert np.isnan(res.coef[-1]).all() and int(res.rank) == r["edf"]
    np.testing.assert_allclose(res.coef[:-1], r["coef"], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(res.deviance, r["deviance"], rtol=1e-10)


def test_separation_and_unobserved_class_are_flagged():
    x = np.linspace(-1, 1, 30)
    X = jg.add_intercept(x)
    y = np.where(x < -0.3, 0, np.where(x < 0.3, 1, 2))  # ordered: separated
    with pytest.warns(jg.ConvergenceWarning):
        res = jg.fit(X, y, family=jg.Multinomial())
    assert int(res.status) == jg.Status.SEPARATION
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 30)
    with pytest.warns(jg.ConvergenceWarning):
        res = jg.fit(X, labels, family=jg.Multinomial(n_classes=4))
    assert int(res.status) == jg.Status.SEPARATION


def test_bad_fit_in_a_batch_is_flagged_without_touching_neighbours():
    r, X, y, _ = _data("cars93")
    family = jg.Multinomial(n_classes=r["K"])
    Y = np.stack([y, y, y]).astype(float)
    Y[1, 0] = 7  # label out of range
    Y[2, 3] = 0.5  # not an integer
    res = jax.vmap(lambda y: jg.fit(X, y, family=family))(Y)
    assert list(np.asarray(res.status)) == [0, 5, 5]
    assert np.isnan(res.coef[1]).all()
    one = jg.fit(X, y, family=family)
    np.testing.assert_allclose(res.coef[0], one.coef, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("y", "kwargs", "message"),
    [
        (np.array([0, 1, 3, 1]), {"n_classes": 3}, "class labels 0..2"),
        (np.array([0, 1, 1.5, 1]), {}, "integer class labels"),
        (np.array([-1, 1, 0, 1]), {}, "integer class labels"),
        (np.zeros(4), {}, "at least 2"),
        (np.array([[1, -1], [1, 2], [0, 1], [3, 0]]), {}, "non-negative"),
        (np.ones((4, 3)), {"n_classes": 2}, "n_classes=2"),
        (np.array([0, 1, np.nan, 1]), {}, "NaN"),
    ],
)
def test_eager_validation(y, kwargs, message):
    X = jg.add_intercept(np.arange(4.0))
    with pytest.raises(ValueError, match=message):
        jg.fit(X, y, family=jg.Multinomial(**kwargs))


def test_validation_of_options():
    X = jg.add_intercept(np.arange(4.0))
    y = np.array([0, 1, 2, 1])
    with pytest.raises(ValueError, match="offset"):
        jg.fit(X, y, family=jg.Multinomial(), offset=np.zeros(4))
    with pytest.raises(ValueError, match="n_classes"):
        jax.jit(lambda y: jg.fit(X, y, family=jg.Multinomial()).coef)(y)
    with pytest.raises(ValueError, match="n_classes"):
        jg.Multinomial(n_classes=1)
    with pytest.raises(ValueError, match="baseline-category"):
        jg.Multinomial(link=jg.links.Probit())
    with pytest.raises(ValueError, match="weights"):
        jg.fit(X, y, family=jg.Multinomial(), weights=np.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jg.ConvergenceWarning)
        res = jg.fit(X, y, family="multinomial")
    with pytest.raises(ValueError, match="Multinomial"):
        res.residuals()
