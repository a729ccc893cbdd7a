"""``jg.summary``: a text table laid out like R's ``summary.glm``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._multinomial.family import Multinomial
from ._result import GLMResult
from ._status import Status, describe

__all__ = ["Summary", "summary"]

_DIGITS = 4  # R: max(3, getOption("digits") - 3)


class Summary(str):
    """The printed summary; a ``str`` so it prints, compares and searches as text."""

    def __repr__(self) -> str:
        return str(self)


def _decimals(values: np.ndarray, digits: int = _DIGITS) -> int:
    """Common decimals so each value shows ``digits`` significant digits, R-style.

    As R's ``formatReal``: each value is rounded to ``digits`` significant
    digits, trailing zeros dropped, and the column uses the most decimals any
    value then needs.
    """
    need = 0
    for value in values[np.isfinite(values)]:
        text = f"{abs(float(value)):.{digits}g}"
        if "e" in text:
            mantissa, exponent = text.split("e")
            frac = len(mantissa.split(".")[1]) if "." in mantissa else 0
            need = max(need, frac - int(exponent))
        elif "." in text:
            need = max(need, len(text.split(".")[1]))
    return int(min(need, 10))


def _column(values: np.ndarray, decimals: int) -> list[str]:
    return ["NA" if not np.isfinite(v) else f"{v:.{decimals}f}" for v in values]


def _pvalue(p: float) -> str:
    if not np.isfinite(p):
        return "NA"
    if p < 2e-16:
        return "< 2e-16"
    # printCoefmat: three significant digits, scientific below 1e-4.
    return f"{p:.2e}" if p < 1e-4 else f"{p:.3g}"


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    for cut, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return mark
    return ""


def _link_name(res: GLMResult) -> str:
    link = res.family.link
    name = type(link).__name__
    r_names = {
        "Identity": "identity",
        "Log": "log",
        "Logit": "logit",
        "Probit": "probit",
        "CLogLog": "cloglog",
        "LogLog": "loglog",
        "Cauchit": "cauchit",
        "Inverse": "inverse",
        "InverseSquared": "1/mu^2",
        "Sqrt": "sqrt",
    }
    if name == "Power":
        return f"mu^{float(np.asarray(link.p)):g}"
    return r_names.get(name, name)


def _family_name(res: GLMResult) -> str:
    family = res.family
    name = type(family).name
    if name == "negative.binomial" and res.theta_fit is not None:
        # MASS's negative.binomial: format(round(theta, 4)) in the name.
        theta = round(float(np.asarray(res.theta)), 4)
        return f"Negative Binomial({_r_format(theta)})"
    if name == "negative.binomial":
        return f"Negative Binomial(alpha = {float(np.asarray(family.alpha)):.4g})"
    if name == "Tweedie":
        return f"Tweedie(power = {float(np.asarray(family.power)):.4g})"
    return name


def _coefficient_rows(names, coef, se, z, pv, use_t: bool) -> list[str]:
    """The lines of R's ``printCoefmat`` table, header first."""
    stat_head, p_head = ("t value", "Pr(>|t|)") if use_t else ("z value", "Pr(>|z|)")
    dec = _decimals(np.concatenate([coef, se]))
    columns = [
        ["", *names],
        ["Estimate", *_column(coef, dec)],
        ["Std. Error", *_column(se, dec)],
        [stat_head, *_column(z, 3)],
        [p_head, *[_pvalue(v) for v in pv]],
        ["", *[_stars(v) for v in pv]],
    ]
    widths = [max(len(s) for s in col) for col in columns]
    rows = []
    for i in range(len(names) + 1):
        cells = [columns[0][i].ljust(widths[0])]
        cells += [
            col[i].rjust(w) for col, w in zip(columns[1:5], widths[1:5], strict=True)
        ]
        cells.append(columns[5][i].ljust(widths[5]))
        rows.append(" ".join(cells).rstrip())
    return rows


def _coefficient_names(res: GLMResult, names, p: int) -> list[str]:
    names = list(names if names is not None else res.names or [])
    if not names:
        names = [f"x{j}" for j in range(p)]
    if len(names) != p:
        raise ValueError(
            f"names has {len(names)} entries but the fit has {p} coefficients"
        )
    return names


def _covariance_note(cov_type: str) -> str:
    """The line naming a robust covariance (R: lmtest::coeftest(fit, vcov))."""
    if cov_type == "user":
        return "Covariance: user-supplied (z tests, as lmtest::coeftest(fit, vcov))"
    if cov_type.startswith("CL-"):
        call = f'sandwich::vcovCL(fit, cluster, type = "{cov_type[3:]}")'
    elif cov_type.startswith("HC"):
        call = f'sandwich::vcovHC(fit, type = "{cov_type}")'
    else:
        return f"Covariance: {cov_type} (z tests)"
    return f"Covariance: {cov_type} (z tests, as lmtest::coeftest(fit, {call}))"


def summary(res: GLMResult, names: Sequence[str] | None = None) -> Summary:
    """A printable coefficient table and fit statistics, as R's ``summary.glm``.

    Args:
        res: one fit (for a vmapped batch, a short overview is returned).
        names: coefficient names, (p,); defaults to ``res.names`` or x0, x1, ...

    Returns:
        A :class:`Summary` (a ``str``): print it.
    """
    coef = np.asarray(res.coef, dtype=float)
    multinomial = isinstance(res.family, Multinomial)
    if coef.ndim > (2 if multinomial else 1):
        return _batch_summary(res)
    names = _coefficient_names(res, names, coef.shape[0])
    if multinomial:
        return _multinomial_summary(res, names)
    se = np.asarray(res.se, dtype=float)
    z = np.asarray(res.z, dtype=float)
    pv = np.asarray(res.pvalues, dtype=float)
    rows = _coefficient_rows(names, coef, se, z, pv, res.uses_t)

    n_aliased = int(np.sum(np.asarray(res.aliased)))
    status = Status(int(np.asarray(res.status)))
    df_resid = int(np.asarray(res.df_resid))
    df_null = int(np.asarray(res.df_null))
    scale = float(np.asarray(res.scale))
    family = _family_name(res)
    lines = [f"Family: {family}   Link: {_link_name(res)}", ""]
    if status != Status.SUCCESS:
        lines += [f"WARNING: status {status.name}: {describe(status)}", ""]
    if res.cov_type is not None:
        lines += [_covariance_note(res.cov_type), ""]
    head = "Coefficients:"
    if n_aliased:
        head = f"Coefficients: ({n_aliased} not defined because of singularities)"
    lines += [head, *rows, "---"]
    lines.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
    lines.append("")
    scale_text = f"{scale:.7g}"  # R: format(dispersion), 7 significant digits
    lines.append(f"(Dispersion parameter for {family} family taken to be {scale_text})")
    lines.append("")
    null_dev = float(np.asarray(res.null_deviance))
    dev = float(np.asarray(res.deviance))
    devs = np.array([null_dev, dev])
    dev_text = _column(devs, _decimals(devs, _DIGITS + 1))
    width = max(len(t) for t in dev_text)
    df_text = [str(df_null), str(df_resid)]
    df_width = max(len(t) for t in df_text)
    for label, value, df in zip(
        ("    Null", "Residual"), dev_text, df_text, strict=True
    ):
        lines.append(
            f"{label} deviance: {value:>{width}}  on {df:>{df_width}}  "
            "degrees of freedom"
        )
    dropped = res.n_dropped
    if dropped:
        lines.append(f"  ({dropped} observations deleted due to missingness)")
    aic = float(np.asarray(res.aic))
    lines.append(f"AIC: {'NA' if math.isnan(aic) else f'{aic:.{_DIGITS + 1}g}'}")
    lines.append("")
    lines.append(f"Number of Fisher Scoring iterations: {int(np.asarray(res.n_iter))}")
    if res.theta_fit is not None:
        lines += _theta_lines(res)
    return Summary("\n".join(lines) + "\n")


def _r_format(value: float, nsmall: int = 0) -> str:
    """R's ``format(value, nsmall = nsmall)``: 7 significant digits, at least
    ``nsmall`` decimals (fixed notation)."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Inf" if value > 0 else "-Inf")
    decimals = max(nsmall, _decimals(np.array([value]), 7))
    return f"{value:.{decimals}f}"


def _theta_lines(res: GLMResult) -> list[str]:
    """The lines ``MASS:::print.summary.negbin`` adds for ``jg.fit_negbin`` fits."""
    theta = float(np.asarray(res.theta))
    se = float(np.asarray(res.theta_se))
    twologlik = 2.0 * float(np.asarray(res.loglik))
    # R: dp <- max(2 - floor(log10(SE.theta)), 0)
    dp = max(2 - math.floor(math.log10(se)), 0) if math.isfinite(se) and se > 0 else 0
    lines = [
        "",
        "",
        f"              Theta:  {_r_format(round(theta, dp), dp)}",
        f"          Std. Err.:  {_r_format(round(se, dp), dp)}",
    ]
    if math.isinf(theta) or theta == 0:
        lines.append(
            "Warning while fitting theta: the likelihood rises without bound as "
            f"theta -> {'infinity (no overdispersion)' if theta else '0'}"
        )
    lines += ["", f" 2 x log-likelihood:  {_r_format(round(twologlik, 3), dp)}"]
    return lines


def _batch_summary(res: GLMResult) -> Summary:
    status = np.asarray(res.status).reshape(-1)
    counts = {s.name: int(np.sum(status == s)) for s in Status if np.any(status == s)}
    text = ", ".join(f"{name}: {count}" for name, count in counts.items())
    shape = np.asarray(res.status).shape
    return Summary(
        f"Batch of {status.size} GLM fits, batch shape {shape}; status counts: {text}\n"
        "Summarise one fit with jg.summary(jax.tree.map(lambda a: a[i], res)).\n"
    )


def _multinomial_summary(res: GLMResult, names: list[str]) -> Summary:
    """One coefficient block per class against the reference, then nnet's
    deviance and AIC lines (R: ``summary(multinom(...))``, VGAM's layout)."""
    classes = res.class_names
    status = Status(int(np.asarray(res.status)))
    lines = [
        f"Multinomial logit model, {len(classes)} classes; reference class: "
        f"{classes[0]}",
        "",
    ]
    if status != Status.SUCCESS:
        lines += [f"WARNING: status {status.name}: {describe(status)}", ""]
    n_aliased = int(np.sum(np.asarray(res.aliased)))
    if n_aliased:
        lines += [f"({n_aliased} terms not defined because of singularities)", ""]
    columns = [np.asarray(getattr(res, f), dtype=float) for f in ("coef", "se")]
    stats = [np.asarray(getattr(res, f), dtype=float) for f in ("z", "pvalues")]
    for j, name in enumerate(classes[1:]):
        lines.append(f"Coefficients: {name} vs {classes[0]}")
        lines += _coefficient_rows(
            names, columns[0][:, j], columns[1][:, j], stats[0][:, j],
            stats[1][:, j], use_t=False,
        )  # fmt: skip
        lines.append("")
    lines.append("---")
    lines.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
    lines.append("")
    devs = np.array([float(np.asarray(res.null_deviance)), float(res.deviance)])
    dev_text = _column(devs, _decimals(devs, _DIGITS + 1))
    width = max(len(t) for t in dev_text)
    dfs = [str(int(np.asarray(res.df_null))), str(int(np.asarray(res.df_resid)))]
    df_width = max(len(t) for t in dfs)
    for label, value, df in zip(("    Null", "Residual"), dev_text, dfs, strict=True):
        lines.append(
            f"{label} Deviance: {value:>{width}}  on {df:>{df_width}}  "
            "degrees of freedom"
        )
    dropped = res.n_dropped
    if dropped:
        lines.append(f"  ({dropped} observations deleted due to missingness)")
    lines.append(f"AIC: {float(np.asarray(res.aic)):.{_DIGITS + 3}g}")
    lines.append("")
    lines.append(f"Number of Newton iterations: {int(np.asarray(res.n_iter))}")
    return Summary("\n".join(lines) + "\n")
