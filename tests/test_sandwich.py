"""Sandwich covariances against R (``tests/reference/sandwich_*.json``).

The references come from ``tests/reference/make_sandwich_reference.R``: R's
``sandwich::vcovHC`` (HC0-HC3), ``sandwich::vcovCL`` (HC0, HC1, clusters from the
data) and ``lmtest::coeftest`` / ``coefci`` with the HC3 matrix, for seven glm fits
on the shipped data (Poisson, 0/1 and grouped binomial, Gamma log, weighted Gaussian
with a zero-weight row, offsets, an aliased column), each polished by R to the exact
optimum and fitted here at ``tol=1e-14``.  Each case is one fit compile.

Tolerances (measured worst case in brackets):

- matrices: rtol 1e-10, atol 1e-11 max|V| [2.4e-12 of max|V|, Gamma log, where R
  divides and multiplies by the dispersion and averages ``estfun / X`` over columns;
  1e-13 elsewhere] -- both fits are at the optimum to rounding.
- coeftest se, z, p and coefci: rtol 1e-10 (p: rtol 1e-9 max(1, z^2), as log p
  moves by about z dz).

The zero-weight case compares HC2/HC3 with R's formula with the hat values aligned
(R's vcovHC recycles a hat vector of length nobs over n rows; see the R script).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
import refdata
from checks import assert_close

NAMES = sorted(path.stem for path in refdata.REFERENCE_DIR.glob("sandwich_*.json"))
TIGHT_TOL = 1e-14
RTOL = 1e-10


def _np(values) -> np.ndarray:
    """A JSON vector or matrix with nulls (R's NA) as NaN."""

    def fix(v):
        if isinstance(v, list):
            return [fix(x) for x in v]
        return np.nan if v is None else v

    return np.asarray(fix(values), dtype=np.float64)


def _family(ref: dict):
    return getattr(jg, ref["family"])(link=getattr(jg.links, ref["link"])())


@functools.cache
def _case(name: str):
    ref = refdata.load(name)
    X, y, weights, offset = refdata.arrays(ref)
    res = jg.fit(
        X, y, family=_family(ref), weights=weights, offset=offset, tol=TIGHT_TOL
    )
    return ref, X, res


def _assert_nan_close(actual, expected, *, rtol, atol=0.0, what=""):
    """assert_close on the non-NaN entries; NaN (R's NA) where R has NA."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), f"{what}: NaN pattern"
    keep = ~np.isnan(expected)
    rtol = np.broadcast_to(rtol, expected.shape)[keep]
    assert_close(actual[keep], expected[keep], rtol=rtol, atol=atol, what=what)


def _assert_matrix(actual, expected, what):
    scale = np.nanmax(np.abs(np.asarray(expected)))
    _assert_nan_close(actual, expected, rtol=RTOL, atol=1e-11 * scale, what=what)


# --- R references -----------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_fit_matches_r(name):
    ref, _, res = _case(name)
    sw = ref["sandwich"]
    assert bool(res.converged)
    np.testing.assert_array_equal(np.asarray(res.aliased), sw["aliased"])
    assert int(res.nobs) == sw["nobs"] and int(res.rank) == sw["rank"]
    coef = _np(sw["coef"])
    _assert_nan_close(res.coef, coef, rtol=1e-9, atol=1e-12, what=f"{name} coef")


@pytest.mark.parametrize("kind", jg._sandwich.HC_TYPES)
@pytest.mark.parametrize("name", NAMES)
def test_vcov_hc_matches_r(name, kind):
    ref, X, res = _case(name)
    V = jg.vcov(res, X, kind)
    assert V.shape == (X.shape[1],) * 2 and V.dtype == jnp.float64
    _assert_matrix(V, _np(ref["sandwich"]["vcovHC"][kind]), f"{name} {kind}")


@pytest.mark.parametrize("kind", jg._sandwich.CLUSTER_TYPES)
@pytest.mark.parametrize("name", NAMES)
def test_vcov_cluster_matches_r(name, kind):
    ref, X, res = _case(name)
    cluster = np.asarray(ref["cluster"])
    assert len(np.unique(cluster)) == ref["sandwich"]["n_clusters"]
    V = jg.vcov(res, X, kind, cluster=cluster)
    _assert_matrix(V, _np(ref["sandwich"]["vcovCL"][kind]), f"{name} CL-{kind}")


@pytest.mark.parametrize("name", NAMES)
def test_with_cov_matches_coeftest(name):
    ref, X, res = _case(name)
    ct = ref["sandwich"]["coeftest_HC3"]
    robust = jg.with_cov(res, jg.vcov(res, X, "HC3"), cov_type="HC3")
    assert robust.cov_type == "HC3"
    z = _np(ct["z"])
    est = _np(ct["estimate"])
    _assert_nan_close(robust.coef, est, rtol=1e-9, atol=1e-12, what="coef")
    _assert_nan_close(robust.se, _np(ct["se"]), rtol=RTOL, what=f"{name} se")
    _assert_nan_close(robust.z, z, rtol=1e-9, atol=1e-12, what=f"{name} z")
    # coeftest uses the normal distribution for every glm, Gaussian and Gamma too.
    p_rtol = 1e-9 * np.maximum(1.0, np.nan_to_num(z) ** 2)
    _assert_nan_close(robust.pvalues, _np(ct["p"]), rtol=p_rtol, what=f"{name} p")
    ci = _np(ref["sandwich"]["coefci_HC3_90"])
    _assert_nan_close(robust.conf_int(0.9), ci, rtol=RTOL, atol=1e-12, what="ci")


def test_cluster_labels_are_recoded():
    ref, X, res = _case("sandwich_binomial_logit_infert")
    codes = np.asarray(ref["cluster"])
    expected = jg.vcov(res, X, "HC1", cluster=codes)
    strings = np.char.add("s", codes.astype(str))
    # String labels sort differently ("s10" < "s2"), so clusters are summed in
    # another order: equal up to rounding on the matrix's scale.
    scale = np.abs(np.asarray(expected)).max()
    for labels in (codes * 7 + 1000, codes.astype(float), strings):
        np.testing.assert_allclose(
            jg.vcov(res, X, "HC1", cluster=labels), expected, rtol=0, atol=1e-13 * scale
        )


# --- identities -------------------------------------------------------------------
@functools.cache
def _ols():
    rng = np.random.default_rng(0)
    n = 40
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.uniform(size=n)])
    y = X @ np.array([1.0, 2.0, -1.0]) + rng.normal(size=n) * (1 + np.abs(X[:, 1]))
    return X, y, jg.fit(X, y, family=jg.Gaussian(), tol=TIGHT_TOL)


def test_ols_textbook_formulas():
    X, y, res = _ols()
    n, p = X.shape
    e = y - X @ np.asarray(res.coef)
    inv = np.linalg.inv(X.T @ X)
    h = np.einsum("ij,jk,ik->i", X, inv, X)

    def textbook(omega):
        return inv @ (X.T * omega) @ X @ inv

    expected = {
        "HC0": textbook(e**2),
        "HC1": textbook(e**2) * n / (n - p),
        "HC2": textbook(e**2 / (1 - h)),
        "HC3": textbook(e**2 / (1 - h) ** 2),
    }
    for kind, V in expected.items():
        np.testing.assert_allclose(jg.vcov(res, X, kind), V, rtol=1e-12)
    # Each row its own cluster: HC0 times G / (G - 1) = n / (n - 1), and HC1.
    singletons = np.arange(n)
    np.testing.assert_allclose(
        jg.vcov(res, X, "HC0", cluster=singletons),
        expected["HC0"] * n / (n - 1),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        jg.vcov(res, X, "HC1", cluster=singletons), expected["HC1"], rtol=1e-12
    )


# --- batches, jit, grad, float32 --------------------------------------------------
@functools.cache
def _batch():
    ref, X, _ = _case("sandwich_poisson_log_warpbreaks")
    y = np.asarray(ref["y"])
    rng = np.random.default_rng(1)
    Y = np.stack([y, rng.poisson(y), rng.poisson(y + 5.0)]).astype(np.float64)
    res = jax.vmap(lambda yb: jg.fit(X, yb, family=jg.Poisson(), tol=TIGHT_TOL))(Y)
    return ref, X, Y, res


def _one(res, i):
    return jax.tree.map(lambda a: a[i], res)


@pytest.mark.parametrize("kind", ["HC0", "HC3"])
def test_batch_equals_each_fit(kind):
    _, X, Y, res = _batch()
    batched = jg.vcov(res, X, kind)
    assert batched.shape == (3, 4, 4)
    for i in range(len(Y)):
        np.testing.assert_allclose(
            batched[i], jg.vcov(_one(res, i), X, kind), rtol=1e-13
        )
    # The same through a user's vmap, and with one X per fit.
    mapped = jax.vmap(lambda r: jg.vcov(r, X, kind))(res)
    np.testing.assert_allclose(mapped, batched, rtol=1e-13)
    per_fit = jg.vcov(res, np.stack([X] * 3), kind)
    np.testing.assert_allclose(per_fit, batched, rtol=1e-13)


def test_batch_clusters_shared_and_per_fit():
    ref, X, Y, res = _batch()
    cluster = np.asarray(ref["cluster"])
    shared = jg.vcov(res, X, "HC1", cluster=cluster)
    other = np.arange(len(cluster)) % 9  # a second grouping for fit 2
    per_fit = jg.vcov(res, X, "HC1", cluster=np.stack([cluster, cluster, other]))
    np.testing.assert_allclose(per_fit[:2], shared[:2], rtol=1e-13)
    np.testing.assert_allclose(
        per_fit[2], jg.vcov(_one(res, 2), X, "HC1", cluster=other), rtol=1e-13
    )
    robust = jg.with_cov(res, X=X, type="HC1", cluster=cluster)
    assert robust.cov_type == "CL-HC1" and robust.se.shape == (3, 4)
    np.testing.assert_allclose(robust.cov, shared, rtol=1e-15)


def test_jit_matches_eager():
    ref, X, res = _case("sandwich_poisson_log_warpbreaks")
    y = np.asarray(ref["y"])
    codes = np.asarray(ref["cluster"]) - 1  # 0..G-1 under jit

    @jax.jit
    def robust(X, y, cluster):
        r = jg.fit(X, y, family=jg.Poisson(), tol=TIGHT_TOL)
        return jg.with_cov(r, jg.vcov(r, X, "HC3"), cov_type="HC3"), jg.vcov(
            r, X, "HC1", cluster
        )

    out, cl = robust(X, y, codes)
    assert out.cov_type == "HC3"
    np.testing.assert_allclose(out.cov, jg.vcov(res, X, "HC3"), rtol=1e-12)
    np.testing.assert_allclose(cl, jg.vcov(res, X, "HC1", cluster=codes), rtol=1e-12)
    # Traced ids need not be consecutive; out of range gives NaN, not an error.
    vcov_cl = jax.jit(lambda c: jg.vcov(res, X, "HC1", cluster=c))
    np.testing.assert_allclose(vcov_cl(codes * 8), cl, rtol=1e-12)
    assert np.isnan(vcov_cl(codes + X.shape[0])).all()
    with pytest.raises(TypeError, match="integer cluster ids"):
        vcov_cl(codes.astype(np.float64))


def test_grad_matches_finite_differences():
    _, X, res0 = _case("sandwich_poisson_log_warpbreaks")
    y0 = np.asarray(res0.y)

    def se_hc3(y):
        r = jg.fit(X, y, family=jg.Poisson(), tol=TIGHT_TOL)
        return jnp.sqrt(jg.vcov(r, X, "HC3")[1, 1])

    grad = jax.grad(se_hc3)(y0)
    step = 1e-5
    for i in (0, 17, 40):
        e = np.zeros_like(y0)
        e[i] = step
        fd = (se_hc3(y0 + e) - se_hc3(y0 - e)) / (2 * step)
        np.testing.assert_allclose(grad[i], fd, rtol=1e-6, atol=1e-10)


def test_float32_smoke():
    ref, X, _ = _case("sandwich_poisson_log_warpbreaks")
    with jax.enable_x64(False):
        res = jg.fit(
            X.astype(np.float32), np.asarray(ref["y"], np.float32), jg.Poisson()
        )
        V = jg.vcov(res, X, "HC3")
        C = jg.vcov(res, X, "HC1", cluster=np.asarray(ref["cluster"]))
        assert V.dtype == jnp.float32 and C.dtype == jnp.float32
        robust = jg.with_cov(res, V)
        assert robust.se.dtype == jnp.float32
    sw = ref["sandwich"]
    np.testing.assert_allclose(V, _np(sw["vcovHC"]["HC3"]), rtol=2e-3, atol=1e-6)
    np.testing.assert_allclose(C, _np(sw["vcovCL"]["HC1"]), rtol=2e-3, atol=1e-6)


# --- with_cov ---------------------------------------------------------------------
def test_with_cov_replaces_only_inference():
    _, X, res = _case("sandwich_gamma_log_trees")
    V = jg.vcov(res, X, "HC2")
    robust = jg.with_cov(res, V)
    assert robust.cov_type == "user" and res.cov_type is None
    se = np.sqrt(np.diag(np.asarray(V)))
    np.testing.assert_allclose(robust.se, se, rtol=1e-15)
    np.testing.assert_allclose(robust.z, np.asarray(res.coef) / se, rtol=1e-15)
    assert robust.pvalues.shape == res.pvalues.shape
    np.testing.assert_array_equal(robust.coef, res.coef)
    np.testing.assert_array_equal(robust.deviance, res.deviance)
    np.testing.assert_array_equal(robust.scale, res.scale)
    ci = robust.conf_int(0.95)
    np.testing.assert_allclose(ci[:, 1] - ci[:, 0], 2 * 1.959963984540054 * se)
    by_keyword = jg.with_cov(res, X=X, type="HC2")
    assert by_keyword.cov_type == "HC2"
    np.testing.assert_array_equal(by_keyword.cov, robust.cov)
    assert jg.with_cov(res, V, cov_type="my HC2").cov_type == "my HC2"


def test_aliased_rows_are_nan():
    ref, X, res = _case("sandwich_poisson_log_ships_offset_aliased")
    robust = jg.with_cov(res, X=X, type="HC3")
    aliased = np.asarray(ref["sandwich"]["aliased"])
    assert np.isnan(robust.se[aliased]).all() and np.isfinite(robust.se[~aliased]).all()
    assert np.isnan(robust.pvalues[aliased]).all()


# --- eager validation -------------------------------------------------------------
def test_validation_errors():
    ref, X, res = _case("sandwich_poisson_log_warpbreaks")
    n, p = X.shape
    cluster = np.asarray(ref["cluster"])
    with pytest.raises(ValueError, match="type='HC4'"):
        jg.vcov(res, X, "HC4")
    with pytest.raises(ValueError, match="type='hc0'"):
        jg.vcov(res, X, "hc0")
    with pytest.raises(ValueError, match="clustered.*'HC0', 'HC1'"):
        jg.vcov(res, X, "HC3", cluster=cluster)
    with pytest.raises(ValueError, match=r"X has shape \(54, 3\)"):
        jg.vcov(res, X[:, :3], "HC0")
    with pytest.raises(ValueError, match=r"cluster has shape \(53,\)"):
        jg.vcov(res, X, "HC0", cluster=cluster[:-1])
    with pytest.raises(ValueError, match="cluster has NaN"):
        jg.vcov(res, X, "HC0", cluster=np.where(cluster == 1, np.nan, cluster))
    with pytest.raises(ValueError, match=r"cov has shape \(3, 3\)"):
        jg.with_cov(res, np.eye(3))
    with pytest.raises(ValueError, match="needs cov"):
        jg.with_cov(res)
    with pytest.raises(ValueError, match="not both"):
        jg.with_cov(res, np.eye(p), X=X)
    with pytest.raises(TypeError, match="GLMResult"):
        jg.vcov(X, X)


def test_formula_fit_rebuilds_its_design():
    pytest.importorskip("formulaic")
    wb = jg.datasets.load_warpbreaks(as_frame=True)
    res = jg.glm("breaks ~ wool * tension", wb, family=jg.Poisson())
    X = res.formula.design(wb)[0]
    for kind in ("HC0", "HC3"):
        np.testing.assert_array_equal(jg.vcov(res, type=kind), jg.vcov(res, X, kind))
    ids = np.arange(len(wb)) % 9
    np.testing.assert_array_equal(
        jg.vcov(res, cluster=ids, type="HC1"), jg.vcov(res, X, "HC1", ids)
    )
    with pytest.raises(ValueError, match="needs X"):
        jg.vcov(jg.fit(X, wb["breaks"].to_numpy(float), jg.Poisson()))
