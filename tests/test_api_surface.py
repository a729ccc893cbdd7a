"""Every name promised in API.md exists and behaves as documented at the surface."""

from __future__ import annotations

import re
import warnings

import jax
import numpy as np
import pytest

import jaxglm as jg
from cases import CASES, DEFAULT_LINK, LINKS, np_link, np_unit_deviance

TOP_LEVEL = [
    "fit",
    "predict",
    "summary",
    "add_intercept",
    "GLMResult",
    "Status",
    "ConvergenceWarning",
    "check",
    "links",
    *DEFAULT_LINK,  # the family constructors
    # beyond API.md: batches, formulas, diagnostics, plots, streaming (docs/guide)
    "fit_many",
    "glm",
    "GLMRegressor",
    "residuals",
    "influence",
    "Influence",
    "plot",
    "fit_stream",
    "chunks_from_arrays",
    "chunks_from_parquet",
    "StreamResult",
    "datasets",
    # API.md "More models" and "GLM heads"
    "Multinomial",
    "loss",
    "fit_negbin",
    "QuasiPoisson",
    "QuasiBinomial",
    "Quasi",
    "vcov",
    "with_cov",
    "anova",
    "confint_profile",
    # API.md "Penalized fits and paths"
    "fit_path",
    "cv_path",
    "PathResult",
    "CVResult",
    # beyond API.md: the formula route to fit_negbin, the scikit-learn classifier
    "glm_nb",
    "GLMClassifier",
]
STATUS_CODES = [
    "SUCCESS",
    "MAX_ITER",
    "NONFINITE",
    "SINGULAR",
    "SEPARATION",
    "INVALID_INPUT",
]
RESULT_FIELDS = [
    "coef",
    "cov",
    "se",
    "z",
    "pvalues",
    "deviance",
    "null_deviance",
    "loglik",
    "aic",
    "bic",
    "scale",
    "df_resid",
    "df_model",
    "nobs",
    "rank",
    "mu",
    "eta",
    "y",
    "weights",
    "n_iter",
    "converged",
    "status",
]


# The registry's Poisson-Log data (n=200, p=4, an offset) at test_statsmodels.py's
# tolerance, so this file reuses the fits compiled there.
_CASE = next(c for c in CASES if c.id == "Poisson-Log")
_TOL = 1e-12
_NAMES = ["(Intercept)", "speed", "load", "age"]


def _poisson_fit():
    d = _CASE.simulate()
    return d, jg.fit(d.X, d.y, family=jg.Poisson(), offset=d.offset, tol=_TOL)


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_public_name_exists(name):
    assert hasattr(jg, name), f"jaxglm.{name} is promised by API.md"
    assert name in jg.__all__, f"{name} missing from jaxglm.__all__"


def test_version():
    assert isinstance(jg.__version__, str) and jg.__version__


@pytest.mark.parametrize("name", sorted({lc.name for lc in LINKS}))
def test_link_exists(name):
    assert isinstance(getattr(jg.links, name), type)


def test_status_codes_are_distinct_ints():
    values = [int(getattr(jg.Status, code)) for code in STATUS_CODES]
    assert len(set(values)) == len(values)


def test_convergence_warning_is_a_warning():
    assert issubclass(jg.ConvergenceWarning, Warning)


@pytest.mark.parametrize("family", list(DEFAULT_LINK))
def test_default_links(family):
    fam = getattr(jg, family)()
    assert type(fam.link) is getattr(jg.links, DEFAULT_LINK[family])


def test_family_parameter_defaults():
    assert float(jg.NegativeBinomial().alpha) == 1.0
    assert float(jg.Tweedie().power) == 1.5


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_registry_case_constructs(case):
    fam = case.jg_family()
    assert type(fam.link).__name__ == case.link


def test_add_intercept_prepends_ones():
    X = np.arange(6.0).reshape(3, 2)
    out = np.asarray(jg.add_intercept(X))
    np.testing.assert_array_equal(out, np.column_stack([np.ones(3), X]))


def test_result_fields_and_pytree():
    _, res = _poisson_fit()
    assert isinstance(res, jg.GLMResult)
    for field in RESULT_FIELDS:
        assert hasattr(res, field), field
    leaves = jax.tree_util.tree_leaves(res)
    assert leaves and all(hasattr(leaf, "shape") for leaf in leaves)
    assert np.asarray(res.conf_int()).shape == (4, 2)
    np.testing.assert_allclose(
        np.asarray(res.conf_int()), np.asarray(res.conf_int(0.95)), rtol=0
    )
    assert res.status.dtype == np.int32
    assert int(res.status) == int(jg.Status.SUCCESS)


def test_jit_matches_eager():
    d, eager = _poisson_fit()

    @jax.jit
    def jitted_fit(X, y, offset):
        return jg.fit(X, y, family=jg.Poisson(), offset=offset, tol=_TOL)

    jitted = jitted_fit(d.X, d.y, d.offset)
    assert type(jitted) is type(eager)
    for field in ("coef", "se", "cov", "deviance", "null_deviance", "aic", "mu"):
        np.testing.assert_allclose(
            np.asarray(getattr(jitted, field)),
            np.asarray(getattr(eager, field)),
            rtol=1e-10,
            err_msg=field,
        )
    assert bool(jitted.converged)


def test_summary_shows_names_and_estimates():
    _, res = _poisson_fit()
    names = _NAMES
    text = str(jg.summary(res, names=names))
    coef = np.asarray(res.coef)
    number = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
    for name, value in zip(names, coef, strict=True):
        lines = [ln for ln in text.splitlines() if ln.strip().startswith(name)]
        assert lines, f"{name!r} not in summary:\n{text}"
        first = float(number.findall(lines[0][lines[0].index(name) + len(name) :])[0])
        np.testing.assert_allclose(first, value, rtol=1e-3, err_msg=f"{name}\n{text}")


@pytest.mark.parametrize("case_id", ["Poisson-Identity", "Gamma-Identity"])
def test_identity_links_converge_from_the_default_start(case_id):
    """R needs user starting values for these; jaxglm must not."""
    case = next(c for c in CASES if c.id == case_id)
    d = case.simulate()
    with warnings.catch_warnings():
        warnings.simplefilter("error", jg.ConvergenceWarning)
        res = jg.fit(d.X, d.y, family=case.jg_family(), tol=_TOL)
    assert bool(res.converged)
    assert int(res.status) == int(jg.Status.SUCCESS)
    mu = np.asarray(res.mu)
    assert np.all(mu > 0)
    # an optimum: no worse than the true coefficients, by an independent deviance
    ours = np.sum(
        np_unit_deviance(
            case.family, d.y, np_link(case.link).inverse(d.X @ np.asarray(res.coef))
        )
    )
    truth = np.sum(np_unit_deviance(case.family, d.y, d.mu))
    assert ours <= truth
    np.testing.assert_allclose(float(res.deviance), ours, rtol=1e-8)
