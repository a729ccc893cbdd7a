"""Quasi families against R's ``quasipoisson()``, ``quasibinomial()`` and ``quasi()``.

References: ``tests/reference/quasi_*.json`` from ``make_quasi_anova_reference.R``
(R at ``glm.control(epsilon = 1e-14)``; we fit at ``tol=1e-14`` too).  Tolerances,
as tests/test_reference_r.py: coef and se rtol 1e-6 + 1e-6 se; t rtol 1e-6 + 1e-6;
p-values rtol 2e-6 max(1, t^2); cov rtol 1e-6 + 1e-6 se_i se_j; dispersion,
deviances and mu rtol 1e-6; degrees of freedom exact.  R's aic is NA: ours NaN.
"""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
import refdata
from checks import assert_close

NAMES = sorted(p.stem for p in refdata.REFERENCE_DIR.glob("quasi_*.json"))
TOL = 1e-14
RTOL = 1e-6


def _family(ref):
    link = getattr(jg.links, ref["jg_link"])()
    if ref["jg_family"] == "Quasi":
        return jg.Quasi(link=link, variance=ref["variance"])
    return getattr(jg, ref["jg_family"])(link=link)


def _arrays(ref):
    X = np.asarray(ref["X"], dtype=np.float64)
    y = np.asarray(ref["y"], dtype=np.float64)
    weights = np.asarray(ref["weights"], float) if ref["has_weights"] else None
    offset = np.asarray(ref["offset"], float) if ref["has_offset"] else None
    return X, y, weights, offset


@functools.cache
def _fit(name):
    ref = refdata.load(name)
    X, y, weights, offset = _arrays(ref)
    return jg.fit(X, y, _family(ref), weights=weights, offset=offset, tol=TOL)


def test_references_exist():
    assert len(NAMES) >= 10
    for name in NAMES:  # not picked up by the generic R-reference test
        assert name not in refdata.names()


@pytest.mark.parametrize("name", NAMES)
def test_matches_r(name):
    q = refdata.load(name)["quasi"]
    res = _fit(name)
    assert int(res.status) == int(jg.Status.SUCCESS)
    se = np.asarray(q["se"])
    assert_close(res.coef, q["coef"], rtol=RTOL, atol=1e-6 * se, what="coef")
    assert_close(res.se, se, rtol=RTOL, atol=1e-6 * se, what="se")
    assert_close(res.z, q["t"], rtol=RTOL, atol=1e-6, what="t")
    t = np.asarray(q["t"])
    assert_close(res.pvalues, q["pvalues"], rtol=2e-6 * np.maximum(1.0, t**2), what="p")
    assert_close(res.cov, q["cov"], rtol=RTOL, atol=1e-6 * np.outer(se, se))
    assert_close(res.scale, q["dispersion"], rtol=RTOL, what="dispersion")
    assert_close(res.deviance, q["deviance"], rtol=RTOL, what="deviance")
    assert_close(res.null_deviance, q["null_deviance"], rtol=RTOL, what="null")
    assert_close(res.mu, q["mu"], rtol=RTOL, atol=1e-10, what="mu")
    assert int(res.df_resid) == q["df_resid"]
    assert int(res.df_null) == q["df_null"]
    assert int(res.rank) == q["rank"]
    assert int(res.nobs) == q["nobs"]


@pytest.mark.parametrize("name", NAMES)
def test_no_likelihood_and_t_tests(name):
    res = _fit(name)
    assert q_aic_is_na(name)
    assert np.isnan(float(res.loglik))
    assert np.isnan(float(res.aic))
    assert np.isnan(float(res.bic))
    assert res.estimates_dispersion
    assert "t" in res.coef_table().columns


def q_aic_is_na(name):
    return refdata.load(name)["quasi"]["aic"] is None


@pytest.mark.parametrize("name", NAMES)
def test_summary_reads_as_r(name):
    ref = refdata.load(name)
    res = _fit(name)
    text = jg.summary(res, names=ref["colnames"])
    family = ref["quasi"]["family_name"]
    assert text.startswith(f"Family: {family}")
    assert f"(Dispersion parameter for {family} family taken to be" in text
    r_line = ref["quasi"]["printed_dispersion_line"]
    assert r_line.startswith(f"(Dispersion parameter for {family} family")
    assert r_line.strip() in text.splitlines()
    assert "AIC: NA" in text
    assert "t value" in text and "Pr(>|t|)" in text


# --- the same coefficients as the parent family --------------------------------------

PARENTS = [
    (jg.QuasiPoisson(), jg.Poisson(), "poisson"),
    (jg.Quasi("log", "mu"), jg.Poisson(), "poisson"),
    (jg.Quasi("inverse", "mu^2"), jg.Gamma(), "gamma"),
    (jg.Quasi("1/mu^2", "mu^3"), jg.InverseGaussian(), "gamma"),
    (jg.Quasi(), jg.Gaussian(), "gamma"),
    (jg.QuasiBinomial(), jg.Binomial(), "binomial"),
    (jg.Quasi("logit", "mu(1-mu)"), jg.Binomial(), "binomial"),
]


def _parent_data(kind):
    if kind == "poisson":
        ref = refdata.load("quasi_quasipoisson_log_warpbreaks")
        return np.asarray(ref["X"]), np.asarray(ref["y"]), None
    if kind == "gamma":
        ref = refdata.load("quasi_quasi_log_mu2_trees")
        return np.asarray(ref["X"]), np.asarray(ref["y"]) / 10.0, None
    ref = refdata.load("quasi_quasibinomial_logit_esoph")
    return np.asarray(ref["X"]), np.asarray(ref["y"]), np.asarray(ref["weights"])


@pytest.mark.parametrize("quasi, parent, kind", PARENTS, ids=repr)
def test_parent_coefficients(quasi, parent, kind):
    X, y, weights = _parent_data(kind)
    q = jg.fit(X, y, quasi, weights=weights, tol=TOL)
    p = jg.fit(X, y, parent, weights=weights, tol=TOL)
    assert int(q.status) == int(jg.Status.SUCCESS)
    assert_close(q.coef, p.coef, rtol=1e-9, atol=1e-12, what="coef")
    assert_close(q.deviance, p.deviance, rtol=1e-12, what="deviance")
    assert_close(q.null_deviance, p.null_deviance, rtol=1e-12, what="null")
    if parent.estimates_dispersion:
        assert_close(q.scale, p.scale, rtol=1e-9, what="scale")
        assert_close(q.se, p.se, rtol=1e-8, what="se")
    else:
        pearson = np.sum(
            np.asarray(p.weights)
            * (np.asarray(y) - np.asarray(p.mu)) ** 2
            / np.asarray(parent.variance(p.mu))
        ) / int(p.df_resid)
        assert_close(q.scale, pearson, rtol=1e-9, what="scale")
        assert_close(q.se, np.asarray(p.se) * np.sqrt(pearson), rtol=1e-8)


def test_quasi_mu1mu_with_trials_where_r_fails():
    # R's glm.fit oscillates for quasi(logit, "mu(1-mu)") on esoph's proportions
    # with trials as weights; the answer is quasibinomial's, which R does reach.
    ref = refdata.load("quasi_quasibinomial_logit_esoph")
    X, y, weights, _ = _arrays(ref)
    res = jg.fit(X, y, jg.Quasi("logit", "mu(1-mu)"), weights=weights, tol=TOL)
    q = ref["quasi"]
    assert int(res.status) == int(jg.Status.SUCCESS)
    assert_close(res.coef, q["coef"], rtol=RTOL, atol=1e-6 * np.asarray(q["se"]))
    assert_close(res.scale, q["dispersion"], rtol=RTOL)
    assert_close(res.deviance, q["deviance"], rtol=RTOL)


# --- formulas ----------------------------------------------------------------------


def test_formula_quasipoisson_matches_r():
    data = jg.datasets.load_warpbreaks(as_frame=True)
    res = jg.glm("breaks ~ wool + tension", data, family=jg.QuasiPoisson(), tol=TOL)
    q = refdata.load("quasi_quasipoisson_log_warpbreaks")["quasi"]
    assert_close(res.coef, q["coef"], rtol=RTOL, atol=1e-6 * np.asarray(q["se"]))
    assert_close(res.pvalues, q["pvalues"], rtol=1e-5)
    assert res.names == tuple(
        refdata.load("quasi_quasipoisson_log_warpbreaks")["colnames"]
    )


def test_formula_quasibinomial_cbind_matches_r():
    # Treatment instead of R's polynomial contrasts: the same fit, so the same
    # deviance, dispersion and fitted means.
    data = jg.datasets.load_esoph(as_frame=True)
    res = jg.glm(
        "cbind(ncases, ncontrols) ~ agegp + tobgp + alcgp",
        data,
        family="quasibinomial",
        tol=TOL,
    )
    q = refdata.load("quasi_quasibinomial_logit_esoph")["quasi"]
    assert isinstance(res.family, jg.QuasiBinomial)
    assert_close(res.scale, q["dispersion"], rtol=RTOL)
    assert_close(res.deviance, q["deviance"], rtol=RTOL)
    assert_close(res.mu, q["mu"], rtol=RTOL)


# --- construction ------------------------------------------------------------------


def test_defaults_and_names():
    assert isinstance(jg.Quasi().link, jg.links.Identity)
    assert jg.Quasi().varfun == "constant"
    assert isinstance(jg.QuasiPoisson().link, jg.links.Log)
    assert isinstance(jg.QuasiBinomial().link, jg.links.Logit)
    assert isinstance(jg.Quasi(link="1/mu^2").link, jg.links.InverseSquared)
    assert jg.Quasi(variance="mu ^ 2").varfun == "mu^2"
    assert repr(jg.Quasi("log", "mu")) == "Quasi(link=Log(), variance='mu')"
    assert type(jg.QuasiPoisson()).name == "quasipoisson"
    assert type(jg.QuasiBinomial()).name == "quasibinomial"
    assert type(jg.Quasi()).name == "quasi"
    for family in (jg.QuasiPoisson(), jg.QuasiBinomial(), jg.Quasi()):
        assert family.estimates_dispersion


def test_family_strings():
    ref = refdata.load("quasi_quasipoisson_log_warpbreaks")
    X, y, _, _ = _arrays(ref)
    by_name = jg.fit(X, y, "quasipoisson", tol=TOL)
    assert isinstance(by_name.family, jg.QuasiPoisson)
    assert_close(
        by_name.coef, _fit("quasi_quasipoisson_log_warpbreaks").coef, rtol=1e-12
    )
    assert isinstance(jg.fit(X, y, "quasi").family, jg.Quasi)


def test_facts_follow_the_variance():
    facts = {
        "constant": ("real", jg.links.Identity, False),
        "mu(1-mu)": ("unit", jg.links.Logit, True),
        "mu": ("positive", jg.links.Log, True),
        "mu^2": ("positive", jg.links.Inverse, False),
        "mu^3": ("positive", jg.links.InverseSquared, False),
    }
    for variance, (support, canonical, separation) in facts.items():
        family = jg.Quasi(link=canonical(), variance=variance)
        assert family.mean_support == support
        assert family.canonical_link is canonical
        assert family.uses_canonical_link
        assert family.separation_prone is separation


def test_bad_variance_and_link():
    with pytest.raises(ValueError, match="variance='mu\\^4' is invalid"):
        jg.Quasi(variance="mu^4")
    with pytest.raises(TypeError, match="variance must be one of"):
        jg.Quasi(variance=2)
    with pytest.raises(ValueError, match="not a known link"):
        jg.QuasiPoisson(link="nonsense")
    with pytest.raises(ValueError, match="Logit link"):
        jg.Quasi(link="logit", variance="mu")


def test_pytree_round_trip_and_replace():
    family = jg.Quasi("log", "mu^3")
    leaves, tree = jax.tree.flatten(family)
    again = jax.tree.unflatten(tree, leaves)
    assert again.varfun == "mu^3" and isinstance(again.link, jg.links.Log)
    assert again.mean_support == "positive"
    swapped = family.replace(link=jg.links.Identity())
    assert swapped.varfun == "mu^3" and isinstance(swapped.link, jg.links.Identity)
    assert jax.tree.structure(jg.Quasi("log", "mu")) != jax.tree.structure(
        jg.Quasi("log", "mu^2")
    )


# --- eager validation -----------------------------------------------------------------

X3 = np.column_stack([np.ones(6), np.arange(6.0)])


@pytest.mark.parametrize(
    "family, y, match",
    [
        (jg.QuasiBinomial(), [0, 0.5, 1, 2, 0.3, 0.1], r"proportions in \[0, 1\]"),
        (jg.QuasiPoisson(), [0, 1, -1, 2, 3, 1], "non-negative"),
        (jg.Quasi("log", "mu"), [0, 1, -1, 2, 3, 1], "non-negative"),
        (jg.Quasi("log", "mu^2"), [0.5, 1, -1, 2, 3, 1], "non-negative"),
        (jg.Quasi("log", "mu^3"), [0.0, 1, 1, 2, 3, 1], "positive"),
        (jg.Quasi("logit", "mu(1-mu)"), [0, 0.5, 1.5, 1, 0, 1], r"\[0, 1\]"),
        (jg.Quasi(), [0, 1, np.nan, 2, 3, 1], "NaN"),
    ],
    ids=lambda v: repr(v) if isinstance(v, jg.Family) else "",
)
def test_eager_validation(family, y, match):
    with pytest.raises(ValueError, match=match):
        jg.fit(X3, np.asarray(y, float), family)


def test_quasibinomial_hint_for_counts():
    with pytest.raises(ValueError, match="weights = number of trials"):
        jg.fit(X3, np.array([0, 1, 2, 3, 1, 0.0]), jg.QuasiBinomial())


def test_constant_variance_accepts_any_real_y():
    y = np.array([-2.0, -1.0, 0.5, 1.0, 3.0, 2.0])
    res = jg.fit(X3, y, jg.Quasi())
    ols = np.linalg.lstsq(X3, y, rcond=None)[0]
    assert_close(res.coef, ols, rtol=1e-10, atol=1e-12)


# --- transformations ------------------------------------------------------------------


def test_jit_matches_eager():
    ref = refdata.load("quasi_quasi_log_mu2_trees")
    X, y, _, _ = _arrays(ref)
    family = jg.Quasi("log", "mu^2")
    eager = jg.fit(X, y, family, tol=1e-12)
    jitted = jax.jit(lambda X, y, f: jg.fit(X, y, f, tol=1e-12))(X, y, family)
    assert_close(jitted.coef, eager.coef, rtol=1e-10)
    assert_close(jitted.scale, eager.scale, rtol=1e-10)
    assert np.isnan(float(jitted.aic))


def test_vmap_matches_loop():
    ref = refdata.load("quasi_quasipoisson_log_warpbreaks")
    X, y, _, _ = _arrays(ref)
    rng = np.random.default_rng(0)
    ys = np.stack([y, y + rng.integers(0, 5, y.shape), np.round(y * 1.3)])
    batch = jax.vmap(lambda yy: jg.fit(X, yy, jg.QuasiPoisson(), tol=1e-12))(ys)
    for i, yy in enumerate(ys):
        one = jg.fit(X, yy, jg.QuasiPoisson(), tol=1e-12)
        assert_close(batch.coef[i], one.coef, rtol=1e-9, atol=1e-12)
        assert_close(batch.scale[i], one.scale, rtol=1e-9)
        assert_close(batch.pvalues[i], one.pvalues, rtol=1e-7, atol=1e-300)


def test_vmap_invalid_input_is_a_status():
    X = jnp.asarray(X3)
    ys = jnp.array([[0, 0.5, 1, 0.2, 0.3, 0.1], [0, 0.5, 1, 2.0, 0.3, 0.1]])
    batch = jax.vmap(lambda yy: jg.fit(X, yy, jg.QuasiBinomial()))(ys)
    assert int(batch.status[0]) == int(jg.Status.SUCCESS)
    assert int(batch.status[1]) == int(jg.Status.INVALID_INPUT)


def test_separation_is_flagged_as_the_parent():
    x = np.arange(8.0)
    X = np.column_stack([np.ones(8), x])
    y = (x > 3.5).astype(float)
    for family, parent in (
        (jg.QuasiBinomial(), jg.Binomial()),
        (jg.Quasi("logit", "mu(1-mu)"), jg.Binomial()),
    ):
        with pytest.warns(jg.ConvergenceWarning):
            res = jg.fit(X, y, family)
        with pytest.warns(jg.ConvergenceWarning):
            ref = jg.fit(X, y, parent)
        assert int(res.status) == int(ref.status) == int(jg.Status.SEPARATION)
    # Counts all zero in one group: the Poisson MLE runs off to mu = 0 there.
    counts = np.array([0, 0, 0, 0, 3, 5, 4, 6.0])
    groups = np.column_stack([np.ones(8), y])
    with pytest.warns(jg.ConvergenceWarning):
        res = jg.fit(groups, counts, jg.QuasiPoisson())
    with pytest.warns(jg.ConvergenceWarning):
        ref = jg.fit(groups, counts, jg.Poisson())
    assert int(res.status) == int(ref.status) == int(jg.Status.SEPARATION)


def test_grad_through_a_quasi_fit():
    ref = refdata.load("quasi_quasi_log_mu2_trees")
    X, y, _, _ = _arrays(ref)
    family = jg.Quasi("log", "mu^2")

    def slope(weights):
        return jg.fit(X, y, family, weights=weights, tol=1e-12).coef[1]

    w = jnp.ones(y.shape[0])
    grad = jax.grad(slope)(w)
    assert np.all(np.isfinite(np.asarray(grad)))
    i, h = 3, 1e-5
    step = jnp.zeros_like(w).at[i].set(h)
    fd = (slope(w + step) - slope(w - step)) / (2 * h)
    assert_close(grad[i], fd, rtol=1e-5, atol=1e-9)


def test_float32_smoke():
    ref = refdata.load("quasi_quasipoisson_log_warpbreaks")
    X, y, _, _ = _arrays(ref)
    q = ref["quasi"]
    with jax.enable_x64(False):
        res = jg.fit(X.astype(np.float32), y.astype(np.float32), jg.QuasiPoisson())
        assert res.coef.dtype == jnp.float32 and res.scale.dtype == jnp.float32
        assert int(res.status) == int(jg.Status.SUCCESS)
        assert np.isnan(float(res.aic))
        se = np.asarray(q["se"])
        assert_close(res.coef, q["coef"], rtol=2e-3, atol=2e-3 * se, what="coef")
        assert_close(res.se, se, rtol=5e-3, what="se")
        assert_close(res.scale, q["dispersion"], rtol=2e-3, what="scale")
        mu2 = jg.fit(
            np.asarray(refdata.load("quasi_quasi_log_mu2_trees")["X"], np.float32),
            np.asarray(refdata.load("quasi_quasi_log_mu2_trees")["y"], np.float32),
            jg.Quasi("log", "mu^2"),
        )
        assert int(mu2.status) == int(jg.Status.SUCCESS)
        assert mu2.coef.dtype == jnp.float32


def test_reference_json_is_plain():
    # The references are plain JSON (no NaN literals): R's NA is null.
    for name in NAMES:
        text = (refdata.REFERENCE_DIR / f"{name}.json").read_text()
        assert "NaN" not in text
        json.loads(text)


def test_mu2_with_zeros_reaches_r_by_every_route():
    """R clips quasi mu^2's unit deviance at 0 (flat at y = 0 for mu < e); the
    steps are judged by the unclipped quasi-deviance, so the fit in memory and
    the streamed fit reach R's quasi-score root, and report R's deviance."""
    name = "quasi_quasi_log_mu2_insectsprays_zeros"
    ref = refdata.load(name)
    q = ref["quasi"]
    X, y, weights, offset = _arrays(ref)
    assert (y == 0).any() and weights is None and offset is None
    fitted = jg.fit(X, y, _family(ref))
    streamed = jg.fit_stream(jg.chunks_from_arrays(X, y, chunk_rows=20), _family(ref))
    se = np.asarray(q["se"])
    for res in (fitted, streamed):
        assert int(res.status) == int(jg.Status.SUCCESS)
        assert_close(res.coef, q["coef"], rtol=1e-8, atol=1e-8 * se, what="coef")
        assert_close(res.deviance, q["deviance"], rtol=1e-10, what="deviance")
