"""``jg.fit_negbin`` / ``jg.glm_nb`` (theta estimated) against R's ``MASS::glm.nb``.

References: ``tests/reference/glmnb_*.json`` from ``make_negbin_reference.R``.

Tolerances:
- coef, se, z, cov, deviance, null deviance, twologlik, AIC, BIC, mu: rtol 1e-6
  (atol 1e-6 se for coef, 1e-6 for z), as the glm() references; p-values rtol
  2e-6 max(1, z^2). Measured: at most 2e-8 (quine, sqrt link).
- theta: rtol 1e-8. R's fits at epsilon 1e-12 are within ``polish_rel_diff``
  (at most 5e-10) of the joint MLE; measured at most 5e-10.
- SE.theta: rtol 1e-6 against ``SE_theta_at_mle`` (theta.ml's information at
  the final theta and means); 2e-5 against R's printed ``SE.theta``, which
  MASS evaluates one Newton step before the end (measured 7e-6).
- df_resid and nobs exactly.
"""

from __future__ import annotations

import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
import refdata

CASES = [
    "quine",
    "quine_sqrt",
    "quine_weighted",
    "ships_offset",
    "warpbreaks",
    "sim_large_theta",
]
BOUNDARY_CASES = ["sim_poisson", "ships_poisson"]


def _data(name):
    ref = refdata.load(f"glmnb_{name}")
    X = np.asarray(ref["X"], dtype=np.float64)
    y = np.asarray(ref["y"], dtype=np.float64)
    weights = np.asarray(ref["weights"], np.float64) if ref["has_weights"] else None
    offset = np.asarray(ref["offset"], np.float64) if ref["has_offset"] else None
    return ref, X, y, weights, offset


def _fit(name, **options):
    ref, X, y, weights, offset = _data(name)
    res = jg.fit_negbin(
        X, y, link=ref["link"], weights=weights, offset=offset, **options
    )
    return ref, res


def _close(actual, desired, rtol, atol=0.0, what=""):
    """``|actual - desired| <= atol + rtol |desired|`` elementwise (atol may be
    an array, e.g. scaled by each coefficient's standard error)."""
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    error = np.abs(actual - desired)
    bound = atol + rtol * np.abs(desired)
    worst = np.max(error / np.maximum(bound, 1e-300))
    assert np.all(error <= bound), f"{what}: error up to {worst:.3g} x the bound"


@pytest.mark.parametrize("name", CASES)
def test_matches_glm_nb(name):
    ref, res = _fit(name)
    r = ref["rnb"]
    assert int(res.status) == jg.Status.SUCCESS and bool(res.converged)
    se = np.asarray(r["se"])
    _close(res.coef, r["coef"], 1e-6, 1e-6 * se, "coef")
    _close(res.se, se, 1e-6, what="se")
    _close(res.z, r["z"], 1e-6, 1e-6, "z")
    z2 = np.maximum(1.0, np.asarray(r["z"]) ** 2)
    p = np.asarray(r["pvalues"])
    np.testing.assert_array_less(
        np.abs(np.asarray(res.pvalues) - p), 2e-6 * z2 * p + 1e-300
    )
    _close(res.cov, r["cov"], 1e-6, 1e-6 * np.outer(se, se), "cov")
    _close(res.theta, r["theta"], 1e-8, what="theta")
    _close(res.theta_se, r["SE_theta_at_mle"], 1e-6, what="SE.theta at the MLE")
    _close(res.theta_se, r["SE.theta"], 2e-5, what="R's SE.theta")
    _close(2.0 * res.loglik, r["twologlik"], 1e-6, what="twologlik")
    _close(res.loglik, r["loglik"], 1e-6, what="logLik")
    _close(res.aic, r["aic"], 1e-6, what="AIC")
    _close(res.bic, r["bic"], 1e-6, what="BIC")
    _close(res.deviance, r["deviance"], 1e-6, what="deviance")
    _close(res.null_deviance, r["null_deviance"], 1e-6, what="null deviance")
    _close(res.mu, r["mu"], 1e-6, what="mu")
    assert int(res.df_resid) == r["df_resid"]
    assert int(res.df_null) == r["df_null"]
    assert int(res.rank) == r["rank"]
    assert int(res.nobs) == r["nobs"]
    assert float(res.scale) == 1.0
    # The family is NegativeBinomial at the ML theta, with the fit's link.
    assert isinstance(res.family, jg.NegativeBinomial)
    _close(res.family.alpha, 1.0 / r["theta"], 1e-8, what="alpha")
    assert type(res.family.link).__name__.lower() == ref["link"]
    # MASS alternates until its change criteria are met; the orthogonality of
    # coef and theta makes that a few rounds.
    assert 1 <= int(res.n_iter) <= r["alternations"]


def test_r_defaults_stop_short_of_what_we_reach():
    # glm.nb at its default control is within about 1e-8 of the tight fit;
    # our default tol gives the tight answer.
    ref, res = _fit("quine")
    _close(res.theta, ref["rnb_default"]["theta"], 1e-7)
    _close(res.coef, ref["rnb_default"]["coef"], 1e-6, 1e-7)


@pytest.mark.parametrize("name", BOUNDARY_CASES)
def test_theta_to_infinity_is_flagged(name):
    # R warns "iteration limit reached" / stops with an error on these data
    # (ref["rnb"], ref["rnb_default"]); we stop at theta_max with MAX_ITER.
    ref, X, y, weights, offset = _data(name)
    with pytest.warns(jg.ConvergenceWarning, match="theta grows without bound"):
        res = jg.fit_negbin(X, y, weights=weights, offset=offset)
    assert int(res.status) == jg.Status.MAX_ITER and not bool(res.converged)
    assert np.isinf(float(res.theta)) and np.isnan(float(res.theta_se))
    assert 0 < float(res.family.alpha) <= 1e-8
    with pytest.raises(RuntimeError, match="MAX_ITER"):
        jg.check(res)
    # What is reported is the Poisson limit, which R's glm(poisson) gives.
    poisson = ref["poisson"]
    _close(res.coef, poisson["coef"], 1e-6, 1e-6 * np.asarray(poisson["se"]))
    _close(res.se, poisson["se"], 1e-6)
    _close(res.deviance, poisson["deviance"], 1e-6)
    _close(2.0 * res.loglik, poisson["twologlik"], 1e-6)
    text = jg.summary(res)
    assert "Theta:  Inf" in text and "Warning while fitting theta" in text


def test_summary_prints_as_summary_negbin():
    ref, res = _fit("quine")
    text = jg.summary(res, names=ref["colnames"])
    # R: summary(glm.nb(Days ~ Eth + Sex + Age + Lrn, data = quine))
    assert "Family: Negative Binomial(1.2749)   Link: log" in text
    assert "(Dispersion parameter for Negative Binomial(1.2749) family taken" in text
    lines = text.splitlines()
    assert "              Theta:  1.275" in lines
    assert "          Std. Err.:  0.161" in lines
    assert " 2 x log-likelihood:  -1093.151" in lines
    assert "AIC: 1109.2" in lines


def test_summary_of_other_fits_has_no_theta():
    ref, X, y, _, _ = _data("quine")
    res = jg.fit(X, y, jg.NegativeBinomial(alpha=1.0 / ref["rnb"]["theta"]))
    text = jg.summary(res)
    assert "Theta:" not in text and "Negative Binomial(alpha = " in text
    assert np.isnan(float(res.theta))


def test_formula_route_uses_r_names():
    pytest.importorskip("formulaic")
    ref, X, y, _, _ = _data("quine")
    quine = jg.datasets.load("quine")
    res = jg.glm_nb("Days ~ Eth + Sex + Age + Lrn", quine)
    assert list(res.names) == ref["colnames"]
    r = ref["rnb"]
    _close(res.coef, r["coef"], 1e-6, 1e-6 * np.asarray(r["se"]))
    _close(res.theta, r["theta"], 1e-8)
    assert "              Theta:  1.275" in jg.summary(res).splitlines()


def test_formula_route_offset_and_link():
    pytest.importorskip("formulaic")
    ref = refdata.load("glmnb_quine_sqrt")
    res = jg.glm_nb("Days ~ Eth + Sex + Age + Lrn", jg.datasets.load("quine"),
                    link="sqrt")  # fmt: skip
    _close(res.coef, ref["rnb"]["coef"], 1e-6, 1e-6 * np.asarray(ref["rnb"]["se"]))
    ref = refdata.load("glmnb_ships_offset")
    ships = jg.datasets.load("ships")
    used = {key: value[ships["service"] > 0] for key, value in ships.items()}
    res = jg.glm_nb("incidents ~ type + C(period) + offset(np.log(service))", used)
    r = ref["rnb"]
    _close(res.coef, r["coef"], 1e-6, 1e-6 * np.asarray(r["se"]))
    _close(res.null_deviance, r["null_deviance"], 1e-6)


def _simulated_batch():
    """Twelve responses on sim_large_theta's design, thetas from 0.5 to 200,
    one Poisson draw (theta -> infinity) and one invalid (negative) y."""
    _, X, _, _, _ = _data("sim_large_theta")
    rng = np.random.default_rng(7)
    mu = np.exp(0.8 + 0.4 * X[:, 1])
    thetas = np.geomspace(0.5, 200.0, 12)
    Y = np.stack([rng.negative_binomial(t, t / (t + mu)) for t in thetas])
    Y = Y.astype(np.float64)
    Y[10] = rng.poisson(mu)
    Y[11, 5] = -1.0
    return X, Y


def test_vmap_each_fit_its_own_theta():
    X, Y = _simulated_batch()
    batch = jax.vmap(lambda y: jg.fit_negbin(X, y))(Y)
    status = np.asarray(batch.status)
    assert status[11] == jg.Status.INVALID_INPUT
    for i in range(11):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jg.ConvergenceWarning)
            one = jg.fit_negbin(X, Y[i])
        assert status[i] == int(one.status), i
        _close(batch.coef[i], one.coef, 1e-9, 1e-12, f"coef {i}")
        _close(batch.theta[i], one.theta, 1e-8, what=f"theta {i}")
        _close(batch.se[i], one.se, 1e-8, what=f"se {i}")
    thetas = np.asarray(batch.theta)[:10]
    assert np.all(status[:10] == jg.Status.SUCCESS)
    assert np.all(np.diff(np.log(thetas)) > -1.0) and thetas[-1] / thetas[0] > 30
    # A Poisson draw whose likelihood rises to theta = infinity, or a finite theta.
    assert status[10] == jg.Status.SUCCESS or np.isinf(float(batch.theta[10]))


def test_jit_and_no_retrace():
    ref, X, y, _, _ = _data("sim_large_theta")
    traces = []

    @jax.jit
    def theta_of(y):
        traces.append(1)
        return jg.fit_negbin(X, y).theta

    _close(theta_of(jnp.asarray(y)), ref["rnb"]["theta"], 1e-8)
    theta_of(jnp.asarray(y[::-1].copy()))
    assert len(traces) == 1


def test_gradients_match_finite_differences():
    ref, X, y, _, _ = _data("warpbreaks")
    weights = np.ones_like(y)

    def summary_stats(y, weights):
        res = jg.fit_negbin(X, y, weights=weights, tol=1e-12)
        return jnp.concatenate(
            [res.coef, jnp.stack([jnp.log(res.theta), res.theta_se, res.deviance])]
        )

    jac_y = jax.jacfwd(summary_stats)(jnp.asarray(y), jnp.asarray(weights))
    grad_w = jax.grad(lambda w: jnp.log(jg.fit_negbin(X, y, weights=w).theta))(
        jnp.asarray(weights)
    )
    h = 1e-4
    for i in (0, 17, 40):
        step = np.zeros_like(y)
        step[i] = h
        fd = (summary_stats(y + step, weights) - summary_stats(y - step, weights)) / (
            2 * h
        )
        _close(jac_y[:, i], fd, 1e-5, 1e-7, f"d/dy_{i}")
        fd_w = (
            summary_stats(y, weights + step)[X.shape[1]]
            - summary_stats(y, weights - step)[X.shape[1]]
        ) / (2 * h)
        _close(grad_w[i], fd_w, 1e-5, 1e-8, f"dlog(theta)/dw_{i}")


def test_float32_smoke():
    ref = refdata.load("glmnb_quine")
    r = ref["rnb"]
    with jax.enable_x64(False):
        X = np.asarray(ref["X"], np.float32)
        y = np.asarray(ref["y"], np.float32)
        res = jg.fit_negbin(X, y)
        assert res.coef.dtype == jnp.float32 and res.theta.dtype == jnp.float32
        assert int(res.status) == jg.Status.SUCCESS
        _close(res.coef, r["coef"], 2e-3, 2e-3 * np.asarray(r["se"]))
        _close(res.theta, r["theta"], 2e-3)
        _close(res.theta_se, r["SE.theta"], 5e-3)
        _close(2.0 * res.loglik, r["twologlik"], 1e-4)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda X, y, kw: (X, np.where(np.arange(len(y)) == 3, -1.0, y), kw),
         r"y must be non-negative counts .*NegativeBinomial"),
        (lambda X, y, kw: (X, np.where(np.arange(len(y)) == 3, np.nan, y), kw),
         r"y contains 1 NaN"),
        (lambda X, y, kw: (X, y, {**kw, "weights": -np.ones(len(y))}),
         r"weights must be non-negative"),
        (lambda X, y, kw: (X, y[:-1], kw), r"y has \d+ values but X has"),
        (lambda X, y, kw: (X, y, {**kw, "link": "logit"}),
         r"cannot use the Logit link"),
        (lambda X, y, kw: (X, y, {**kw, "link": "nonsense"}),
         r"not a known link name"),
        (lambda X, y, kw: (X, y, {**kw, "max_iter": 0}),
         r"max_iter must be at least 1"),
        (lambda X, y, kw: (X, y, {**kw, "offset": np.ones(3)}),
         r"offset has shape \(3,\)"),
    ],
)  # fmt: skip
def test_eager_validation(change, match):
    _, X, y, _, _ = _data("warpbreaks")
    X, y, kwargs = change(X, y, {})
    with pytest.raises((ValueError, TypeError), match=match):
        jg.fit_negbin(X, y, **kwargs)


def test_reference_files_are_not_glm_references():
    # refdata.names() must skip these (their key is "rnb", not "r").
    assert not [n for n in refdata.names() if n.startswith("glmnb_")]
    for name in CASES + BOUNDARY_CASES:
        with open(refdata.REFERENCE_DIR / f"glmnb_{name}.json") as handle:
            assert "rnb" in json.load(handle)


def test_all_zero_counts_fail_as_separation():
    # No count is positive: the Poisson start already runs its means to 0.
    _, X, y, _, _ = _data("warpbreaks")
    with pytest.warns(jg.ConvergenceWarning, match="SEPARATION"):
        res = jg.fit_negbin(X, np.zeros_like(y))
    assert int(res.status) == jg.Status.SEPARATION


def test_digamma_difference_series_is_seamless():
    from jaxglm._negbin.theta import _digamma_difference

    theta = jnp.asarray([1.0, 50.0, 99.999999, 100.0, 100.000001, 500.0, 2e3])
    for y in (0.0, 1.0, 7.5, 40.0, 1000.0):
        got = _digamma_difference(theta, jnp.full_like(theta, y))
        direct = jax.scipy.special.digamma(theta + y) - jax.scipy.special.digamma(theta)
        # The direct difference loses about eps psi(theta) / (y / theta).
        _close(got, direct, 1e-12, 1e-15 * np.asarray(theta), f"y = {y}")
    # Where the direct difference has cancelled away, the series still has it.
    big = jnp.asarray(1e12)
    _close(_digamma_difference(big, jnp.asarray(3.0)), 3.0 / (1e12 + 1.0), 1e-12)
