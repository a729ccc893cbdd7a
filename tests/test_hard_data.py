"""Hard data (issue 4): rank deficiency, separation, overflow, max_iter, float32, vmap.

- Rank-deficient designs are compared with R (``tests/reference/hard_*.json``, made
  by ``tests/reference/make_hard_reference.R``): R aliases the later column of a
  collinear set; the aliased coefficients are NaN (R's NA) and everything else
  matches R's fit with those columns dropped. Tolerances as the full references
  (tests/reference/README.md): rtol 1e-6 with atol 1e-6 * se on coef, rtol 1e-6 on
  se, deviance, mu, eta, AIC and dispersion; rank, df_resid and nobs exact. Where R's
  deviance is 0 to rounding (p >= n), deviance gets atol 1e-10 and AIC (log of a
  rounding error) is not compared.
- Separation (complete, quasi-complete, grouped, Poisson zero groups, all-zero counts)
  is flagged: ``Status.SEPARATION``, ``converged=False`` and an eager
  ``jg.ConvergenceWarning``. Extreme but legitimate fitted means are not flagged.
- Overflow-prone fits (counts in the millions and billions, steep log-link
  gradients, tiny and huge Gamma means) give finite, converged fits that solve the
  score equations.
- ``max_iter=1`` gives ``MAX_ITER``; ``jg.check`` names each failing batch index.
- A vmapped batch mixing good fits with a NaN fit, separated fits and all-zero counts
  equals the same fits run alone, member by member.
- float32 (x64 off): well-posed fits converge in float32 near the float64 answer;
  ill-conditioned ones are flagged (rank < p or a failed status), never silently off.

Compile budget: apart from the R references (one program each), every fit uses
X of shape (20, 3) so eager, jitted and vmapped programs are reused across tests.
"""

from __future__ import annotations

import functools
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

import jaxglm as jg
import refdata

S = jg.Status
RTOL = 1e-6

# --------------------------------------------------------------------------------
# Rank deficiency against R
# --------------------------------------------------------------------------------

HARD_NAMES = sorted(p.stem for p in refdata.REFERENCE_DIR.glob("hard_*.json"))


def _floats(values) -> np.ndarray:
    """JSON numbers with null (R's NA/NaN) as NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _hard_inputs(ref: dict):
    link = getattr(jg.links, ref["link"])()
    family = getattr(jg, ref["family"])(**ref["family_params"], link=link)
    X = np.asarray(ref["X"], dtype=np.float64)
    y = np.asarray(ref["y"], dtype=np.float64)
    weights = (
        np.asarray(ref["weights"], dtype=np.float64) if ref["has_weights"] else None
    )
    offset = np.asarray(ref["offset"], dtype=np.float64) if ref["has_offset"] else None
    return X, y, family, weights, offset


@functools.cache
def _hard_fit(name: str, columns: tuple[int, ...] | None = None):
    ref = refdata.load(name)
    X, y, family, weights, offset = _hard_inputs(ref)
    if columns is not None:
        X = X[:, list(columns)]
    with warnings.catch_warnings():
        # a library that flags rank deficiency (converged=False) also warns
        warnings.simplefilter("ignore", jg.ConvergenceWarning)
        return jg.fit(X, y, family, weights=weights, offset=offset, tol=1e-12)


def test_hard_references_exist():
    assert len(HARD_NAMES) >= 6, "run Rscript tests/reference/make_hard_reference.R"


@pytest.mark.parametrize("name", HARD_NAMES)
def test_rank_deficient_matches_r(name):
    ref = refdata.load(name)
    r = ref["rfit"]
    res = _hard_fit(name)
    p = len(ref["colnames"])

    assert int(res.rank) == r["rank"] == r["full_rank"] < p
    assert int(res.df_resid) == r["df_resid"] == r["full_df_resid"]
    assert int(res.nobs) == r["nobs"]
    # The fit is well posed once the aliased columns are dropped, so it reproduces
    # R. Whether it also says converged=True (as R) or flags the rank deficiency
    # (converged=False, SINGULAR) is left open by tests/reference/README.md ("must
    # return converged=False or rank < p"); any other status is wrong.
    status = int(res.status)
    assert status in (S.SUCCESS, S.SINGULAR), S(status).name
    assert bool(res.converged) == (status == S.SUCCESS)

    coef, r_coef = np.asarray(res.coef), _floats(r["coef"])
    np.testing.assert_array_equal(
        np.isnan(coef), np.asarray(r["aliased"]), err_msg="aliased columns (NaN coef)"
    )
    kept = ~np.asarray(r["aliased"])
    r_se = _floats(r["se"])
    # atol 1e-6 * se, where R has an se (with df_resid = 0 Gaussian R's se is NaN)
    tol = RTOL * (np.abs(r_coef) + np.where(np.isfinite(r_se), r_se, 0.0))
    np.testing.assert_array_less(
        np.abs(coef[kept] - r_coef[kept]), tol[kept], err_msg="coef"
    )
    se = np.asarray(res.se)
    np.testing.assert_array_equal(
        np.isnan(se), np.isnan(r_se), err_msg="se NaN pattern"
    )
    np.testing.assert_allclose(se[~np.isnan(r_se)], r_se[~np.isnan(r_se)], rtol=RTOL)

    saturated = r["df_resid"] == 0
    np.testing.assert_allclose(
        float(res.deviance), r["deviance"], rtol=RTOL, atol=1e-10 if saturated else 0.0
    )
    np.testing.assert_allclose(float(res.null_deviance), r["null_deviance"], rtol=RTOL)
    mu_scale = np.max(np.abs(r["mu"]))
    np.testing.assert_allclose(
        np.asarray(res.mu), r["mu"], rtol=RTOL, atol=1e-12 * mu_scale
    )
    # eta near 0 is judged on the scale of eta (R's cov, for 1e-6 * se(eta), is not
    # in these references)
    np.testing.assert_allclose(
        np.asarray(res.eta), r["eta"], rtol=RTOL, atol=RTOL * np.max(np.abs(r["eta"]))
    )
    if r["dispersion"] is None:
        assert np.isnan(float(res.scale)), "R's dispersion is NaN (df_resid = 0)"
    else:
        np.testing.assert_allclose(float(res.scale), r["dispersion"], rtol=RTOL)
    if not saturated:
        np.testing.assert_allclose(float(res.aic), r["aic"], rtol=RTOL)


@pytest.mark.parametrize("name", HARD_NAMES)
def test_rank_deficient_summary_says_not_defined(name):
    ref = refdata.load(name)
    res = _hard_fit(name)
    n_aliased = int(np.sum(ref["rfit"]["aliased"]))
    text = str(jg.summary(res, names=ref["colnames"]))
    assert re.search(rf"\(?{n_aliased} not defined because of singularities", text), (
        text
    )
    for name_, aliased in zip(ref["colnames"], ref["rfit"]["aliased"], strict=True):
        line = next(ln for ln in text.splitlines() if ln.split()[:1] == [name_])
        assert (line.split()[1] == "NA") == aliased, line


def test_r_drops_the_later_column_of_a_collinear_set():
    """Put the combination x1 + 2 x2 after x2: now it is the one aliased.

    The model space is unchanged, so deviance and mu still equal R's.
    """
    name = "hard_binomial_collinear"
    ref = refdata.load(name)
    assert ref["colnames"] == ["(Intercept)", "x1", "x1_plus_2x2", "x2"]
    res = _hard_fit(name, columns=(0, 1, 3, 2))
    coef = np.asarray(res.coef)
    assert np.isnan(coef[3]) and np.all(np.isfinite(coef[:3]))
    np.testing.assert_allclose(float(res.deviance), ref["rfit"]["deviance"], rtol=RTOL)
    np.testing.assert_allclose(np.asarray(res.mu), ref["rfit"]["mu"], rtol=RTOL)


# --------------------------------------------------------------------------------
# Shared (20, 3) designs
# --------------------------------------------------------------------------------

N = 20
X_LIN = np.linspace(-1.0, 1.0, N)
WIGGLE = np.cos(7.0 * X_LIN)  # a third column, unrelated to the signal
X = np.column_stack([np.ones(N), X_LIN, WIGGLE])
GROUP = (X_LIN > 0).astype(np.float64)
X_GROUP = np.column_stack([np.ones(N), GROUP, WIGGLE])


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _fit_expect_warning(*args, **kwargs):
    """An eager fit that must end with a ConvergenceWarning."""
    with pytest.warns(jg.ConvergenceWarning):
        return jg.fit(*args, **kwargs)


def _assert_flagged(res, status: S) -> None:
    assert int(res.status) == status, f"status {S(int(res.status)).name}"
    assert not bool(res.converged)


# A converged fit (R's rule: relative deviance change < tol = 1e-8) solves the score
# equations to about sqrt(tol) relative to the size of their terms; a fit spoiled by
# overflow is off by O(1).
SCORE_RTOL = 1e-5


def _relative_score(X, y, mu, eta, weights, link: str, variance) -> float:
    """max_j |X_j' w (y - mu) mu'(eta) / V(mu)| relative to its terms' sizes."""
    dmu = {
        "log": lambda: np.exp(eta),
        "logit": lambda: special.expit(eta) * special.expit(-eta),
        "inverse": lambda: -1.0 / eta**2,
    }[link]()
    per_row = weights * dmu / variance(mu)
    score = X.T @ (per_row * (y - mu))
    size = np.abs(X).T @ (np.abs(per_row) * (np.abs(y) + np.abs(mu)))
    return float(np.max(np.abs(score) / size))


# --------------------------------------------------------------------------------
# Separation: flagged, never "converged" with huge coefficients
# --------------------------------------------------------------------------------


def _quasi_y():
    # group 1 all successes, group 0 mixed: quasi-complete separation on GROUP
    y = np.ones(N)
    y[: N // 2] = (np.arange(N // 2) % 3 == 0).astype(np.float64)
    return y


SEPARATED_BINOMIAL = {
    "complete": (X, (X_LIN > 0).astype(np.float64), None),
    "complete-reversed": (X, (X_LIN < 0.3).astype(np.float64), None),
    "quasi-complete-group": (X_GROUP, _quasi_y(), None),
    # grouped data: the GROUP = 0 rows have no successes in 25 trials each
    "grouped-zero-successes": (
        X_GROUP,
        np.where(GROUP > 0, _rng(3).binomial(25, 0.4, N) / 25.0, 0.0),
        np.full(N, 25.0),
    ),
}


@pytest.mark.parametrize("case", SEPARATED_BINOMIAL, ids=list(SEPARATED_BINOMIAL))
def test_binomial_separation_is_flagged(case):
    X_, y, weights = SEPARATED_BINOMIAL[case]
    res = _fit_expect_warning(X_, y, jg.Binomial(), weights=weights)
    _assert_flagged(res, S.SEPARATION)
    with pytest.raises(RuntimeError, match="SEPARATION"):
        jg.check(res)


def _side_data(side: str):
    """Separation towards mu = 1 ("ones") or mu = 0 ("zeros"), four ways."""
    mixed = (np.arange(N) % 3 == 0).astype(np.float64)
    edge = 1.0 if side == "ones" else 0.0
    return {
        "all": (X, np.full(N, edge), None),
        "quasi": (X_GROUP, np.where(GROUP > 0, edge, mixed), None),
        "grouped": (X_GROUP, np.where(GROUP > 0, edge, 0.4), np.full(N, 10.0)),
    }


_SIDE_CASES = [
    pytest.param(link, side, kind, id=f"{link}-{kind}-{side}")
    for link in ("Logit", "Probit", "CLogLog", "LogLog", "Cauchit")
    for side in ("ones", "zeros")
    for kind in ("all", "quasi", "grouped")
]


@pytest.mark.parametrize(("link", "side", "kind"), _SIDE_CASES)
def test_binomial_separation_is_flagged_for_every_link(link, side, kind):
    X_, y, weights = _side_data(side)[kind]
    family = jg.Binomial(link=getattr(jg.links, link)())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = jg.fit(X_, y, family, weights=weights)
    _assert_flagged(res, S.SEPARATION)
    assert any(issubclass(w.category, jg.ConvergenceWarning) for w in caught)


def test_quasi_complete_separation_with_a_tied_point():
    """One x value has both outcomes; every other point is separated by x = 0."""
    x = np.r_[np.linspace(-1.0, -0.1, 9), 0.0, 0.0, np.linspace(0.1, 1.0, 9)]
    y = np.r_[np.zeros(9), 0.0, 1.0, np.ones(9)]
    X_ = np.column_stack([np.ones(N), x, WIGGLE])
    res = _fit_expect_warning(X_, y, jg.Binomial())
    _assert_flagged(res, S.SEPARATION)


POISSON_ZERO = {
    "zero-group": lambda: np.where(GROUP > 0, _rng(4).poisson(4.0, N), 0).astype(float),
    "all-zero": lambda: np.zeros(N),
    "zero-tail": lambda: np.where(X_LIN > 0.5, _rng(5).poisson(3.0, N) + 1, 0).astype(
        float
    ),
}


@pytest.mark.parametrize("case", POISSON_ZERO, ids=list(POISSON_ZERO))
def test_poisson_zero_counts_are_flagged(case):
    X_ = X_GROUP if case == "zero-group" else X
    if case == "zero-tail":
        # zeros exactly where the indicator of x > 0.5 is 0: a quasi-separating column
        X_ = np.column_stack([np.ones(N), (X_LIN > 0.5).astype(float), WIGGLE])
    res = _fit_expect_warning(X_, POISSON_ZERO[case](), jg.Poisson())
    _assert_flagged(res, S.SEPARATION)


def test_negative_binomial_zero_group_is_flagged():
    y = np.where(GROUP > 0, _rng(6).poisson(5.0, N), 0).astype(float)
    res = _fit_expect_warning(X_GROUP, y, jg.NegativeBinomial(alpha=0.5))
    _assert_flagged(res, S.SEPARATION)


def _grouped_extreme():
    # eta from -14 to 6 over 1000 trials per row: fitted p down to ~1e-6, yet every
    # x has both outcomes possible and several middle rows have both: no separation.
    trials = np.full(N, 1000.0)
    p = special.expit(-4.0 + 10.0 * X_LIN)
    return _rng(3).binomial(1000, p) / trials, trials


def test_extreme_but_finite_binomial_is_not_flagged():
    y, trials = _grouped_extreme()
    assert 0 < np.sum((y > 0) & (y < 1)) < N
    res = jg.fit(X, y, jg.Binomial(), weights=trials)
    assert int(res.status) == S.SUCCESS and bool(res.converged)
    mu = np.asarray(res.mu)
    assert mu.min() < 1e-5, "the test needs extreme fitted probabilities"
    assert np.all(np.isfinite(np.asarray(res.coef)))
    assert (
        _relative_score(
            X, y, mu, np.asarray(res.eta), trials, "logit", lambda m: m * (1 - m)
        )
        < SCORE_RTOL
    )


def test_extreme_but_finite_probit_is_not_flagged():
    y, trials = _grouped_extreme()
    res = jg.fit(X, y, jg.Binomial(link=jg.links.Probit()), weights=trials)
    assert int(res.status) == S.SUCCESS and bool(res.converged)
    assert float(np.min(res.mu)) < 1e-10
    assert np.all(np.isfinite(np.asarray(res.coef)))


def test_cloglog_fit_with_saturated_means_is_not_flagged():
    # Grouped data, 50 trials: the low-x rows are mixed (0 < y < 1) and span all
    # three columns, so no separating direction exists and the MLE is finite; the
    # top rows have p = 1 - exp(-exp(4.5)), which rounds to 1 in float64.
    p = -np.expm1(-np.exp(0.5 + 4.0 * X_LIN))
    y = _rng(51).binomial(50, p) / 50.0
    assert np.linalg.matrix_rank(X[(y > 0) & (y < 1)]) == 3
    res = jg.fit(X, y, jg.Binomial(link=jg.links.CLogLog()), weights=np.full(N, 50.0))
    assert int(res.status) == S.SUCCESS and bool(res.converged)
    assert np.all(np.abs(np.asarray(res.coef)) < 10)


def test_loglog_fit_without_separation_finds_the_mle():
    rng = _rng(2405615036)
    Z = rng.uniform(-1.0, 1.0, size=(N, 2))
    y = rng.binomial(np.ones(N, np.int64), special.expit(Z @ [0.5, 0.5])) / 1.0
    X_ = np.column_stack([np.ones(N), Z])
    # mixed outcomes everywhere: logit, probit, cloglog and cauchit all converge
    ref = jg.fit(X_, y, jg.Binomial())
    assert int(ref.status) == S.SUCCESS and float(ref.deviance) < 21
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jg.ConvergenceWarning)
        res = jg.fit(X_, y, jg.Binomial(link=jg.links.LogLog()))
    assert int(res.status) == S.SUCCESS, S(int(res.status)).name
    assert float(res.deviance) <= float(res.null_deviance)
    assert np.all(np.abs(np.asarray(res.coef)) < 100)


def test_tiny_but_finite_poisson_means_are_not_flagged():
    # log mu from -9 to 3: zeros at the low end, but counts on both sides of the
    # middle so the MLE is finite
    y = _rng(11).poisson(np.exp(-3.0 + 6.0 * X_LIN)).astype(float)
    y[[12, 15]] = [1.0, 0.0]  # keep one zero amid counts
    res = jg.fit(X, y, jg.Poisson())
    assert int(res.status) == S.SUCCESS and bool(res.converged)
    assert float(np.min(res.mu)) < 1e-3
    assert (
        _relative_score(
            X,
            y,
            np.asarray(res.mu),
            np.asarray(res.eta),
            np.ones(N),
            "log",
            lambda m: m,
        )
        < SCORE_RTOL
    )


# --------------------------------------------------------------------------------
# Overflow: no inf/NaN from avoidable overflow
# --------------------------------------------------------------------------------


def _spike():
    y = np.zeros(N)
    y[[0, 10, N - 1]] = [1.0, 3.0, 1e6]
    return y


OVERFLOW_POISSON = {
    # counts up to ~7e7 from a steep log-link gradient
    "steep": (X, lambda: _rng(12).poisson(np.exp(3.0 + 15.0 * X_LIN)).astype(float)),
    # the same with the slope column scaled by 1000 (first steps can overshoot)
    "steep-scaled-column": (
        np.column_stack([np.ones(N), 1000.0 * X_LIN, WIGGLE]),
        lambda: _rng(12).poisson(np.exp(3.0 + 15.0 * X_LIN)).astype(float),
    ),
    "counts-in-millions": (
        X,
        lambda: _rng(13).poisson(2e6 * np.exp(X_LIN)).astype(float),
    ),
    "counts-in-billions": (
        X,
        lambda: _rng(14).poisson(1e9 * np.exp(X_LIN)).astype(float),
    ),
    # zeros next to one huge count: the MLE is finite but the first steps are wild
    "spike": (X, lambda: _spike()),
}


@pytest.mark.parametrize("case", OVERFLOW_POISSON, ids=list(OVERFLOW_POISSON))
def test_poisson_overflow_prone_fits_are_finite(case):
    X_, make_y = OVERFLOW_POISSON[case]
    y = make_y()
    res = jg.fit(X_, y, jg.Poisson())
    assert int(res.status) == S.SUCCESS and bool(res.converged)
    for field in ("coef", "se", "mu", "eta", "deviance", "aic"):
        assert np.all(np.isfinite(np.asarray(getattr(res, field)))), field
    assert (
        _relative_score(
            X_,
            y,
            np.asarray(res.mu),
            np.asarray(res.eta),
            np.ones(N),
            "log",
            lambda m: m,
        )
        < SCORE_RTOL
    )


@pytest.mark.parametrize("mean", [1e-12, 1e-6, 1e6, 1e12], ids=lambda m: f"mean{m:g}")
@pytest.mark.parametrize("link", ["Log", "Inverse"])
def test_gamma_tiny_and_huge_means_are_finite(mean, link):
    y = _rng(15).gamma(3.0, mean * np.exp(X_LIN) / 3.0)
    res = jg.fit(X, y, jg.Gamma(link=getattr(jg.links, link)()))
    assert int(res.status) == S.SUCCESS and bool(res.converged)
    for field in ("coef", "se", "mu", "deviance", "aic", "scale"):
        assert np.all(np.isfinite(np.asarray(getattr(res, field)))), field
    mu = np.asarray(res.mu)
    assert np.all(mu > 0) and 0.1 < np.median(mu / y) < 10
    assert (
        _relative_score(
            X, y, mu, np.asarray(res.eta), np.ones(N), link.lower(), lambda m: m**2
        )
        < SCORE_RTOL
    )
    # the dispersion does not depend on the scale of y
    assert 0.05 < float(res.scale) < 1.0


# --------------------------------------------------------------------------------
# max_iter and jg.check
# --------------------------------------------------------------------------------

Y_COUNTS = _rng(21).poisson(np.exp(1.0 + 0.5 * X_LIN)).astype(float)


def test_max_iter_one_is_flagged_and_warns():
    with pytest.warns(jg.ConvergenceWarning, match="MAX_ITER"):
        res = jg.fit(X, Y_COUNTS, jg.Poisson(), max_iter=1)
    _assert_flagged(res, S.MAX_ITER)
    assert int(res.n_iter) == 1
    assert np.all(np.isfinite(np.asarray(res.coef)))
    with pytest.raises(RuntimeError, match="MAX_ITER"):
        jg.check(res)


def test_check_passes_a_good_fit():
    res = jg.fit(X, Y_COUNTS, jg.Poisson())
    assert int(res.status) == S.SUCCESS
    assert jg.check(res) is None


# --------------------------------------------------------------------------------
# vmap isolation: every member equals the same fit run alone
# --------------------------------------------------------------------------------


def _poisson_batch():
    rng = _rng(31)
    good = [rng.poisson(np.exp(1.0 + 0.5 * X_LIN)).astype(float) for _ in range(3)]
    y_nan = good[0].copy()
    y_nan[4] = np.nan
    X_inf = X.copy()
    X_inf[7, 1] = np.inf
    members = [
        ("good", X, good[0], S.SUCCESS),
        ("y-nan", X, y_nan, S.INVALID_INPUT),
        ("zero-group", X_GROUP, POISSON_ZERO["zero-group"](), S.SEPARATION),
        ("good", X_GROUP, good[1], S.SUCCESS),
        ("all-zero", X, np.zeros(N), S.SEPARATION),
        ("X-inf", X_inf, good[2], S.INVALID_INPUT),
        ("good", X, good[2], S.SUCCESS),
    ]
    return jg.Poisson(), members


def _binomial_batch():
    rng = _rng(32)
    good = [
        (rng.uniform(size=N) < special.expit(0.3 + X_LIN)).astype(float)
        for _ in range(2)
    ]
    X_nan = X.copy()
    X_nan[0, 2] = np.nan
    members = [
        ("complete", X, SEPARATED_BINOMIAL["complete"][1], S.SEPARATION),
        ("good", X, good[0], S.SUCCESS),
        ("quasi", X_GROUP, _quasi_y(), S.SEPARATION),
        ("X-nan", X_nan, good[1], S.INVALID_INPUT),
        ("good", X_GROUP, good[1], S.SUCCESS),
        ("y-above-one", X, np.where(np.arange(N) == 3, 2.0, good[0]), S.INVALID_INPUT),
    ]
    return jg.Binomial(), members


BATCHES = {"Poisson": _poisson_batch, "Binomial": _binomial_batch}
FIELDS = ("coef", "se", "cov", "deviance", "null_deviance", "aic", "mu", "eta", "scale")


@functools.cache
def _batch(kind: str):
    family, members = BATCHES[kind]()
    Xs = np.stack([m[1] for m in members])
    ys = np.stack([m[2] for m in members])
    res = jax.vmap(lambda X_, y_: jg.fit(X_, y_, family))(Xs, ys)
    return family, members, res


@functools.cache
def _solo_jit(kind: str):
    family, _ = BATCHES[kind]()
    return jax.jit(lambda X_, y_: jg.fit(X_, y_, family))


def _member(res, i):
    return jax.tree.map(lambda a: a[i], res)


@pytest.mark.parametrize("kind", BATCHES)
def test_vmap_batch_statuses(kind):
    _, members, res = _batch(kind)
    got = [S(int(s)).name for s in np.asarray(res.status)]
    assert got == [m[3].name for m in members]
    np.testing.assert_array_equal(
        np.asarray(res.converged), [m[3] == S.SUCCESS for m in members]
    )


@pytest.mark.parametrize("kind", BATCHES)
def test_vmap_members_equal_solo_fits(kind):
    """Each member (good or bad) equals the same fit jitted alone: the same
    status, iterations and rank, and every statistic to 1e-12.

    A separated member is the exception for its values: IRLS stopped on a path
    to infinity, where the Newton matrix is close to singular and amplifies
    rounding by its condition number.  The batched solve sums in another order
    than the single one (vectorised over the batch), so those members agree to
    1e-8 of each field's largest entry instead.
    """
    family, members, res = _batch(kind)
    solo_fit = _solo_jit(kind)
    for i, (label, X_, y_, _) in enumerate(members):
        solo, member = solo_fit(X_, y_), _member(res, i)
        assert int(member.status) == int(solo.status), (i, label)
        assert int(member.n_iter) == int(solo.n_iter), (i, label)
        assert int(member.rank) == int(solo.rank), (i, label)
        separated = int(solo.status) == S.SEPARATION
        for field in FIELDS:
            expected = np.asarray(getattr(solo, field))
            finite = expected[np.isfinite(expected)]
            largest = np.max(np.abs(finite)) if finite.size else 0.0
            np.testing.assert_allclose(
                np.asarray(getattr(member, field)),
                expected,
                rtol=0.0 if separated else 1e-12,
                atol=1e-8 * largest if separated else 0.0,
                equal_nan=True,
                err_msg=f"{kind} member {i} ({label}): {field}",
            )


@pytest.mark.parametrize("kind", BATCHES)
def test_vmap_good_members_equal_eager_fits(kind):
    family, members, res = _batch(kind)
    for i, (_, X_, y_, status) in enumerate(members):
        if status != S.SUCCESS:
            continue
        eager, member = jg.fit(X_, y_, family), _member(res, i)
        for field in FIELDS:
            value = np.asarray(getattr(member, field))
            assert np.all(np.isfinite(value)), (i, field)
            np.testing.assert_allclose(
                value,
                np.asarray(getattr(eager, field)),
                rtol=1e-12,
                atol=0.0,
                err_msg=f"{kind} member {i}: {field}",
            )


@pytest.mark.parametrize("kind", BATCHES)
def test_check_lists_failing_batch_indices(kind):
    _, members, res = _batch(kind)
    with pytest.raises(RuntimeError) as info:
        jg.check(res)
    message = str(info.value)
    reported = dict(re.findall(r"index (\d+): (\w+)", message))
    expected = {str(i): m[3].name for i, m in enumerate(members) if m[3] != S.SUCCESS}
    assert reported == expected, message


def test_check_names_indices_of_a_2d_batch():
    _, members, res = _batch("Poisson")
    keep = 6
    grid = jax.tree.map(lambda a: a[:keep].reshape(2, 3, *a.shape[1:]), res)
    with pytest.raises(RuntimeError) as info:
        jg.check(grid)
    message = str(info.value)
    for i, m in enumerate(members[:keep]):
        index = rf"\(\s*{i // 3},\s*{i % 3}\s*\)"
        assert bool(re.search(index, message)) == (m[3] != S.SUCCESS), (index, message)


# --------------------------------------------------------------------------------
# float32
# --------------------------------------------------------------------------------

F32_CASES = {
    "Poisson": (jg.Poisson, lambda: Y_COUNTS, None),
    "Binomial": (
        jg.Binomial,
        lambda: _rng(41).binomial(30, special.expit(0.2 + X_LIN)) / 30.0,
        np.full(N, 30.0),
    ),
    "Gamma-Log": (
        lambda: jg.Gamma(link=jg.links.Log()),
        lambda: _rng(42).gamma(4.0, np.exp(0.5 + 0.3 * X_LIN) / 4.0),
        None,
    ),
}


@pytest.mark.parametrize("case", F32_CASES, ids=list(F32_CASES))
def test_float32_well_posed_fits_converge(case):
    make_family, make_y, weights = F32_CASES[case]
    y = make_y()
    ref = jg.fit(X, y, make_family(), weights=weights)
    with jax.enable_x64(False):
        res = jg.fit(
            X.astype(np.float32),
            y.astype(np.float32),
            make_family(),
            weights=None if weights is None else weights.astype(np.float32),
        )
        assert res.coef.dtype == jnp.float32 and res.mu.dtype == jnp.float32
        assert int(res.status) == S.SUCCESS and bool(res.converged)
    se = np.asarray(ref.se)
    err = np.abs(np.asarray(res.coef, np.float64) - np.asarray(ref.coef))
    assert np.all(err <= 2e-3 * (np.abs(np.asarray(ref.coef)) + se)), err
    np.testing.assert_allclose(float(res.deviance), float(ref.deviance), rtol=1e-3)


ILL_CONDITIONED = {
    # x and x + eps * w: cond(X) ~ 1/eps
    **{
        f"near-collinear-{eps:g}": ("collinear", eps)
        for eps in (1e-2, 3e-3, 1e-3, 1e-4, 1e-6)
    },
    # a covariate far from zero next to the intercept (a "year" column)
    **{f"shifted-{shift:g}": ("shifted", shift) for shift in (1e2, 1e3, 1e5)},
}


def _ill_design(kind: str, value: float) -> np.ndarray:
    if kind == "collinear":
        return np.column_stack([np.ones(N), X_LIN, X_LIN + value * WIGGLE])
    return np.column_stack([np.ones(N), value + X_LIN, WIGGLE])


@pytest.mark.parametrize("case", ILL_CONDITIONED, ids=list(ILL_CONDITIONED))
def test_float32_ill_conditioned_is_flagged_not_silently_off(case):
    """Either rank < p / a failed status, or the float64 answer to float32 accuracy."""
    X_ = _ill_design(*ILL_CONDITIONED[case])
    ref = jg.fit(X_, Y_COUNTS, jg.Poisson())
    assert int(ref.status) == S.SUCCESS and int(ref.rank) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jg.ConvergenceWarning)
        with jax.enable_x64(False):
            res = jg.fit(
                X_.astype(np.float32), Y_COUNTS.astype(np.float32), jg.Poisson()
            )
    flagged = int(res.rank) < 3 or int(res.status) != S.SUCCESS
    if flagged:
        assert int(res.rank) < 3 or not bool(res.converged)
        return
    coef = np.asarray(res.coef, np.float64)
    err = np.abs(coef - np.asarray(ref.coef))
    assert np.all(
        err <= 1e-2 * np.asarray(ref.se) + 1e-3 * np.abs(np.asarray(ref.coef))
    ), f"float32 fit claims success but is off: {coef} vs {np.asarray(ref.coef)}"


def test_float32_separation_is_flagged():
    with jax.enable_x64(False):
        res = _fit_expect_warning(
            X.astype(np.float32), (X_LIN > 0).astype(np.float32), jg.Binomial()
        )
    _assert_flagged(res, S.SEPARATION)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_separation_verdict_is_the_same_in_both_precisions(dtype):
    """Ten logistic fits separated by one covariate (n = 200, p = 4): flagged
    SEPARATION in float32 as in float64, single or vmapped, long before
    max_iter (the in-loop probe, _rules.separation_probe_due; float32 once ran
    all 100 iterations)."""
    rng = _rng(3)
    Xs = np.stack(
        [np.column_stack([np.ones(200), rng.normal(size=(200, 3))]) for _ in range(10)]
    ).astype(dtype)
    Ys = (Xs[:, :, 1] > 0).astype(dtype)
    with warnings.catch_warnings(), jax.enable_x64(dtype == np.float64):
        warnings.simplefilter("ignore", jg.ConvergenceWarning)
        batch = jax.vmap(lambda X, y: jg.fit(X, y, jg.Binomial()))(Xs, Ys)
        singles = [jg.fit(X, y, jg.Binomial()) for X, y in zip(Xs, Ys, strict=True)]
    assert np.all(np.asarray(batch.status) == S.SEPARATION)
    assert all(int(r.status) == S.SEPARATION for r in singles)
    assert np.max(np.asarray(batch.n_iter)) <= 80
    assert max(int(r.n_iter) for r in singles) <= 80
    if dtype == np.float64:  # float32 batches round differently from single fits
        np.testing.assert_array_equal(batch.n_iter, [int(r.n_iter) for r in singles])


def test_vmapped_fits_at_a_tight_tol_equal_single_fits():
    """A vmapped fit must not stop on a halved step that happens to meet the
    deviance rule (seen once over NB alpha at tol 1e-14: 3e-7 away)."""
    ref = refdata.load("negbin_log_quine")
    X, y, weights, offset = refdata.arrays(ref)
    alphas = jnp.asarray([0.25, 0.5, 1.0, 2.0, 4.0])

    def fit(alpha):
        family = jg.NegativeBinomial(alpha=alpha)
        return jg.fit(X, y, family, weights=weights, offset=offset, tol=1e-14)

    batch = jax.vmap(fit)(alphas)
    for i, alpha in enumerate(np.asarray(alphas)):
        one = fit(float(alpha))
        assert int(batch.status[i]) == int(one.status) == S.SUCCESS
        err = np.abs(np.asarray(batch.coef[i]) - np.asarray(one.coef))
        assert np.all(err <= 1e-12 * np.asarray(one.se)), (alpha, err)


def test_float32_counts_in_millions():
    y = _rng(13).poisson(2e6 * np.exp(X_LIN)).astype(float)
    ref = jg.fit(X, y, jg.Poisson())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jg.ConvergenceWarning)
        with jax.enable_x64(False):
            res = jg.fit(X.astype(np.float32), y.astype(np.float32), jg.Poisson())
    assert np.all(np.isfinite(np.asarray(res.mu)))
    if bool(res.converged):
        err = np.abs(np.asarray(res.coef, np.float64) - np.asarray(ref.coef))
        assert np.all(err <= 1e-2 * np.asarray(ref.se) + 1e-5), err
    else:
        assert int(res.status) != S.SUCCESS


# --------------------------------------------------------------------------------
# Separation against R (tests/reference/separation.json, made by
# tests/reference/make_separation_reference.R)
# --------------------------------------------------------------------------------

SEPARATION_CASES = refdata.load("separation")["cases"]


@pytest.mark.parametrize(
    "case", SEPARATION_CASES, ids=[c["name"] for c in SEPARATION_CASES]
)
def test_separation_agrees_with_r(case):
    """Where the MLE is at infinity jaxglm says SEPARATION (R warns on 8 of the
    27 such cases); where it is finite both converge to the same coefficients
    (R warns on one of those, overlap-CLogLog, although its MLE is finite)."""
    r = case["rfit"]
    X_ = np.asarray(case["X"], dtype=np.float64)
    y, weights = np.asarray(case["y"], float), np.asarray(case["weights"], float)
    family = getattr(jg, case["family"])(link=getattr(jg.links, case["link"])())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jg.ConvergenceWarning)
        tol = 1e-8 if case["separated"] else 1e-12  # as R: see the R script
        res = jg.fit(X_, y, family, weights=weights, tol=tol)
    status = S(int(res.status))
    if case["separated"]:
        # R warns only where a fitted mean is within 10 eps of 0 or 1: on the
        # complete and tied-point cases, not on the quasi-complete and grouped
        # ones, which R reports converged with no warning (for cloglog towards 1
        # with coefficients near 4, that look finite).
        assert status == S.SEPARATION, status.name
        assert not bool(res.converged)
    else:
        assert status == S.SUCCESS, status.name
        np.testing.assert_allclose(
            np.asarray(res.coef), r["coef"], rtol=1e-5, atol=1e-7
        )
        np.testing.assert_allclose(float(res.deviance), r["deviance"], rtol=1e-7)


def test_rank_deficient_and_separated_fits_against_statsmodels():
    """Our rank-deficient fits equal statsmodels' fits of the design without
    R's aliased columns (statsmodels' own pseudo-inverse IRLS on the full design
    runs off on hard_binomial_collinear); on separated logistic data statsmodels
    warns PerfectSeparationWarning where we flag SEPARATION."""
    sm = pytest.importorskip("statsmodels.api")
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    links = sm.families.links
    sm_links = {"Log": links.Log, "Logit": links.Logit, "Identity": links.Identity,
                "Inverse": links.InversePower}  # fmt: skip
    compared = 0
    for name in HARD_NAMES:
        ref = refdata.load(name)
        if ref["link"] not in sm_links:
            continue
        X_, y, family, weights, offset = _hard_inputs(ref)
        kept = ~np.asarray(ref["rfit"]["aliased"])
        sm_family = {
            "Poisson": sm.families.Poisson,
            "Binomial": sm.families.Binomial,
            "Gaussian": sm.families.Gaussian,
            "Gamma": sm.families.Gamma,
            "NegativeBinomial": functools.partial(
                sm.families.NegativeBinomial, alpha=ref["family_params"].get("alpha")
            ),
        }[ref["family"]](sm_links[ref["link"]]())
        res = _hard_fit(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.GLM(
                y, X_[:, kept], family=sm_family, var_weights=weights, offset=offset
            ).fit(tol=1e-12, maxiter=200)
            sm_mu, sm_deviance = np.asarray(fit.mu), float(fit.deviance)
        np.testing.assert_allclose(
            np.asarray(res.coef)[kept], fit.params, rtol=1e-6, atol=1e-9, err_msg=name
        )
        used = np.ones_like(y, bool) if weights is None else np.asarray(weights) > 0
        np.testing.assert_allclose(
            np.asarray(res.mu)[used], sm_mu[used], rtol=1e-6, atol=1e-9, err_msg=name
        )
        np.testing.assert_allclose(
            float(res.deviance), sm_deviance, rtol=1e-6, atol=1e-9, err_msg=name
        )
        compared += 1
    assert compared >= 5

    X_, y, _ = SEPARATED_BINOMIAL["complete"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sm.GLM(y, X_, family=sm.families.Binomial()).fit()
    assert any(issubclass(w.category, PerfectSeparationWarning) for w in caught)


def test_rank_never_exceeds_the_rows_used():
    """31 columns, 9 rows with weight (scikit-learn's weight-equivalence data):
    rounding in the Gram left a dependent column's pivot just above the rank
    tolerance, so the weighted fit kept 10 columns and reported SINGULAR where
    the same rows repeated kept 9.  The rank is capped by the rows used."""
    rng = np.random.RandomState(42)
    n = 15
    X = rng.rand(n, 2 * n)
    y = rng.randint(0, 3, size=n).astype(float)
    counts = rng.randint(0, 5, size=n)
    order = np.random.RandomState(0).permutation(n)
    design = np.column_stack([np.ones(n), X])[order]
    weighted = jg.fit(design, y[order], jg.Gaussian(), weights=counts[order] * 1.0)
    repeated_rows = np.repeat(np.arange(n), counts)
    repeated = jg.fit(
        np.column_stack([np.ones(n), X])[repeated_rows], y[repeated_rows], jg.Gaussian()
    )
    used = int((counts > 0).sum())
    for res in (weighted, repeated):
        assert int(res.status) == int(jg.Status.SUCCESS)
        assert int(res.rank) == used == 9
    np.testing.assert_array_equal(weighted.aliased, repeated.aliased)
    np.testing.assert_allclose(
        np.asarray(weighted.mu)[np.argsort(order)][counts > 0], y[counts > 0], atol=1e-9
    )
