"""jaxglm against R's ``glm()`` on real data (frozen in ``tests/reference/*.json``).

R fitted each case at ``glm.control(epsilon = 1e-14)``, and so do we (``tol=1e-14``,
the same relative-deviance rule): at 1e-12 a slowly converging non-canonical fit
(Tweedie p=1.8, log link) still stops 1.7e-6 se short of the optimum, more than the
tolerance below. We compare every statistic R reports.

Tolerances (tests/reference/README.md):

- coef, conf_int: rtol 1e-6, atol 1e-6 * se -- a coefficient near zero is judged
  on the scale of its own uncertainty.
- se: rtol 1e-6, atol 1e-6 * se (i.e. effectively rtol 2e-6).
- z: rtol 1e-6, atol 1e-6 -- z is already in units of se.
- pvalues: rtol 2e-6 * max(1, z^2), because d log p / dz is about z, so a z that is
  right to 1e-6 moves p by about z^2 * 1e-6 relatively; p-values that underflow
  (below 1e-300) compare as equal.
- cov: rtol 1e-6, atol 1e-6 * se_i * se_j -- the scale of each entry.
- eta, predictions of eta: rtol 1e-6, atol 1e-6 * se(eta) (delta method from R's
  cov), so linear predictors near zero are judged on their own uncertainty.
- mu: rtol 1e-6, atol 1e-6 * se(eta) * |dmu/deta|.
- deviance, null_deviance, scale, loglik, aic, bic: rtol 1e-6 (R: NA for Tweedie,
  not checked); BIC may count zero-weight rows in n or not (README).
- df_resid, rank, nobs: exact.
- float32 (cases with kappa_weighted_X <= 100, default settings): coef rtol 2e-3
  + 2e-3 * se, se 5e-3, deviance 1e-3, scale and mu 2e-3, loglik 1e-4 + 0.01.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
import refdata
from cases import np_link
from checks import assert_close

NAMES = refdata.names()
PREDICT_NAMES = refdata.names(lambda d: "predict" in d)
DEFAULT_CONTROL_NAMES = refdata.names(lambda d: "r_default_control" in d)
FLOAT32_NAMES = refdata.names(lambda d: d["r"].get("kappa_weighted_X", np.inf) <= 100)
BOOT_NAMES = refdata.names(lambda d: "boot" in d and "idx" in d["boot"])
ALPHA_GRID = [
    (name, i)
    for name in refdata.names(lambda d: "alpha_grid" in d)
    for i in range(len(refdata.load(name)["alpha_grid"]))
]
POWER_GRID = [
    (name, i)
    for name in refdata.names(lambda d: "power_grid" in d)
    for i in range(len(refdata.load(name)["power_grid"]))
]

TIGHT_TOL = 1e-14  # R's references use glm.control(epsilon = 1e-14)
RTOL = 1e-6


def _family(ref: dict, **overrides):
    params = {k: v for k, v in ref["family_params"].items() if k in ("alpha", "power")}
    params.update(overrides)
    link = getattr(jg.links, ref["link"])()
    return getattr(jg, ref["family"])(**params, link=link)


@functools.cache
def _fit(name: str):
    ref = refdata.load(name)
    X, y, weights, offset = refdata.arrays(ref)
    return jg.fit(
        X, y, family=_family(ref), weights=weights, offset=offset, tol=TIGHT_TOL
    )


def _np(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _close(actual, expected, *, rtol=RTOL, atol=0.0, what=""):
    assert_close(actual, expected, rtol=rtol, atol=atol, what=what)


def _se_eta(ref: dict, X: np.ndarray) -> np.ndarray:
    """Standard error of X @ coef from R's covariance (delta method)."""
    cov = _np(ref["r"]["cov"])
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, cov, X), 0.0))


def _dmu_deta(ref: dict, eta: np.ndarray) -> np.ndarray:
    return np.abs(np_link(ref["link"]).inverse_deriv(eta))


def _is_tweedie(ref: dict) -> bool:
    return ref["family"] == "Tweedie"


# --------------------------------------------------------------------------------
# The main fit, field by field
# --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_converged(name):
    res = _fit(name)
    assert bool(res.converged), f"{name}: status={int(res.status)}"
    assert int(res.status) == int(jg.Status.SUCCESS)


@pytest.mark.parametrize("name", NAMES)
def test_coef_se_z(name):
    r = refdata.load(name)["r"]
    res = _fit(name)
    se = _np(r["se"])
    _close(res.coef, r["coef"], atol=1e-6 * se, what=f"{name}: coef")
    _close(res.se, se, atol=1e-6 * se, what=f"{name}: se")
    _close(res.z, r["z"], atol=1e-6, what=f"{name}: z")


@pytest.mark.parametrize("name", NAMES)
def test_pvalues(name):
    r = refdata.load(name)["r"]
    res = _fit(name)
    z = _np(r["z"])
    expected = _np(r["pvalues"])
    rtol = 2e-6 * np.maximum(1.0, z**2)
    actual = _np(res.pvalues)
    err = np.abs(actual - expected)
    ok = err <= rtol * np.abs(expected) + 1e-300
    assert ok.all(), (
        f"{name}: pvalues ({r['pvalue_dist']}) differ at {np.flatnonzero(~ok)}: "
        f"ours {actual[~ok]} vs R {expected[~ok]}"
    )


@pytest.mark.parametrize("name", NAMES)
def test_cov(name):
    r = refdata.load(name)["r"]
    res = _fit(name)
    se = _np(r["se"])
    _close(res.cov, r["cov"], atol=1e-6 * np.outer(se, se), what=f"{name}: cov")


@pytest.mark.parametrize("level", [0.95, 0.90])
@pytest.mark.parametrize("name", NAMES)
def test_conf_int(name, level):
    r = refdata.load(name)["r"]
    res = _fit(name)
    expected = _np(r["conf_int_95" if level == 0.95 else "conf_int_90"])
    se = _np(r["se"])
    actual = _np(res.conf_int(level))
    assert actual.shape == expected.shape
    _close(actual, expected, atol=1e-6 * se[:, None], what=f"{name}: conf_int")


@pytest.mark.parametrize("name", NAMES)
def test_deviance_null_deviance_scale(name):
    r = refdata.load(name)["r"]
    res = _fit(name)
    _close(res.deviance, r["deviance"], what=f"{name}: deviance")
    _close(res.null_deviance, r["null_deviance"], what=f"{name}: null_deviance")
    _close(res.scale, r["dispersion"], what=f"{name}: scale")


@pytest.mark.parametrize("name", NAMES)
def test_loglik_aic_bic(name):
    ref = refdata.load(name)
    r = ref["r"]
    if _is_tweedie(ref) or r.get("loglik") is None:
        pytest.skip("R gives NA for the Tweedie likelihood")
    res = _fit(name)
    _close(res.loglik, r["loglik"], what=f"{name}: loglik")
    _close(res.aic, r["aic"], what=f"{name}: aic")
    # R's BIC() puts every row in log(n); nobs() leaves out zero-weight rows.
    k = r["loglik_df"]
    bic_nobs = r["bic"] - k * np.log(r["n_rows"]) + k * np.log(r["nobs"])
    bic = float(res.bic)
    assert np.isclose(bic, r["bic"], rtol=RTOL, atol=0) or np.isclose(
        bic, bic_nobs, rtol=RTOL, atol=0
    ), f"{name}: bic {bic!r} vs R {r['bic']!r} (or {bic_nobs!r} with nobs)"


@pytest.mark.parametrize("name", NAMES)
def test_df_resid_rank_nobs(name):
    r = refdata.load(name)["r"]
    res = _fit(name)
    assert float(res.df_resid) == r["df_resid"]
    assert int(res.rank) == r["rank"]
    assert float(res.nobs) == r["nobs"]


@pytest.mark.parametrize("name", NAMES)
def test_mu_eta(name):
    ref = refdata.load(name)
    r = ref["r"]
    res = _fit(name)
    X = _np(ref["X"])
    se_eta = _se_eta(ref, X)
    eta = _np(r["eta"])
    _close(res.eta, eta, atol=1e-6 * se_eta, what=f"{name}: eta")
    _close(
        res.mu, r["mu"], atol=1e-6 * se_eta * _dmu_deta(ref, eta), what=f"{name}: mu"
    )


@pytest.mark.parametrize("name", PREDICT_NAMES)
def test_predict(name):
    ref = refdata.load(name)
    pred = ref["predict"]
    res = _fit(name)
    rows = np.asarray(pred["rows"], dtype=np.int64)
    X_new = _np(ref["X"])[rows]
    offset = _np(pred["offset"])
    se_eta = _se_eta(ref, X_new)
    cases = [
        ({"offset": offset}, pred["eta"], pred["mu"], "with offset"),
        ({}, pred["eta_no_offset"], pred["mu_no_offset"], "without offset"),
    ]
    for kwargs, eta, mu, label in cases:
        eta, mu = _np(eta), _np(mu)
        atol_mu = 1e-6 * se_eta * _dmu_deta(ref, eta)
        linear = jg.predict(res, X_new, which="linear", **kwargs)
        mean = jg.predict(res, X_new, which="mean", **kwargs)
        _close(linear, eta, atol=1e-6 * se_eta, what=f"{name}: eta {label}")
        _close(mean, mu, atol=atol_mu, what=f"{name}: mu {label}")
    # "mean" is the default
    _close(
        jg.predict(res, X_new, offset=offset),
        pred["mu"],
        atol=1e-6 * se_eta * _dmu_deta(ref, _np(pred["eta"])),
        what=f"{name}: default predict",
    )


@pytest.mark.parametrize("name", DEFAULT_CONTROL_NAMES)
def test_default_tolerance_is_as_close_as_r(name):
    """At the default tol=1e-8 we must be at least as close to R's exact optimum as
    R's own default fit (epsilon=1e-8), or within 1e-6, whichever is looser."""
    ref = refdata.load(name)
    r = ref["r"]
    X, y, weights, offset = refdata.arrays(ref)
    res = jg.fit(X, y, family=_family(ref), weights=weights, offset=offset)
    assert bool(res.converged)
    exact = _np(r["coef"])
    denom = np.maximum(np.abs(exact), _np(r["se"]))
    ours = np.max(np.abs(_np(res.coef) - exact) / denom)
    # Taking the same steps as R gives the same error up to rounding: allow 1e-9.
    bound = max(1e-6, ref["r_default_control"]["max_rel_coef_err"]) * (1 + 1e-9)
    assert ours <= bound, f"{name}: relative coef error {ours:.3g} > {bound:.3g}"


NON_CANONICAL_NAMES = [
    name for name in NAMES if not _family(refdata.load(name)).uses_canonical_link
]


@pytest.mark.parametrize("name", NON_CANONICAL_NAMES)
def test_default_tolerance_reaches_the_mle(name):
    """R's rule leaves a non-canonical fit about sqrt(tol) from the MLE; jg.fit
    finishes with one observed-information Newton step, so the default tol is
    within 1e-8 (relative to max(|coef|, se)) of the exact MLE and keeps R's
    iteration count.  The MLE is checked by the score, not against R, whose
    own fit at epsilon 1e-14 is up to 2e-7 away (negbin_log_quine)."""
    ref = refdata.load(name)
    X, y, weights, offset = refdata.arrays(ref)
    family = _family(ref)
    res = jg.fit(X, y, family=family, weights=weights, offset=offset)
    tight = _fit(name)
    assert int(res.status) == int(tight.status) == jg.Status.SUCCESS
    scale = np.maximum(np.abs(np.asarray(tight.coef)), np.asarray(tight.se))

    def half_deviance(coef):
        eta = jnp.asarray(X) @ coef + (0.0 if offset is None else offset)
        return jg.loss(family, eta, jnp.asarray(y), weights)

    # the Newton step left at the tight fit: zero at the MLE
    grad = jax.grad(half_deviance)(jnp.asarray(tight.coef))
    newton = np.asarray(tight.cov / tight.scale) @ -np.asarray(grad)
    assert np.max(np.abs(newton) / scale) < 1e-10, name
    err = np.max(np.abs(np.asarray(res.coef) - np.asarray(tight.coef)) / scale)
    assert err < 1e-8, f"{name}: default tol {err:.2g} from the MLE"
    if "iter" in ref.get("r_default_control", {}):
        assert int(res.n_iter) == ref["r_default_control"]["iter"]


# --------------------------------------------------------------------------------
# Refits: NB alpha grid, Tweedie power grid, bootstrap resamples
# --------------------------------------------------------------------------------


def _check_entry(name, entry, res, label):
    se = _np(entry["se"]) if "se" in entry else None
    coef_atol = 0.0 if se is None else 1e-6 * se
    _close(res.coef, entry["coef"], atol=coef_atol, what=f"{name} {label}: coef")
    if se is not None:
        _close(res.se, se, atol=1e-6 * se, what=f"{name} {label}: se")
    _close(res.deviance, entry["deviance"], what=f"{name} {label}: deviance")
    for field, ours in (("scale", "scale"), ("aic", "aic"), ("loglik", "loglik")):
        if entry.get(field) is not None:
            _close(getattr(res, ours), entry[field], what=f"{name} {label}: {field}")


@pytest.mark.parametrize(("name", "i"), ALPHA_GRID)
def test_negative_binomial_alpha_grid(name, i):
    ref = refdata.load(name)
    entry = ref["alpha_grid"][i]
    X, y, weights, offset = refdata.arrays(ref)
    fam = _family(ref, alpha=entry["alpha"])
    res = jg.fit(X, y, family=fam, weights=weights, offset=offset, tol=TIGHT_TOL)
    assert bool(res.converged)
    _check_entry(name, entry, res, f"alpha={entry['alpha']}")


@pytest.mark.parametrize(("name", "i"), POWER_GRID)
def test_tweedie_power_grid(name, i):
    ref = refdata.load(name)
    entry = ref["power_grid"][i]
    X, y, weights, offset = refdata.arrays(ref)
    fam = _family(ref, power=entry["power"])
    res = jg.fit(X, y, family=fam, weights=weights, offset=offset, tol=TIGHT_TOL)
    assert bool(res.converged)
    _check_entry(name, entry, res, f"power={entry['power']}")


def _check_boot(name, count):
    ref = refdata.load(name)
    boot = ref["boot"]
    X, y, weights, offset = refdata.arrays(ref)
    fam = _family(ref)
    for b, idx in enumerate(boot["idx"][:count]):
        idx = np.asarray(idx, dtype=np.int64)
        res = jg.fit(
            X[idx],
            y[idx],
            family=fam,
            weights=None if weights is None else weights[idx],
            offset=None if offset is None else offset[idx],
            tol=TIGHT_TOL,
        )
        assert bool(res.converged), f"{name} resample {b}"
        entry = {
            k: boot[k][b] for k in ("coef", "se", "deviance", "scale") if k in boot
        }
        _check_entry(name, entry, res, f"resample {b}")


@pytest.mark.parametrize("name", BOOT_NAMES)
def test_bootstrap_refits(name):
    """Every bootstrap resample R refitted (same shapes: no new compilation)."""
    _check_boot(name, len(refdata.load(name)["boot"]["idx"]))


# --------------------------------------------------------------------------------
# float32
# --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FLOAT32_NAMES)
def test_float32(name):
    ref = refdata.load(name)
    r = ref["r"]
    X, y, weights, offset = refdata.arrays(ref)

    def f32(a):
        return None if a is None else a.astype(np.float32)

    with jax.enable_x64(False):
        res = jg.fit(
            f32(X),
            f32(y),
            family=_family(ref),
            weights=f32(weights),
            offset=f32(offset),
        )
        assert res.coef.dtype == np.float32, res.coef.dtype
        assert res.se.dtype == np.float32, res.se.dtype
        assert bool(res.converged), f"{name}: status={int(res.status)}"
    se = _np(r["se"])
    _close(res.coef, r["coef"], rtol=2e-3, atol=2e-3 * se, what=f"{name}: f32 coef")
    _close(res.se, se, rtol=5e-3, what=f"{name}: f32 se")
    _close(res.deviance, r["deviance"], rtol=1e-3, what=f"{name}: f32 deviance")
    _close(res.scale, r["dispersion"], rtol=2e-3, what=f"{name}: f32 scale")
    _close(res.mu, r["mu"], rtol=2e-3, what=f"{name}: f32 mu")
    if not _is_tweedie(ref) and r.get("loglik") is not None:
        _close(res.loglik, r["loglik"], rtol=1e-4, atol=0.01, what=f"{name}: f32 ll")
