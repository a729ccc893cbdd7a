"""Residuals and influence measures against R (``tests/reference/diagnostics_*.json``).

The references come from ``tests/reference/make_diagnostics_reference.R``: one fit
per family on the shipped data (Poisson with an offset and an aliased column, grouped
binomial, Gamma, weighted Gaussian with a zero-weight row, negative binomial with
fixed theta, inverse Gaussian with a hat value of 0.98), each fitted by R at
``glm.control(epsilon = 1e-14)`` and here at ``tol=1e-14``.  Each family is one fit
compile; the float32 smoke test adds one, everything else reuses them.

Tolerances (measured worst case in brackets):

- residuals of every kind: rtol 1e-7, atol 1e-9 max|r| [1.6e-9 relative] -- both
  fits stop at the same relative deviance change, so the fitted means agree to about
  1e-10 and a residual near zero is judged on the scale of the others.
- hat: rtol 1e-6 [1.2e-8] -- R's hatvalues use the working weights of the
  penultimate IRLS iteration (``glm.fit`` keeps the weights from before its last
  update), ours those at the fitted means.
- Cook's distance: rtol 1e-5 [1.2e-7] -- it divides by (1 - h)^2, which multiplies
  that difference by 3000 at the clotting fit's h = 0.98.
- standardized residuals: rtol 1e-6, atol 1e-9 [3e-8].
- Anscombe residuals: R's numbers integrate V^(-1/3) numerically (rel.tol 1e-12),
  judged like the other residuals; statsmodels' closed forms (live, if installed)
  at rtol 1e-9.
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

NAMES = sorted(path.stem for path in refdata.REFERENCE_DIR.glob("diagnostics_*.json"))
KINDS = ("response", "working", "pearson", "deviance")
TIGHT_TOL = 1e-14


def _np(x) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in x], dtype=np.float64)


def _family(ref: dict):
    params = {k: v for k, v in ref["family_params"].items() if k in ("alpha", "power")}
    return getattr(jg, ref["family"])(**params, link=getattr(jg.links, ref["link"])())


@functools.cache
def _fit(name: str):
    ref = refdata.load(name)
    X, y, weights, offset = refdata.arrays(ref)
    res = jg.fit(
        X, y, family=_family(ref), weights=weights, offset=offset, tol=TIGHT_TOL
    )
    return ref, X, res


@functools.cache
def _influence(name: str):
    _, X, res = _fit(name)
    return jg.influence(res, X)


def _close_residuals(actual, expected, what):
    expected = _np(expected)
    atol = 1e-9 * np.nanmax(np.abs(expected))
    assert_close(actual, expected, rtol=1e-7, atol=atol, what=what)


def test_reference_files_exist():
    assert len(NAMES) >= 6, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_fit_matches_r(name):
    ref, _, res = _fit(name)
    rdiag = ref["rdiag"]
    assert int(res.status) == int(jg.Status.SUCCESS)
    assert int(res.rank) == rdiag["rank"]
    np.testing.assert_array_equal(np.asarray(res.aliased), rdiag["aliased"])
    assert_close(res.mu, rdiag["mu"], rtol=1e-8, what=f"{name}: mu")
    assert_close(res.scale, rdiag["dispersion"], rtol=1e-7, what=f"{name}: scale")


@pytest.mark.parametrize("name", NAMES)
def test_y_and_weights_fields(name):
    ref, _, res = _fit(name)
    X, y, weights, _ = refdata.arrays(ref)
    np.testing.assert_array_equal(np.asarray(res.y), y)
    expected = np.ones_like(y) if weights is None else weights
    np.testing.assert_array_equal(np.asarray(res.weights), expected)
    assert res.y.dtype == res.mu.dtype and res.weights.dtype == res.mu.dtype


@pytest.mark.parametrize("name", NAMES)
def test_residuals_match_r(name):
    ref, _, res = _fit(name)
    for kind in KINDS:
        expected = ref["rdiag"]["residuals"][kind]
        _close_residuals(jg.residuals(res, kind), expected, f"{name}: {kind}")
    _close_residuals(res.residuals(), ref["rdiag"]["residuals"]["deviance"], name)
    _close_residuals(
        jg.residuals(res, "anscombe"), ref["rdiag"]["anscombe"], f"{name}: anscombe"
    )


@pytest.mark.parametrize("name", NAMES)
def test_influence_matches_r(name):
    ref, _, res = _fit(name)
    rdiag = ref["rdiag"]
    infl = _influence(name)
    used = _np(ref["weights"]) > 0
    for field, key, rtol, atol in (
        ("hat", "hat", 1e-6, 0.0),
        ("cooks_distance", "cooks_distance", 1e-5, 0.0),
        ("std_deviance_resid", "rstandard_deviance", 1e-6, 1e-9),
        ("std_pearson_resid", "rstandard_pearson", 1e-6, 1e-9),
    ):
        ours = np.asarray(getattr(infl, field))
        expected = _np(rdiag[key])
        assert ours.shape == expected.shape and ours.dtype == res.mu.dtype
        # R leaves zero-weight rows out (null in the JSON); we give them 0.
        np.testing.assert_array_equal(np.isnan(expected), ~used)
        np.testing.assert_array_equal(ours[~used], 0.0)
        assert_close(
            ours[used], expected[used], rtol=rtol, atol=atol, what=f"{name}: {field}"
        )
    # The hat matrix is a projection onto the rank non-aliased columns.
    assert_close(np.sum(infl.hat), int(res.rank), rtol=1e-10, what="trace")


def test_zero_weight_rows_follow_r():
    ref, _, res = _fit("diagnostics_gaussian_identity_trees_zero_weight")
    zero = _np(ref["weights"]) == 0
    assert zero.sum() == 1
    for kind in ("pearson", "deviance", "anscombe"):
        np.testing.assert_array_equal(np.asarray(jg.residuals(res, kind))[zero], 0.0)
    for kind in ("response", "working"):
        assert np.all(np.asarray(jg.residuals(res, kind))[zero] != 0.0)


def test_deviance_residuals_are_zero_without_residual_df():
    # R's residuals.glm returns zeros when df.residual = 0.
    _, _, res = _fit("diagnostics_gamma_log_trees")
    saturated = res.replace(df_resid=jnp.zeros_like(res.df_resid))
    np.testing.assert_array_equal(np.asarray(jg.residuals(saturated)), 0.0)


def test_anscombe_matches_statsmodels():
    families = pytest.importorskip("statsmodels.genmod.families")
    sm_family = {
        "Poisson": lambda ref: families.Poisson(),
        "Binomial": lambda ref: families.Binomial(),
        "Gamma": lambda ref: families.Gamma(),
        "Gaussian": lambda ref: families.Gaussian(),
        "InverseGaussian": lambda ref: families.InverseGaussian(),
        "NegativeBinomial": lambda ref: families.NegativeBinomial(
            alpha=ref["family_params"]["alpha"]
        ),
    }
    for name in NAMES:
        ref, _, res = _fit(name)
        y, mu, w = (np.asarray(a) for a in (res.y, res.mu, res.weights))
        expected = sm_family[ref["family"]](ref).resid_anscombe(
            y, mu, var_weights=w, scale=1.0
        )
        assert_close(
            jg.residuals(res, "anscombe"), expected, rtol=1e-9, atol=1e-12, what=name
        )
    # Tweedie: the closed form only needs y and mu, so reuse the Gamma fit's.
    _, _, res = _fit("diagnostics_gamma_log_trees")
    y, mu = np.asarray(res.y), np.asarray(res.mu)
    for power in (0.0, 1.0, 1.5, 2.0, 3.0, 3.5):
        tweedie = res.replace(family=jg.Tweedie(power=power))
        expected = families.Tweedie(var_power=power).resid_anscombe(y, mu, scale=1.0)
        assert_close(
            jg.residuals(tweedie, "anscombe"),
            expected,
            rtol=1e-9,
            atol=1e-12,
            what=f"Tweedie({power})",
        )


def test_jit_matches_eager():
    name = "diagnostics_invgauss_inverse_squared_clotting"
    _, X, res = _fit(name)
    jitted = jax.jit(lambda r, X: (jg.influence(r, X), jg.residuals(r, "pearson")))
    infl, pearson = jitted(res, X)
    eager = _influence(name)
    for field in ("hat", "cooks_distance", "std_deviance_resid", "std_pearson_resid"):
        np.testing.assert_allclose(
            getattr(infl, field), getattr(eager, field), rtol=1e-12, err_msg=field
        )
    np.testing.assert_allclose(pearson, jg.residuals(res, "pearson"), rtol=1e-12)


def test_vmap_equals_loop():
    ref, X, _ = _fit("diagnostics_invgauss_inverse_squared_clotting")
    y = np.asarray(ref["y"])
    scales = np.array([[1.0], [1.1], [0.9]])
    jitter = 1.0 + 0.05 * np.sin(np.arange(len(y)) * np.arange(1, 4)[:, None])
    # Three fits stacked: what jax.vmap of jg.fit returns, without compiling it.
    fits = [
        jg.fit(X, y, family=_family(ref), tol=TIGHT_TOL) for y in y * scales * jitter
    ]
    batch = jax.tree.map(lambda *leaves: jnp.stack(leaves), *fits)
    assert np.all(np.asarray(batch.status) == int(jg.Status.SUCCESS))
    Xs = jnp.broadcast_to(jnp.asarray(X), (3, *X.shape))
    mapped = jax.vmap(jg.influence)(batch, Xs)
    shared = jg.influence(batch, X)  # a batched result maps itself, X shared
    resid = jax.vmap(lambda r: jg.residuals(r, "anscombe"))(batch)
    for i, one in enumerate(fits):
        infl = jg.influence(one, X)
        for field in ("hat", "cooks_distance", "std_deviance_resid"):
            expected = np.asarray(getattr(infl, field))
            for got in (mapped, shared):
                np.testing.assert_allclose(
                    np.asarray(getattr(got, field))[i], expected, rtol=1e-10
                )
        np.testing.assert_allclose(
            resid[i], jg.residuals(one, "anscombe"), rtol=1e-10, atol=1e-15
        )
    np.testing.assert_allclose(jg.residuals(batch, "anscombe"), resid, rtol=1e-12)


def test_float32_smoke():
    ref = refdata.load("diagnostics_gamma_log_trees")
    X, y, _, _ = refdata.arrays(ref)
    with jax.enable_x64(False):
        res = jg.fit(X.astype(np.float32), y.astype(np.float32), family=_family(ref))
        infl = jg.influence(res, X)
        resid = {kind: jg.residuals(res, kind) for kind in (*KINDS, "anscombe")}
    assert int(res.status) == int(jg.Status.SUCCESS)
    assert res.y.dtype == np.float32 and res.weights.dtype == np.float32
    assert infl.hat.dtype == np.float32
    rdiag = ref["rdiag"]
    assert_close(infl.hat, rdiag["hat"], rtol=1e-3, what="hat")
    assert_close(infl.cooks_distance, rdiag["cooks_distance"], rtol=1e-2, what="cook")
    assert_close(
        infl.std_deviance_resid, rdiag["rstandard_deviance"], rtol=1e-2, atol=1e-3
    )
    for kind in KINDS:
        assert resid[kind].dtype == np.float32
        assert_close(
            resid[kind], rdiag["residuals"][kind], rtol=1e-2, atol=1e-3, what=kind
        )


def test_bad_arguments():
    _, X, res = _fit("diagnostics_invgauss_inverse_squared_clotting")
    with pytest.raises(ValueError, match=r"kind='raw'.*'response'.*'anscombe'"):
        jg.residuals(res, "raw")
    with pytest.raises(ValueError, match=r"kind='partial'"):
        res.residuals("partial")
    with pytest.raises(ValueError, match=r"X has shape \(9, 3\).*n=9.*p=2"):
        jg.influence(res, np.ones((9, 3)))
    with pytest.raises(ValueError, match=r"X has shape \(8, 2\)"):
        jg.influence(res, X[:8])

    class Quasi(jg.InverseGaussian):
        pass

    custom = res.replace(family=Quasi(link=res.family.link))
    with pytest.raises(ValueError, match=r"kind='anscombe'.*Quasi"):
        jg.residuals(custom, "anscombe")
