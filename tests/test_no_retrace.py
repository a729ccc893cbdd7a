"""Compile once: new data with the same shapes and dtypes never recompiles.

Three independent detectors:

- a Python side-effect counter inside a function passed to ``jax.jit`` (it runs
  only while tracing);
- the cache size of the library's own compiled programs
  (``jaxglm._fit._fit_compiled``, ``jaxglm._many._fit_many_compiled``);
- ``jax.log_compiles``: every XLA compilation logs a "Compiling ..." record.

Each test warms up first (one compile is expected), then calls again with new
data of the same shapes and dtypes and asserts nothing was traced or compiled.
``test_new_shape_is_detected`` shows the detectors are not vacuous.
"""

from __future__ import annotations

import contextlib
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
import jaxglm._fit
import jaxglm._many
from cases import CASES

N = 60
POISSON = next(c for c in CASES if c.id == "Poisson-Log")  # with an offset
NEGBIN = next(c for c in CASES if c.id == "NegativeBinomial-Log")


class _CompileRecords(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Compiling"):
            self.messages.append(message)


@contextlib.contextmanager
def compile_log():
    """Collect the "Compiling ..." records that ``jax.log_compiles`` emits."""
    handler = _CompileRecords()
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles(True):
            yield handler.messages
    finally:
        logger.removeHandler(handler)


def _data(seed, case=POISSON, n=N):
    d = case.simulate(seed=seed, n=n)
    offset = np.zeros(n) if d.offset is None else d.offset
    return d.X, d.y, offset


def _fit_cache_size() -> int:
    return jaxglm._fit._fit_compiled._cache_size()


def test_jit_wrapper_traces_once():
    traces = []

    def fit(X, y, offset):
        traces.append(X.shape)  # a side effect: runs only while tracing
        return jg.fit(X, y, jg.Poisson(), offset=offset)

    fit_jit = jax.jit(fit)
    fit_jit(*_data(0)).coef.block_until_ready()
    with compile_log() as compiled:
        for seed in range(1, 4):
            res = fit_jit(*_data(seed))
            assert bool(res.converged)
    assert len(traces) == 1, traces
    assert compiled == []


def _as_jax(X, y, offset):
    return jnp.asarray(X), jnp.asarray(y), jnp.asarray(offset)


def _as_lists(X, y, offset):
    return X.tolist(), y.tolist(), offset.tolist()


@pytest.mark.parametrize(
    "convert",
    [lambda *a: a, _as_jax, _as_lists],
    ids=["numpy", "jax", "lists"],
)
def test_eager_fit_does_not_recompile(convert):
    X, y, offset = convert(*_data(0))
    jg.fit(X, y, jg.Poisson(), offset=offset)  # warm-up (input conversion too)
    before = _fit_cache_size()
    with compile_log() as compiled:
        for seed in range(1, 4):
            X, y, offset = convert(*_data(seed))
            res = jg.fit(X, y, jg.Poisson(), offset=offset)
            assert bool(res.converged)
    assert _fit_cache_size() == before
    assert compiled == []


@pytest.mark.parametrize(
    ("name", "first", "second"),
    [
        ("l2", 0.5, 0.7),
        ("l2", np.float64(1.0), np.float64(2.0)),
        ("l2", jnp.asarray(1.0), jnp.asarray(3.0)),
        ("tol", 1e-8, 1e-10),
        ("max_iter", 100, 50),
        ("weights", np.ones(N), np.full(N, 2.0)),
    ],
    ids=["l2-float", "l2-numpy", "l2-jax", "tol", "max_iter", "weights"],
)
def test_new_option_values_do_not_recompile(name, first, second):
    X, y, offset = _data(5)
    jg.fit(X, y, jg.Poisson(), offset=offset, **{name: first})  # warm-up
    before = _fit_cache_size()
    with compile_log() as compiled:
        res = jg.fit(X, y, jg.Poisson(), offset=offset, **{name: second})
    assert bool(res.converged)
    assert _fit_cache_size() == before
    assert compiled == []


def test_new_family_parameter_values_do_not_recompile():
    X, y, offset = _data(0, NEGBIN)
    jg.fit(X, y, jg.NegativeBinomial(alpha=0.5), offset=offset)
    before = _fit_cache_size()
    with compile_log() as compiled:
        for alpha in (0.2, 0.9, 1.7):
            res = jg.fit(X, y, jg.NegativeBinomial(alpha=alpha), offset=offset)
            assert bool(res.converged)
            np.testing.assert_allclose(res.family.alpha, alpha)
    assert _fit_cache_size() == before
    assert compiled == []


def test_family_parameter_type_does_not_recompile():
    # A Python float is a weak-typed leaf, a NumPy or JAX scalar a strong one; fit
    # casts family parameters to the working dtype so all share one program.
    X, y, offset = _data(1, NEGBIN)
    jg.fit(X, y, jg.NegativeBinomial(alpha=0.5), offset=offset)
    before = _fit_cache_size()
    jg.fit(X, y, jg.NegativeBinomial(alpha=np.float64(0.6)), offset=offset)
    jg.fit(X, y, jg.NegativeBinomial(alpha=jnp.asarray(0.7)), offset=offset)
    assert _fit_cache_size() == before
    # Once each kind has been seen (eager checks of the parameter included),
    # new values compile nothing at all.
    with compile_log() as compiled:
        for alpha in (np.float64(0.8), jnp.asarray(0.9), 1.1):
            jg.fit(X, y, jg.NegativeBinomial(alpha=alpha), offset=offset)
    assert compiled == []


def test_vmap_inside_jit_traces_once():
    traces = []

    def fit_batch(X, Y, offset):
        traces.append(Y.shape)
        return jax.vmap(lambda y: jg.fit(X, y, jg.Poisson(), offset=offset))(Y)

    fit_jit = jax.jit(fit_batch)
    X, _, offset = _data(0)
    rng = np.random.default_rng(0)
    fit_jit(X, rng.poisson(3.0, size=(4, N)).astype(float), offset)
    with compile_log() as compiled:
        for _ in range(3):
            Y = rng.poisson(3.0, size=(4, N)).astype(float)
            res = fit_jit(X, Y, offset)
            assert np.all(np.asarray(res.converged))
    assert len(traces) == 1
    assert compiled == []


def test_grad_traces_once():
    traces = []

    def loss(X, y, offset, l2):
        traces.append(1)
        res = jg.fit(X, y, jg.Poisson(), offset=offset, l2=l2)
        return res.deviance + jnp.sum(res.se)

    grad = jax.jit(jax.grad(loss, argnums=(0, 3)))
    grad(*_data(0), 0.1)
    with compile_log() as compiled:
        for seed in range(1, 3):
            dX, dl2 = grad(*_data(seed), 0.1 * seed)
            assert np.all(np.isfinite(np.asarray(dX))) and np.isfinite(float(dl2))
    assert len(traces) == 1
    assert compiled == []


@pytest.mark.parametrize(
    "shared_weights", [True, False], ids=["shared", "per-response"]
)
def test_fit_many_does_not_recompile(shared_weights):
    X, _, offset = _data(0)
    rng = np.random.default_rng(1)
    m = 5

    def call():
        Y = rng.poisson(3.0, size=(m, N)).astype(float)
        weights = rng.uniform(0.5, 2.0, size=N if shared_weights else (m, N))
        return jg.fit_many(X, Y, jg.Poisson(), weights=weights, offset=offset)

    call()
    before = jaxglm._many._fit_many_compiled._cache_size()
    with compile_log() as compiled:
        for _ in range(3):
            assert np.all(np.asarray(call().converged))
    assert jaxglm._many._fit_many_compiled._cache_size() == before
    assert compiled == []


def test_new_shape_is_detected():
    # The detectors work: a new number of rows is a new program.
    traces = []

    def fit(X, y, offset):
        traces.append(X.shape)
        return jg.fit(X, y, jg.Poisson(), offset=offset)

    fit_jit = jax.jit(fit)
    fit_jit(*_data(0, n=40))
    before = _fit_cache_size()
    with compile_log() as compiled:
        fit_jit(*_data(0, n=41))
        jg.fit(*_data(0, n=41)[:2], jg.Poisson(), offset=_data(0, n=41)[2])
    assert traces == [(40, 4), (41, 4)]
    assert _fit_cache_size() == before + 1
    assert any("fit" in message for message in compiled)


def test_new_number_of_rows_in_the_same_bucket_does_not_compile():
    """An eager fit pads its rows to a bucket (jaxglm/_buckets.py) with
    zero-weight rows: fits of 1000 and 1013 rows share one program, and the
    padding changes no number (against the unpadded fit under jit, which
    pads nothing), BIC counting the real rows as R."""
    rng = np.random.default_rng(7)

    def data(n):
        X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
        y = rng.poisson(np.exp(0.3 * X[:, 1])).astype(float)
        weights = rng.uniform(0.5, 2.0, n)
        weights[3] = 0.0  # a user's zero-weight row still counts in R's BIC
        return X, y, weights, np.log(rng.uniform(1.0, 2.0, n))

    X, y, w, off = data(1000)
    jg.fit(X, y, jg.Poisson(), weights=w, offset=off)  # warm-up
    before = _fit_cache_size()
    unpadded = jax.jit(lambda *a: jg.fit(a[0], a[1], jg.Poisson(), weights=a[2],
                                         offset=a[3]))  # fmt: skip
    for n in (1013, 1021):
        X, y, w, off = data(n)
        with compile_log() as compiled:
            res = jg.fit(X, y, jg.Poisson(), weights=w, offset=off)
        assert compiled == [] and _fit_cache_size() == before
        ref = unpadded(X, y, w, off)
        assert res.mu.shape == res.eta.shape == res.y.shape == (n,)
        assert int(res.nobs) == n - 1 and int(res.df_resid) == n - 1 - 4
        for field in ("coef", "se", "deviance", "null_deviance", "aic", "bic", "mu"):
            np.testing.assert_allclose(
                getattr(res, field), getattr(ref, field), rtol=1e-10, err_msg=field
            )
        np.testing.assert_allclose(res.bic, -2 * res.loglik + np.log(n) * 4, rtol=1e-12)


def test_fit_many_new_number_of_responses_in_the_same_bucket_does_not_compile():
    X, _, offset = _data(0)
    rng = np.random.default_rng(3)

    def call(m):
        Y = rng.poisson(3.0, size=(m, N)).astype(float)
        return Y, jg.fit_many(X, Y, jg.Poisson(), offset=offset)

    call(113)  # bucket of 120
    before = jaxglm._many._fit_many_compiled._cache_size()
    with compile_log() as compiled:
        Y, res = call(118)
    assert compiled == []
    assert jaxglm._many._fit_many_compiled._cache_size() == before
    assert res.coef.shape == (118, X.shape[1]) and res.mu.shape == (118, N)
    one = jg.fit(X, Y[-1], jg.Poisson(), offset=offset)
    np.testing.assert_allclose(res.coef[-1], one.coef, rtol=1e-10)
