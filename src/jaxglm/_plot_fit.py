"""Plots of one GLM fit: R's four diagnostic panels and the coefficients.

matplotlib is imported only inside the functions (an optional extra); the public
names are re-exported by :mod:`jaxglm.plot`.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import jax
import numpy as np
from jax.typing import ArrayLike

from ._diagnostics import influence, residuals
from ._multinomial.family import Multinomial
from ._result import GLMResult

__all__ = ["coefficients", "diagnostics"]

# R's plot.lm labels this many of the most extreme points in each panel.
_ID_N = 3
# R's plot.lm draws Cook's distance contours at these levels.
_COOK_LEVELS = (0.5, 1.0)
# lowess as plot.lm's smoother for a glm: span 2/3 and no robustness iterations
# (R's iter.smooth = 0 for GLMs), evaluated at no more than this many points and
# interpolated between them, so large n stays fast.
_LOWESS_FRAC = 2.0 / 3.0
_LOWESS_POINTS = 200
_STD_LABELS = {"pearson": "Std. Pearson resid.", "deviance": "Std. deviance resid."}
_INTERCEPT_NAMES = ("(Intercept)", "Intercept", "const")


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            "jaxglm.plot needs matplotlib; install it with: "
            'pip install "jaxglm-stats[plot]"'
        ) from err
    return plt


def _np(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def _single_fit(res: GLMResult, what: str) -> None:
    if isinstance(res.family, Multinomial):
        raise ValueError(f"{what} plots single-response GLMs, not Multinomial fits")
    if np.ndim(res.coef) != 1:
        raise ValueError(
            f"{what} describes one fit, got a batch of shape "
            f"{np.shape(res.coef)[:-1]}; index one fit first with "
            "jax.tree.map(lambda a: a[i], res)"
        )


def _lowess(
    x: np.ndarray, y: np.ndarray, iterations: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Cleveland's locally linear smoother, as R's ``lowess(x, y, 2/3, iterations)``."""
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    n = len(x)
    k = min(n, max(2, int(np.ceil(_LOWESS_FRAC * n))))
    anchors = np.unique(np.linspace(0, n - 1, min(n, _LOWESS_POINTS)).astype(int))
    robust = np.ones(n)
    fitted = y.copy()
    for _ in range(iterations + 1):
        at = np.empty(len(anchors))
        for j, i in enumerate(anchors):
            dist = np.abs(x - x[i])
            h = max(np.partition(dist, k - 1)[k - 1], 1e-12 * (x[-1] - x[0] + 1.0))
            w = np.clip(1.0 - (dist / h) ** 3, 0.0, 1.0) ** 3 * robust
            total = w.sum()
            if total <= 0:
                at[j] = y[i]
                continue
            xm, ym = w @ x / total, w @ y / total
            sxx = w @ (x - xm) ** 2
            slope = (w @ ((x - xm) * (y - ym))) / sxx if sxx > 0 else 0.0
            at[j] = ym + slope * (x[i] - xm)
        fitted = np.interp(x, x[anchors], at)
        resid = y - fitted
        scale = np.median(np.abs(resid))
        if scale <= 0:
            break
        robust = np.clip(1.0 - (resid / (6.0 * scale)) ** 2, 0.0, 1.0) ** 2
    return x, fitted


def _label_extremes(ax, x, y, score, labels) -> None:
    finite = np.flatnonzero(np.isfinite(score) & np.isfinite(x) & np.isfinite(y))
    top = finite[np.argsort(-score[finite], kind="stable")[:_ID_N]]
    for i in top:
        side = -1 if x[i] > np.nanmean(x) else 1
        ax.annotate(
            str(labels[i]),
            (x[i], y[i]),
            xytext=(4 * side, 0),
            textcoords="offset points",
            ha="left" if side > 0 else "right",
            va="center",
            fontsize="small",
        )


def _smooth(ax, x, y) -> None:
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() >= 3:
        xs, ys = _lowess(x[keep], y[keep])
        ax.plot(xs, ys, color="tab:red", linewidth=1)


def _ppoints(n: int) -> np.ndarray:
    """R's ``ppoints``: plotting positions for a normal Q-Q plot."""
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def diagnostics(
    res: GLMResult,
    X: ArrayLike,
    axes: Any = None,
    labels: Sequence[Any] | None = None,
    kind: str = "pearson",
):
    """The four diagnostic panels of R's ``plot(fit)`` for one fit.

    1. Residuals vs Fitted: residuals against the linear predictor.
    2. Normal Q-Q: standardized residuals against normal quantiles.
    3. Scale-Location: sqrt(|standardized residual|) against the linear
       predictor.
    4. Residuals vs Leverage: standardized Pearson residuals against hat
       values, with Cook's distance contours at 0.5 and 1.

    Red lines are lowess smooths; the three most extreme points of each panel
    (largest |residual|, or Cook's distance in panel 4) are labelled with their
    row index (0-based) or ``labels``.  Rows with zero prior weight are left
    out, and so are rows with hat value 1 where residuals are standardized.

    Matches R: ``plot(fit)`` for a glm (``plot.lm``, which = c(1, 2, 3, 5)),
    which since R 4.2 uses Pearson residuals; ``kind="deviance"`` gives the
    deviance-residual panels of earlier R versions.

    Args:
        res: one fit (not a batch).
        X: the design matrix of the fit, (n, p).
        axes: four matplotlib axes to draw on (any array-like of 4); by default
            a new 2 x 2 figure.
        labels: point labels, one per row of ``X``.
        kind: residuals of panels 1-3, ``"pearson"`` or ``"deviance"``.

    Returns:
        The matplotlib Figure.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: for a batch of fits, a wrong ``X`` shape, the wrong number
            of ``axes`` or of ``labels``, or an unknown ``kind``.
    """
    plt = _pyplot()
    _single_fit(res, "plot.diagnostics")
    if kind not in _STD_LABELS:
        raise ValueError(f"kind={kind!r}: use 'pearson' (R's) or 'deviance'")
    infl = jax.tree.map(_np, influence(res, X))
    n = np.shape(res.mu)[0]
    labels = list(range(n)) if labels is None else list(labels)
    if len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries; the fit has n={n} rows")
    if axes is None:
        fig, axes = plt.subplots(2, 2, figsize=(10, 8), layout="constrained")
    axes = list(np.ravel(np.asarray(axes, dtype=object)))
    if len(axes) != 4:
        raise ValueError(f"axes must hold 4 matplotlib axes, got {len(axes)}")
    fig = axes[0].figure

    used = _np(res.weights) > 0
    rows = np.flatnonzero(used)
    labels = [labels[i] for i in rows]
    eta = _np(res.eta)[rows]
    resid = _np(residuals(res, kind))[rows]
    hat = infl.hat[rows]
    std_pearson = infl.std_pearson_resid[rows]
    std_resid = std_pearson if kind == "pearson" else infl.std_deviance_resid[rows]
    cooks = infl.cooks_distance[rows]
    below_one = hat < 1.0

    ax = axes[0]
    ax.scatter(eta, resid, s=12, facecolors="none", edgecolors="black")
    ax.axhline(0.0, color="gray", linestyle=":")
    _smooth(ax, eta, resid)
    _label_extremes(ax, eta, resid, np.abs(resid), labels)
    ax.set(title="Residuals vs Fitted", xlabel="Predicted values", ylabel="Residuals")

    ax = axes[1]
    finite = np.flatnonzero(np.isfinite(std_resid))
    order = finite[np.argsort(std_resid[finite], kind="stable")]
    normal = NormalDist()
    theory = np.array([normal.inv_cdf(q) for q in _ppoints(len(order))])
    ax.scatter(theory, std_resid[order], s=12, facecolors="none", edgecolors="black")
    if len(order) >= 2:
        # R's qqline: the line through the first and third quartiles.
        q_sample = np.quantile(std_resid[order], [0.25, 0.75])
        q_theory = np.array([normal.inv_cdf(0.25), normal.inv_cdf(0.75)])
        slope = (q_sample[1] - q_sample[0]) / (q_theory[1] - q_theory[0])
        ax.axline(
            (0.0, q_sample[0] - slope * q_theory[0]),
            slope=slope,
            color="gray",
            linestyle=":",
        )
    _label_extremes(
        ax,
        theory,
        std_resid[order],
        np.abs(std_resid[order]),
        [labels[i] for i in order],
    )
    ax.set(
        title="Normal Q-Q",
        xlabel="Theoretical Quantiles",
        ylabel=_STD_LABELS[kind],
    )

    ax = axes[2]
    root = np.sqrt(np.abs(std_resid))
    ax.scatter(eta, root, s=12, facecolors="none", edgecolors="black")
    _smooth(ax, eta, root)
    _label_extremes(ax, eta, root, root, labels)
    ax.set(
        title="Scale-Location",
        xlabel="Predicted values",
        ylabel=r"$\sqrt{|\mathrm{" + _STD_LABELS[kind].replace(" ", r"\ ") + "}|}$",
    )

    ax = axes[3]
    lever = np.where(below_one, hat, np.nan)
    ax.scatter(lever, std_pearson, s=12, facecolors="none", edgecolors="black")
    ax.axhline(0.0, color="gray", linestyle=":")
    ax.axvline(0.0, color="gray", linestyle=":")
    _smooth(ax, lever, std_pearson)
    finite = np.isfinite(lever) & np.isfinite(std_pearson)
    if finite.any() and np.nanmax(lever) > 0:
        low, high = std_pearson[finite].min(), std_pearson[finite].max()
        pad = 0.08 * (high - low)  # R's extendrange(f = 0.08)
        ax.set_ylim(low - pad, high + pad)
        ax.set_xlim(0.0, 1.04 * np.nanmax(lever))
        rank = float(_np(res.rank))
        right = ax.get_xlim()[1]
        start = min(np.nanmin(lever), np.nanmax(lever) / 100.0)
        grid = np.linspace(max(start, 1e-12 * right), right, 101)
        style = dict(color="tab:red", linestyle="--", linewidth=0.8)
        for i, level in enumerate(_COOK_LEVELS):
            bound = np.sqrt(level * rank * (1.0 - grid) / grid)
            ax.plot(grid, bound, label="Cook's distance" if i == 0 else None, **style)
            ax.plot(grid, -bound, **style)
            for y_end in (bound[-1], -bound[-1]):
                if low - pad < y_end < high + pad:
                    ax.annotate(
                        f"{level:g}",
                        (right, y_end),
                        xytext=(2, 0),
                        textcoords="offset points",
                        va="center",
                        color="tab:red",
                        fontsize="x-small",
                    )
        ax.legend(loc="lower left", frameon=False, fontsize="small")
    _label_extremes(ax, lever, std_pearson, cooks, labels)
    ax.set(
        title="Residuals vs Leverage", xlabel="Leverage", ylabel=_STD_LABELS["pearson"]
    )
    return fig


def coefficients(
    res: GLMResult,
    names: Sequence[str] | None = None,
    level: float = 0.95,
    ax: Any = None,
    intercept: bool = True,
):
    """Estimates with Wald confidence intervals, one row per coefficient.

    Aliased coefficients (NaN) are left out.

    Matches R: ``coef(fit)`` with ``confint.default(fit, level = level)``.

    Args:
        res: one fit (not a batch).
        names: coefficient names, p of them; default ``res.names`` or
            ``x0, x1, ...``.
        level: confidence level of the intervals.
        ax: matplotlib axes to draw on; by default a new figure.
        intercept: whether to show the intercept, found by its name
            ("(Intercept)", "Intercept" or "const").

    Returns:
        The matplotlib Figure.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: for a batch of fits, the wrong number of names, a level
            outside (0, 1), or ``intercept=False`` without names to find it by.
    """
    plt = _pyplot()
    _single_fit(res, "plot.coefficients")
    coef = _np(res.coef)
    ci = _np(res.conf_int(level))
    given = names if names is not None else res.names
    if given is not None and len(given) != len(coef):
        raise ValueError(f"names has {len(given)} entries; the fit has p={len(coef)}")
    names = list(given) if given is not None else [f"x{j}" for j in range(len(coef))]
    keep = np.isfinite(coef)
    if not intercept:
        is_intercept = np.array([name in _INTERCEPT_NAMES for name in names])
        if given is None or not is_intercept.any():
            raise ValueError(
                "intercept=False: no coefficient is named '(Intercept)', "
                "'Intercept' or 'const'; pass names=[...] naming it"
            )
        keep &= ~is_intercept
    rows = np.flatnonzero(keep)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 1.0 + 0.35 * max(len(rows), 1)))
    position = np.arange(len(rows))
    estimate = coef[rows]
    ax.errorbar(
        estimate,
        position,
        xerr=np.stack([estimate - ci[rows, 0], ci[rows, 1] - estimate]),
        fmt="o",
        color="black",
        ecolor="tab:blue",
        capsize=3,
    )
    ax.axvline(0.0, color="gray", linestyle=":")
    ax.set_yticks(position, [names[i] for i in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first coefficient on top, as in a table
    ax.set(
        title="Coefficients",
        xlabel=f"Estimate with {100 * level:g}% Wald interval",
    )
    return ax.figure
