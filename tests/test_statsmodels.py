"""jaxglm against statsmodels' GLM for every family x link case in ``cases.py``.

R has no reference for most of these links, so statsmodels (IRLS, expected
information, ``var_weights`` = R's prior weights) is the live oracle. statsmodels
starts from the true simulation coefficients (independent of jaxglm) and iterates
until the coefficients stop moving; jaxglm starts from its own default, as R would.

Conventions: both use the expected (Fisher) information for ``cov`` with every link
(R's convention; statsmodels' IRLS does the same), so ``se`` is compared directly.
As a third, hand-written oracle, ``cov`` is also checked against
``scale * (X' W X)^-1`` with ``W = w * (dmu/deta)^2 / V(mu)`` in numpy. The scale is
Pearson chi^2 / df_resid where estimated (statsmodels ``scale="X2"``), else 1.

Tolerances: rtol 1e-6 everywhere; coef with atol 1e-6 * se, z with atol 1e-6 (as in
the R reference tests), cov with atol 1e-6 * se_i * se_j.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

import jaxglm as jg
from cases import CASES, case_ids, np_link, np_variance
from checks import assert_close

sm = pytest.importorskip("statsmodels.api")

JG_TOL = 1e-12
RTOL = 1e-6


@functools.cache
def _data(case):
    return case.simulate()


@functools.cache
def _jg(case):
    d = _data(case)
    return jg.fit(
        d.X,
        d.y,
        family=case.jg_family(),
        weights=d.weights,
        offset=d.offset,
        tol=JG_TOL,
    )


@functools.cache
def _sm(case):
    d = _data(case)
    with warnings.catch_warnings():
        # DomainWarning for non-canonical links; the data keep mu in range.
        warnings.simplefilter("ignore")
        model = sm.GLM(
            d.y, d.X, family=case.sm_family(), var_weights=d.weights, offset=d.offset
        )
        res = model.fit(
            start_params=d.coef,
            maxiter=200,
            tol=1e-12,
            tol_criterion="params",
            rtol=1e-11,
            scale="X2" if case.estimates_dispersion else 1.0,
            cov_type="nonrobust",
        )
        null_deviance = float(res.null_deviance)  # a lazy refit: inside the filter
    assert res.converged, f"statsmodels did not converge on {case.id}"
    return res, null_deviance


def _np(x):
    return np.asarray(x, dtype=np.float64)


def _close(actual, expected, *, rtol=RTOL, atol=0.0, what=""):
    assert_close(actual, expected, rtol=rtol, atol=atol, what=what)


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_converges_from_default_start(case):
    res = _jg(case)
    assert bool(res.converged), f"{case.id}: status={int(res.status)}"
    assert np.all(np.isfinite(_np(res.coef)))


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_coef_se_z(case):
    res = _jg(case)
    ref, _ = _sm(case)
    se = _np(ref.bse)
    _close(res.coef, ref.params, atol=1e-6 * se, what=f"{case.id}: coef")
    _close(res.se, se, what=f"{case.id}: se")
    _close(res.z, ref.tvalues, atol=1e-6, what=f"{case.id}: z")
    _close(
        res.cov, ref.cov_params(), atol=1e-6 * np.outer(se, se), what=f"{case.id}: cov"
    )


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_deviance_null_deviance_scale_mu(case):
    res = _jg(case)
    ref, null_deviance = _sm(case)
    _close(res.deviance, ref.deviance, what=f"{case.id}: deviance")
    _close(res.null_deviance, null_deviance, what=f"{case.id}: null_deviance")
    _close(res.scale, ref.scale, what=f"{case.id}: scale")
    _close(res.mu, ref.fittedvalues, what=f"{case.id}: mu")
    assert float(res.df_resid) == ref.df_resid
    assert float(res.nobs) == ref.nobs


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_cov_is_expected_information(case):
    """cov = scale (X' W X)^-1, W = w (dmu/deta)^2 / V(mu), at jaxglm's own fit."""
    res = _jg(case)
    d = _data(case)
    eta, mu = _np(res.eta), _np(res.mu)
    w = np.ones_like(d.y) if d.weights is None else d.weights
    link = np_link(case.link)
    _close(mu, link.inverse(eta), rtol=1e-12, what=f"{case.id}: mu vs linkinv(eta)")
    W = w * link.inverse_deriv(eta) ** 2 / np_variance(case.family, mu, case.param_dict)
    if case.estimates_dispersion:
        pearson = np.sum(
            w * (d.y - mu) ** 2 / np_variance(case.family, mu, case.param_dict)
        )
        scale = pearson / (d.X.shape[0] - d.X.shape[1])
    else:
        scale = 1.0
    cov = scale * np.linalg.inv(d.X.T @ (W[:, None] * d.X))
    se = np.sqrt(np.diag(cov))
    _close(res.scale, scale, what=f"{case.id}: scale (Pearson)")
    _close(res.cov, cov, atol=1e-6 * np.outer(se, se), what=f"{case.id}: cov")
