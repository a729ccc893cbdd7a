"""Plots of one coefficient across a batch of fits: volcano plot, p-value histogram.

matplotlib is imported only inside the functions (an optional extra); the public
names are re-exported by :mod:`jaxglm.plot`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._plot_fit import _np, _pyplot
from ._result import GLMResult
from ._status import Status

__all__ = ["pvalue_histogram", "volcano"]


def _batch_term(res: GLMResult, term: int | str, what: str):
    """One coefficient across a batch: name, estimates, p-values, usable mask."""
    coef = _np(res.coef)
    if coef.ndim < 2:
        raise ValueError(
            f"{what} needs a batch of fits (from jg.fit_many or jax.vmap), got one "
            "fit; use jg.plot.coefficients for a single fit"
        )
    p = coef.shape[-1]
    if isinstance(term, str):
        if res.names is None or term not in res.names:
            raise ValueError(
                f"term={term!r} is not a coefficient name of the fit "
                f"(names: {res.names}); pass an index in 0..{p - 1}"
            )
        index = list(res.names).index(term)
    else:
        index = int(term)
        if not -p <= index < p:
            raise ValueError(f"term={term} is out of range for p={p} coefficients")
        index %= p
    name = res.names[index] if res.names else f"x{index}"
    estimate = coef.reshape(-1, p)[:, index]
    pvalue = _np(res.pvalues).reshape(-1, p)[:, index]
    success = np.asarray(res.status).reshape(-1) == int(Status.SUCCESS)
    usable = success & np.isfinite(estimate) & np.isfinite(pvalue)
    return name, estimate, pvalue, usable


def _left_out(usable: np.ndarray) -> str:
    missing = int((~usable).sum())
    return f", {missing} failed (not shown)" if missing else ""


def volcano(
    res: GLMResult,
    term: int | str,
    ax: Any = None,
    alpha: float = 0.05,
):
    """Volcano plot of one coefficient over a batch of fits: estimate vs -log10 p.

    Fits whose ``status`` is not SUCCESS (or whose estimate or p-value is not
    finite) are left out and counted in the title; p-values below ``alpha``
    are highlighted.

    Args:
        res: a batch of fits (from :func:`jaxglm.fit_many` or ``jax.vmap``).
        term: the coefficient, by index or by name (``res.names``).
        ax: matplotlib axes to draw on; by default a new figure.
        alpha: significance threshold, drawn as a horizontal line.

    Returns:
        The matplotlib Figure.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: for a single fit, an unknown ``term`` or ``alpha`` outside
            (0, 1).
    """
    plt = _pyplot()
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    name, estimate, pvalue, usable = _batch_term(res, term, "plot.volcano")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    height = -np.log10(np.maximum(pvalue, np.finfo(np.float64).tiny))
    significant = usable & (pvalue < alpha)
    rest = usable & ~significant
    ax.scatter(estimate[rest], height[rest], s=10, color="gray", alpha=0.6)
    ax.scatter(
        estimate[significant],
        height[significant],
        s=12,
        color="tab:red",
        label=f"p < {alpha:g} ({int(significant.sum())})",
    )
    ax.axhline(-np.log10(alpha), color="tab:red", linestyle="--", linewidth=0.8)
    ax.axvline(0.0, color="gray", linestyle=":")
    ax.legend(loc="upper left", frameon=False, fontsize="small")
    ax.set(
        title=f"{name}: {int(usable.sum())} fits{_left_out(usable)}",
        xlabel="Estimate",
        ylabel=r"$-\log_{10}(p)$",
    )
    return ax.figure


def pvalue_histogram(
    res: GLMResult,
    term: int | str,
    bins: int = 20,
    ax: Any = None,
):
    """Histogram of one coefficient's p-values over a batch of fits.

    Under the null hypothesis the p-values are uniform: the dashed line is the
    expected count per bin.  Failed fits are left out and counted in the title.

    Args:
        res: a batch of fits (from :func:`jaxglm.fit_many` or ``jax.vmap``).
        term: the coefficient, by index or by name (``res.names``).
        bins: number of equal bins on [0, 1].
        ax: matplotlib axes to draw on; by default a new figure.

    Returns:
        The matplotlib Figure.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: for a single fit or an unknown ``term``.
    """
    plt = _pyplot()
    name, _, pvalue, usable = _batch_term(res, term, "plot.pvalue_histogram")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    valid = pvalue[usable]
    ax.hist(valid, bins=bins, range=(0.0, 1.0), color="tab:blue", edgecolor="white")
    ax.axhline(len(valid) / bins, color="gray", linestyle="--", label="uniform")
    ax.legend(loc="upper right", frameon=False, fontsize="small")
    ax.set(
        title=f"{name}: {len(valid)} fits{_left_out(usable)}",
        xlabel="p-value",
        ylabel="Fits",
        xlim=(0.0, 1.0),
    )
    return ax.figure
