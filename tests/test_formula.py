"""``jg.glm`` formula fits against R (tests/reference) and statsmodels' formula API.

Formula fits on the shipped data must give R's ``glm()`` numbers and R's column
names. Each reference fit here has the same shape, family and options as the array
fit of test_reference_r.py, so the suite compiles it once. Tolerances as there:
coef rtol 1e-6 with atol 1e-6 * se; se and deviance/AIC rtol 1e-6 (R fitted at
epsilon = 1e-14, as we do).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import jaxglm as jg
import refdata
from checks import assert_close

pd = pytest.importorskip("pandas")
pytest.importorskip("formulaic")

TIGHT_TOL = 1e-14
RTOL = 1e-6
INSURANCE = "Claims ~ District + Group + Age + offset(log(Holders))"


def _assert_matches_r(res, name: str, *, check_names: bool = True) -> dict:
    ref = refdata.load(name)
    r = ref["r"]
    se = np.asarray(r["se"])
    if check_names:
        assert list(res.names) == ref["colnames"]
    assert_close(res.coef, r["coef"], rtol=RTOL, atol=RTOL * se, what="coef")
    assert_close(res.se, se, rtol=RTOL, atol=RTOL * se, what="se")
    for stat in ("deviance", "null_deviance", "aic"):
        assert_close(getattr(res, stat), r[stat], rtol=RTOL, what=stat)
    return ref


@pytest.fixture(scope="module")
def insurance():
    return jg.datasets.load_insurance(as_frame=True)


@pytest.fixture(scope="module")
def insurance_fit(insurance):
    return jg.glm(INSURANCE, insurance, family=jg.Poisson(), tol=TIGHT_TOL)


def test_insurance_matches_r(insurance, insurance_fit):
    # The frame's categoricals carry R's level order, so treatment coding has R's
    # baselines (District "1", Group "<1l", Age "<25").
    assert {
        col: tuple(insurance[col].cat.categories)
        for col in ("District", "Group", "Age")
    } == jg.datasets.levels("insurance")
    _assert_matches_r(insurance_fit, "poisson_log_insurance_treatment")
    assert insurance_fit.n_dropped == 0


@pytest.mark.parametrize(
    "offset", ["log(Holders)", "np.log(Holders)", "array", "series"]
)
def test_offset_argument_forms(insurance, insurance_fit, offset):
    if offset == "array":
        offset = np.log(insurance["Holders"].to_numpy())
    elif offset == "series":
        offset = np.log(insurance["Holders"])
    res = jg.glm(
        "Claims ~ District + Group + Age",
        insurance,
        family=jg.Poisson(),
        offset=offset,
        tol=TIGHT_TOL,
    )
    assert_close(res.coef, insurance_fit.coef, rtol=1e-10, atol=1e-12, what="coef")
    assert res.names == insurance_fit.names
    new = insurance.iloc[:3]
    if isinstance(offset, str):
        assert_close(jg.predict(res, new), res.mu[:3], rtol=1e-12)
    else:  # new data cannot rebuild an array offset: it must be given
        with pytest.raises(ValueError, match="pass offset= for the new rows"):
            jg.predict(res, new)
        mu = jg.predict(res, new, offset=np.log(new["Holders"]))
        assert_close(mu, res.mu[:3], rtol=1e-12)


def test_formula_sees_callers_functions(insurance, insurance_fit):
    def halved_log(values):
        return np.log(values) / 2

    # A scalar log in the caller's scope does not shadow formulaic's vectorised one.
    log = math.log
    res = jg.glm(INSURANCE, insurance, family=jg.Poisson(), tol=TIGHT_TOL)
    assert_close(res.coef, insurance_fit.coef, rtol=1e-12, what="coef")
    assert log(1.0) == 0.0

    res = jg.glm(
        "Claims ~ District + Group + Age + offset(halved_log(Holders))",
        insurance,
        family=jg.Poisson(),
        offset="halved_log(Holders)",
        tol=TIGHT_TOL,
    )
    assert_close(res.coef, insurance_fit.coef, rtol=1e-10, atol=1e-12, what="coef")
    # predict re-evaluates both offsets on new data with the caller's function.
    assert_close(jg.predict(res, insurance.iloc[:5]), res.mu[:5], rtol=1e-12, what="mu")


def test_predict_on_dataframe_matches_r(insurance, insurance_fit):
    ref = refdata.load("poisson_log_insurance_treatment")
    pred = ref["predict"]
    new = insurance.iloc[pred["rows"]]
    # The offset is rebuilt from new data's Holders ...
    assert_close(
        jg.predict(insurance_fit, new),
        np.asarray(insurance_fit.mu)[pred["rows"]],
        rtol=1e-12,
        what="mu",
    )
    # ... unless given, as R's predict with its own offset.
    mu = jg.predict(insurance_fit, new, offset=np.asarray(pred["offset"]))
    assert_close(mu, pred["mu"], rtol=RTOL, what="predicted mu")
    eta = jg.predict(insurance_fit, new, offset=np.zeros(len(new)), which="linear")
    assert_close(eta, pred["eta_no_offset"], rtol=RTOL, atol=1e-8, what="eta")
    # A dict of columns works as well as a DataFrame.
    as_dict = {column: new[column] for column in new.columns}
    assert_close(jg.predict(insurance_fit, as_dict), mu / np.exp(0.05), rtol=1e-12)


def test_predict_unseen_level_names_column_and_level(insurance, insurance_fit):
    new = insurance.iloc[:2].copy()
    new["District"] = ["1", "5"]
    with pytest.raises(ValueError, match=r"column 'District' has level '5'"):
        jg.predict(insurance_fit, new)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['Age'\]"):
        jg.predict(insurance_fit, insurance.drop(columns="Age"))


def test_predict_categorical_with_extra_categories(insurance, insurance_fit):
    new = insurance.iloc[:3].copy()
    new["District"] = pd.Categorical(["1", "2", "4"], categories=["4", "2", "1", "9"])
    expected = np.asarray(insurance_fit.mu)[[0, 16, 48]]
    new["Group"] = insurance["Group"].iloc[[0, 16, 48]].to_numpy()
    new["Age"] = insurance["Age"].iloc[[0, 16, 48]].to_numpy()
    new["Holders"] = insurance["Holders"].iloc[[0, 16, 48]].to_numpy()
    assert_close(jg.predict(insurance_fit, new), expected, rtol=1e-12)


def test_predict_missing_values_give_nan(insurance, insurance_fit):
    new = insurance.iloc[:4].copy()
    new["Age"] = new["Age"].astype(object)
    new.loc[new.index[1], "Age"] = None
    new.loc[new.index[2], "Holders"] = np.nan
    mu = np.asarray(jg.predict(insurance_fit, new))
    assert np.isnan(mu[1]) and np.isnan(mu[2])
    assert_close(mu[[0, 3]], np.asarray(insurance_fit.mu)[[0, 3]], rtol=1e-12)


def test_missing_rows_dropped_and_counted(insurance):
    data = insurance.copy()
    data["Age"] = data["Age"].astype(object)
    data["Holders"] = data["Holders"].astype(float)
    data.loc[3, "Claims"] = np.nan
    data.loc[10, "Age"] = None
    data.loc[20, "Holders"] = np.nan
    weights = np.ones(len(data))
    weights[30] = np.nan
    data["Age"] = pd.Categorical(
        data["Age"], categories=insurance["Age"].cat.categories
    )
    res = jg.glm(INSURANCE, data, family=jg.Poisson(), weights=weights, tol=TIGHT_TOL)
    assert res.n_dropped == 4
    assert res.formula.dropped_rows == (3, 10, 20, 30)
    complete = insurance.drop(index=[3, 10, 20, 30])
    expected = jg.glm(
        INSURANCE, complete, family=jg.Poisson(), weights=np.ones(60), tol=TIGHT_TOL
    )
    assert_close(res.coef, expected.coef, rtol=1e-10, atol=1e-12, what="coef")
    assert int(res.df_resid) == 60 - 10

    with pytest.raises(ValueError, match="4 row") as info:
        jg.glm(INSURANCE, data, jg.Poisson(), weights=weights, na_action="raise")
    for name in ("Claims (1)", "Age (1)", "Holders (1)", "weights (1)"):
        assert name in str(info.value)


def test_coef_table_and_summary_use_names(insurance_fit):
    table = insurance_fit.coef_table()
    assert list(table.columns) == ["estimate", "se", "z", "p", "ci_lower", "ci_upper"]
    assert tuple(table.index) == insurance_fit.names
    assert_close(table["estimate"], insurance_fit.coef, rtol=0)
    assert_close(table[["ci_lower", "ci_upper"]], insurance_fit.conf_int(), rtol=0)
    text = jg.summary(insurance_fit)
    assert "Group1.5-2l" in text and "(Intercept)" in text


def test_interactions_match_r_warpbreaks():
    data = jg.datasets.load_warpbreaks(as_frame=True)
    res = jg.glm("breaks ~ wool * tension", data, jg.Poisson(), tol=TIGHT_TOL)
    _assert_matches_r(res, "poisson_log_warpbreaks")


def test_negative_binomial_matches_r_quine():
    ref = refdata.load("negbin_log_quine")
    data = jg.datasets.load_quine(as_frame=True)
    family = jg.NegativeBinomial(alpha=ref["family_params"]["alpha"])
    res = jg.glm("Days ~ Eth + Sex + Age + Lrn", data, family, tol=TIGHT_TOL)
    _assert_matches_r(res, "negbin_log_quine")


def test_gaussian_factor_of_numbers_matches_r_mtcars():
    # R: mpg ~ wt + hp + factor(cyl); formulaic names it C(cyl)6.0.
    data = jg.datasets.load_mtcars(as_frame=True)
    res = jg.glm("mpg ~ wt + hp + C(cyl)", data, tol=TIGHT_TOL)
    _assert_matches_r(res, "gaussian_identity_mtcars", check_names=False)
    assert res.names == ("(Intercept)", "wt", "hp", "C(cyl)6.0", "C(cyl)8.0")
    table = res.coef_table()
    assert list(table.columns) == ["estimate", "se", "t", "p", "ci_lower", "ci_upper"]
    # An unused category is dropped, as R's drop.unused.levels, not left aliased.
    labels = data["cyl"].map("{:.0f}".format)
    data["cylf"] = pd.Categorical(labels, categories=["4", "6", "8", "12"])
    unused = jg.glm("mpg ~ wt + hp + cylf", data, tol=TIGHT_TOL)
    assert unused.names == ("(Intercept)", "wt", "hp", "cylf6", "cylf8")
    assert_close(unused.coef, res.coef, rtol=1e-10, what="coef")


def test_binomial_responses_match_r_mtcars():
    data = jg.datasets.load_mtcars(as_frame=True)
    data["gearbox"] = np.where(data["am"] == 1, "manual", "automatic")
    numeric = jg.glm("am ~ wt + hp", data, jg.Binomial(), tol=TIGHT_TOL)
    _assert_matches_r(numeric, "binomial_logit_mtcars")
    # A two-level factor response: the first level is failure, as in R.
    factor = jg.glm("gearbox ~ wt + hp", data, jg.Binomial(), tol=TIGHT_TOL)
    assert_close(factor.coef, numeric.coef, rtol=1e-10, what="coef")


def test_cbind_response_matches_r_budworm():
    ref = refdata.load("binomial_probit_budworm")
    X = np.asarray(ref["X"])
    trials = np.asarray(ref["weights"])
    dead = np.round(np.asarray(ref["y"]) * trials)
    data = pd.DataFrame(
        {
            "sex": np.where(X[:, 1] == 1, "M", "F"),
            "ldose": X[:, 2],
            "numdead": dead,
            "total": trials,
        }
    )
    res = jg.glm(
        "cbind(numdead, total - numdead) ~ sex + ldose",
        data,
        jg.Binomial(link=jg.links.Probit()),
        tol=TIGHT_TOL,
    )
    _assert_matches_r(res, "binomial_probit_budworm")


def test_matches_statsmodels_formula_api():
    sm = pytest.importorskip("statsmodels.api")
    smf = pytest.importorskip("statsmodels.formula.api")
    data = jg.datasets.load_warpbreaks(as_frame=True)
    res = jg.glm("breaks ~ wool + tension", data, jg.Poisson(), tol=TIGHT_TOL)
    sm_res = smf.glm("breaks ~ wool + tension", data, family=sm.families.Poisson()).fit(
        tol=1e-12
    )
    assert res.names == ("(Intercept)", "woolB", "tensionM", "tensionH")
    assert_close(res.coef, sm_res.params.to_numpy(), rtol=1e-8, what="coef")
    assert_close(res.se, sm_res.bse.to_numpy(), rtol=1e-6, what="se")


@pytest.mark.parametrize(
    ("formula", "kwargs", "error", "match"),
    [
        ("~ x", {}, ValueError, "needs one response"),
        ("y ~ x ~ z", {}, ValueError, "needs one response"),
        (3, {}, TypeError, "formula must be a string"),
        ("cbind(y, x) ~ 1", {}, ValueError, "for the Binomial family"),
        ("y ~ x - offset(x)", {}, ValueError, r"must be added"),
        ("y ~ x", {"na_action": "pass"}, ValueError, "na_action"),
        ("y ~ x", {"offset": "nosuch(x)"}, ValueError, "offset='nosuch"),
        ("y ~ x", {"weights": np.ones(3)}, ValueError, "one value per row"),
    ],
)
def test_bad_formula_inputs(formula, kwargs, error, match):
    data = pd.DataFrame({"y": [1.0, 2.0, 4.0, 3.0], "x": [0.1, 0.5, 0.9, 0.4]})
    with pytest.raises(error, match=match):
        jg.glm(formula, data, **kwargs)


def test_bad_data_type():
    with pytest.raises(TypeError, match="data must be a pandas DataFrame"):
        jg.glm("y ~ x", [[1.0, 2.0]])


def test_formula_text_helpers():
    from jaxglm._formula import _parse, r_names

    assert _parse("y ~ offset(log(t)) + x + offset(u)") == (
        "y",
        "x",
        ["log(t)", "u"],
        False,
    )
    assert _parse("y ~ offset(t)") == ("y", "1", ["t"], False)
    assert _parse("cbind(s, n - s) ~ g") == ("{s} + {n - s}", "g", [], True)
    assert r_names(["Intercept", "g[T.b]", "g[T.b]:x", "poly(x, 2)[1]", "h[a]"]) == (
        "(Intercept)",
        "gb",
        "gb:x",
        "poly(x, 2)1",
        "ha",
    )
