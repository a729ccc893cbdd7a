"""``jg.anova``: analysis-of-deviance tables, as R's ``anova.glm``.

Two forms, as R: several nested fits give R's ``anova(fit0, fit1, ...)`` table
(``anova.glmlist``); one formula fit gives the sequential table of ``anova(fit)``,
its terms added one at a time (the nested models are refitted).  The result is a
pandas DataFrame that prints like R's table.
"""

from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc, gammaincc

from ._families import NegativeBinomial
from ._fit import fit as _fit
from ._multinomial.family import Multinomial
from ._result import GLMResult
from ._summary import _family_name, _link_name

__all__ = ["anova"]

_TESTS = {"chisq": "Chisq", "lrt": "Chisq", "f": "F"}
_DIGITS = 5  # R's print.anova: max(getOption("digits") - 2, 3)
_EPS = float(np.finfo(np.float64).eps)  # R's .Machine$double.eps (format.pval)
# Nested fits: a later deviance this far above an earlier one (relative) means
# the models are not nested; below it, the fits' own convergence tolerance.
_NESTING_RTOL = 1e-6
_LEGEND = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"


def anova(*fits: GLMResult, test: str | None = None):
    """Analysis of deviance for nested GLM fits, or term by term for one formula fit.

    With several fits (of the same rows and family, smallest model first) the
    table has one row per model: ``Resid. Df``, ``Resid. Dev``, and the change
    ``Df``, ``Deviance`` from the model before.  With one :func:`jaxglm.glm`
    fit, its terms are added in order (the nested models refitted with the same
    data, weights, offset, family and options): rows ``NULL`` (the null model)
    and one per term, columns ``Df``, ``Deviance``, ``Resid. Df``, ``Resid. Dev``.

    ``test="Chisq"`` (or ``"LRT"``) adds ``Pr(>Chi)``, the chi-squared test of
    each deviance change divided by the dispersion; ``test="F"`` adds ``F`` =
    (deviance change / Df) / dispersion and ``Pr(>F)`` on (Df, df_resid) degrees
    of freedom.  The dispersion is that of the largest model (1 for families
    that fix it; an F test then warns, as R).  The first row's test columns are
    NaN (R's NA).

    Matches R: ``anova(fit0, fit1, ..., test = test)`` (``anova.glmlist``) and
    ``anova(fit, test = test)`` (``anova.glm``).

    Args:
        *fits: one formula fit, or two or more nested fits, smallest first.
        test: ``"Chisq"``, ``"LRT"`` (the same), ``"F"`` or None (no test).

    Returns:
        A pandas DataFrame (printing as R's "Analysis of Deviance Table").

    Raises:
        ImportError: pandas is not installed.
        TypeError: an argument is not a :class:`GLMResult`.
        ValueError: an unknown ``test``; a batch of fits; fits of different rows,
            responses or families, or not nested in order; one fit that is not a
            formula fit.
    """
    test = _check_test(test)
    if not fits:
        raise TypeError("anova needs at least one fit")
    for i, res in enumerate(fits):
        _check_fit(res, i)
    if len(fits) == 1:
        return _sequential(fits[0], test)
    return _nested(fits, test)


# --- checks -------------------------------------------------------------------------


def _check_test(test):
    if test is None or test is False:
        return None
    if isinstance(test, str) and test.lower() in _TESTS:
        return _TESTS[test.lower()]
    raise ValueError(f'test must be "Chisq", "LRT", "F" or None, got {test!r}')


def _check_fit(res, i: int) -> None:
    if not isinstance(res, GLMResult):
        raise TypeError(
            f"argument {i + 1} of anova is a {type(res).__name__}, not a fit; pass "
            "GLMResults from jg.fit or jg.glm"
        )
    if np.ndim(res.deviance) != 0:
        raise ValueError(
            f"fit {i + 1} is a batch of {np.size(res.deviance)} fits (from vmap or "
            "fit_many); anova compares single fits: index one fit first, e.g. "
            "jax.tree.map(lambda a: a[i], res)"
        )
    if isinstance(res.family, Multinomial):
        raise ValueError(
            "anova supports the GLM families, not Multinomial; compare multinomial "
            "fits by their deviances (a likelihood-ratio test)"
        )


def _same_family(a, b) -> bool:
    if type(a) is not type(b) or type(a.link) is not type(b.link):
        return False
    if getattr(a, "varfun", None) != getattr(b, "varfun", None):
        return False
    leaves = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in leaves)


def _check_nested(fits) -> None:
    first = fits[0]
    n = np.shape(first.y)[0]
    for i, res in enumerate(fits[1:], start=2):
        if np.shape(res.y)[0] != n:
            raise ValueError(
                f"fit {i} has {np.shape(res.y)[0]} rows but fit 1 has {n}; the "
                "models were not all fitted to the same rows (R: 'models were not "
                "all fitted to the same size of dataset')"
            )
        if not np.array_equal(np.asarray(res.y), np.asarray(first.y)):
            raise ValueError(
                f"fit {i} has a different response y from fit 1; anova compares "
                "models of the same response"
            )
        if not np.array_equal(np.asarray(res.weights), np.asarray(first.weights)):
            raise ValueError(
                f"fit {i} has different prior weights from fit 1; anova compares "
                "models of the same data and weights"
            )
        if not _same_family(res.family, first.family):
            raise ValueError(
                f"fit {i} has family {res.family!r} but fit 1 has {first.family!r}; "
                "anova compares nested models of one family and link"
            )
    df = [int(np.asarray(res.df_resid)) for res in fits]
    dev = [float(np.asarray(res.deviance)) for res in fits]
    for i in range(1, len(fits)):
        if df[i] > df[i - 1]:
            raise ValueError(
                f"fit {i + 1} has more residual degrees of freedom ({df[i]}) than "
                f"fit {i} ({df[i - 1]}); pass nested fits smallest model first"
            )
        if dev[i] - dev[i - 1] > _NESTING_RTOL * max(1.0, abs(dev[i - 1])):
            raise ValueError(
                f"fit {i + 1} has a larger deviance ({dev[i]:.6g}) than the smaller "
                f"fit {i} ({dev[i - 1]:.6g}), so the models are not nested; pass "
                "nested fits (each model's columns within the next's), smallest first"
            )


# --- the two tables -------------------------------------------------------------------


def _nested(fits, test):
    """R's ``anova.glmlist``."""
    _check_nested(fits)
    resdf = np.array([float(np.asarray(r.df_resid)) for r in fits])
    resdev = np.array([float(np.asarray(r.deviance)) for r in fits])
    columns = {
        "Resid. Df": resdf.astype(np.int64),
        "Resid. Dev": resdev,
        "Df": np.concatenate([[np.nan], -np.diff(resdf)]),
        "Deviance": np.concatenate([[np.nan], -np.diff(resdev)]),
    }
    big = fits[int(np.argmin(resdf))]
    labels = [_model_label(res) for res in fits]
    width = len(str(len(fits)))
    heading = ["Analysis of Deviance Table", ""] + [
        f"Model {str(i + 1).rjust(width)}: {label}" for i, label in enumerate(labels)
    ]
    _add_test(columns, test, big, float(resdf.min()), dtype=big.deviance.dtype)
    return _make_table(columns, list(range(1, len(fits) + 1)), heading)


def _sequential(res, test):
    """R's ``anova.glm`` for one fit: terms added in order."""
    spec = res.formula
    if spec is None or not getattr(spec, "fit_inputs", None):
        raise ValueError(
            "anova with one fit refits its terms in order, which needs a formula "
            "fit (jg.glm); for fits of design matrices pass the nested fits, "
            "smallest first: jg.anova(fit0, fit1, ...)"
        )
    inputs = spec.fit_inputs
    terms = list(spec.model_spec.rhs.term_indices.items())
    intercept = [cols for term, cols in terms if str(term) == "1"]
    terms = [(str(term), cols) for term, cols in terms if str(term) != "1"]
    resdf = [float(np.asarray(res.df_null))]
    resdev = [float(np.asarray(res.null_deviance))]
    if len(terms) > 1:
        X, _ = spec.design(inputs["data"], offset_given=True)
        fitter, family = inputs["fitter"], inputs["family"]
        if res.theta_fit is not None:
            # R's anova.negbin: the terms at the fitted theta, not re-estimated.
            warnings.warn(
                "tests made without re-estimating 'theta'", UserWarning, stacklevel=3
            )
            fitter, family = _fit, res.family
        columns = list(intercept[0]) if intercept else []
        y = np.asarray(res.y)
        for _, cols in terms[:-1]:
            columns += list(cols)
            sub = fitter(
                X[:, columns], y, family, weights=inputs["weights"],
                offset=inputs["offset"], **inputs["options"],
            )  # fmt: skip
            resdf.append(float(np.asarray(sub.df_resid)))
            resdev.append(float(np.asarray(sub.deviance)))
    if terms:
        resdf.append(float(np.asarray(res.df_resid)))
        resdev.append(float(np.asarray(res.deviance)))
    resdf_arr, resdev_arr = np.array(resdf), np.array(resdev)
    columns = {
        "Df": np.concatenate([[np.nan], -np.diff(resdf_arr)]),
        "Deviance": np.concatenate([[np.nan], np.maximum(0.0, -np.diff(resdev_arr))]),
        "Resid. Df": resdf_arr.astype(np.int64),
        "Resid. Dev": resdev_arr,
    }
    response = spec.formula.split("~", 1)[0].strip()
    heading = [
        "Analysis of Deviance Table",
        "",
        f"Model: {_r_family_name(res)}, link: {_link_name(res)}",
        "",
        f"Response: {response}",
        "",
        "Terms added sequentially (first to last)",
        "",
        "",
    ]
    df_scale = float(np.asarray(res.df_resid))
    _add_test(columns, test, res, df_scale, dtype=res.deviance.dtype)
    return _make_table(columns, ["NULL", *(term for term, _ in terms)], heading)


def _r_family_name(res) -> str:
    """R's ``family$family``; MASS names its family "Negative Binomial(theta)"."""
    if isinstance(res.family, NegativeBinomial):
        theta = 1.0 / float(np.asarray(res.family.alpha))
        return f"Negative Binomial({_format_real(np.array([round(theta, 4)]), 7)[0]})"
    return _family_name(res)


def _model_label(res) -> str:
    if res.formula is not None:
        return res.formula.formula
    p = int(np.shape(res.coef)[-1])
    if res.names:
        return " + ".join(res.names)
    return f"{p} column{'s' if p != 1 else ''} of X"


# --- tests (R's stat.anova) -----------------------------------------------------------


def _add_test(columns, test, big, min_resdf, dtype) -> None:
    """Append R's test columns, with the dispersion of ``big``, the largest model."""
    if test is None:
        return
    estimated = type(big.family).estimates_dispersion
    scale = float(np.asarray(big.scale)) if estimated else 1.0
    df_scale = min_resdf if estimated else math.inf
    df, dev = columns["Df"], columns["Deviance"]
    valid = np.isfinite(df) & (df != 0)
    safe_df = np.where(valid, np.abs(df), 1.0)
    if test == "Chisq":
        stat = np.where(valid, dev / scale * np.sign(df), np.nan)
        stat = np.where(stat >= 0, stat, np.nan)
        columns["Pr(>Chi)"] = _chisq_sf(stat, safe_df, dtype)
        return
    if not estimated:
        name = type(big.family).name
        message = (
            f"using F test with a '{name}' family is inappropriate"
            if name in ("binomial", "poisson")
            else "using F test with a fixed dispersion is inappropriate"
        )
        warnings.warn(message, UserWarning, stacklevel=4)
    stat = np.where(valid, dev / safe_df / scale, np.nan)
    stat = np.where(stat >= 0, stat, np.nan)
    columns["F"] = stat
    if math.isinf(df_scale):
        columns["Pr(>F)"] = _chisq_sf(stat * safe_df, safe_df, dtype)
    else:
        columns["Pr(>F)"] = _f_sf(stat, safe_df, df_scale, dtype)


def _chisq_sf(x, df, dtype) -> np.ndarray:
    """Upper tail of chi-squared(df) at x, NaN where x is NaN (R's pchisq)."""
    ok = np.isfinite(x)
    xs = jnp.asarray(np.where(ok, x, 0.0), dtype)
    p = gammaincc(jnp.asarray(df, dtype) / 2, xs / 2)
    return np.where(ok, np.asarray(p, dtype=np.float64), np.nan)


def _f_sf(f, df1, df2, dtype) -> np.ndarray:
    """Upper tail of F(df1, df2) at f, NaN where f is NaN (R's pf)."""
    ok = np.isfinite(f)
    fs = jnp.asarray(np.where(ok, f, 0.0), dtype)
    d1 = jnp.asarray(df1, dtype)
    d2 = jnp.asarray(df2, dtype)
    p = betainc(d2 / 2, d1 / 2, d2 / (d2 + d1 * fs))
    return np.where(ok, np.asarray(p, dtype=np.float64), np.nan)


# --- the table and its printing (R's print.anova / printCoefmat) ---------------------


def _make_table(columns, index, heading):
    cls = _table_class()
    table = cls(columns, index=index)
    object.__setattr__(table, "heading", tuple(heading))
    return table


@functools.cache
def _table_class():
    try:
        import pandas as pd
    except ImportError as err:
        raise ImportError(
            "jg.anova returns a pandas DataFrame; install pandas (pip install "
            '"jaxglm-stats[formula]")'
        ) from err

    class AnovaTable(pd.DataFrame):
        """R's analysis-of-deviance table: a DataFrame printed as R prints it.

        ``heading`` holds R's lines above the table.  Anything derived from it
        (a slice, a copy) is a plain DataFrame.
        """

        _metadata = ["heading"]

        @property
        def _constructor(self):
            return pd.DataFrame

        def __repr__(self) -> str:
            return format_anova(self, getattr(self, "heading", ()))

        def __str__(self) -> str:
            return self.__repr__()

    AnovaTable.__module__ = __name__
    AnovaTable.__qualname__ = "AnovaTable"
    return AnovaTable


def __getattr__(name: str):
    # The class needs pandas, so it is made on first use; this lets pickle find it.
    if name == "AnovaTable":
        return _table_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def format_anova(table, heading=()) -> str:
    """The table as R's ``print.anova`` lays it out (digits 5, signif. stars)."""
    names = [str(c) for c in table.columns]
    has_p = bool(names) and names[-1].startswith(("Pr(", "P("))
    cells = []
    for name in names:
        values = np.asarray(table[name], dtype=np.float64)
        if has_p and name == names[-1]:
            cells.append(_format_pvalues(values))
        elif name in ("F", "Chisq", "Cp") or name.endswith(" value"):
            cells.append(_format_column(np.round(values, _DIGITS - 1)))
        elif name.endswith("Df"):
            cells.append(_format_column(values))
        else:
            cells.append(_format_column(_zapsmall(values)))
    header = list(names)
    if has_p:
        pv = np.asarray(table[names[-1]], dtype=np.float64)
        finite = np.isfinite(pv)
        if finite.any() and (pv[finite] < 0.1).any():
            stars = [_stars(p) for p in pv]
            width = max(len(s) for s in stars)  # R's format(): a common width
            cells.append([s.ljust(width) for s in stars])
            header.append("")
    rows = [str(i) for i in table.index]
    row_width = max([len(r) for r in rows], default=0)
    widths = [
        max([len(h), *(len(c) for c in col)])
        for h, col in zip(header, cells, strict=True)
    ]
    lines = list(heading)
    padded = (h.rjust(w) for h, w in zip(header, widths, strict=True))
    head = " ".join([" " * row_width, *padded])
    lines.append(head)
    for i, row in enumerate(rows):
        parts = [row.ljust(row_width)]
        parts += [col[i].rjust(w) for col, w in zip(cells, widths, strict=True)]
        lines.append(" ".join(parts))
    if len(header) > len(names):
        lines += ["---", _LEGEND]
    return "\n".join(lines)


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    for cut, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return mark
    return " "


def _zapsmall(values: np.ndarray, digits: int = _DIGITS) -> np.ndarray:
    # R 4.2's zapsmall: round(x, max(0, digits - log10(max|x|))), and round()
    # takes the nearest whole number of digits.
    finite = values[np.isfinite(values)]
    largest = float(np.max(np.abs(finite))) if finite.size else 0.0
    if largest > 0:
        digits = math.floor(max(0.0, digits - math.log10(largest)) + 0.5)
    return np.round(values, digits)


def _format_column(values: np.ndarray, digits: int = _DIGITS) -> list[str]:
    """R's ``format(x, digits)``: one common layout, NA printed as ''."""
    finite = np.isfinite(values)
    texts = _format_real(values[finite], digits)
    out, it = [], iter(texts)
    for ok in finite:
        out.append(next(it) if ok else "")
    return out


def _format_real(values: np.ndarray, digits: int) -> list[str]:
    """R's ``formatReal``: fixed or scientific, whichever is narrower, with the
    fewest digits that show every value to ``digits`` significant digits."""
    if values.size == 0:
        return []
    negative = bool((values < 0).any())
    left, right, sig, big_exp = 1, 0, 1, False
    for value in np.abs(values):
        if value == 0:
            continue
        mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
        power = int(exponent)
        nsig = len(mantissa.replace(".", "").rstrip("0")) or 1
        sig = max(sig, nsig)
        left = max(left, power + 1)
        right = max(right, nsig - power - 1)
        big_exp |= abs(power) >= 100
    fixed_width = negative + left + (right > 0) + right
    sci_width = negative + (sig > 1) + sig + 4 + big_exp
    if fixed_width <= sci_width:
        return [f"{v:.{right}f}" for v in values]
    return [f"{v:.{sig - 1}e}" for v in values]


def _format_pvalues(pv: np.ndarray, digits: int = _DIGITS - 1) -> list[str]:
    """R's ``format.pval`` (printCoefmat's p-value column); NA printed as ''."""
    out = [""] * pv.size
    finite = np.flatnonzero(np.isfinite(pv))
    tiny = [i for i in finite if pv[i] < _EPS]
    rest = [i for i in finite if pv[i] >= _EPS]
    if rest:
        values = pv[rest]
        power = np.floor(np.log10(np.where(values > 0, values, 1e-50)))
        fixed = (power >= -3) | ((power == -4) & (digits > 1))
        for group in (fixed, ~fixed):
            idx = [i for i, g in zip(rest, group, strict=True) if g]
            for i, text in zip(idx, _format_real(pv[idx], digits), strict=True):
                out[i] = text
    if tiny:
        d = max(1, digits - 2)
        if rest:
            width = max(len(out[i]) for i in rest)
            if d > 1 and d + 6 > width:
                d = max(1, width - 7)
            sep = "" if d == 1 and width <= 6 else " "
        else:
            sep = "" if d == 1 else " "
        text = "<" + sep + _format_real(np.array([_EPS]), d)[0]
        for i in tiny:
            out[i] = text
    return out
