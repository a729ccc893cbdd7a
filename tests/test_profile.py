"""``jg.confint_profile`` against R's ``confint(fit)`` (MASS's profile intervals).

References: ``tests/reference/profile_*.json`` from ``make_profile_reference.R``.

Tolerances, in units of R's standard error of each coefficient:

- ``confint_r_tight`` (R's intervals for the fit at ``epsilon = 1e-14``): 1e-7 se
  plus rtol 1e-6.  Seen: at most 2e-9 se; our fits at the default tol sit at
  the optimum, and the spline and interpolation are R's to rounding.
- ``confint_r`` / ``confint_r_90`` (what R gives at its default ``epsilon =
  1e-8``): 1e-5 se.  R's own default-tolerance answer moves by up to 3.7e-6 se
  from its tight one (quasipoisson warpbreaks); we agree with the tight one.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
import refdata
from jaxglm._profile import _approx, _spline, _student_t_quantile

CASES = [
    "binomial_logit_esoph_agegp",
    "binomial_logit_mtcars_am",
    "poisson_log_insurance_offset_weights",
    "gamma_log_trees",
    "gaussian_identity_trees_aliased_zero_weight",
    "negbin_log_quine",
    "quasipoisson_log_warpbreaks",
]


def _ref(case: str) -> dict:
    return refdata.load(f"profile_{case}")


def _array(value) -> np.ndarray:
    # R's NA is null in the JSON: NaN here.
    return np.asarray(value, dtype=np.float64)


def _family(ref: dict):
    link = getattr(jg.links, ref["link"])()
    return getattr(jg, ref["family"])(link=link, **ref["family_params"])


def _data(ref: dict):
    return tuple(_array(ref[key]) for key in ("X", "y", "weights", "offset"))


@functools.cache
def _fit(case: str):
    ref = _ref(case)
    X, y, weights, offset = _data(ref)
    return jg.fit(X, y, _family(ref), weights=weights, offset=offset), X


def _assert_close(ours, theirs, se, se_tol, rtol=0.0):
    ours, theirs = np.asarray(ours), _array(theirs)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(
        ours, theirs, rtol=rtol, atol=se_tol * np.nanmax(se), equal_nan=True
    )
    err = np.abs(ours - theirs) / se[:, None]
    assert np.all(np.isnan(err) | (err <= se_tol + rtol * np.abs(theirs) / se[:, None]))


@pytest.mark.parametrize("case", CASES)
def test_matches_r(case):
    ref = _ref(case)
    res, X = _fit(case)
    assert int(res.status) == jg.Status.SUCCESS
    se = np.nan_to_num(_array(ref["se_r"]), nan=1.0)
    ci = jg.confint_profile(res, X)
    assert ci.shape == (X.shape[1], 2)
    if ref["confint_r_tight"] is not None:
        _assert_close(ci, ref["confint_r_tight"], se, 1e-7, rtol=1e-6)
    _assert_close(ci, ref["confint_r"], se, 1e-5)
    _assert_close(jg.confint_profile(res, X, level=0.9), ref["confint_r_90"], se, 1e-5)


def test_aliased_coefficient_is_nan():
    res, X = _fit("gaussian_identity_trees_aliased_zero_weight")
    ci = np.asarray(jg.confint_profile(res, X))
    np.testing.assert_array_equal(np.isnan(ci).all(axis=1), np.asarray(res.aliased))
    assert np.asarray(res.aliased).sum() == 1
    # Gaussian identity: the profile is exactly quadratic, so R's interval is
    # Wald's with normal quantiles.
    ok = ~np.asarray(res.aliased)
    np.testing.assert_allclose(ci[ok], np.asarray(res.conf_int())[ok], rtol=1e-10)


def test_profile_and_wald_differ_as_in_r():
    # esoph by age group: the youngest (baseline) group has 1 case in 116, so
    # the log-likelihood is far from quadratic in the age effects.  Wald's
    # interval for agegp35-44 covers 0; the profile interval (R's and ours)
    # does not, and every age effect's profile interval lies above Wald's.
    ref = _ref("binomial_logit_esoph_agegp")
    res, X = _fit("binomial_logit_esoph_agegp")
    profile = np.asarray(jg.confint_profile(res, X))
    wald = np.asarray(res.conf_int())
    for ours in (profile, _array(ref["confint_r"])):
        assert wald[1, 0] < 0.0 < ours[1, 0]
        assert np.all(ours[1:] > wald[1:])
        assert np.all(ours[0] < wald[0])  # the intercept's moves down
    # R's Wald se comes from its fit at the default epsilon (a few 1e-6 off).
    np.testing.assert_allclose(wald, _array(ref["wald_r"]), rtol=1e-4)


def test_separated_fit_gives_nan():
    # R stops at iteration 25 with se ~ 6e4, and its profile never reaches the
    # cutoff above the estimate of the slope (NA); its other bounds come from a
    # grid 3e4 units wide anchored at a non-converged fit.  Our fit reports
    # SEPARATION, and every bound is NaN.
    ref = _ref("binomial_logit_separated")
    assert np.isnan(_array(ref["confint_r"])[1, 1])
    X, y, weights, offset = _data(ref)
    with pytest.warns(jg.ConvergenceWarning):
        res = jg.fit(X, y, jg.Binomial(), weights=weights)
    assert int(res.status) == jg.Status.SEPARATION
    assert np.isnan(np.asarray(jg.confint_profile(res, X))).all()


def test_fit_negbin_matches_glm_nb():
    # R's confint of a glm.nb fit profiles with theta held at its estimate.
    ref = _ref("negbin_log_quine")
    X, y, _, _ = _data(ref)
    res = jg.fit_negbin(X, y)
    np.testing.assert_allclose(res.family.alpha, ref["family_params"]["alpha"], 1e-6)
    se = _array(ref["se_r"])
    _assert_close(jg.confint_profile(res, X), ref["confint_r"], se, 1e-5)


def test_spline_and_approx_match_r():
    for case in refdata.load("profile_spline_fmm")["cases"]:
        x, z = _array(case["x"]), _array(case["z"])
        m = x.shape[0]
        # Padded to R's largest knot count, as inside confint_profile.
        pad = 19 - m
        x_pad = jnp.concatenate([x, jnp.full(pad, x[-1])])
        z_pad = jnp.concatenate([z, jnp.zeros(pad)])
        xout, yout, count = _spline(x_pad, z_pad, jnp.asarray(m))
        assert int(count) == 3 * m
        np.testing.assert_allclose(xout[: 3 * m], case["xout"], rtol=1e-14)
        np.testing.assert_allclose(yout[: 3 * m], case["yout"], rtol=1e-12, atol=1e-13)
        cutoffs = (-1.959963984540054, 1.959963984540054)
        for v, expected in zip(cutoffs, case["bounds"], strict=True):
            got = _approx(yout, xout, count, jnp.asarray(v))
            if expected is None:
                assert np.isnan(got)
            else:
                np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_student_t_quantile_matches_r():
    # sqrt(qf(1 - 0.0125, 1, df)) from R 4.2.2.
    r = {1: 50.9230366364857048, 2: 8.8602000346543157, 5: 3.8100046998446415,
         28: 2.6694793420367029, 139: 2.5306272604073117}  # fmt: skip
    for df, expected in r.items():
        assert _student_t_quantile(1 - 0.0125 / 2, df) == pytest.approx(expected, 1e-13)
    assert np.isnan(_student_t_quantile(0.99, 0))


@functools.cache
def _batch():
    ref = _ref("poisson_log_insurance_offset_weights")
    X, y, weights, offset = _data(ref)
    scales = jnp.array([1.0, 0.5, 2.0])[:, None]
    bumps = 1.0 + 0.2 * jnp.sin(
        jnp.arange(3.0)[:, None] + jnp.arange(y.shape[0])[None, :]
    )
    batch_weights = scales * bumps * weights[None, :]
    res = jax.vmap(lambda w: jg.fit(X, y, jg.Poisson(), weights=w, offset=offset))(
        batch_weights
    )
    return res, X, batch_weights


def test_vmapped_batch_equals_loop():
    res, X, _ = _batch()
    batched = np.asarray(jg.confint_profile(res, X))
    assert batched.shape == (3, X.shape[1], 2)
    for i in range(3):
        one = jax.tree.map(lambda leaf, i=i: leaf[i], res)
        np.testing.assert_allclose(
            batched[i], jg.confint_profile(one, X), rtol=1e-10, atol=1e-12
        )
    # One design per fit gives the same answer as a shared one.
    X_batch = jnp.broadcast_to(X, (3, *X.shape))
    np.testing.assert_allclose(jg.confint_profile(res, X_batch), batched, rtol=1e-12)


def test_jit():
    res, X = _fit("gamma_log_trees")
    eager = jg.confint_profile(res, X)
    jitted = jax.jit(lambda r, X: jg.confint_profile(r, X, 0.95))(res, X)
    np.testing.assert_allclose(jitted, eager, rtol=1e-12)


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1, float("nan")])
def test_level_outside_unit_interval(level):
    res, X = _fit("gamma_log_trees")
    with pytest.raises(ValueError, match="level"):
        jg.confint_profile(res, X, level)


def test_bad_design_shape():
    res, X = _fit("gamma_log_trees")
    for bad in (X[:-1], X[:, :-1], X[:, 0], X[None]):
        with pytest.raises(ValueError, match="X has shape"):
            jg.confint_profile(res, bad)


def test_bad_result_and_penalised_fit():
    res, X = _fit("gamma_log_trees")
    with pytest.raises(TypeError, match="GLMResult"):
        jg.confint_profile(res.coef, X)
    ref = _ref("gamma_log_trees")
    X, y, _, _ = _data(ref)
    penalised = jg.fit(X, y, _family(ref), l2=0.5)
    with pytest.raises(ValueError, match="l2"):
        jg.confint_profile(penalised, X)


def test_float32_smoke():
    ref = _ref("gamma_log_trees")
    X, y, _, _ = _data(ref)
    with jax.enable_x64(False):
        X32, y32 = X.astype(np.float32), y.astype(np.float32)
        res = jg.fit(X32, y32, _family(ref))
        ci = jg.confint_profile(res, X32)
        assert ci.dtype == jnp.float32
        se = _array(ref["se_r"])
        np.testing.assert_allclose(ci, _array(ref["confint_r"]), atol=0.02 * se.max())


def test_formula_fit_rebuilds_its_design():
    pytest.importorskip("formulaic")
    mt = jg.datasets.load_mtcars(as_frame=True)
    res = jg.glm("am ~ hp + wt", mt, family=jg.Binomial())
    X = res.formula.design(mt)[0]
    np.testing.assert_array_equal(jg.confint_profile(res), jg.confint_profile(res, X))
    with pytest.raises(ValueError, match="needs X"):
        jg.confint_profile(jg.fit(X, mt["am"].to_numpy(float), jg.Binomial()))
