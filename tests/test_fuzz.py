"""Fuzzing ``jg.fit`` with hypothesis (issue 4).

Each example draws a family x link from ``tests/cases.py``, a design shape, a dtype
(float64, int, or float32 with x64 off), scales from 1e-3 to 1e6, a dataset simulated
around a random mean, and maybe one corruption (NaN/inf, a response outside the
support, negative or zero weights, duplicated/zero/shifted columns, separation,
all-zero or constant responses). An independent numpy oracle decides whether the
inputs are valid. Then:

- invalid inputs raise ``ValueError``/``TypeError`` naming the input concerned;
- valid inputs never raise; the fit is either converged (``status == SUCCESS``, every
  non-aliased coefficient finite, ``#NaN coef == p - rank``, finite deviance and
  means inside the family's support, no warning, and -- where the log-likelihood
  is concave -- deviance no worse than the null model) or flagged
  (``status != SUCCESS``, ``converged=False`` and an eager ``jg.ConvergenceWarning``);
- a linear-programming oracle for (quasi-)separation and zero-count groups: data
  without a finite MLE are never reported converged, and (canonical links) data
  with one are never flagged ``SEPARATION``;
- the result's dtype is float32 for float32 inputs with x64 off, float64 otherwise;
- no other exception type and no other warning, ever.

Compile budget: XLA compiles each (family, link, shape, dtype, offset) once, so the
default profile draws from 4 cases, one shape (20, 3) and no offset -- at most 8
programs, the same ones tests/test_hard_data.py uses -- while the "long" profile
(``JAXGLM_HYPOTHESIS=long``) draws from every case, three shapes and offsets.
"""

from __future__ import annotations

import dataclasses
import re
import warnings

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from scipy import optimize, special

import jaxglm as jg
from cases import CASES, Case
from jaxmem import release_compiled_programs_if_needed

PROFILE_EXAMPLES = settings().max_examples  # 25 by default, 1000 with "long"
LONG = PROFILE_EXAMPLES >= 1000

DEFAULT_CASE_IDS = ("Poisson-Log", "Binomial-Logit", "Gamma-Log", "Gaussian-Identity")
FUZZ_CASES: tuple[Case, ...] = (
    CASES if LONG else tuple(c for c in CASES if c.id in DEFAULT_CASE_IDS)
)
SHAPES = ((20, 3), (7, 4), (60, 2)) if LONG else ((20, 3),)
DTYPES = ("float64", "int", "float32")

CORRUPTIONS = (
    "none",
    "none",  # clean data twice as often
    "nan",
    "inf",
    "y-outside-support",
    "negative-weight",
    "all-zero-weights",
    "some-zero-weights",
    "duplicate-column",
    "zero-column",
    "shifted-column",
    "constant-y",
    "all-zero-y",
    "separated",
)

# (family, link) pairs whose log-likelihood is concave in the coefficients, so a
# converged fit is the global maximum and can be no worse than the intercept-only
# model it contains. Non-concave ones (Gaussian with Log/Inverse, Cauchit, Gamma
# Inverse/Identity, ...) can converge to a worse stationary point, as R does.
CONCAVE = frozenset(
    {
        ("Gaussian", "Identity"),
        ("Binomial", "Logit"),
        ("Binomial", "Probit"),
        ("Binomial", "CLogLog"),
        ("Binomial", "LogLog"),
        ("Poisson", "Log"),
        ("Poisson", "Identity"),
        ("Poisson", "Sqrt"),
        ("NegativeBinomial", "Log"),
        ("Gamma", "Log"),
        ("Tweedie", "Log"),
    }
)

COUNT_FAMILIES = ("Poisson", "NegativeBinomial")
POSITIVE_FAMILIES = ("Gamma", "InverseGaussian")


# --------------------------------------------------------------------------------
# Independent oracle: is this input valid for this family?
# --------------------------------------------------------------------------------


def _y_in_support(family: str, y: np.ndarray, params: dict) -> np.ndarray:
    if family == "Binomial":
        return (y >= 0) & (y <= 1)
    if family in COUNT_FAMILIES:
        return y >= 0
    if family in POSITIVE_FAMILIES:
        return y > 0
    if family == "Tweedie":
        return y > 0 if params.get("power", 1.5) >= 2 else y >= 0
    return np.ones(y.shape, dtype=bool)


def _problems(case: Case, X, y, weights, offset) -> set[str]:
    """The inputs a ValueError may name; empty when the inputs are valid."""
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    bad = set()
    if not np.all(np.isfinite(X)):
        bad.add("X")
    if not np.all(np.isfinite(y)):
        bad.add("y")
    elif not np.all(_y_in_support(case.family, y, case.param_dict)):
        bad |= {"y", case.family}
    if weights is not None:
        w = np.asarray(weights, np.float64)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
            bad.add("weights")
    if offset is not None and not np.all(np.isfinite(np.asarray(offset, np.float64))):
        bad.add("offset")
    return bad


def _mu_in_support(family: str, mu: np.ndarray) -> bool:
    if not np.all(np.isfinite(mu)):
        return False
    if family == "Binomial":
        return bool(np.all((mu >= 0) & (mu <= 1)))
    if family == "Gaussian":
        return True
    return bool(np.all(mu >= 0))


def _separation(case: Case, X, y, weights) -> bool | None:
    """Does the MLE fail to exist (separation / zero-count groups)?  None: unsure.

    A linear programme (Konis 2007; Haberman 1974 for counts) looks for a direction
    b in which the log-likelihood never decreases: for Binomial, x'b >= 0 on rows
    with only successes, <= 0 on rows with only failures, = 0 on mixed rows; for
    log-link counts, x'b <= 0 on zero counts and = 0 on positive counts.  The MLE
    is at infinity iff such a b makes some x'b non-zero.  Only for links whose
    inverse spans the whole support as eta -> +/- infinity.
    """
    unit_links = ("Logit", "Probit", "CLogLog", "LogLog", "Cauchit")
    if case.family == "Binomial" and case.link in unit_links:
        sign_up, sign_down = y >= 1, y <= 0
    elif case.family in COUNT_FAMILIES and case.link == "Log":
        sign_up, sign_down = np.zeros(y.shape, bool), y <= 0
    else:
        return None
    used = np.ones(y.shape, bool) if weights is None else np.asarray(weights) > 0
    X = np.asarray(X, np.float64)[used]
    X = X / np.maximum(np.max(np.abs(X), axis=0), 1e-300)
    up, down = sign_up[used], sign_down[used]
    mixed = ~(up | down)
    c = -(X[up].sum(axis=0) - X[down].sum(axis=0))
    A_ub = np.vstack([-X[up], X[down]])
    A_eq = X[mixed] if mixed.any() else None
    out = optimize.linprog(
        c,
        A_ub=A_ub if len(A_ub) else None,
        b_ub=np.zeros(len(A_ub)) if len(A_ub) else None,
        A_eq=A_eq,
        b_eq=None if A_eq is None else np.zeros(len(A_eq)),
        bounds=[(-1.0, 1.0)] * X.shape[1],
        method="highs",
    )
    if out.status != 0:
        return None
    gain = -out.fun
    if gain > 1e-6:
        return True
    if gain < 1e-10:
        return False
    return None


# --------------------------------------------------------------------------------
# Drawing an example
# --------------------------------------------------------------------------------


@dataclasses.dataclass
class Example:
    case: Case
    dtype: str
    corruption: str
    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray | None
    offset: np.ndarray | None

    def __repr__(self) -> str:  # hypothesis prints this for a failing example
        return (
            f"Example(case={self.case.id}, dtype={self.dtype}, "
            f"corruption={self.corruption},\n  X={self.X.tolist()},\n"
            f"  y={self.y.tolist()},\n  weights="
            f"{None if self.weights is None else self.weights.tolist()},\n"
            f"  offset={None if self.offset is None else self.offset.tolist()})"
        )


def _simulate_y(case: Case, rng, u, strength, level, trials):
    """A response around a mean that moves with u in [-1, 1] by ``strength``."""
    family = case.family
    if family == "Binomial":
        p = special.expit(np.log(level) / 4.0 + strength * u)
        return rng.binomial(trials.astype(np.int64), p) / trials
    if family == "Gaussian":
        mu = level * (1.0 + strength * u)
        return mu + rng.normal(size=u.shape) * (0.3 * abs(level) + 1e-3)
    mu = level * np.exp(strength * u)
    if family == "Poisson":
        return rng.poisson(np.minimum(mu, 1e15)).astype(np.float64)
    if family == "NegativeBinomial":
        theta = 1.0 / case.param_dict["alpha"]
        return rng.poisson(np.minimum(rng.gamma(theta, mu / theta), 1e15)).astype(float)
    if family == "Gamma":
        return rng.gamma(4.0, mu / 4.0)
    if family == "InverseGaussian":
        return rng.wald(mu, 20.0 * mu)
    if family == "Tweedie":
        counts = rng.poisson(np.minimum(mu**0.5, 1e6))
        return np.where(counts > 0, rng.gamma(np.maximum(counts, 1), mu**0.5), 0.0)
    raise KeyError(family)


def _corrupt(kind, case, rng, X, y, weights, offset, u, target):
    n, p = X.shape
    i = int(rng.integers(n))
    if kind in ("nan", "inf"):
        value = np.nan if kind == "nan" else rng.choice([np.inf, -np.inf])
        if target == "X":
            X[i, int(rng.integers(p))] = value
        elif target == "y":
            y[i] = value
        elif target == "weights":
            weights = np.ones(n) if weights is None else weights
            weights[i] = value
        else:
            offset = np.zeros(n) if offset is None else offset
            offset[i] = value
    elif kind == "y-outside-support":
        if case.family == "Binomial":
            y[i] = 1.0 + rng.integers(1, 5)
        elif case.family in POSITIVE_FAMILIES:
            y[i] = rng.choice([0.0, -1.0])
        else:
            y[i] = -1.0 - y[i]  # Gaussian: still valid
    elif kind == "negative-weight":
        weights = np.ones(n) if weights is None else weights
        weights[i] = -weights[i] - 0.5
    elif kind == "all-zero-weights":
        weights = np.zeros(n)
    elif kind == "some-zero-weights":
        weights = np.ones(n) if weights is None else weights
        weights[rng.uniform(size=n) < 0.4] = 0.0
        weights[i] = max(weights[i], 1.0)
    elif kind == "duplicate-column" and p >= 2:
        X[:, -1] = X[:, 1 if p > 2 else 0]
    elif kind == "zero-column" and p >= 2:
        X[:, -1] = 0.0
    elif kind == "shifted-column" and p >= 2:
        X[:, 1] += 10.0 ** rng.uniform(1, 5)
    elif kind == "constant-y":
        y[:] = (
            y[i]
            if _y_in_support(case.family, y[i : i + 1], case.param_dict)[0]
            else 1.0
        )
    elif kind == "all-zero-y":
        y[:] = 0.0  # invalid for Gamma / inverse Gaussian
    elif kind == "separated":
        if case.family == "Binomial":
            y[:] = (u > 0).astype(np.float64)
        elif case.family != "Gaussian":
            y[u < 0] = 0.0
    return X, y, weights, offset


@st.composite
def examples(draw) -> Example:
    case = draw(st.sampled_from(FUZZ_CASES))
    n, p = draw(st.sampled_from(SHAPES))
    dtype = draw(st.sampled_from(DTYPES))
    corruption = draw(st.sampled_from(CORRUPTIONS))
    target = draw(st.sampled_from(("X", "y", "weights", "offset")))
    x_scale = 10.0 ** draw(st.floats(-3.0, 6.0))
    level = 10.0 ** draw(st.floats(-3.0, 6.0))
    if case.family == "Gaussian" and draw(st.booleans()):
        level = -level
    strength = draw(st.floats(0.0, 4.0))
    use_weights = draw(st.booleans())
    use_offset = LONG and draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))

    rng = np.random.default_rng(seed)
    Z = rng.uniform(-1.0, 1.0, size=(n, p - 1))
    shares = rng.uniform(-1.0, 1.0, size=p - 1)
    u = Z @ shares / max(np.sum(np.abs(shares)), 1e-12)
    X = np.column_stack([np.ones(n), Z * x_scale])
    trials = np.ones(n)
    if case.family == "Binomial" and use_weights:
        trials = np.maximum(
            np.round(10.0 ** rng.uniform(0, np.log10(level) + 3.1, n)), 1.0
        )
        trials = np.minimum(trials, 1e6)
    y = _simulate_y(case, rng, u, strength, level, trials)
    if case.family == "Binomial":
        weights = trials if use_weights else None
    else:
        weights = rng.uniform(0.5, 2.0, size=n) if use_weights else None
    offset = rng.normal(scale=0.3, size=n) if use_offset else None

    X, y, weights, offset = _corrupt(
        corruption, case, rng, X, y, weights, offset, u, target
    )
    if dtype == "int":
        with np.errstate(invalid="ignore"):
            X = _round_int(X)
            y = _round_int(y) if case.family != "Binomial" or weights is None else y
    return Example(case, dtype, corruption, X, y, weights, offset)


def _round_int(a: np.ndarray) -> np.ndarray:
    """Integers where the values are finite and fit in int64; floats otherwise."""
    if not np.all(np.isfinite(a)) or np.max(np.abs(a)) > 2**62:
        return a
    return np.round(a).astype(np.int64)


# --------------------------------------------------------------------------------
# The property
# --------------------------------------------------------------------------------


def _run(ex: Example):
    """Fit, returning (result or exception, the warnings issued)."""
    # one test runs many examples: check the map cap per example
    release_compiled_programs_if_needed()
    float32 = ex.dtype == "float32"
    cast = (
        (lambda a: None if a is None else np.asarray(a, np.float32))
        if float32
        else (lambda a: a)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with jax.enable_x64(not float32):
                outcome = jg.fit(
                    cast(ex.X),
                    cast(ex.y),
                    ex.case.jg_family(),
                    weights=cast(ex.weights),
                    offset=cast(ex.offset),
                )
                jax.block_until_ready(outcome)
        except (ValueError, TypeError) as err:
            outcome = err
    return outcome, list(caught)


def _check(ex: Example) -> None:
    X32 = ex.dtype == "float32"
    inputs = [
        np.asarray(a, np.float32) if X32 and a is not None else a
        for a in (ex.X, ex.y, ex.weights, ex.offset)
    ]
    problems = _problems(ex.case, *inputs)
    outcome, caught = _run(ex)

    if isinstance(outcome, Exception):
        event(f"raised {type(outcome).__name__}")
        assert problems, f"valid input raised {type(outcome).__name__}: {outcome}"
        assert isinstance(outcome, ValueError), f"expected ValueError: {outcome!r}"
        names = "|".join(re.escape(name) for name in problems)
        assert re.search(rf"\b({names})\b", str(outcome), re.IGNORECASE), (
            f"message names none of {sorted(problems)}: {outcome}"
        )
        assert not caught, [str(w.message) for w in caught]
        return
    assert not problems, f"invalid input ({sorted(problems)}) did not raise"

    res = outcome
    p = ex.X.shape[1]
    expected_dtype = np.float32 if X32 else np.float64
    assert res.coef.dtype == expected_dtype and res.mu.dtype == expected_dtype
    status = jg.Status(int(res.status))
    converged = bool(res.converged)
    event(f"{ex.case.family} {status.name}")
    assert converged == (status == jg.Status.SUCCESS), (status, converged)
    others = [w for w in caught if not issubclass(w.category, jg.ConvergenceWarning)]
    assert not others, [f"{w.category.__name__}: {w.message}" for w in others]
    convergence_warnings = [w for w in caught if w not in others]
    separated = (
        None if ex.corruption == "shifted-column" else _separation(ex.case, *inputs[:3])
    )
    if separated:
        event("LP: separated")
        assert status != jg.Status.SUCCESS, "separated data reported as converged"
    pair = (ex.case.family, ex.case.link)
    if separated is False and not X32:
        event("LP: not separated")
        assert status != jg.Status.SEPARATION, "a finite MLE flagged as separation"
    if not converged:
        assert convergence_warnings, (
            f"status {status.name} without a ConvergenceWarning"
        )
        return
    assert not convergence_warnings, [str(w.message) for w in convergence_warnings]

    coef = np.asarray(res.coef)
    rank = int(res.rank)
    assert 0 <= rank <= p
    assert int(np.sum(np.isnan(coef))) == p - rank, f"coef {coef}, rank {rank}"
    assert np.all(np.isfinite(coef[~np.isnan(coef)]))
    assert np.isfinite(float(res.deviance)), float(res.deviance)
    mu = np.asarray(res.mu, np.float64)
    assert _mu_in_support(ex.case.family, mu), f"mu {mu}"
    # The MLE is no worse than the intercept-only model it contains (no offset,
    # intercept kept): deviance <= null deviance, up to rounding.
    deviance, null = float(res.deviance), float(res.null_deviance)
    concave = pair in CONCAVE
    if concave and ex.offset is None and not np.isnan(coef[0]) and np.isfinite(null):
        # rounding: about eps per unit-deviance term (y^2 for Gaussian, y for counts)
        yy = np.asarray(ex.y, np.float64)
        w = np.ones_like(yy) if ex.weights is None else np.asarray(ex.weights, float)
        eps = np.finfo(np.float32 if X32 else np.float64).eps
        rounding = 100 * eps * np.sum(w * (1.0 + np.abs(yy) + yy**2))
        # R's stopping rule leaves |deviance change| up to tol * (|deviance| + 0.1)
        slack = (1e-3 if X32 else 1e-6) * (abs(null) + 0.1) + rounding
        assert deviance <= null + slack, (deviance, null)


@settings(
    max_examples=4 * PROFILE_EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ex=examples())
def test_fit_never_fails_silently(ex: Example):
    _check(ex)


@pytest.mark.parametrize("case", FUZZ_CASES, ids=[c.id for c in FUZZ_CASES])
@settings(max_examples=max(PROFILE_EXAMPLES // 5, 5))
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(-3.0, 6.0))
def test_clean_float64_data_converges_or_is_flagged(
    case: Case, seed: int, scale: float
):
    """Every case gets clean draws too (the main test picks cases at random)."""
    rng = np.random.default_rng(seed)
    n, p = SHAPES[0]
    Z = rng.uniform(-1.0, 1.0, size=(n, p - 1))
    u = Z @ np.full(p - 1, 1.0 / (p - 1))
    level = 10.0**scale
    y = _simulate_y(case, rng, u, 1.0, level, np.ones(n))
    X = np.column_stack([np.ones(n), Z * 10.0 ** (scale / 2)])
    _check(Example(case, "float64", "none", X, y, None, None))
    # Clean data with an MLE (no separation) and the canonical link must converge.
    separated = _separation(case, X, y, None)
    if (case.family, case.link) in CANONICAL_MUST_CONVERGE and separated is not True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jg.ConvergenceWarning)
            status = jg.Status(int(jg.fit(X, y, case.jg_family()).status))
        assert status == jg.Status.SUCCESS, status.name


CANONICAL_MUST_CONVERGE = frozenset(
    {("Gaussian", "Identity"), ("Binomial", "Logit"), ("Poisson", "Log")}
)
