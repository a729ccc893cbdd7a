"""Elastic-net fits, paths and cross-validation against R's glmnet.

References: tests/reference/glmnet_paths.json and glmnet_cv.json, made by
tests/reference/make_glmnet_reference.R (glmnet 4.1-6, thresh = 1e-14) on the
shipped mtcars (gaussian), infert (binomial) and Insurance (poisson with the
offset log(Holders)) data; alpha 1, 0.5 and 0, standardize on and off, weights.

Tolerances, and why:
- lambdas: the default sequence is computed the same way: 1e-11 relative.
- coefficients: our solutions pass a KKT check at 1e-8 (standardised units)
  and reach a lower objective than glmnet's (``test_objective_not_above_glmnet``);
  glmnet's own coordinate descent stops ~1e-5 short on mtcars' correlated
  columns (its gaussian rule is on the objective, not the KKT conditions).  So
  the coefficients are compared on the standardised scale (coef x sd), where
  they agree to 3e-5 (gaussian, mtcars) and 3e-6 (binomial, poisson), and the
  deviances to 1e-6 relative.  MASS's housing table with every interaction up
  to third order (59 columns, 72 rows: wide enough for the path's active-set
  stages) is as hard for glmnet: 1.2e-5 and deviances 6e-6 (1e-7 of the null
  deviance) near saturation, with our objective again the lower.
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg

REF = Path(__file__).parent / "reference"
PATHS = json.loads((REF / "glmnet_paths.json").read_text())["cases"]
CVS = json.loads((REF / "glmnet_cv.json").read_text())["cases"]
FAMILIES = {"gaussian": jg.Gaussian, "binomial": jg.Binomial, "poisson": jg.Poisson}
COEF_TOL = {"gaussian": 3e-5, "binomial": 3e-6, "poisson": 3e-6}
CASE_COEF_TOL = {"poisson_housing_a1": 2e-5, "poisson_housing_a05_w_nostd": 2e-5}


def _data(case):
    X = np.array(case["X"], dtype=float)
    y = np.array(case["y"], dtype=float)
    w = np.array(case["weights"], dtype=float)
    offset = np.array(case["offset"], dtype=float) if case["has_offset"] else None
    return X, y, w, offset


def _sd(X, w, standardize):
    if not standardize:
        return np.ones(X.shape[1])
    mean = w @ X / w.sum()
    return np.sqrt(w @ (X - mean) ** 2 / w.sum())


_PATH_CACHE: dict = {}


def _path(name):
    if name not in _PATH_CACHE:
        case = PATHS[name]
        X, y, w, offset = _data(case)
        _PATH_CACHE[name] = jg.fit_path(
            X, y, FAMILIES[case["family"]](), alpha=case["alpha"],
            standardize=case["standardize"], weights=w, offset=offset,
            n_lambda=len(case["lambda"]),
        )  # fmt: skip
    return _PATH_CACHE[name]


@pytest.mark.parametrize("name", list(PATHS))
def test_path_matches_glmnet(name):
    case = PATHS[name]
    X, _, w, _ = _data(case)
    res = _path(name)
    np.testing.assert_allclose(res.lambdas, case["lambda_default"], rtol=1e-11)
    assert np.all(np.asarray(res.status) == jg.Status.SUCCESS)
    sd = _sd(X, w, case["standardize"])
    beta = np.array(case["beta"])
    scale = max(1.0, np.abs(beta * sd).max())
    tol = CASE_COEF_TOL.get(name, COEF_TOL[case["family"]])
    np.testing.assert_allclose(np.asarray(res.coef) * sd, beta * sd, atol=tol * scale)
    np.testing.assert_allclose(res.intercept, case["a0"], atol=10 * tol * scale)
    # (1e-7 of the null deviance where a near-saturated fit's is small)
    np.testing.assert_allclose(
        res.deviance, case["deviance"], rtol=1e-6, atol=1e-7 * case["nulldev"]
    )
    np.testing.assert_allclose(res.null_deviance, case["nulldev"], rtol=1e-9)
    # df: the same zeros, except where glmnet's coefficient is within rounding
    # of the boundary (its first lambda is lambda_max exactly).
    ours = np.asarray(res.coef) != 0
    theirs = beta != 0
    assert np.all((ours == theirs) | (np.abs(np.asarray(res.coef)) * sd < 1e-8))


@pytest.mark.parametrize("strong_rule", [True, False])
@pytest.mark.parametrize("name", ["poisson_housing_a1", "poisson_housing_a05_w_nostd"])
def test_active_set_stages_match_glmnet(name, strong_rule, monkeypatch):
    """The path's restricted stages, made small (4, 8, 16 columns of 60), with
    and without the strong rule (without it, the KKT rounds find every column
    that enters), reach glmnet's solutions and the default path's."""
    from jaxglm._penalized import path, stages

    assert stages.stage_capacities(60, False) == (16,)
    assert stages.stage_capacities(60, True) == ()
    monkeypatch.setattr(stages, "MIN_CAPACITY", 4)
    assert stages.stage_capacities(60, False) == (4, 8, 16)
    if not strong_rule:  # every entering column is then found by the KKT test
        monkeypatch.setattr(stages, "strong_set", lambda score, *_: score != score)

    @functools.wraps(path.path_traced)
    def traced(*args, **kwargs):  # a new function: no cached trace
        return path.path_traced(*args, **kwargs)

    fresh = jax.jit(traced, static_argnames=("n_lambda", "standardize", "intercept"))
    monkeypatch.setattr(path, "_path_compiled", fresh)
    handed_on = []
    full_stage = stages._full_stage

    def spy(problem, fits):
        jax.debug.callback(lambda i: handed_on.append(int(i)), fits.index)
        return full_stage(problem, fits)

    monkeypatch.setattr(stages, "_full_stage", spy)
    case = PATHS[name]
    X, y, w, _ = _data(case)
    res = jg.fit_path(
        X, y, jg.Poisson(), alpha=case["alpha"], standardize=case["standardize"],
        weights=w, n_lambda=len(case["lambda"]),
    )  # fmt: skip
    jax.effects_barrier()
    # The stages solved the start of the path (more of it without the rule).
    assert handed_on[0] >= (3 if strong_rule else 6), handed_on
    assert np.all(np.asarray(res.status) == jg.Status.SUCCESS)
    sd = _sd(X, w, case["standardize"])
    beta = np.array(case["beta"])
    scale = max(1.0, np.abs(beta * sd).max())
    tol = CASE_COEF_TOL[name]
    np.testing.assert_allclose(np.asarray(res.coef) * sd, beta * sd, atol=tol * scale)
    np.testing.assert_allclose(
        res.deviance, case["deviance"], rtol=1e-6, atol=1e-7 * case["nulldev"]
    )
    default = _path(name)
    np.testing.assert_allclose(
        np.asarray(res.coef) * sd, np.asarray(default.coef) * sd, atol=1e-6 * scale
    )


def test_path_derivative_matches_finite_differences():
    """d coef / d y through fit_path, at a lambda its stages solve and at one
    the full solver does (the implicit derivative on the active set)."""
    case = PATHS["poisson_housing_a1"]
    X, y, _, _ = _data(case)
    lambdas = np.array(case["lambda"])[[1, 20]]

    def coef(y):
        return jg.fit_path(X, y, jg.Poisson(), lambdas=lambdas).coef

    direction = np.where(y > 0, np.random.default_rng(0).standard_normal(y.size), 0.0)
    _, tangent = jax.jvp(coef, (jnp.asarray(y),), (jnp.asarray(direction),))
    h = 1e-6
    fd = (np.asarray(coef(y + h * direction)) - np.asarray(coef(y - h * direction))) / (
        2 * h
    )
    assert np.abs(fd).max() > 1e-3
    np.testing.assert_allclose(tangent, fd, atol=1e-6 * np.abs(fd).max())


def _objective(case, lam, intercept, coef):
    """glmnet's objective (gaussian ridge quirk included), on the original scale."""
    X, y, w, offset = _data(case)
    fam = FAMILIES[case["family"]]()
    eta = intercept + X @ coef + (0.0 if offset is None else offset)
    mu = np.asarray(fam.link.inverse(jnp.asarray(eta)))
    dev = float(fam.deviance(jnp.asarray(y), jnp.asarray(mu), jnp.asarray(w)))
    sd = _sd(X, w, case["standardize"])
    b = coef * sd
    ridge = 1.0
    if case["family"] == "gaussian":
        ybar = w @ y / w.sum()
        ridge = 1.0 / np.sqrt(w @ (y - ybar) ** 2 / w.sum())
    a = case["alpha"]
    penalty = lam * ((1 - a) / 2 * ridge * np.sum(b**2) + a * np.sum(np.abs(b)))
    return dev / 2 / w.sum() + penalty


@pytest.mark.parametrize(
    "name",
    ["gaussian_mtcars_a1", "binomial_infert_a05_w", "poisson_housing_a1",
     "poisson_housing_a05_w_nostd"],
)  # fmt: skip
def test_objective_not_above_glmnet(name):
    case = PATHS[name]
    res = _path(name)
    for k in range(0, len(case["lambda"]), 3):
        lam = case["lambda"][k]
        ours = _objective(case, lam, float(res.intercept[k]), np.asarray(res.coef[k]))
        theirs = _objective(case, lam, case["a0"][k], np.array(case["beta"][k]))
        assert ours <= theirs + 1e-12 * abs(theirs), (k, ours, theirs)


@pytest.mark.parametrize(
    "name",
    ["binomial_infert_a1", "binomial_infert_a05_w", "poisson_insurance_a1_offset",
     "poisson_insurance_a05_offset_w_nostd", "binomial_infert_a0_nostd"],
)  # fmt: skip
def test_kkt_at_every_solution(name):
    """Subgradient conditions of glmnet's objective, on the original scale."""
    case = PATHS[name]
    X, y, w, offset = _data(case)
    fam = FAMILIES[case["family"]]()
    res = _path(name)
    sd = _sd(X, w, case["standardize"])
    a = case["alpha"]
    for k, lam in enumerate(np.asarray(res.lambdas)):
        coef = np.asarray(res.coef[k])
        eta = float(res.intercept[k]) + X @ coef + (0.0 if offset is None else offset)
        mu = np.asarray(fam.link.inverse(jnp.asarray(eta)))
        r = w * (y - mu)  # canonical links: the score is X'w(y - mu)
        assert abs(r.sum()) / w.sum() < 1e-8  # the intercept's equation
        grad = X.T @ r / w.sum() - lam * (1 - a) * sd**2 * coef
        bound = lam * a * sd
        active = coef != 0
        tol = 1e-6 * sd
        assert np.all(np.abs(grad - bound * np.sign(coef))[active] <= tol[active])
        assert np.all((np.abs(grad) <= bound + tol)[~active])


def test_path_endpoints():
    """All zero at lambda_max; the unpenalised glm at lambda = 0 (n > p)."""
    case = PATHS["poisson_insurance_a1_offset"]
    X, y, w, offset = _data(case)
    res = _path("poisson_insurance_a1_offset")
    assert int(res.df[0]) == 0
    zero = jg.fit_path(X, y, jg.Poisson(), lambdas=[0.0], offset=offset)
    glm = jg.fit(jg.add_intercept(X), y, jg.Poisson(), offset=offset)
    np.testing.assert_allclose(zero.coef[0], glm.coef[1:], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(zero.intercept[0], glm.coef[0], rtol=1e-7)
    np.testing.assert_allclose(zero.deviance[0], glm.deviance, rtol=1e-10)


@pytest.mark.parametrize(
    "name", ["poisson_insurance_a05_offset_w_nostd", "gaussian_mtcars_a05_w_nostd"]
)
def test_fit_l1_is_glmnet_unstandardized(name):
    """jg.fit(l1 = W lambda alpha, l2 = W lambda (1 - alpha)) is glmnet's
    standardize = FALSE solution (gaussian: l2 divided by sd(y), its quirk)."""
    case = PATHS[name]
    X, y, w, offset = _data(case)
    total, a = w.sum(), case["alpha"]
    ridge = 1.0
    if case["family"] == "gaussian":
        ridge = 1.0 / np.sqrt(w @ (y - w @ y / total) ** 2 / total)
    for k in (3, 12, 29):
        lam = case["lambda"][k]
        res = jg.fit(
            jg.add_intercept(X), y, FAMILIES[case["family"]](), weights=w,
            offset=offset, l1=total * lam * a, l2=total * lam * (1 - a) * ridge,
        )  # fmt: skip
        assert int(res.status) == jg.Status.SUCCESS
        ref = np.r_[case["a0"][k], case["beta"][k]]
        scale = max(1.0, np.abs(ref).max())
        np.testing.assert_allclose(res.coef, ref, atol=3e-5 * scale)
        np.testing.assert_array_equal(np.asarray(res.coef[1:]) == 0, ref[1:] == 0)
        np.testing.assert_allclose(res.deviance, case["deviance"][k], rtol=1e-6)


def _folds_in_parallel(monkeypatch, parallel: bool):
    """Run cv_path's folds as one vmap (an accelerator's default) or one after
    another (a CPU's), whatever this machine is."""
    from jaxglm._penalized import cv

    if parallel == cv.folds_in_parallel():
        return
    monkeypatch.setattr(cv, "folds_in_parallel", lambda: parallel)

    @functools.wraps(cv.cv_traced)
    def traced(*args, **kwargs):  # a new function: no cached trace
        return cv.cv_traced(*args, **kwargs)

    static = ("n_folds", "n_lambda", "standardize", "intercept")
    monkeypatch.setattr(cv, "_cv_compiled", jax.jit(traced, static_argnames=static))


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize(
    "name", ["cv_binomial_infert_a1", "cv_poisson_insurance_a05_offset_w"]
)
def test_cv_matches_cv_glmnet(name, parallel, monkeypatch):
    """Folds one after another (a CPU's default) and as one vmap (an
    accelerator's)."""
    _folds_in_parallel(monkeypatch, parallel)
    case = CVS[name]
    X, y, w, offset = _data(case)
    res = jg.cv_path(
        X, y, FAMILIES[case["family"]](), alpha=case["alpha"], weights=w,
        offset=offset, n_lambda=len(case["lambda"]),
        foldid=np.array(case["foldid"]) - 1,
    )  # fmt: skip
    np.testing.assert_allclose(res.lambdas, case["lambda"], rtol=1e-11)
    np.testing.assert_allclose(res.cvm, case["cvm"], rtol=1e-6)
    np.testing.assert_allclose(res.cvsd, case["cvsd"], rtol=1e-5)
    np.testing.assert_allclose(res.lambda_min, case["lambda_min"], rtol=1e-11)
    np.testing.assert_allclose(res.lambda_1se, case["lambda_1se"], rtol=1e-11)
    assert np.all(np.asarray(res.fold_status) == jg.Status.SUCCESS)


def test_cv_folds_in_parallel_match_one_after_another(monkeypatch):
    """On housing (60 columns: the active-set stages run, under vmap too) the
    two ways of running the folds give the same cross-validation."""
    case = PATHS["poisson_housing_a1"]
    X, y, _, _ = _data(case)
    foldid = np.arange(X.shape[0]) % 4
    serial = jg.cv_path(X, y, jg.Poisson(), foldid=foldid, n_lambda=30)
    _folds_in_parallel(monkeypatch, True)
    batched = jg.cv_path(X, y, jg.Poisson(), foldid=foldid, n_lambda=30)
    assert np.all(np.asarray(batched.fold_status) == np.asarray(serial.fold_status))
    np.testing.assert_allclose(batched.cvm, serial.cvm, rtol=1e-9)
    np.testing.assert_allclose(batched.lambda_min, serial.lambda_min, rtol=1e-12)


# --- jg.fit(l1=...): dispatch, transforms, failures -------------------------------


def _insurance():
    case = PATHS["poisson_insurance_a1_offset"]
    X, y, _, offset = _data(case)
    return jg.add_intercept(X), y, offset


def test_l1_zero_keeps_the_ridge_irls():
    X, y, offset = _insurance()
    base = jg.fit(X, y, jg.Poisson(), offset=offset, l2=1.0)
    same = jg.fit(X, y, jg.Poisson(), offset=offset, l2=1.0, l1=0.0)
    np.testing.assert_array_equal(base.coef, same.coef)
    np.testing.assert_array_equal(base.se, same.se)
    # A traced l1 goes to the penalised solver; at 0 it is the same optimum.
    traced = jax.jit(
        lambda l1: jg.fit(X, y, jg.Poisson(), offset=offset, l2=1.0, l1=l1).coef
    )(0.0)
    np.testing.assert_allclose(traced, base.coef, rtol=1e-7, atol=1e-9)


def test_vmap_over_l1_and_invalid_penalty_status():
    X, y, offset = _insurance()
    l1s = jnp.array([0.5, 5.0, 50.0, -1.0])

    @jax.vmap
    def fits(l1):
        res = jg.fit(X, y, jg.Poisson(), offset=offset, l1=l1)
        return res.coef, res.status

    coefs, status = fits(l1s)
    np.testing.assert_array_equal(status[:3], jg.Status.SUCCESS)
    assert int(status[3]) == jg.Status.INVALID_INPUT
    nonzero = np.sum(np.asarray(coefs[:3]) != 0, axis=1)
    assert nonzero[0] >= nonzero[1] >= nonzero[2]
    for l1, coef in zip(l1s[:3], coefs[:3], strict=True):
        one = jg.fit(X, y, jg.Poisson(), offset=offset, l1=float(l1))
        np.testing.assert_allclose(coef, one.coef, rtol=1e-7, atol=1e-9)


def test_gradient_wrt_penalties_matches_finite_differences():
    """Valid on a fixed active set: the penalties are away from any kink."""
    X, y, offset = _insurance()
    held_out = np.arange(X.shape[0]) % 4 == 0
    train = jnp.asarray(np.where(held_out, 0.0, 1.0))

    def held_out_loss(l1, l2):
        res = jg.fit(X, y, jg.Poisson(), weights=train, offset=offset, l1=l1, l2=l2)
        eta = X @ res.coef + offset
        return jg.loss(jg.Poisson(), eta[held_out], y[held_out])

    l1, l2 = 3.0, 2.0
    grad = jax.grad(held_out_loss, argnums=(0, 1))(l1, l2)
    h = 1e-5
    fd_l1 = (held_out_loss(l1 + h, l2) - held_out_loss(l1 - h, l2)) / (2 * h)
    fd_l2 = (held_out_loss(l1, l2 + h) - held_out_loss(l1, l2 - h)) / (2 * h)
    np.testing.assert_allclose(grad[0], fd_l1, rtol=1e-5)
    np.testing.assert_allclose(grad[1], fd_l2, rtol=1e-5)


def test_per_coefficient_l1_is_a_penalty_factor():
    X, y, offset = _insurance()
    factors = np.ones(X.shape[1])
    factors[3] = 0.0  # coefficient 3 unpenalised
    res = jg.fit(X, y, jg.Poisson(), offset=offset, l1=200.0 * factors)
    assert res.coef[3] != 0
    assert np.sum(np.asarray(res.coef) == 0) >= 1


@pytest.mark.parametrize(
    ("name", "family"),
    [("binomial_infert_a1", jg.Binomial), ("poisson_housing_a1", jg.Poisson)],
)  # housing: 60 columns, so the active-set stages run in float32 too
def test_float32_smoke(name, family):
    case = PATHS[name]
    X, y, _, _ = _data(case)
    with jax.enable_x64(False):
        res = jg.fit_path(
            X.astype(np.float32), y.astype(np.float32), family(), n_lambda=30
        )
        assert res.coef.dtype == jnp.float32
        assert np.all(np.asarray(res.status) == jg.Status.SUCCESS)
    # float32's KKT tolerance is 1e3 epsilons (1.2e-4 per unit of the scaled
    # score), and at a lasso solution the deviance moves at first order with
    # the coefficients (its gradient is 2 l1 sign(b), not 0): a few 1e-4.
    np.testing.assert_allclose(
        res.deviance, case["deviance"], rtol=5e-4, atol=1e-5 * case["nulldev"]
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": -0.1}, "alpha"),
        ({"lambdas": [1.0, -1.0]}, "lambdas"),
        ({"penalty_factor": [1.0, 2.0]}, "penalty_factor"),
        ({"n_lambda": 0}, "n_lambda"),
        ({"lambda_min_ratio": 2.0}, "lambda_min_ratio"),
    ],
)
def test_bad_path_options_raise(kwargs, match):
    X, y, _, _ = _data(PATHS["binomial_infert_a1"])
    with pytest.raises(ValueError, match=match):
        jg.fit_path(X, y, jg.Binomial(), **kwargs)


def test_bad_l1_and_foldid_raise():
    X, y, offset = _insurance()
    with pytest.raises(ValueError, match="l1"):
        jg.fit(X, y, jg.Poisson(), l1=-1.0)
    with pytest.raises(ValueError, match="l1"):
        jg.fit(X, y, jg.Poisson(), l1=np.ones(3))
    with pytest.raises(ValueError, match="foldid"):
        jg.cv_path(X[:, 1:], y, jg.Poisson(), foldid=np.zeros(5, int))
    with pytest.raises(ValueError, match="foldid"):
        jg.cv_path(X[:, 1:], y, jg.Poisson(), foldid=np.zeros(len(y), int))
    with pytest.raises(ValueError, match="l1"):
        jg.fit(X, y[:, None].repeat(3, 1), jg.Multinomial(), l1=1.0)


def test_sklearn_l1_passes_through():
    pytest.importorskip("sklearn")
    X, y, offset = _insurance()
    del offset
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = jg.GLMRegressor(family="poisson", l1=300.0).fit(np.asarray(X[:, 1:]), y)
    direct = jg.fit(X, y, jg.Poisson(), l1=300.0)
    np.testing.assert_allclose(model.coef_, direct.coef[1:], rtol=1e-10)
    assert np.any(model.coef_ == 0)


@pytest.mark.parametrize(
    "name", ["binomial_infert_a05_w", "poisson_insurance_a1_offset"]
)
def test_wide_route_reaches_the_same_optimum(name):
    """The first-order route (taken by shape when p > prox.WIDE_P) and IRLS with
    coordinate descent stop on the same KKT test at the same solution."""
    from jaxglm._penalized.irls import penalized_irls, penalized_start
    from jaxglm._penalized.prox import WIDE_P, proximal_gradient, uses_first_order

    case = PATHS[name]
    X, y, w, offset = _data(case)
    X = jg.add_intercept(X)
    y, w = jnp.asarray(y), jnp.asarray(w)
    offset = jnp.zeros_like(y) if offset is None else jnp.asarray(offset)
    fam = FAMILIES[case["family"]]()
    lam = case["lambda"][10] * float(w.sum())
    l1 = jnp.r_[0.0, jnp.full(X.shape[1] - 1, 0.7 * lam)]
    l2 = jnp.r_[0.0, jnp.full(X.shape[1] - 1, 0.3 * lam)]
    start = penalized_start(fam, X, y, w, offset)
    irls = penalized_irls(fam, X, y, w, offset, l1, l2, True, 1e-8, 100, *start)
    prox = proximal_gradient(fam, X, y, w, offset, l1, l2, True, 1e-8, 100, start[0])
    assert int(irls.status) == int(prox.status) == jg.Status.SUCCESS
    scale = max(1.0, float(jnp.abs(irls.coef).max()))
    np.testing.assert_allclose(prox.coef, irls.coef, atol=1e-5 * scale)
    np.testing.assert_array_equal(prox.coef == 0, irls.coef == 0)
    assert not uses_first_order(X)
    assert uses_first_order(jnp.zeros((2, WIDE_P + 1)))
