"""Property tests (hypothesis): invariances every GLM fit must satisfy.

Shapes are fixed (n=200, p=4, as the registry's datasets) and tol is the one
test_statsmodels.py uses, so hypothesis draws new data (seeds and values) without
triggering a new compilation of the fit.
The oracles are independent numpy formulas from ``cases.py`` (score equations,
unit deviances, link closed forms) or exact algebraic identities between two fits.

Tolerances: fits that follow the same IRLS path (permutation, duplication, column
scaling) agree to rounding, checked at 1e-7 of a standard error; the offset vs rate
fits start from different means and agree to the fit tolerance (1e-6 * se, as the R
reference tests); one more Fisher step from the solution must be below 1e-5 se;
link round trips and derivatives are pure floating-point arithmetic (rtol 1e-9).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import jaxglm as jg
from cases import (
    CANONICAL,
    CASES,
    FAMILIES,
    LINKS,
    case_ids,
    np_link,
    np_unit_deviance,
    np_variance,
)
from checks import assert_close

# The same tolerance and shapes as test_statsmodels.py (n=200, p=4), so these fits
# reuse the programs compiled there: hypothesis only changes values, never shapes.
FIT_TOL = 1e-12
N = 200
SEEDS = st.integers(0, 2**32 - 1)


def _fit(X, y, family, weights=None, offset=None):
    res = jg.fit(X, y, family=family, weights=weights, offset=offset, tol=FIT_TOL)
    assert bool(res.converged), f"status={int(res.status)}"
    return res


def _np(x):
    return np.asarray(x, dtype=np.float64)


def _close(actual, expected, *, rtol=1e-8, atol=0.0, what=""):
    assert_close(actual, expected, rtol=rtol, atol=atol, what=what)


def _case(case_id):
    return next(c for c in CASES if c.id == case_id)


# --------------------------------------------------------------------------------
# Fits
# --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CANONICAL, ids=case_ids(CANONICAL))
@given(seed=SEEDS)
def test_fit_solves_the_score_equations(case, seed):
    """The score U = X' [w (y - mu) / V(mu) * dmu/deta] vanishes at the solution.

    U is scaled by the Fisher information I = X' W X: one more Fisher-scoring step
    I^-1 U from jaxglm's coef must move no coefficient by more than 1e-5 of its
    standard error (the deviance rule at tol=1e-12 stops within about 1e-6 se even
    where Fisher scoring converges only linearly). Also deviance >= 0 and equal to
    the textbook formula at the fitted mean.
    """
    d = case.simulate(seed=seed, n=N)
    res = _fit(d.X, d.y, case.jg_family(), d.weights, d.offset)
    w = np.ones_like(d.y) if d.weights is None else d.weights
    offset = 0.0 if d.offset is None else d.offset
    link = np_link(case.link)
    eta = d.X @ _np(res.coef) + offset
    mu = link.inverse(eta)
    _close(res.mu, mu, rtol=1e-10, what="mu = linkinv(X coef + offset)")
    variance = np_variance(case.family, mu, case.param_dict)
    mu_eta = link.inverse_deriv(eta)
    score = d.X.T @ (w * (d.y - mu) / variance * mu_eta)
    information = d.X.T @ ((w * mu_eta**2 / variance)[:, None] * d.X)
    inverse = np.linalg.inv(information)
    step = inverse @ score
    se_unscaled = np.sqrt(np.diag(inverse))  # the dispersion cancels in the ratio
    assert np.all(np.abs(step) <= 1e-5 * se_unscaled), step / se_unscaled
    deviance = np.sum(w * np_unit_deviance(case.family, d.y, mu, case.param_dict))
    assert float(res.deviance) >= 0.0
    _close(res.deviance, deviance, rtol=1e-9, what="deviance")


_COUNT_LIKE = st.one_of(st.just(0.0), st.floats(1e-6, 50))
_SUPPORT = {
    # (y elements, mu elements) per family, inside the support. Positive y stays
    # above 1e-6: near 1e-308, y / mu is subnormal and XLA on CPU flushes it to 0.
    "Gaussian": (st.floats(-50, 50), st.floats(-50, 50)),
    "Binomial": (
        st.one_of(st.sampled_from([0.0, 1.0]), st.floats(1e-6, 1 - 1e-6)),
        st.floats(0.01, 0.99),
    ),
    "Poisson": (_COUNT_LIKE, st.floats(0.05, 50)),
    "Gamma": (st.floats(0.05, 50), st.floats(0.05, 50)),
    "InverseGaussian": (st.floats(0.05, 20), st.floats(0.05, 20)),
    "NegativeBinomial": (_COUNT_LIKE, st.floats(0.05, 50)),
    "Tweedie": (_COUNT_LIKE, st.floats(0.05, 50)),
}


@pytest.mark.parametrize("family", FAMILIES)
@given(data=st.data())
def test_unit_deviance_and_variance(family, data):
    """Unit deviance >= 0, = 0 at y == mu, and equal to the textbook formula."""
    y_el, mu_el = _SUPPORT[family]
    y = data.draw(hnp.arrays(np.float64, 12, elements=y_el), label="y")
    mu = data.draw(hnp.arrays(np.float64, 12, elements=mu_el), label="mu")
    case = next(c for c in CANONICAL if c.family == family)
    fam = case.jg_family()
    params = case.param_dict
    dev = _np(fam.unit_deviance(jnp.asarray(y), jnp.asarray(mu)))
    size = (1.0 + np.abs(y) + np.abs(mu)) ** 2
    assert np.all(dev >= -1e-12 * size), dev
    _close(dev, np_unit_deviance(family, y, mu, params), rtol=1e-8, atol=1e-11 * size)
    if family in ("Gamma", "InverseGaussian"):
        at_y = y
    elif family == "Binomial":
        at_y = np.clip(y, 0.01, 0.99)
    else:
        at_y = np.maximum(y, 0.05)
    zero = _np(fam.unit_deviance(jnp.asarray(at_y), jnp.asarray(at_y)))
    _close(
        zero,
        np.zeros_like(zero),
        atol=1e-11 * (1.0 + np.abs(at_y)) ** 2,
        what="d(y, y)",
    )
    _close(fam.variance(jnp.asarray(mu)), np_variance(family, mu, params), rtol=1e-12)


@given(seed=SEEDS)
def test_gaussian_identity_is_weighted_least_squares(seed):
    d = _case("Gaussian-Identity").simulate(seed=seed, n=N)
    rng = np.random.default_rng(seed)
    y = d.X @ rng.normal(size=4) * 3 + rng.normal(size=N)
    w = rng.uniform(0.5, 2.0, size=N)
    res = _fit(d.X, y, jg.Gaussian(), weights=w)
    sw = np.sqrt(w)
    coef = np.linalg.lstsq(sw[:, None] * d.X, sw * y, rcond=None)[0]
    rss = np.sum(w * (y - d.X @ coef) ** 2)
    df_resid = N - 4
    cov = rss / df_resid * np.linalg.inv(d.X.T @ (w[:, None] * d.X))
    _close(res.coef, coef, atol=1e-9 * np.max(np.abs(coef)), what="coef")
    _close(res.deviance, rss, rtol=1e-9, what="deviance = RSS")
    _close(res.scale, rss / df_resid, rtol=1e-9, what="scale")
    _close(res.cov, cov, rtol=1e-8, what="cov")


# Poisson with an offset, binomial 0/1, and a non-canonical link with an
# estimated dispersion.
_INVARIANCE_CASES = [
    _case("Poisson-Log"),
    _case("Binomial-Logit"),
    _case("Gamma-Identity"),
]
# Both fits follow the same IRLS path (up to rounding), so they agree far more
# closely than the fit tolerance; 1e-7 of a standard error leaves room for the
# rounding of reordered sums.
_SAME = 1e-7


def _same_fit(a, b, *, scale_fixed: bool, what: str, tol: float = _SAME):
    se = _np(a.se)
    _close(b.coef, a.coef, rtol=tol, atol=tol * se, what=f"{what}: coef")
    _close(b.deviance, a.deviance, rtol=1e-9, what=f"{what}: deviance")
    if scale_fixed:
        _close(b.se, a.se, rtol=10 * tol, what=f"{what}: se")
    else:
        # Pearson chi^2 is invariant even when df_resid (and so the scale) changes
        _close(
            _np(b.scale) * _np(b.df_resid),
            _np(a.scale) * _np(a.df_resid),
            rtol=10 * tol,
            what=f"{what}: Pearson chi2",
        )


def _take(a, rows):
    return None if a is None else a[rows]


@pytest.mark.parametrize("case", _INVARIANCE_CASES, ids=case_ids(_INVARIANCE_CASES))
@given(seed=SEEDS)
def test_row_permutation_invariance(case, seed):
    d = case.simulate(seed=seed, n=N)
    perm = np.random.default_rng(seed).permutation(N)
    fam = case.jg_family()
    a = _fit(d.X, d.y, fam, d.weights, d.offset)
    b = _fit(d.X[perm], d.y[perm], fam, _take(d.weights, perm), _take(d.offset, perm))
    _same_fit(a, b, scale_fixed=True, what="permuted")
    _close(b.mu, _np(a.mu)[perm], rtol=1e-8, what="permuted: mu")


@pytest.mark.parametrize("case", _INVARIANCE_CASES, ids=case_ids(_INVARIANCE_CASES))
@given(seed=SEEDS)
def test_duplicated_rows_equal_doubled_weights(case, seed):
    """Rows 0..149 plus copies of rows 0..49, against all 200 rows with the weights
    of rows 0..49 doubled and rows 150..199 given weight 0 (same shapes, so no new
    compilation; zero-weight rows must drop out of everything)."""
    k, kept = 50, 150
    d = case.simulate(seed=seed, n=N)
    w = np.ones(N) if d.weights is None else d.weights
    dup = np.concatenate([np.arange(kept), np.arange(k)])
    doubled = w.copy()
    doubled[:k] *= 2.0
    doubled[kept:] = 0.0
    fam = case.jg_family()
    a = _fit(d.X, d.y, fam, doubled, d.offset)
    b = _fit(d.X[dup], d.y[dup], fam, w[dup], _take(d.offset, dup))
    _same_fit(a, b, scale_fixed=not case.estimates_dispersion, what="duplicated")
    assert float(a.nobs) == kept
    assert float(b.nobs) == N
    assert float(a.df_resid) == kept - 4
    assert float(b.df_resid) == N - 4


_SCALING_CASES = [_case("Poisson-Log"), _case("Gamma-Inverse")]


@pytest.mark.parametrize("case", _SCALING_CASES, ids=case_ids(_SCALING_CASES))
@given(seed=SEEDS, column=st.integers(1, 3), factor=st.floats(0.1, 10.0))
def test_scaling_a_column_scales_its_coefficient(case, seed, column, factor):
    d = case.simulate(seed=seed, n=N)
    X2 = d.X.copy()
    X2[:, column] *= factor
    fam = case.jg_family()
    a = _fit(d.X, d.y, fam, d.weights, d.offset)
    b = _fit(X2, d.y, fam, d.weights, d.offset)
    expected = _np(a.coef).copy()
    expected[column] /= factor
    expected_se = _np(a.se).copy()
    expected_se[column] /= factor
    _close(b.coef, expected, rtol=_SAME, atol=_SAME * expected_se, what="coef")
    _close(b.se, expected_se, rtol=10 * _SAME, what="se")
    _close(b.deviance, a.deviance, rtol=1e-9, what="deviance")


@given(seed=SEEDS)
def test_poisson_offset_log_exposure_is_the_rate_model(seed):
    """y ~ Poisson(t exp(X b)) with offset log t  ==  y/t with prior weights t.

    The two fits start from different means (R's mustart is y + 0.1 in both), so
    they agree to the fit tolerance, not to rounding: atol 1e-6 * se as in the R
    reference tests. The rate fit passes a zero offset to reuse the compiled fit.
    """
    d = _case("Poisson-Log").simulate(seed=seed, n=N)
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.2, 5.0, size=N)
    y = rng.poisson(t * np.exp(d.X @ d.coef)).astype(np.float64)
    a = _fit(d.X, y, jg.Poisson(), offset=np.log(t))
    b = _fit(d.X, y / t, jg.Poisson(), weights=t, offset=np.zeros(N))
    _close(b.coef, a.coef, rtol=1e-6, atol=1e-6 * _np(a.se), what="coef")
    _close(b.se, a.se, rtol=1e-6, what="se")
    _close(b.deviance, a.deviance, rtol=1e-9, what="deviance")
    _close(_np(b.mu) * t, a.mu, rtol=1e-6, what="mu")


# --------------------------------------------------------------------------------
# Links
# --------------------------------------------------------------------------------


@pytest.mark.parametrize("lc", LINKS, ids=[lc.id for lc in LINKS])
def test_link_closed_forms_on_a_grid(lc):
    link, ref = lc.jg_link(), lc.np_link()
    eta, mu = lc.eta_grid(), lc.mu_grid()
    _close(link.inverse(jnp.asarray(eta)), ref.inverse(eta), rtol=1e-12, what="inverse")
    _close(
        link.link(jnp.asarray(mu)), ref.link(mu), rtol=1e-12, atol=1e-14, what="link"
    )
    _close(
        link.inverse_deriv(jnp.asarray(eta)),
        ref.inverse_deriv(eta),
        rtol=1e-10,
        what="inverse_deriv",
    )
    _close(
        link.deriv(jnp.asarray(mu)),
        1.0 / ref.inverse_deriv(ref.link(mu)),
        rtol=1e-10,
        what="deriv",
    )


@jax.jit
def _link_values(link, eta, mu):
    """Round trips, closed-form and autodiff derivatives, in one compiled call per
    link (hypothesis then only changes the values)."""
    return {
        "g(g^-1(eta))": link.link(link.inverse(eta)),
        "g^-1(g(mu))": link.inverse(link.link(mu)),
        "deriv": link.deriv(mu),
        "autodiff deriv": jax.vmap(jax.grad(link.link))(mu),
        "inverse_deriv": link.inverse_deriv(eta),
        "autodiff inverse_deriv": jax.vmap(jax.grad(link.inverse))(eta),
    }


@pytest.mark.parametrize("lc", LINKS, ids=[lc.id for lc in LINKS])
def test_link_round_trip_and_autodiff_on_a_grid(lc):
    _check_link(lc, lc.eta_grid(), lc.mu_grid())


@pytest.mark.parametrize("lc", LINKS, ids=[lc.id for lc in LINKS])
@given(data=st.data())
def test_link_round_trip_and_autodiff_random_points(lc, data):
    # the grid's length, so the compiled _link_values is reused
    size = lc.eta_grid().shape[0]
    eta = data.draw(hnp.arrays(np.float64, size, elements=st.floats(*lc.eta_range)))
    mu = data.draw(hnp.arrays(np.float64, size, elements=st.floats(*lc.mu_range)))
    _check_link(lc, eta, mu)


def _check_link(lc, eta, mu):
    out = _link_values(lc.jg_link(), jnp.asarray(eta), jnp.asarray(mu))
    _close(out["g(g^-1(eta))"], eta, rtol=1e-9, atol=1e-12, what="g(g^-1(eta))")
    _close(out["g^-1(g(mu))"], mu, rtol=1e-9, atol=1e-12, what="g^-1(g(mu))")
    _close(out["deriv"], out["autodiff deriv"], rtol=1e-9, what="deriv")
    _close(
        out["inverse_deriv"],
        out["autodiff inverse_deriv"],
        rtol=1e-9,
        what="inverse_deriv",
    )
