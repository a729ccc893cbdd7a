"""``jg.glm``: a GLM from an R-style formula and a data frame, through formulaic.

formulaic and pandas are optional (the ``formula`` extra); they are imported when
``glm`` or a formula ``predict`` runs, never when jaxglm itself is imported.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from jax.typing import ArrayLike

from ._families import Binomial, Gaussian
from ._family import Family
from ._fit import fit
from ._multinomial.family import Multinomial
from ._result import GLMResult
from ._validate import as_family

__all__ = ["FormulaSpec", "glm"]

INSTALL_HINT = 'pip install "jaxglm-stats[formula]"'

# Names an R user expects inside a formula that formulaic's own context
# (np, log, exp, log2, log10, I, C, poly, center, scale, ...) lacks. The
# caller's variables take precedence.
_R_FUNCTIONS = {"sqrt": np.sqrt, "abs": np.abs, "log1p": np.log1p, "expm1": np.expm1}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OFFSET_CALL = re.compile(r"\boffset\s*\(")
_CBIND = re.compile(r"^cbind\s*\(")
# formulaic's column names: "g[T.b]" (treatment), "g[b]" (full dummies),
# "poly(x, 2)[1]"; R writes them "gb", "gb", "poly(x, 2)1".
_LEVEL_SUFFIX = re.compile(r"\[(?:T\.)?([^\[\]]*)\]")
_C_CALL = re.compile(r"^C\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*[,)]")
_NA_ACTIONS = ("omit", "raise")


def import_formula_deps():
    """(pandas, formulaic), or an ImportError that says how to install them."""
    try:
        import formulaic
        import pandas
    except ImportError as err:
        raise ImportError(
            f"formulas and data frames need formulaic and pandas ({err.name} is "
            f"not installed); install them with: {INSTALL_HINT}"
        ) from err
    return pandas, formulaic


# --- formula text ----------------------------------------------------------------


def _closing(text: str, open_index: int) -> int:
    """Index of the bracket closing the one at ``open_index``."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = []
    quote = None
    for i in range(open_index, len(text)):
        ch = text[i]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in pairs:
            stack.append(pairs[ch])
        elif ch in ")]}":
            if not stack or stack.pop() != ch:
                break
            if not stack:
                return i
    raise ValueError(f"unbalanced brackets in formula {text!r}")


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside brackets and quotes."""
    parts, depth, start, quote = [], 0, 0, None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _depth_at(text: str, index: int) -> int:
    depth = 0
    for ch in text[:index]:
        depth += ch in "([{"
        depth -= ch in ")]}"
    return depth


def _extract_offsets(rhs: str) -> tuple[str, list[str]]:
    """Remove R's ``+ offset(expr)`` terms; return the rest and the expressions."""
    offsets = []
    while True:
        match = next(
            (m for m in _OFFSET_CALL.finditer(rhs) if _depth_at(rhs, m.start()) == 0),
            None,
        )
        if match is None:
            break
        end = _closing(rhs, match.end() - 1)
        before = rhs[: match.start()].rstrip()
        if before and before[-1] != "+":
            raise ValueError(
                f"offset(...) must be added to the formula (+ offset(expr)), got "
                f"{rhs!r}"
            )
        offsets.append(rhs[match.end() : end].strip())
        rhs = before[:-1] + " " + rhs[end + 1 :] if before else rhs[end + 1 :]
        rhs = re.sub(r"^\s*\+", "", rhs)
    rhs = rhs.strip()
    return (rhs if rhs else "1"), offsets


def _parse(formula: str) -> tuple[str, str, list[str], bool]:
    """(lhs for formulaic, rhs, offset expressions, whether the lhs was cbind)."""
    if not isinstance(formula, str):
        raise TypeError(
            f"formula must be a string such as 'y ~ x1 + x2', got "
            f"{type(formula).__name__}"
        )
    sides = _split_top_level(formula, "~")
    if len(sides) != 2 or not sides[0].strip():
        raise ValueError(
            f"formula {formula!r} needs one response on the left of '~', as in "
            "'y ~ x1 + x2'"
        )
    lhs, rhs = sides[0].strip(), sides[1].strip()
    rhs, offsets = _extract_offsets(rhs)
    is_cbind = bool(_CBIND.match(lhs)) and _closing(lhs, lhs.index("(")) == len(lhs) - 1
    if is_cbind:
        columns = [
            c.strip() for c in _split_top_level(lhs[lhs.index("(") + 1 : -1], ",")
        ]
        if len(columns) < 2 or not all(columns):
            raise ValueError(
                f"cbind() on the left of '~' takes two columns, successes and "
                f"failures (or one count column per class for Multinomial), got "
                f"{lhs!r}"
            )
        lhs = " + ".join(f"{{{c}}}" for c in columns)
    return lhs, rhs, offsets, is_cbind


def r_names(columns) -> tuple[str, ...]:
    """formulaic's column names the way R's ``model.matrix`` spells them."""
    out = []
    for name in columns:
        name = str(name)
        out.append(
            "(Intercept)" if name == "Intercept" else _LEVEL_SUFFIX.sub(r"\1", name)
        )
    return tuple(out)


def _caller_context(formulaic, texts: list[str], frame) -> dict[str, Any]:
    """The caller's variables that the formula's text names (R: its environment).

    formulaic's own vectorised transforms (``log``, ``C``, ``poly``, ...) keep
    their meaning even if the caller has, say, ``from math import log``.
    """
    names = {name for text in texts for name in _IDENTIFIER.findall(text)}
    names -= set(getattr(formulaic.transforms, "TRANSFORMS", {}))
    scope = {**frame.f_globals, **frame.f_locals} if frame is not None else {}
    return {**_R_FUNCTIONS, **{k: scope[k] for k in names if k in scope}}


# --- data --------------------------------------------------------------------------


def _as_frame(pd, data):
    """A DataFrame with a fresh 0..n-1 index (formulaic needs unique labels)."""
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if isinstance(data, Mapping):
        return pd.DataFrame(dict(data))
    raise TypeError(
        f"data must be a pandas DataFrame or a dict of columns, got "
        f"{type(data).__name__}"
    )


def _evaluate(formulaic, expression: str, frame, context, what: str) -> np.ndarray:
    """A column name or a Python/formulaic expression, evaluated on every row."""
    if expression in frame.columns:
        values = frame[expression]
    else:
        try:
            matrix = formulaic.model_matrix(
                f"0 + {{{expression}}}", frame, context=context, na_action="ignore"
            )
        except Exception as err:
            raise ValueError(
                f"{what}={expression!r} is neither a column of data nor an "
                f"expression that can be evaluated on it ({err})"
            ) from err
        if matrix.shape[1] != 1:
            raise ValueError(
                f"{what}={expression!r} gives {matrix.shape[1]} columns; it must "
                "give one number per row"
            )
        values = matrix.iloc[:, 0]
    try:
        return values.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what}={expression!r} must be numeric ({err})") from err


def _as_column(value, n: int, what: str) -> np.ndarray:
    array = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value)
    array = array.astype(float) if array.dtype.kind in "biuf" else array
    if array.ndim != 1 or array.shape[0] != n or array.dtype.kind != "f":
        raise ValueError(
            f"{what} must be a column name, an expression or a numeric array of "
            f"one value per row of data ({n}), got shape {array.shape} and dtype "
            f"{array.dtype}"
        )
    return array


# --- the result's formula ---------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class FormulaSpec:
    """How a :func:`glm` fit built its design, to rebuild it for new data.

    Attributes:
        formula: the formula as the user wrote it.
        model_spec: formulaic's ``ModelSpecs`` (levels and transform states).
        offset_terms: offset expressions re-evaluated on new data (from
            ``offset(...)`` terms and a string ``offset=``).
        has_array_offset: the fit's ``offset`` was an array, which new data
            cannot reproduce; pass ``offset=`` to ``predict``.
        context: the caller's variables the formula uses.
        n_dropped: rows dropped for missing values (R's "observations deleted
            due to missingness").
        dropped_rows: their positions in ``data``.
        fit_inputs: what the fit was given, for refits of nested models
            (``jg.anova``): ``data`` (the rows fitted), ``weights`` and
            ``offset`` (arrays over those rows, or None), ``family`` and the
            fit ``options``.
    """

    formula: str
    model_spec: Any = dataclasses.field(repr=False)
    offset_terms: tuple[str, ...] = ()
    has_array_offset: bool = False
    context: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    n_dropped: int = 0
    dropped_rows: tuple[int, ...] = dataclasses.field(default=(), repr=False)
    fit_inputs: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    def design(
        self, data, offset_given: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(X, offset) for new data: same columns, levels and transforms as the fit.

        Rows with a missing value give NaN (R's ``na.pass`` in ``predict``).
        The offset is None when the fit had none.

        Raises:
            ValueError: a column is missing, a categorical column has a level
                the fit never saw, or the fit's offset was an array and
                ``offset_given`` is False (new data cannot reproduce it).
        """
        pd, formulaic = import_formula_deps()
        from formulaic.errors import DataMismatchWarning

        if self.has_array_offset and not offset_given:
            raise ValueError(
                "the fit's offset was an array, which new data cannot reproduce; "
                "pass offset= for the new rows (zeros for none), or fit with the "
                'offset as a column or expression (offset="log(exposure)")'
            )

        frame = _as_frame(pd, data)
        rhs = self.model_spec.rhs
        used = set(rhs.required_variables)
        missing = sorted(v for v in used if v not in frame.columns)
        if missing:
            raise ValueError(
                f"new data lacks the column(s) {missing} that the formula "
                f"{self.formula!r} uses"
            )
        self._check_levels(pd, frame)
        # Rows with a missing value predict NaN; formulaic sees only the rest.
        incomplete = frame[sorted(used)].isna().any(axis=1).to_numpy()
        X = np.full((len(frame), len(rhs.column_names)), np.nan)
        if not incomplete.all():
            with warnings.catch_warnings():
                warnings.simplefilter("error", DataMismatchWarning)
                try:
                    matrix = rhs.get_model_matrix(
                        frame[~incomplete], context=self.context, na_action="ignore"
                    )
                except DataMismatchWarning as err:
                    raise ValueError(
                        f"new data has categorical levels the fit never saw: {err}"
                    ) from None
            X[~incomplete] = matrix.to_numpy(dtype=float, na_value=np.nan)
        offset = None
        for term in self.offset_terms:
            values = _evaluate(formulaic, term, frame, self.context, "offset")
            offset = values if offset is None else offset + values
        return X, offset

    def _check_levels(self, pd, frame) -> None:
        for key, (kind, state) in self.model_spec.rhs.encoder_state.items():
            if getattr(kind, "value", kind) != "categorical":
                continue
            match = _C_CALL.match(key)
            column = key if key in frame.columns else match and match.group(1)
            if not column or column not in frame.columns:
                continue
            levels = list(state.get("categories", ()))
            values = frame[column]
            present = values[values.notna()]
            unseen = present[~present.isin(levels)]
            if len(unseen):
                raise ValueError(
                    f"column {column!r} has level {unseen.iloc[0]!r}, which the fit "
                    f"never saw (its levels: {levels}); a prediction for it is "
                    "undefined"
                )
            # Recode by value to the fit's levels: formulaic warns about missing
            # values of an object column, pandas about categories (not values)
            # outside the new ones.
            frame[column] = pd.Categorical(
                values.to_numpy(dtype=object), categories=levels
            )


# --- glm -----------------------------------------------------------------------


def design_of_fit(res, X, what: str):
    """``X`` as given, or, when it is None, the design a :func:`glm` fit used
    (rebuilt from its stored rows), for tools that need the design matrix."""
    if X is not None:
        return X
    spec = getattr(res, "formula", None)
    if spec is None or not getattr(spec, "fit_inputs", None):
        raise ValueError(
            f"{what} needs X, the design matrix the fit used; only a formula "
            "fit (jg.glm) can rebuild it"
        )
    X, _ = spec.design(spec.fit_inputs["data"], offset_given=True)
    return X


def glm(
    formula: str,
    data: Any,
    family: Family = Gaussian(),
    *,
    weights: str | ArrayLike | None = None,
    offset: str | ArrayLike | None = None,
    na_action: str = "omit",
    **fit_options: Any,
) -> GLMResult:
    """Fit a GLM given by an R-style formula to the columns of a data frame.

    The design comes from formulaic: ``C(g)`` or a string/categorical column
    is a factor with treatment coding and the first level (a pandas
    categorical's first category, else the sorted first value) as baseline,
    ``a:b`` and ``a*b`` interactions, ``np.log(x)``/``log(x)`` transforms,
    ``- 1`` or ``0 +`` to drop the intercept, ``+ offset(expr)`` an offset, and
    for Binomial ``cbind(successes, failures) ~ ...`` or a two-level factor
    response (first level = failure). Coefficient names follow R
    (``"(Intercept)"``, ``"District2"``, ``"woolB:tensionM"``).

    Matches R: ``glm(formula, family, data, weights, offset)`` with
    ``na.action = na.omit``. Ordered categoricals also get treatment coding
    (R would use polynomial contrasts; ask for them with
    ``C(x, contr.poly)``).

    Args:
        formula: e.g. ``"Claims ~ District + Group + Age + offset(log(Holders))"``.
        data: a pandas DataFrame or a dict of equal-length columns.
        family: a family instance, e.g. ``jg.Poisson()``.
        weights: prior weights: a column name, an expression, or an (n,) array.
        offset: a column name, an expression such as ``"log(Holders)"``, or an
            (n,) array; added to any ``offset(...)`` terms of the formula.
        na_action: ``"omit"`` drops rows with a missing value in any variable the
            model uses (the count is ``res.n_dropped``); ``"raise"`` raises.
        **fit_options: passed to :func:`jaxglm.fit` (``l2``, ``tol``, ``max_iter``).

    Returns:
        A :class:`GLMResult` with ``names`` set and ``formula`` (a
        :class:`FormulaSpec`) for :func:`jaxglm.predict` on new data frames.

    Raises:
        ImportError: formulaic or pandas is not installed.
        ValueError: a malformed formula, missing values with
            ``na_action="raise"``, or any input error of :func:`jaxglm.fit`.
    """
    family = as_family(family)
    return formula_fit(
        formula, data, family, weights=weights, offset=offset, na_action=na_action,
        fitter=fit, frame_depth=2, **fit_options,
    )  # fmt: skip


def formula_fit(
    formula: str,
    data: Any,
    family: Family,
    *,
    weights,
    offset,
    na_action: str,
    fitter: Callable[..., GLMResult],
    frame_depth: int = 1,
    **fit_options: Any,
) -> GLMResult:
    """:func:`glm` with any fitter ``fitter(X, y, family, weights=, offset=,
    **fit_options)`` (``jg.fit``, or ``jg.fit_negbin`` for ``jg.glm_nb``).

    ``frame_depth``: how many frames up the user's call is, for the formula's
    variables from the caller's scope.
    """
    pd, formulaic = import_formula_deps()
    if na_action not in _NA_ACTIONS:
        raise ValueError(f'na_action must be "omit" or "raise", got {na_action!r}')
    lhs, rhs, offset_terms, is_cbind = _parse(formula)
    if is_cbind and not isinstance(family, Binomial | Multinomial):
        raise ValueError(
            "cbind(successes, failures) responses are for the Binomial family "
            f"(cbind(class counts...) for Multinomial), got {type(family).__name__}"
        )
    if isinstance(offset, str):
        offset_terms.append(offset)
    texts = [formula, *(v for v in (weights, offset) if isinstance(v, str))]
    context = _caller_context(formulaic, texts, sys._getframe(frame_depth))
    frame = _as_frame(pd, data)
    n_rows = len(frame)

    matrices = formulaic.model_matrix(
        f"{lhs} ~ {rhs}", frame, context=context, na_action="drop"
    )
    complete = np.zeros(n_rows, dtype=bool)
    complete[matrices.rhs.index.to_numpy()] = True

    extras = {}
    if isinstance(weights, str):
        extras["weights"] = _evaluate(formulaic, weights, frame, context, "weights")
    elif weights is not None:
        extras["weights"] = _as_column(weights, n_rows, "weights")
    for term in offset_terms:
        values = _evaluate(formulaic, term, frame, context, "offset")
        extras["offset"] = values + extras.get("offset", 0.0)
    if offset is not None and not isinstance(offset, str):
        extras["offset"] = _as_column(offset, n_rows, "offset") + extras.get(
            "offset", 0.0
        )
    for values in extras.values():
        complete &= ~np.isnan(values)

    spec = matrices.model_spec
    if not complete.all() and na_action == "raise":
        texts = [t for t in (weights, *offset_terms) if isinstance(t, str)]
        raise ValueError(_missing_message(spec, frame, extras, complete, texts))
    rows = np.flatnonzero(complete)
    subset, trimmed = _drop_unused_levels(pd, frame, rows, spec)
    if trimmed or not complete.all():
        # R's glm() keeps only the levels seen in the rows it fits
        # (model.frame(drop.unused.levels = TRUE)); formulaic would give an
        # all-zero, aliased column for the others.
        matrices = formulaic.model_matrix(
            f"{lhs} ~ {rhs}", subset, context=context, na_action="ignore"
        )
        spec = matrices.model_spec
    X = matrices.rhs.loc[rows].to_numpy(dtype=float)
    response = matrices.lhs.loc[rows].to_numpy(dtype=float)
    classes = None
    if isinstance(family, Multinomial):
        y, classes = _categorical_response(
            response, matrices.lhs.columns, lhs, is_cbind
        )
        if y.ndim == 2:  # the response's levels decide the classes
            family = Multinomial(n_classes=y.shape[1])
        prior = None
    else:
        y, prior = _response(response, family, is_cbind, lhs)
    weights_arr = extras.get("weights")
    weights_arr = None if weights_arr is None else weights_arr[rows]
    if prior is not None:
        weights_arr = prior if weights_arr is None else weights_arr * prior
    offset_arr = extras.get("offset")
    offset_arr = None if offset_arr is None else offset_arr[rows]

    res = fitter(X, y, family, weights=weights_arr, offset=offset_arr, **fit_options)
    dropped = tuple(int(i) for i in np.flatnonzero(~complete))
    fit_inputs = dict(
        data=subset, weights=weights_arr, offset=offset_arr, family=family,
        options=dict(fit_options), fitter=fitter,
    )  # fmt: skip
    info = FormulaSpec(
        formula=formula,
        model_spec=spec,
        offset_terms=tuple(offset_terms),
        has_array_offset=offset is not None and not isinstance(offset, str),
        context=context,
        n_dropped=len(dropped),
        dropped_rows=dropped,
        fit_inputs=fit_inputs,
    )
    return res.replace(
        names=r_names(matrices.rhs.columns), formula=info, classes=classes
    )


def _drop_unused_levels(pd, frame, rows, spec):
    """(the rows of frame, whether a categorical there lost unused categories)."""
    subset = frame.iloc[rows]
    trimmed = False
    for name in sorted(spec.rhs.required_variables):
        values = subset[name] if name in subset.columns else None
        if values is not None and isinstance(values.dtype, pd.CategoricalDtype):
            kept = values.cat.remove_unused_categories()
            if len(kept.cat.categories) < len(values.cat.categories):
                subset = subset.assign(**{name: kept})
                trimmed = True
    return subset, trimmed


def _response(response: np.ndarray, family: Family, is_cbind: bool, lhs: str):
    """(y, prior weights or None) from the left-hand side's columns."""
    if is_cbind:
        if response.shape[1] != 2:
            raise ValueError(f"cbind() must name two different columns, got {lhs!r}")
        trials = response.sum(axis=1)
        safe = np.where(trials > 0, trials, 1.0)
        # R's binomial()$initialize: y = successes / trials, weights = trials.
        return np.where(trials > 0, response[:, 0] / safe, 0.0), trials
    if response.shape[1] == 1:
        return response[:, 0], None
    is_factor = np.all(np.isin(response, (0.0, 1.0))) and np.all(response.sum(1) == 1)
    if isinstance(family, Binomial) and is_factor:
        # R: a factor response is a failure at its first level, a success otherwise.
        return 1.0 - response[:, 0], None
    raise ValueError(
        f"the response {lhs!r} gives {response.shape[1]} columns; it must be "
        "numeric (for Binomial also a two-level factor or cbind(successes, "
        "failures))"
    )


def _categorical_response(response: np.ndarray, columns, lhs: str, is_cbind: bool):
    """(labels or counts, class names) for a Multinomial formula's left side.

    A factor column gives one indicator column per level (formulaic), in the
    order of its categories (R's factor levels); ``cbind(a, b, c)`` gives
    counts.  Levels never observed are dropped, as ``nnet::multinom`` does
    ("group(s) ... are empty"); a numeric column holds labels 0..K-1.
    """
    if response.shape[1] == 1:
        labels = response[:, 0]
        k = int(np.nanmax(labels)) + 1 if labels.size else 0
        return labels, tuple(str(j) for j in range(k))
    names = [str(c) for c in columns]
    if not is_cbind:  # formulaic names a factor's indicators "Sat[Low]"
        prefix = f"{lhs.strip()}["
        names = [n[len(prefix) : -1] if n.startswith(prefix) else n for n in names]
    seen = response.sum(axis=0) > 0
    if (~seen).any() and seen.sum() >= 2:
        response = response[:, seen]
        names = [name for name, keep in zip(names, seen, strict=True) if keep]
    return response, tuple(names)


def _missing_message(spec, frame, extras, complete, texts) -> str:
    used = set(spec.lhs.required_variables) | set(spec.rhs.required_variables)
    used |= {name for text in texts for name in _IDENTIFIER.findall(text)}
    counts = {v: int(frame[v].isna().sum()) for v in sorted(used) if v in frame}
    counts.update({k: int(np.isnan(v).sum()) for k, v in extras.items()})
    named = ", ".join(f"{k} ({c})" for k, c in counts.items() if c)
    where = f"in {named}" if named else "from the formula's terms (e.g. log(-1))"
    return (
        f"{int((~complete).sum())} row(s) have missing values (NaN) {where}; "
        'drop or impute them, or pass na_action="omit" to drop them'
    )
