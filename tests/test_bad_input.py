"""Bad inputs (issue 4; tests/reference/README.md, "Bad inputs").

- Eager calls validate concrete inputs and raise ``ValueError``/``TypeError`` whose
  message names the argument (or family) and the problem, and the first offending
  index where there is one. Each row of ``BAD`` is one such input; value problems
  are repeated with numpy, pandas, JAX and list containers, which must behave alike.
- Inputs that are merely unusual (ints, bools, numeric object arrays, numeric
  strings, pandas, ``y`` of shape (n, 1), ``family="poisson"``, a link class) are
  "accepted either way": the same numbers as the float call, or a clear
  ``ValueError``/``TypeError`` naming the argument (``ACCEPTED``).
- Under ``jax.jit``/``jax.vmap`` nothing raises for a value problem: the fit carries
  ``Status.INVALID_INPUT``, ``converged=False`` and NaN coefficients, and the other
  fits of a batch are exactly their solo fits. Shape problems are known at trace
  time and still raise.

Compile budget: every fit uses n = 20 rows and p = 2 columns, and the traced tests
reuse module-level jitted functions, so the file compiles about eight programs.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxglm as jg

N = 20
INVALID = int(jg.Status.INVALID_INPUT)
SUCCESS = int(jg.Status.SUCCESS)


# --------------------------------------------------------------------------------
# Data: one well-posed dataset per family, all with X of shape (N, 2)
# --------------------------------------------------------------------------------


def _base() -> dict:
    rng = np.random.default_rng(20240404)
    x = np.linspace(-1.0, 1.0, N)
    X = np.column_stack([np.ones(N), x])
    return {
        "X": X,
        "counts": rng.poisson(np.exp(1.0 + 0.5 * x)).astype(np.float64),
        "binary": (rng.uniform(size=N) < 1.0 / (1.0 + np.exp(-x))).astype(np.float64),
        "positive": rng.gamma(4.0, np.exp(0.5 + 0.3 * x) / 4.0),
        "weights": rng.uniform(0.5, 2.0, size=N),
        "offset": np.log(rng.uniform(0.5, 2.0, size=N)),
    }


D = _base()
Y_FOR = {"Poisson": "counts", "Binomial": "binary", "Gamma": "positive"}


def _with(array, index, value):
    out = np.array(array, dtype=np.float64, copy=True)
    out[index] = value
    return out


# --------------------------------------------------------------------------------
# Containers: the same bad input as numpy, pandas, JAX or a list
# --------------------------------------------------------------------------------


def _as_pandas(value):
    value = np.asarray(value)
    if value.ndim == 1:
        return pd.Series(value)
    if value.ndim == 2:
        return pd.DataFrame(value, columns=[f"c{j}" for j in range(value.shape[1])])
    return value


CONTAINERS: dict[str, Callable] = {
    "numpy": lambda v: v,
    "pandas": _as_pandas,
    "jax": jnp.asarray,
    "list": lambda v: np.asarray(v).tolist(),
}
ARRAY_ARGS = ("X", "y", "weights", "offset")


def _in_container(kwargs: dict, container: str) -> dict:
    wrap = CONTAINERS[container]
    return {
        k: wrap(v) if k in ARRAY_ARGS and isinstance(v, np.ndarray) else v
        for k, v in kwargs.items()
    }


def _call(kwargs: dict):
    kwargs = dict(kwargs)
    return jg.fit(kwargs.pop("X"), kwargs.pop("y"), **kwargs)


# --------------------------------------------------------------------------------
# Eager: every bad input raises a clear error
# --------------------------------------------------------------------------------

# Message fragments (regular expressions, case-insensitive): the argument, then the
# problem, in either order.
NONFINITE = r"nan|finite|inf"
NEGATIVE = r"negative|>= ?0|non-?negative|at least 0"
UNIT = r"\[0, ?1\]|between 0 and 1|proportion"
POSITIVE = r"positive|> ?0"
SHAPE = r"shape|length|rows|values|per observation|1-d|2-d|dimension|ndim"
EMPTY = r"no rows|no columns|empty|at least one"
NUMERIC = r"numeric|number|dtype|real"


@dataclasses.dataclass(frozen=True)
class Bad:
    """One invalid input: how to build the call, what it must raise and say."""

    id: str
    build: Callable[[], dict]  # keyword arguments of jg.fit (X and y included)
    error: type | tuple[type, ...]
    names: str  # regex: the argument (or family) the message must name
    problem: str  # regex: the problem the message must state
    index: int | None = None  # the first offending index, where useful
    containers: bool = False  # repeat with pandas / JAX / list containers


def _fit_kwargs(kind="Poisson", **changes) -> dict:
    """jg.fit arguments for the ``kind`` dataset, with ``changes`` applied."""
    kwargs = {"X": D["X"], "y": D[Y_FOR[kind]], "family": getattr(jg, kind)()}
    kwargs.update(changes)
    return kwargs


def _make(cls, **kwargs):
    """Build a family lazily, so construction errors surface inside the test."""
    return cls(**kwargs)


def _nullable_with_na(index: int):
    return pd.Series(D["counts"].astype(int), dtype="Int64").mask(np.arange(N) == index)


_X, _Y, _W, _OFF = r"\bX\b", r"\by\b", r"\bweights\b", r"\boffset\b"
_COUNTS, _POS, _W0 = D["counts"], D["positive"], D["weights"]
_NB, _TW, _IG = jg.NegativeBinomial(alpha=0.5), jg.Tweedie(1.5), jg.InverseGaussian()

# One row per bad input: id, the fit's arguments, error, argument, problem, index.
# fmt: off
BAD: tuple[Bad, ...] = (
    # --- non-finite numbers ----------------------------------------------------
    Bad("X-nan", lambda: _fit_kwargs(X=_with(D["X"], (7, 1), np.nan)),
        ValueError, _X, NONFINITE, 7, containers=True),
    Bad("X-inf", lambda: _fit_kwargs(X=_with(D["X"], (3, 0), np.inf)),
        ValueError, _X, NONFINITE, 3, containers=True),
    Bad("y-nan-poisson", lambda: _fit_kwargs(y=_with(_COUNTS, 11, np.nan)),
        ValueError, _Y, NONFINITE, 11, containers=True),
    Bad("y-inf-gaussian",
        lambda: _fit_kwargs(y=_with(_POS, 5, np.inf), family=jg.Gaussian()),
        ValueError, _Y, NONFINITE, 5, containers=True),
    Bad("y-neginf-gamma", lambda: _fit_kwargs("Gamma", y=_with(_POS, 2, -np.inf)),
        ValueError, _Y, NONFINITE + "|" + POSITIVE, 2),
    Bad("weights-nan", lambda: _fit_kwargs(weights=_with(_W0, 9, np.nan)),
        ValueError, _W, NONFINITE, 9, containers=True),
    Bad("weights-inf", lambda: _fit_kwargs(weights=_with(_W0, 0, np.inf)),
        ValueError, _W, NONFINITE, 0, containers=True),
    Bad("offset-nan", lambda: _fit_kwargs(offset=_with(D["offset"], 13, np.nan)),
        ValueError, _OFF, NONFINITE, 13, containers=True),
    Bad("offset-neginf", lambda: _fit_kwargs(offset=_with(D["offset"], 4, -np.inf)),
        ValueError, _OFF, NONFINITE, 4, containers=True),
    Bad("y-pandas-nullable-NA", lambda: _fit_kwargs(y=_nullable_with_na(15)),
        ValueError, _Y, NONFINITE + "|missing", 15),
    Bad("y-object-with-None",
        lambda: _fit_kwargs(y=np.array([None, *_COUNTS[1:]], dtype=object)),
        (ValueError, TypeError), _Y, NONFINITE + "|" + NUMERIC),
    # --- y outside the family's support ----------------------------------------
    Bad("y-negative-poisson", lambda: _fit_kwargs(y=_with(_COUNTS, 6, -1.0)),
        ValueError, _Y + "|poisson", NEGATIVE + "|count", 6, containers=True),
    Bad("y-negative-negbin",
        lambda: _fit_kwargs(y=_with(_COUNTS, 8, -2.0), family=_NB),
        ValueError, _Y + "|negative ?binomial", NEGATIVE + "|count", 8),
    Bad("y-above-one-binomial",
        lambda: _fit_kwargs("Binomial", y=_with(D["binary"], 10, 3.0)),
        ValueError, _Y + "|binomial", UNIT, 10, containers=True),
    # successes instead of proportions: R's convention is y = successes / trials
    Bad("y-counts-binomial-with-trials",
        lambda: _fit_kwargs("Binomial", y=np.arange(N, dtype=np.float64),
                            weights=np.full(N, 30.0)),
        ValueError, _Y + "|binomial", UNIT, 2),
    Bad("y-negative-binomial",
        lambda: _fit_kwargs("Binomial", y=_with(D["binary"], 1, -0.5)),
        ValueError, _Y + "|binomial", UNIT, 1),
    Bad("y-zero-gamma", lambda: _fit_kwargs("Gamma", y=_with(_POS, 12, 0.0)),
        ValueError, _Y + "|gamma", POSITIVE, 12, containers=True),
    Bad("y-negative-gamma", lambda: _fit_kwargs("Gamma", y=_with(_POS, 3, -1.0)),
        ValueError, _Y + "|gamma", POSITIVE, 3),
    Bad("y-zero-inverse-gaussian",
        lambda: _fit_kwargs(y=_with(_POS, 14, 0.0), family=_IG),
        ValueError, _Y + "|inverse ?gaussian", POSITIVE, 14),
    Bad("y-negative-tweedie",
        lambda: _fit_kwargs(y=_with(_COUNTS, 5, -0.1), family=_TW),
        ValueError, _Y + "|tweedie", NEGATIVE, 5),
    # --- weights ---------------------------------------------------------------
    Bad("weights-negative", lambda: _fit_kwargs(weights=_with(_W0, 17, -0.5)),
        ValueError, _W, NEGATIVE, 17, containers=True),
    Bad("weights-all-zero", lambda: _fit_kwargs(weights=np.zeros(N)),
        ValueError, _W, r"zero|positive|at least one"),
    # --- mismatched lengths ------------------------------------------------------
    Bad("y-too-short", lambda: _fit_kwargs(y=_COUNTS[:-1]),
        ValueError, _Y, SHAPE, containers=True),
    Bad("y-too-long", lambda: _fit_kwargs(y=np.r_[_COUNTS, 1.0]),
        ValueError, _Y, SHAPE),
    Bad("weights-wrong-length", lambda: _fit_kwargs(weights=_W0[:-3]),
        ValueError, _W, SHAPE, containers=True),
    Bad("offset-wrong-length", lambda: _fit_kwargs(offset=np.r_[D["offset"], 0.0]),
        ValueError, _OFF, SHAPE, containers=True),
    # --- empty input -------------------------------------------------------------
    Bad("no-rows", lambda: _fit_kwargs(X=np.zeros((0, 2)), y=np.zeros(0)),
        ValueError, _X + "|" + _Y + "|observation", EMPTY),
    Bad("no-columns", lambda: _fit_kwargs(X=np.zeros((N, 0))),
        ValueError, _X + "|column", EMPTY),
    Bad("empty-lists", lambda: _fit_kwargs(X=[], y=[]),
        ValueError, _X + "|" + _Y, EMPTY + "|" + SHAPE),
    # --- wrong ranks ---------------------------------------------------------------
    Bad("X-1d", lambda: _fit_kwargs(X=D["X"][:, 1]),
        ValueError, _X, SHAPE, containers=True),
    Bad("X-3d", lambda: _fit_kwargs(X=D["X"][None]), ValueError, _X, SHAPE),
    Bad("X-scalar", lambda: _fit_kwargs(X=np.float64(1.0)), ValueError, _X, SHAPE),
    Bad("y-2d-two-columns", lambda: _fit_kwargs(y=np.column_stack([_COUNTS] * 2)),
        ValueError, _Y, SHAPE, containers=True),
    Bad("y-scalar", lambda: _fit_kwargs(y=np.float64(3.0)), ValueError, _Y, SHAPE),
    Bad("weights-2d", lambda: _fit_kwargs(weights=np.ones((N, 2))),
        ValueError, _W, SHAPE),
    # --- non-numeric dtypes ----------------------------------------------------------
    Bad("X-strings", lambda: _fit_kwargs(X=np.array([["1", "a"]] * N)),
        TypeError, _X, NUMERIC),
    Bad("y-strings", lambda: _fit_kwargs(y=np.array(["low", "high"] * (N // 2))),
        TypeError, _Y, NUMERIC),
    Bad("y-pandas-categorical-strings",
        lambda: _fit_kwargs(y=pd.Series(["a", "b"] * (N // 2), dtype="category")),
        TypeError, _Y, NUMERIC),
    Bad("weights-strings", lambda: _fit_kwargs(weights=np.array(["w"] * N)),
        TypeError, _W, NUMERIC),
    Bad("X-complex", lambda: _fit_kwargs(X=D["X"] + 1j),
        TypeError, _X, NUMERIC + "|complex"),
    Bad("y-datetime", lambda: _fit_kwargs(y=np.arange(N).astype("datetime64[D]")),
        TypeError, _Y, NUMERIC),
    Bad("X-object-dicts",
        lambda: _fit_kwargs(X=np.array([{"a": 1}] * (2 * N)).reshape(N, 2)),
        TypeError, _X, NUMERIC),
    # --- family, link and options --------------------------------------------------
    Bad("family-unknown-name", lambda: _fit_kwargs(family="poison"),
        ValueError, r"\bfamily\b", r"known|unknown|not a|one of"),
    Bad("family-wrong-type", lambda: _fit_kwargs(family=3),
        TypeError, r"\bfamily\b", r"family|got int"),
    Bad("link-unknown-name", lambda: _fit_kwargs(family=_make(jg.Poisson, link="lgo")),
        ValueError, r"\blink\b", r"known|unknown|not a|one of"),
    Bad("max_iter-zero", lambda: _fit_kwargs(max_iter=0),
        ValueError, r"\bmax_iter\b", r"at least 1|positive|>= ?1"),
    Bad("max_iter-float", lambda: _fit_kwargs(max_iter=2.5),
        TypeError, r"\bmax_iter\b", r"int"),
    Bad("tol-negative", lambda: _fit_kwargs(tol=-1e-8),
        ValueError, r"\btol\b", r"positive|> ?0"),
    Bad("l2-negative", lambda: _fit_kwargs(l2=-1.0), ValueError, r"\bl2\b", NEGATIVE),
    Bad("l2-nan", lambda: _fit_kwargs(l2=np.nan), ValueError, r"\bl2\b", NONFINITE),
)
# fmt: on


def _bad_params():
    for case in BAD:
        for container in CONTAINERS if case.containers else ("numpy",):
            yield pytest.param(case, container, id=f"{case.id}-{container}")


def _assert_message(err: BaseException, case: Bad) -> None:
    message = str(err)
    for label, pattern in (("argument", case.names), ("problem", case.problem)):
        assert re.search(pattern, message, re.IGNORECASE | re.DOTALL), (
            f"{case.id}: message does not name the {label} ({pattern!r}): {message!r}"
        )
    if case.index is not None:
        assert re.search(rf"\b{case.index}\b", message), (
            f"{case.id}: message does not give the first bad index "
            f"({case.index}): {message!r}"
        )


@pytest.mark.parametrize(("case", "container"), list(_bad_params()))
def test_bad_input_raises(case: Bad, container: str):
    with pytest.raises(case.error) as info:
        _call(_in_container(case.build(), container))
    _assert_message(info.value, case)


# --- families and links that cannot work ---------------------------------------------

UNIT_LINKS = ("Logit", "Probit", "CLogLog", "LogLog", "Cauchit")
NON_UNIT_FAMILIES = (
    "Poisson",
    "Gamma",
    "InverseGaussian",
    "NegativeBinomial",
    "Tweedie",
    "Gaussian",
)


@pytest.mark.parametrize("link", UNIT_LINKS)
@pytest.mark.parametrize("family", NON_UNIT_FAMILIES)
def test_link_whose_range_cannot_hold_the_mean_is_refused(family, link):
    """A (0, 1) link cannot produce counts or positive/real means (R refuses too)."""
    with pytest.raises(ValueError) as info:
        getattr(jg, family)(link=getattr(jg.links, link)())
    message = str(info.value)
    assert re.search(link, message, re.IGNORECASE), message
    assert re.search(family, message, re.IGNORECASE), message


@pytest.mark.parametrize(
    ("family", "link"),
    [
        ("Binomial", "Log"),  # allowed in R: a log-binomial (relative risk) model
        ("Binomial", "Probit"),
        ("Binomial", "CLogLog"),
        ("Poisson", "Identity"),
        ("Poisson", "Sqrt"),
        ("Gaussian", "Log"),
        ("Gamma", "Identity"),
        ("InverseGaussian", "Log"),
    ],
)
def test_links_r_allows_are_accepted(family, link):
    fam = getattr(jg, family)(link=getattr(jg.links, link)())
    assert type(fam.link).__name__ == link


def test_log_binomial_fits_like_r():
    """Log link with Binomial is allowed as in R, and a well-posed one fits."""
    rng = np.random.default_rng(7)
    x = D["X"][:, 1]
    trials = np.full(N, 40.0)
    y = rng.binomial(40, np.exp(-1.5 + 0.5 * x)) / trials
    res = jg.fit(D["X"], y, jg.Binomial(link=jg.links.Log()), weights=trials)
    assert bool(res.converged) and int(res.status) == SUCCESS
    assert np.all(np.isfinite(np.asarray(res.coef)))
    assert np.all((np.asarray(res.mu) > 0) & (np.asarray(res.mu) < 1))


@pytest.mark.parametrize(
    ("build", "names"),
    [
        pytest.param(
            lambda: jg.NegativeBinomial(alpha=-1.0), r"alpha", id="negbin-alpha"
        ),
        pytest.param(
            lambda: jg.NegativeBinomial(alpha=0.0), r"alpha", id="negbin-alpha0"
        ),
        pytest.param(lambda: jg.Tweedie(power=0.5), r"power", id="tweedie-power"),
        pytest.param(lambda: jg.Poisson(link=3), r"link", id="link-int"),
        pytest.param(lambda: jg.Poisson(link="lgo"), r"link", id="link-name"),
    ],
)
def test_bad_family_arguments_raise(build, names):
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    assert re.search(names, str(info.value), re.IGNORECASE), str(info.value)


def test_dataframe_with_nullable_missing_value_raises_like_nan():
    X = pd.DataFrame({"const": np.ones(N), "k": pd.array(np.arange(N), dtype="Int64")})
    X.loc[5, "k"] = pd.NA
    with pytest.raises(ValueError, match=r"(?i)\bX\b.*(nan|finite|missing)"):
        jg.fit(X, D["counts"], jg.Poisson())


def test_negative_binomial_infinite_alpha_is_refused():
    with pytest.raises(ValueError, match="alpha"):
        jg.NegativeBinomial(alpha=np.inf)


def test_families_with_parameters_can_be_built_inside_jit():
    # A constant parameter inside a jitted function is checked eagerly with
    # NumPy (a jnp test would be staged and have no truth value); a traced
    # one is left to the fit's status.
    X = D["X"]

    @jax.jit
    def coefs(y):
        nb = jg.fit(X, y, family=jg.NegativeBinomial(alpha=0.5)).coef
        tw = jg.fit(X, y, family=jg.Tweedie(power=1.5)).coef
        return nb, tw

    nb, tw = coefs(D["counts"])
    eager_nb = jg.fit(X, D["counts"], family=jg.NegativeBinomial(alpha=0.5)).coef
    eager_tw = jg.fit(X, D["counts"], family=jg.Tweedie(power=1.5)).coef
    np.testing.assert_allclose(nb, eager_nb, rtol=1e-10)
    np.testing.assert_allclose(tw, eager_tw, rtol=1e-10)

    @jax.jit
    def bad(y):
        return jg.fit(X, y, family=jg.Tweedie(power=0.5)).coef

    with pytest.raises(ValueError, match="power"):
        bad(D["counts"])


# --------------------------------------------------------------------------------
# Accepted either way: the same numbers as the float call, or a clear error
# --------------------------------------------------------------------------------

COMPARED = ("coef", "se", "deviance", "null_deviance", "mu", "aic")


@dataclasses.dataclass(frozen=True)
class Alt:
    """An unusual but meaningful spelling of a float call."""

    id: str
    argument: str  # what an error, if any, must name
    build: Callable[[], dict]  # keyword arguments of the unusual call
    reference: Callable[[], dict] = _fit_kwargs  # the plain float call


def _bool_design():
    return np.column_stack([np.ones(N, dtype=bool), D["X"][:, 1] > 0.1])


def _pandas_indexed():
    index = np.arange(100, 100 + N)
    return pd.DataFrame(D["X"], index=index), pd.Series(_COUNTS, index=index)


_BIN = functools.partial(_fit_kwargs, "Binomial")
_ROUNDED = np.round(4 * D["X"])
_THIRDS = np.arange(N) % 3 > 0
_PARITY = np.arange(N) % 2

# fmt: off
ALTERNATIVES: tuple[Alt, ...] = (
    Alt("y-int64", "y", lambda: _fit_kwargs(y=_COUNTS.astype(np.int64))),
    Alt("y-int32", "y", lambda: _fit_kwargs(y=_COUNTS.astype(np.int32))),
    Alt("y-uint8", "y", lambda: _fit_kwargs(y=_COUNTS.astype(np.uint8))),
    Alt("X-int", "X", lambda: _fit_kwargs(X=_ROUNDED.astype(np.int64)),
        lambda: _fit_kwargs(X=_ROUNDED)),
    Alt("X-bool", "X", lambda: _fit_kwargs(X=_bool_design()),
        lambda: _fit_kwargs(X=_bool_design().astype(np.float64))),
    Alt("y-bool-binomial", "y", lambda: _BIN(y=D["binary"].astype(bool)), _BIN),
    Alt("weights-int", "weights", lambda: _fit_kwargs(weights=np.arange(1, N + 1)),
        lambda: _fit_kwargs(weights=np.arange(1.0, N + 1))),
    Alt("weights-bool", "weights", lambda: _fit_kwargs(weights=_THIRDS),
        lambda: _fit_kwargs(weights=_THIRDS.astype(np.float64))),
    Alt("offset-int", "offset", lambda: _fit_kwargs(offset=_PARITY),
        lambda: _fit_kwargs(offset=_PARITY.astype(np.float64))),
    Alt("X-object", "X", lambda: _fit_kwargs(X=D["X"].astype(object))),
    Alt("y-object", "y", lambda: _fit_kwargs(y=_COUNTS.astype(object))),
    Alt("X-numeric-strings", "X", lambda: _fit_kwargs(X=D["X"].astype(str))),
    Alt("y-numeric-strings", "y", lambda: _fit_kwargs(y=_COUNTS.astype(str))),
    Alt("lists", "X", lambda: _fit_kwargs(X=D["X"].tolist(), y=_COUNTS.tolist())),
    Alt("pandas-frame-series", "X",
        lambda: _fit_kwargs(X=_as_pandas(D["X"]), y=pd.Series(_COUNTS),
                            weights=pd.Series(_W0)),
        lambda: _fit_kwargs(weights=_W0)),
    Alt("pandas-nonzero-index", "X",
        lambda: dict(zip(("X", "y"), _pandas_indexed(), strict=True),
                     family=jg.Poisson())),
    Alt("pandas-nullable-int", "y",
        lambda: _fit_kwargs(y=pd.Series(_COUNTS.astype(int)).astype("Int64"))),
    Alt("pandas-bool-binomial", "y", lambda: _BIN(y=pd.Series(D["binary"] > 0)), _BIN),
    Alt("y-column-vector", "y", lambda: _fit_kwargs(y=_COUNTS[:, None])),
    Alt("y-one-column-frame", "y",
        lambda: _fit_kwargs(y=pd.DataFrame({"y": _COUNTS}))),
    Alt("jax-arrays", "X",
        lambda: _fit_kwargs(X=jnp.asarray(D["X"]), y=jnp.asarray(_COUNTS))),
    Alt("jax-int", "y", lambda: _fit_kwargs(y=jnp.asarray(_COUNTS.astype(np.int32)))),
    Alt("mixed-containers", "X",
        lambda: _fit_kwargs(X=jnp.asarray(D["X"]), y=pd.Series(_COUNTS),
                            weights=_W0.tolist()),
        lambda: _fit_kwargs(weights=_W0)),
    Alt("family-name", "family", lambda: _fit_kwargs(family="poisson")),
    Alt("family-name-capitalised", "family", lambda: _fit_kwargs(family="Poisson")),
    Alt("family-name-binomial", "family", lambda: _BIN(family="binomial"), _BIN),
    Alt("family-class", "family", lambda: _fit_kwargs(family=jg.Poisson)),
    Alt("link-class", "link",
        lambda: _fit_kwargs(family=_make(jg.Poisson, link=jg.links.Log))),
    Alt("link-class-binomial", "link",
        lambda: _BIN(family=_make(jg.Binomial, link=jg.links.Logit)), _BIN),
    Alt("link-name", "link", lambda: _fit_kwargs(family=_make(jg.Poisson, link="log"))),
)
# fmt: on


@pytest.mark.parametrize("alt", ALTERNATIVES, ids=[a.id for a in ALTERNATIVES])
def test_accepted_either_way(alt: Alt):
    """Same numbers as the float call, or a ValueError/TypeError naming the input."""
    expected = _call(alt.reference())
    try:
        kwargs = alt.build()
        res = _call(kwargs)
    except (ValueError, TypeError) as err:
        assert re.search(rf"\b{alt.argument}\b", str(err)), (
            f"{alt.id}: the error does not name {alt.argument!r}: {err}"
        )
        return
    assert res.coef.dtype == expected.coef.dtype
    for field in COMPARED:
        np.testing.assert_allclose(
            np.asarray(getattr(res, field)),
            np.asarray(getattr(expected, field)),
            rtol=1e-12,
            atol=0.0,
            err_msg=f"{alt.id}: {field}",
        )
    assert int(res.status) == int(expected.status) == SUCCESS


def test_float32_inputs_stay_float32_with_x64_on():
    X32, y32 = D["X"].astype(np.float32), D["counts"].astype(np.float32)
    res = jg.fit(X32, y32, jg.Poisson())
    assert res.coef.dtype == np.float32
    assert res.mu.dtype == np.float32


# --------------------------------------------------------------------------------
# Traced: value problems become Status.INVALID_INPUT, nothing raises
# --------------------------------------------------------------------------------


@jax.jit
def _jit_poisson(X, y, weights, offset):
    return jg.fit(X, y, jg.Poisson(), weights=weights, offset=offset)


def _assert_invalid(res, label: str) -> None:
    assert int(res.status) == INVALID, f"{label}: status {jg.Status(int(res.status))!r}"
    assert not bool(res.converged), label
    assert np.all(np.isnan(np.asarray(res.coef))), f"{label}: coef {res.coef}"


TRACED_POISSON = {
    "X-nan": {"X": _with(D["X"], (7, 1), np.nan)},
    "X-inf": {"X": _with(D["X"], (0, 0), -np.inf)},
    "y-nan": {"y": _with(D["counts"], 11, np.nan)},
    "y-inf": {"y": _with(D["counts"], 19, np.inf)},
    "y-negative": {"y": _with(D["counts"], 6, -1.0)},
    "weights-negative": {"weights": _with(D["weights"], 17, -0.5)},
    "weights-nan": {"weights": _with(D["weights"], 9, np.nan)},
    "weights-all-zero": {"weights": np.zeros(N)},
    "offset-nan": {"offset": _with(D["offset"], 13, np.nan)},
    "offset-inf": {"offset": _with(D["offset"], 4, np.inf)},
}


@pytest.mark.parametrize("change", TRACED_POISSON.values(), ids=TRACED_POISSON)
def test_jit_flags_invalid_input_without_raising(change):
    args = {
        "X": D["X"],
        "y": D["counts"],
        "weights": D["weights"],
        "offset": D["offset"],
    }
    args.update(change)
    res = _jit_poisson(**args)  # warnings are errors: a traced fit must not warn
    _assert_invalid(res, str(list(change)))


def test_jit_good_input_matches_eager():
    args = {
        "X": D["X"],
        "y": D["counts"],
        "weights": D["weights"],
        "offset": D["offset"],
    }
    res = _jit_poisson(**args)
    eager = _call({**args, "family": jg.Poisson()})
    assert int(res.status) == SUCCESS
    for field in COMPARED:
        np.testing.assert_allclose(
            np.asarray(getattr(res, field)),
            np.asarray(getattr(eager, field)),
            rtol=1e-12,
            err_msg=field,
        )


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((D["X"], D["counts"][:-1]), id="y-too-short"),
        pytest.param((D["X"][:, 1], D["counts"]), id="X-1d"),
        pytest.param((D["X"][None], D["counts"]), id="X-3d"),
        pytest.param((D["X"], np.column_stack([D["counts"]] * 2)), id="y-2d"),
    ],
)
def test_shape_errors_raise_at_trace_time(args):
    """Shapes are static: jit raises the same ValueError as the eager call."""
    fit = jax.jit(lambda X, y: jg.fit(X, y, jg.Poisson()))
    with pytest.raises(ValueError, match=r"\bX\b|\by\b"):
        fit(*args)


def _vmap_batch(family: str, bad: dict[str, dict]):
    """Stack a good fit (index 0) and the bad variants; return the batch args."""
    good = {"X": D["X"], "y": D[Y_FOR[family]], "weights": D["weights"]}
    rows = [good] + [{**good, **change} for change in bad.values()]
    return {k: np.stack([r[k] for r in rows]) for k in good}


VMAP_BAD = {
    "Poisson": {
        "y-negative": {"y": _with(D["counts"], 3, -2.0)},
        "X-inf": {"X": _with(D["X"], (5, 1), np.inf)},
        "y-nan": {"y": _with(D["counts"], 0, np.nan)},
        "weights-negative": {"weights": _with(D["weights"], 8, -1.0)},
    },
    "Binomial": {
        "y-above-one": {"y": _with(D["binary"], 10, 1.5)},
        "y-negative": {"y": _with(D["binary"], 2, -0.1)},
        "y-nan": {"y": _with(D["binary"], 4, np.nan)},
        "weights-all-zero": {"weights": np.zeros(N)},
        "weights-negative": {"weights": _with(D["weights"], 1, -3.0)},
    },
    "Gamma": {
        "y-zero": {"y": _with(D["positive"], 12, 0.0)},
        "y-negative": {"y": _with(D["positive"], 7, -1.0)},
        "X-nan": {"X": _with(D["X"], (2, 0), np.nan)},
        "weights-inf": {"weights": _with(D["weights"], 15, np.inf)},
    },
}


@pytest.mark.parametrize("family", VMAP_BAD)
def test_vmap_flags_each_invalid_fit_and_leaves_the_good_one_alone(family):
    bad = VMAP_BAD[family]
    batch = _vmap_batch(family, bad)
    fam = getattr(jg, family)()
    res = jax.vmap(lambda X, y, w: jg.fit(X, y, fam, weights=w))(
        batch["X"], batch["y"], batch["weights"]
    )
    assert res.status.shape == (len(bad) + 1,)
    for i, label in enumerate(bad, start=1):
        _assert_invalid(jax.tree.map(lambda a, i=i: a[i], res), f"{family} {label}")
    # The good fit is exactly its eager solo fit.
    solo = jg.fit(D["X"], D[Y_FOR[family]], fam, weights=D["weights"])
    assert int(res.status[0]) == int(solo.status) == SUCCESS
    assert int(res.n_iter[0]) == int(solo.n_iter)
    for field in COMPARED:
        np.testing.assert_allclose(
            np.asarray(getattr(res, field)[0]),
            np.asarray(getattr(solo, field)),
            rtol=1e-12,
            atol=0.0,
            err_msg=f"{family} good fit: {field}",
        )
    with pytest.raises(RuntimeError, match="INVALID_INPUT"):
        jg.check(res)


@pytest.mark.parametrize(
    ("make_family", "values", "kind"),
    [
        pytest.param(
            lambda a: jg.NegativeBinomial(alpha=a),
            [0.5, -1.0],
            "counts",
            id="negbin-alpha",
        ),
        pytest.param(
            lambda a: jg.Tweedie(power=a), [1.5, 0.5], "counts", id="tweedie-power"
        ),
    ],
)
def test_vmap_over_invalid_family_parameter_is_invalid_input(make_family, values, kind):
    res = jax.vmap(lambda a: jg.fit(D["X"], D[kind], make_family(a)))(
        jnp.asarray(values)
    )
    assert int(res.status[0]) == SUCCESS
    _assert_invalid(jax.tree.map(lambda a: a[1], res), "invalid family parameter")
