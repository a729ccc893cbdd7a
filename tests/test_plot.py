"""``jg.plot``: what each figure contains (Agg backend, no image comparison).

The single fits reuse two references of test_diagnostics.py (the same compiled
programs); the batch is one ``jg.fit_many`` call.
"""

from __future__ import annotations

import functools
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
import refdata

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TITLES = [
    "Residuals vs Fitted",
    "Normal Q-Q",
    "Scale-Location",
    "Residuals vs Leverage",
]
N_FITS, N_FAILED = 120, 4


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@functools.cache
def _fit(name: str):
    ref = refdata.load(name)
    X, y, weights, offset = refdata.arrays(ref)
    family = getattr(jg, ref["family"])(link=getattr(jg.links, ref["link"])())
    res = jg.fit(X, y, family=family, weights=weights, offset=offset, tol=1e-14)
    return ref, X, res


def _zero_weight_fit():
    return _fit("diagnostics_gaussian_identity_trees_zero_weight")


def _aliased_fit():
    return _fit("diagnostics_poisson_log_ships_aliased")


@functools.cache
def _batch():
    """Gaussian fits of many responses; a few marked as failed."""
    rng = np.random.default_rng(0)
    X = np.asarray(jg.add_intercept(rng.normal(size=(40, 2))))
    effect = 0.8 * (rng.random((N_FITS, 1)) < 0.3)
    Y = rng.normal(size=(N_FITS, 40)) + effect * X[:, 1]
    res = jg.fit_many(X, Y)
    status = np.asarray(res.status).copy()
    status[:N_FAILED] = int(jg.Status.MAX_ITER)
    return res.replace(status=jnp.asarray(status), names=("(Intercept)", "a", "b"))


def _points(ax) -> int:
    return sum(
        len(c.get_offsets()) for c in ax.collections if hasattr(c, "get_offsets")
    )


def _annotations(ax) -> list[str]:
    return sorted(t.get_text() for t in ax.texts)


def test_diagnostics_panels():
    ref, X, res = _zero_weight_fit()
    fig = jg.plot.diagnostics(res, X)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == TITLES
    assert [ax.get_xlabel() for ax in axes] == [
        "Predicted values",
        "Theoretical Quantiles",
        "Predicted values",
        "Leverage",
    ]
    assert axes[0].get_ylabel() == "Residuals"
    assert axes[1].get_ylabel() == axes[3].get_ylabel() == "Std. Pearson resid."
    used = np.asarray(ref["weights"]) > 0
    # The zero-weight row is left out of every panel, as R does.
    for ax in axes:
        assert _points(ax) == used.sum()
    # R labels the three largest |Pearson residuals| in panel 1.
    pearson = np.where(used, np.abs(np.asarray(jg.residuals(res, "pearson"))), -1)
    assert _annotations(axes[0]) == sorted(str(i) for i in np.argsort(-pearson)[:3])
    # ... and the three largest Cook's distances in panel 4, with the contours.
    cooks = np.asarray(jg.influence(res, X).cooks_distance)
    top = {str(i) for i in np.argsort(-cooks)[:3]}
    assert top <= set(_annotations(axes[3]))
    legend = axes[3].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["Cook's distance"]
    assert sum("--" == line.get_linestyle() for line in axes[3].lines) == 4
    # Q-Q: the sorted standardized residuals against increasing normal quantiles.
    qq = axes[1].collections[0].get_offsets()
    assert np.all(np.diff(qq[:, 0]) > 0) and np.all(np.diff(qq[:, 1]) >= 0)


def test_diagnostics_options():
    _, X, res = _aliased_fit()
    fig, axes = plt.subplots(1, 4)
    labels = [f"ship{i}" for i in range(len(X))]
    out = jg.plot.diagnostics(res, X, axes=axes, labels=labels, kind="deviance")
    assert out is fig
    assert axes[1].get_ylabel() == "Std. deviance resid."
    assert "deviance" in axes[2].get_ylabel()
    assert all(t.startswith("ship") for t in _annotations(axes[0]))
    with pytest.raises(ValueError, match="kind='working'"):
        jg.plot.diagnostics(res, X, kind="working")
    with pytest.raises(ValueError, match="4 matplotlib axes"):
        jg.plot.diagnostics(res, X, axes=axes[:2])
    with pytest.raises(ValueError, match="labels has 3 entries"):
        jg.plot.diagnostics(res, X, labels=["a", "b", "c"])
    with pytest.raises(ValueError, match="X has shape"):
        jg.plot.diagnostics(res, X[:, :3])


def test_coefficients():
    ref, _, res = _aliased_fit()
    names = ref["colnames"]
    fig = jg.plot.coefficients(res, names=names, level=0.9, intercept=False)
    ax = fig.axes[0]
    aliased = np.asarray(ref["rdiag"]["aliased"])
    shown = [i for i, name in enumerate(names) if not aliased[i] and i != 0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [names[i] for i in shown]
    (container,) = ax.containers
    segments = container.lines[2][0].get_segments()
    assert len(segments) == len(shown)  # one interval per coefficient
    ci = np.asarray(res.conf_int(0.9))[shown]
    np.testing.assert_allclose([s[:, 0] for s in segments], ci, rtol=1e-12)
    np.testing.assert_allclose(
        container.lines[0].get_xdata(), np.asarray(res.coef)[shown], rtol=1e-12
    )
    assert "90%" in ax.get_xlabel()
    # All coefficients (intercept included) with default names x0, x1, ...
    ax = jg.plot.coefficients(res).axes[0]
    assert len(ax.containers[0].lines[2][0].get_segments()) == int(res.rank)
    assert ax.get_yticklabels()[0].get_text() == "x0"
    with pytest.raises(ValueError, match="intercept=False"):
        jg.plot.coefficients(res, intercept=False)
    with pytest.raises(ValueError, match="names has 2 entries"):
        jg.plot.coefficients(res, names=["a", "b"])


def test_volcano():
    res = _batch()
    fig = jg.plot.volcano(res, "a", alpha=0.05)
    ax = fig.axes[0]
    assert _points(ax) == N_FITS - N_FAILED
    assert f"{N_FITS - N_FAILED} fits" in ax.get_title()
    assert f"{N_FAILED} failed" in ax.get_title()
    ok = np.asarray(res.status) == int(jg.Status.SUCCESS)
    p = np.asarray(res.pvalues)[:, 1]
    significant = int((ok & (p < 0.05)).sum())
    assert len(ax.collections[1].get_offsets()) == significant
    assert f"({significant})" in ax.get_legend().get_texts()[0].get_text()
    heights = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections])
    np.testing.assert_allclose(np.sort(heights), np.sort(-np.log10(p[ok])))
    # The same coefficient by index, on given axes.
    _, ax2 = plt.subplots()
    assert jg.plot.volcano(res, 1, ax=ax2) is ax2.figure
    assert _points(ax2) == N_FITS - N_FAILED


def test_pvalue_histogram():
    res = _batch()
    ax = jg.plot.pvalue_histogram(res, 2, bins=10).axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    assert len(heights) == 10
    assert sum(heights) == N_FITS - N_FAILED
    assert f"{N_FAILED} failed" in ax.get_title() and ax.get_title().startswith("b:")


def test_batch_and_single_fit_errors():
    _, _, single = _aliased_fit()
    res = _batch()
    with pytest.raises(ValueError, match="needs a batch of fits"):
        jg.plot.volcano(single, 1)
    with pytest.raises(ValueError, match="term='c' is not a coefficient name"):
        jg.plot.pvalue_histogram(res, "c")
    with pytest.raises(ValueError, match="term=3 is out of range"):
        jg.plot.volcano(res, 3)
    with pytest.raises(ValueError, match="alpha must be in"):
        jg.plot.volcano(res, 1, alpha=5)
    with pytest.raises(ValueError, match="describes one fit"):
        jg.plot.coefficients(res)
    with pytest.raises(ValueError, match="describes one fit"):
        jg.plot.diagnostics(res, np.ones((40, 3)))


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    _, _, res = _aliased_fit()
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "jaxglm-stats\[plot\]"'):
        jg.plot.coefficients(res)
