"""``jg.anova`` against R's ``anova.glm`` / ``anova.glmlist`` tables.

References: ``tests/reference/anova_*.json`` from ``make_quasi_anova_reference.R``
(R at ``glm.control(epsilon = 1e-14)``; our fits at ``tol=1e-14``, and the
sequential refits inherit it through the formula fit's options).

Tolerances: deviances, Deviance, F rtol 1e-6 (F is a ratio of deviances and the
dispersion); p-values rtol 1e-5 (they come from the deviance changes, and R's
pchisq/pf against JAX's incomplete gamma/beta); degrees of freedom exact; NA
cells (R) are NaN.  The printed table must equal R's ``print()`` line for line
(trailing spaces included), apart from "Model i:" labels of fits of arrays.
"""

from __future__ import annotations

import functools
import re

import jax
import numpy as np
import pytest

import jaxglm as jg
import refdata
from checks import assert_close

pd = pytest.importorskip("pandas")
pytest.importorskip("formulaic")

NAMES = sorted(
    p.stem
    for p in refdata.REFERENCE_DIR.glob("anova_*.json")
    if "nested" in refdata.load(p.stem)
)
TESTS = ("Chisq", "F", "none")
TOL = 1e-14
P_RTOL = 1e-5


def _family(ref):
    link = getattr(jg.links, ref["link"])()
    if ref["family"] == "Quasi":
        return jg.Quasi(link=link, variance=ref["variance"])
    return getattr(jg, ref["family"])(link=link)


def _data(ref):
    data = jg.datasets.load(ref["data"], as_frame=True)
    if ref.get("subset"):
        data = data.query(ref["subset"]).reset_index(drop=True)
    return data


def _weights(ref):
    return np.asarray(ref["weights"], float) if ref["has_weights"] else None


@functools.cache
def _formula_fit(name, formula=None):
    ref = refdata.load(name)
    return jg.glm(
        formula or ref["formula"],
        _data(ref),
        family=_family(ref),
        weights=_weights(ref),
        tol=TOL,
    )


@functools.cache
def _array_fits(name):
    ref = refdata.load(name)
    y = np.asarray(ref["y"], float)
    offset = np.asarray(ref["offset"], float) if ref["has_offset"] else None
    weights = np.asarray(ref["weights"], float)  # prior weights (trials for cbind)
    has_weights = ref["has_weights"] or ref["family"] in ("Binomial", "QuasiBinomial")
    return tuple(
        jg.fit(
            np.asarray(X, float),
            y,
            _family(ref),
            weights=weights if has_weights else None,
            offset=offset,
            tol=TOL,
        )
        for X in ref["nested"]["X"]
    )


def _test_arg(test):
    return None if test == "none" else test


def _call(fn, ref_table):
    """Run fn, expecting R's warning (if R warned) and no other."""
    if ref_table["warning"] is None:
        return fn()
    with pytest.warns(UserWarning, match=re.escape(ref_table["warning"])):
        return fn()


def _assert_table(table, ref_table, what):
    assert isinstance(table, pd.DataFrame)
    expected = ref_table["columns"]
    assert list(table.columns) == list(expected), what
    assert [str(i) for i in table.index] == ref_table["rownames"], what
    for column, values in expected.items():
        r = np.array([np.nan if v is None else v for v in values], dtype=float)
        ours = table[column].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(ours), np.isnan(r)), f"{what}: {column} NA"
        ok = ~np.isnan(r)
        if column.endswith("Df"):
            assert np.array_equal(ours[ok], r[ok]), f"{what}: {column}"
            continue
        rtol = P_RTOL if column.startswith("Pr(") else 1e-6
        # A deviance change of zero (R: ~1e-13) is compared on the deviance scale.
        atol = (
            1e-9 * max(1.0, float(np.nanmax(np.abs(r)))) if column == "Deviance" else 0
        )
        assert_close(ours[ok], r[ok], rtol=rtol, atol=atol, what=f"{what}: {column}")


# --- the sequential table of one formula fit -----------------------------------------


@pytest.mark.parametrize("test", TESTS)
@pytest.mark.parametrize("name", NAMES)
def test_sequential_matches_r(name, test):
    ref = refdata.load(name)
    ref_table = ref["sequential"][test]
    res = _formula_fit(name)
    table = _call(lambda: jg.anova(res, test=_test_arg(test)), ref_table)
    _assert_table(table, ref_table, f"{name} sequential {test}")
    assert repr(table).split("\n") == ref_table["printed"]


@pytest.mark.parametrize("test", TESTS)
@pytest.mark.parametrize("name", NAMES)
def test_nested_array_fits_match_r(name, test):
    ref = refdata.load(name)
    ref_table = ref["nested"]["tables"][test]
    fits = _array_fits(name)
    table = _call(lambda: jg.anova(*fits, test=_test_arg(test)), ref_table)
    _assert_table(table, ref_table, f"{name} nested {test}")
    # Same layout as R's; the model labels differ (no formulas).
    printed = repr(table).split("\n")
    models = len(fits)
    assert printed[:2] == ref_table["printed"][:2]
    sizes = [int(np.shape(f.coef)[0]) for f in fits]
    assert printed[2 : 2 + models] == [
        f"Model {i + 1}: {p} column{'s' if p > 1 else ''} of X"
        for i, p in enumerate(sizes)
    ]
    assert printed[2 + models :] == ref_table["printed"][2 + models :]


@pytest.mark.parametrize("name", NAMES)
def test_nested_formula_fits_print_as_r(name):
    ref = refdata.load(name)
    ref_table = ref["nested"]["tables"]["Chisq"]
    fits = [_formula_fit(name, f) for f in ref["nested"]["formulas"]]
    table = jg.anova(*fits, test="Chisq")
    _assert_table(table, ref_table, f"{name} nested formulas")
    assert repr(table).split("\n") == ref_table["printed"]


def test_negbin_at_the_fitted_theta():
    glm_nb = getattr(jg, "glm_nb", None)
    if glm_nb is None:
        glm_nb = pytest.importorskip("jaxglm._negbin.fit").glm_nb
    ref = refdata.load("anova_negbin_quine")
    res = glm_nb(ref["formula"], jg.datasets.load_quine(as_frame=True), tol=TOL)
    assert_close(res.theta, ref["theta"], rtol=1e-6)
    ref_table = ref["sequential"]["Chisq"]
    with pytest.warns(UserWarning, match="without re-estimating 'theta'"):
        table = jg.anova(res, test="Chisq")
    _assert_table(table, ref_table, "negbin")
    assert repr(table).split("\n") == ref_table["printed"]


# --- behaviour ------------------------------------------------------------------


def test_lrt_is_chisq_and_none_has_no_test():
    res = _formula_fit("anova_poisson_warpbreaks")
    chisq = jg.anova(res, test="Chisq")
    lrt = jg.anova(res, test="LRT")
    pd.testing.assert_frame_equal(pd.DataFrame(chisq), pd.DataFrame(lrt))
    plain = jg.anova(res)
    assert list(plain.columns) == ["Df", "Deviance", "Resid. Df", "Resid. Dev"]
    assert np.isnan(chisq["Pr(>Chi)"].iloc[0])
    assert np.isnan(chisq["Df"].iloc[0]) and np.isnan(chisq["Deviance"].iloc[0])


def test_estimated_dispersion_uses_the_largest_model():
    # Chisq scales each deviance change by the largest model's dispersion.
    fits = _array_fits("anova_quasipoisson_warpbreaks")
    table = jg.anova(*fits, test="Chisq")
    scale = float(fits[-1].scale)
    from scipy import stats

    change = table["Deviance"].iloc[1]
    expected = stats.chi2.sf(change / scale, table["Df"].iloc[1])
    assert_close(table["Pr(>Chi)"].iloc[1], expected, rtol=1e-10)
    f_table = jg.anova(*fits, test="F")
    f = change / table["Df"].iloc[1] / scale
    assert_close(f_table["F"].iloc[1], f, rtol=1e-12)
    df2 = int(fits[-1].df_resid)
    assert_close(
        f_table["Pr(>F)"].iloc[1], stats.f.sf(f, table["Df"].iloc[1], df2), rtol=1e-10
    )


def test_intercept_only_formula_has_one_row():
    data = jg.datasets.load_warpbreaks(as_frame=True)
    res = jg.glm("breaks ~ 1", data, family=jg.Poisson(), tol=TOL)
    table = jg.anova(res, test="Chisq")
    assert list(table.index) == ["NULL"]
    assert int(table["Resid. Df"].iloc[0]) == 53


def test_equal_models_give_zero_df_and_no_test():
    fits = _array_fits("anova_poisson_warpbreaks")
    table = jg.anova(fits[0], fits[0], test="Chisq")
    assert table["Df"].iloc[1] == 0
    assert np.isnan(table["Pr(>Chi)"].iloc[1])


def test_derived_frames_are_plain_dataframes():
    table = jg.anova(*_array_fits("anova_poisson_warpbreaks"), test="Chisq")
    assert type(table).__name__ == "AnovaTable"
    sliced = table.iloc[1:]
    assert type(sliced) is pd.DataFrame
    assert "Analysis of Deviance" not in repr(sliced)
    assert str(table) == repr(table)


def test_named_array_fits_are_labelled_by_names():
    ref = refdata.load("anova_poisson_warpbreaks")
    fits = _array_fits("anova_poisson_warpbreaks")
    named = [
        f.replace(names=tuple(c))
        for f, c in zip(fits, ref["nested"]["colnames"], strict=True)
    ]
    text = repr(jg.anova(*named))
    assert "Model 1: (Intercept) + woolB" in text


def test_float32_table():
    ref = refdata.load("anova_quasipoisson_warpbreaks")
    expected = ref["nested"]["tables"]["F"]["columns"]
    y = np.asarray(ref["y"], np.float32)
    with jax.enable_x64(False):
        fits = [
            jg.fit(np.asarray(X, np.float32), y, jg.QuasiPoisson())
            for X in ref["nested"]["X"]
        ]
        table = jg.anova(*fits, test="F")
    assert_close(table["Resid. Dev"], expected["Resid. Dev"], rtol=1e-4)
    assert_close(table["F"].iloc[1], expected["F"][1], rtol=1e-3)
    assert_close(table["Pr(>F)"].iloc[1], expected["Pr(>F)"][1], rtol=1e-3)


# --- validation -----------------------------------------------------------------


def test_rejects_bad_test():
    res = _formula_fit("anova_poisson_warpbreaks")
    with pytest.raises(ValueError, match="test must be"):
        jg.anova(res, test="Rao")


def test_rejects_single_array_fit():
    fits = _array_fits("anova_poisson_warpbreaks")
    with pytest.raises(ValueError, match="pass the nested fits"):
        jg.anova(fits[0])


def test_rejects_wrong_order():
    fits = _array_fits("anova_poisson_warpbreaks")
    with pytest.raises(ValueError, match="smallest model first"):
        jg.anova(fits[2], fits[0])


def test_rejects_different_rows():
    ref = refdata.load("anova_poisson_warpbreaks")
    X = np.asarray(ref["nested"]["X"][0], float)
    y = np.asarray(ref["y"], float)
    small = jg.fit(X[:-1], y[:-1], jg.Poisson())
    with pytest.raises(ValueError, match="same rows"):
        jg.anova(small, _array_fits("anova_poisson_warpbreaks")[1])


def test_rejects_different_families_and_responses():
    ref = refdata.load("anova_poisson_warpbreaks")
    X = [np.asarray(x, float) for x in ref["nested"]["X"]]
    y = np.asarray(ref["y"], float)
    poisson = jg.fit(X[0], y, jg.Poisson())
    quasi = jg.fit(X[1], y, jg.QuasiPoisson())
    with pytest.raises(ValueError, match="family"):
        jg.anova(poisson, quasi)
    sqrt_link = jg.fit(X[1], y, jg.Poisson(link="sqrt"))
    with pytest.raises(ValueError, match="family"):
        jg.anova(poisson, sqrt_link)
    other_y = jg.fit(X[1], y + 1.0, jg.Poisson())
    with pytest.raises(ValueError, match="different response"):
        jg.anova(poisson, other_y)
    weighted = jg.fit(X[1], y, jg.Poisson(), weights=np.full(y.shape, 2.0))
    with pytest.raises(ValueError, match="prior weights"):
        jg.anova(poisson, weighted)


def test_rejects_models_that_are_not_nested():
    ref = refdata.load("anova_poisson_warpbreaks")
    X = np.asarray(ref["nested"]["X"][2], float)
    y = np.asarray(ref["y"], float)
    tension = jg.fit(X[:, [0, 2, 3]], y, jg.Poisson())  # deviance 241.9, 51 df
    wool_b = jg.fit(X[:, [0, 1, 4, 5]], y, jg.Poisson())  # a larger deviance, 50 df
    assert float(wool_b.deviance) > float(tension.deviance)
    with pytest.raises(ValueError, match="not nested"):
        jg.anova(tension, wool_b)


def test_rejects_batches_and_non_fits():
    ref = refdata.load("anova_poisson_warpbreaks")
    X = np.asarray(ref["nested"]["X"][0], float)
    ys = np.stack([np.asarray(ref["y"], float)] * 2)
    batch = jax.vmap(lambda y: jg.fit(X, y, jg.Poisson()))(ys)
    with pytest.raises(ValueError, match="batch of 2 fits"):
        jg.anova(batch)
    with pytest.raises(TypeError, match="not a fit"):
        jg.anova(X)
    with pytest.raises(TypeError, match="at least one fit"):
        jg.anova()


def test_rejects_multinomial():
    rng = np.random.default_rng(1)
    X = np.column_stack([np.ones(30), rng.normal(size=30)])
    y = rng.integers(0, 3, 30).astype(float)
    res = jg.fit(X, y, jg.Multinomial(n_classes=3))
    with pytest.raises(ValueError, match="Multinomial"):
        jg.anova(res, res)


def test_pickle_round_trip():
    import pickle

    table = jg.anova(_formula_fit("anova_poisson_warpbreaks"), test="Chisq")
    again = pickle.loads(pickle.dumps(table))
    assert type(again) is type(table)
    assert repr(again) == repr(table)
