"""A vmapped batch larger than one chunk (_vmap_chunks.py) runs as a loop over
chunks: every fit must equal the fit run alone, neighbours must not interact,
padding must not leak, and derivatives must be those of the plain fits."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
from jaxglm._vmap_chunks import CHUNK_ROWS, chunk_size, chunked_vmap

jax.config.update("jax_enable_x64", True)

N = 1000  # rows per fit: chunks of about CHUNK_ROWS / N = 65 fits
P = 3


def _batch(fits, seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate(
        [np.ones((fits, N, 1)), rng.normal(scale=0.5, size=(fits, N, P - 1))], -1
    )
    coef = rng.normal(scale=0.3, size=(fits, P))
    y = rng.poisson(np.exp(np.einsum("bnp,bp->bn", X, coef))).astype(float)
    return X, y


def test_chunk_size():
    assert chunk_size(10, N) == 10  # a small batch is one vmap
    assert chunk_size(10_000, 500) == 125  # a divisor of the batch near 131
    assert chunk_size(10_000, 1000) == 50
    size = chunk_size(131, N)  # prime: no divisor, the least padding
    assert size <= CHUNK_ROWS // N and -(-131 // size) * size - 131 < -(-131 // size)
    assert chunk_size(5, 10**6) == 1


@pytest.mark.parametrize("fits", [130, 131])  # chunks of 65; 131 pads the last one
def test_chunked_batch_equals_solo_fits(fits):
    X, y = _batch(fits)
    # Neighbours that fail: NaN data, an all-zero response (separation).
    X[3, 5, 1] = np.nan
    y[70] = 0.0
    res = jax.jit(jax.vmap(lambda X, y: jg.fit(X, y, jg.Poisson())))(X, y)
    assert res.coef.shape == (fits, P) and res.mu.shape == (fits, N)
    status = np.asarray(res.status)
    assert status[3] == jg.Status.INVALID_INPUT
    assert status[70] == jg.Status.SEPARATION
    assert np.sum(status == jg.Status.SUCCESS) == fits - 2
    assert np.all(np.isnan(res.coef[3]))
    for i in (0, 64, 65, 66, 70, fits - 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fit 70 warns of its separation
            solo = jg.fit(X[i], y[i], jg.Poisson())
        for field in ("coef", "se", "deviance", "null_deviance", "aic", "mu"):
            np.testing.assert_allclose(
                getattr(res, field)[i], getattr(solo, field), rtol=1e-10, atol=1e-12
            )
        for field in ("status", "n_iter", "nobs", "rank"):
            assert getattr(res, field)[i] == getattr(solo, field), field


def test_unbatched_arguments():
    # X and l2 common to every fit (unbatched), responses batched and chunked.
    X, y = _batch(140)
    X0 = X[0]
    res = jax.vmap(lambda y: jg.fit(X0, y, jg.Poisson(), l2=0.5))(y)
    solo = jg.fit(X0, y[100], jg.Poisson(), l2=0.5)
    np.testing.assert_allclose(res.coef[100], solo.coef, rtol=1e-10)
    assert res.l2.shape == (140,)  # every output is batched, as vmap's would be


def test_gradients_through_a_chunked_batch():
    X, y = _batch(140)
    X, y = jnp.asarray(X), jnp.asarray(y)

    def batched(scale):
        res = jax.vmap(lambda X, y: jg.fit(X * scale, y, jg.Poisson()))(X, y)
        return jnp.sum(res.coef) + jnp.sum(res.se)

    def looped(scale):
        total = 0.0
        for i in (0, 77, 139):
            res = jg.fit(X[i] * scale, y[i], jg.Poisson())
            total = total + jnp.sum(res.coef) + jnp.sum(res.se)
        return total

    def batched_some(scale):
        res = jax.vmap(lambda X, y: jg.fit(X * scale, y, jg.Poisson()))(X, y)
        keep = jnp.array([0, 77, 139])
        return jnp.sum(res.coef[keep]) + jnp.sum(res.se[keep])

    assert np.isfinite(jax.grad(batched)(1.0))
    np.testing.assert_allclose(
        jax.grad(batched_some)(1.0), jax.grad(looped)(1.0), rtol=1e-9
    )
    # Reverse mode inside the batch (vmap of grad) as well.
    per_fit = jax.vmap(jax.grad(lambda X, y: jnp.sum(jg.fit(X, y, jg.Poisson()).coef)))(
        X[:130], y[:130]
    )
    solo = jax.grad(lambda X: jnp.sum(jg.fit(X, y[77], jg.Poisson()).coef))(X[77])
    np.testing.assert_allclose(per_fit[77], solo, rtol=1e-9, atol=1e-12)


def test_nested_vmap_and_jit_inside():
    X, y = _batch(130)
    fit = jax.jit(lambda X, y: jg.fit(X, y, jg.Poisson()).coef)
    nested = jax.vmap(jax.vmap(fit))(X.reshape(2, 65, N, P), y.reshape(2, 65, N))
    flat = jax.vmap(fit)(X, y)
    np.testing.assert_allclose(nested.reshape(130, P), flat, rtol=1e-12)


def test_output_that_ignores_the_batch():
    """Differentiating a vmap over a jitted function whose output does not
    depend on the batched input (the case custom_jvp's batching is strict on)."""

    def f(x, y, s):
        return {"a": jnp.sum(x * y), "s": s}

    g = jax.jit(chunked_vmap(f, rows_of=lambda x, *_: x.shape[-1]))
    x, Y, s = jnp.arange(3.0), jnp.ones((4, 3)), jnp.asarray(2.0)
    h = jax.jit(lambda x, y: g(x, y, s))
    out = jax.vmap(h, in_axes=(None, 0))(x, Y)
    assert out["s"].shape == (4,)
    grad = jax.grad(lambda x: jnp.sum(jax.vmap(h, in_axes=(None, 0))(x, Y)["a"]))(x)
    np.testing.assert_allclose(grad, [4.0, 4.0, 4.0])


def test_large_batches_loop_over_chunks():
    X, y = _batch(130)

    def program(fits):
        fn = jax.vmap(lambda X, y: jg.fit(X, y, jg.Poisson()).coef)
        return str(jax.make_jaxpr(fn)(X[:fits], y[:fits]))

    # One more loop than the plain vmap: lax.map over 2 chunks of 65.
    assert program(130).count("scan[") == program(10).count("scan[") + 1
