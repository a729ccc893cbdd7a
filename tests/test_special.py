"""log(k!) and log C(m, k) without lgamma (_special.py) against Python's math.lgamma."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxglm._special import TABLE_SIZE, log_choose, log_factorial

jax.config.update("jax_enable_x64", True)


def _lgamma1(values):
    return np.array([math.lgamma(v + 1.0) for v in values])


def _rel_err(got, want):
    return np.max(np.abs(np.asarray(got, float) - want) / np.maximum(np.abs(want), 1.0))


def test_counts_across_the_table_edge_are_exact():
    k = np.arange(0.0, 3 * TABLE_SIZE)
    assert _rel_err(jax.jit(log_factorial)(jnp.asarray(k)), _lgamma1(k)) < 1e-15


def test_large_and_non_integer_arguments():
    k = np.concatenate([np.linspace(0.0, 40.0, 4001), np.exp(np.linspace(0, 60, 300))])
    assert _rel_err(jax.jit(log_factorial)(jnp.asarray(k)), _lgamma1(k)) < 1e-14


def test_mixed_batch_under_vmap():
    # Only the fit with a non-integer needs lgamma; each fit gets its own answer.
    k = np.array([[0.0, 1.0, 7.0, 2000.0], [0.5, 3.0, 2.25, 10.0]])
    got = jax.jit(jax.vmap(log_factorial))(jnp.asarray(k))
    assert _rel_err(got, _lgamma1(k.ravel()).reshape(k.shape)) < 1e-14


def test_edges():
    assert log_factorial(jnp.inf) == jnp.inf
    assert jnp.isnan(log_factorial(jnp.nan))
    assert float(log_factorial(-0.5)) == pytest.approx(math.lgamma(0.5), rel=1e-14)


def test_derivative_is_digamma():
    for k in (0.0, 3.0, 2.5, 5000.0):
        got = jax.grad(log_factorial)(k)
        assert float(got) == pytest.approx(float(jax.scipy.special.digamma(k + 1.0)))


def test_float32():
    k = jnp.arange(3 * TABLE_SIZE, dtype=jnp.float32)
    got = log_factorial(k)
    assert got.dtype == jnp.float32
    assert _rel_err(got, _lgamma1(np.arange(3 * TABLE_SIZE))) < 3e-7


def test_log_choose():
    m = np.array([5.0, 1.0, 0.0, 40.0, 3000.0])
    k = np.array([2.0, 1.0, 0.0, 17.0, 1234.0])
    want = [math.log(math.comb(int(a), int(b))) for a, b in zip(m, k, strict=True)]
    got = log_choose(jnp.asarray(m), jnp.asarray(k))
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)
    # 0/1 trials: exactly zero (the whole term is skipped).
    assert np.all(np.asarray(log_choose(jnp.ones(4), jnp.array([0.0, 1, 1, 0]))) == 0)
