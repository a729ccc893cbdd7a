"""``jg.fit_many`` in batches: same numbers as one call, one compile, a progress bar.

Batch sizes are chosen not to divide m, so the last batch is padded.  Shapes are
few and small: every distinct batch shape is one compile.
"""

from __future__ import annotations

import sys
import warnings

import jax
import numpy as np
import pytest

import jaxglm as jg
import jaxglm._many as many
from jaxglm._buckets import row_bucket

N, P, M = 40, 3, 23


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = np.asarray(jg.add_intercept(rng.normal(size=(N, P - 1))))
    mu = np.exp(0.5 + X[:, 1:] @ np.array([0.3, -0.2]))
    Y = rng.poisson(mu, size=(M, N)).astype(float)
    offset = rng.normal(scale=0.1, size=(M, N))  # per response
    weights = rng.uniform(0.5, 2.0, size=N)  # shared
    return X, Y, weights, offset


def _assert_same(a, b):
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b, strict=True):
        assert np.shape(x) == np.shape(y)
        np.testing.assert_allclose(
            np.asarray(x), np.asarray(y), rtol=1e-12, atol=1e-12, equal_nan=True
        )


def test_batches_equal_one_call():
    X, Y, weights, offset = _data()
    family = jg.Poisson()
    whole = jg.fit_many(X, Y, family, weights=weights, offset=offset)
    before = many._fit_many_compiled._cache_size()
    batched = jg.fit_many(X, Y, family, weights=weights, offset=offset, batch_size=7)
    # The padded last batch has the same shape as the others: one compile.
    assert many._fit_many_compiled._cache_size() == before + 1
    assert batched.coef.shape == (M, P)
    _assert_same(batched, whole)


def test_gaussian_shared_factorisation_in_batches():
    X, Y, _, _ = _data()
    whole = jg.fit_many(X, Y, jg.Gaussian())
    _assert_same(jg.fit_many(X, Y, jg.Gaussian(), batch_size=6), whole)
    _assert_same(jg.fit_many(X, Y, jg.Gaussian(), batch_size=M + 10), whole)


def test_batches_under_jit():
    X, Y, _, _ = _data()
    whole = jg.fit_many(X, Y, jg.Gaussian())
    batched = jax.jit(lambda Y: jg.fit_many(X, Y, jg.Gaussian(), batch_size=6))(Y)
    _assert_same(batched, whole)


def test_one_warning_for_the_whole_batch():
    X, Y, weights, offset = _data()
    Y = Y.copy()
    Y[[2, 9, 21]] = 0.0  # all-zero counts: SEPARATION, in three different batches
    with pytest.warns(jg.ConvergenceWarning) as record:
        res = jg.fit_many(
            X, Y, jg.Poisson(), weights=weights, offset=offset, batch_size=7
        )
    assert len(record) == 1
    failed = np.flatnonzero(np.asarray(res.status) != jg.Status.SUCCESS)
    np.testing.assert_array_equal(failed, [2, 9, 21])


def test_default_batches_above_threshold(monkeypatch):
    X, Y, _, _ = _data()
    calls = []
    compiled = many._fit_many_compiled

    def counting(*args, **kwargs):
        calls.append(args[1].shape)
        return compiled(*args, **kwargs)

    monkeypatch.setattr(many, "_fit_many_compiled", counting)
    monkeypatch.setattr(many, "MIN_BATCH", 1)
    monkeypatch.setattr(many, "BATCH_ELEMENTS", 7 * N)  # at most 7 a batch
    res = jg.fit_many(X, Y, jg.Gaussian())
    assert calls == [(6, N)] * 4  # 23 responses: 4 even batches of 6, not 7+7+7+2
    assert res.coef.shape == (M, P)
    calls.clear()
    monkeypatch.setattr(many, "BATCH_ELEMENTS", 32 * N)  # a batch of 32 > M
    jg.fit_many(X, Y, jg.Gaussian())
    # one call, its responses padded to their bucket (jaxglm/_buckets.py)
    assert calls == [(row_bucket(M), N)]


def test_progress_true_writes_to_stderr(capsys):
    X, Y, _, _ = _data()
    jg.fit_many(X, Y, jg.Gaussian(), batch_size=6, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "fit_many" in captured.err and f"{M}/{M}" in captured.err


def test_progress_true_without_tqdm(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import raises ImportError
    X, Y, _, _ = _data()
    jg.fit_many(X, Y, jg.Gaussian(), batch_size=6, progress=True)
    err = capsys.readouterr().err
    assert "fit_many: 6/23" in err and f"{M}/{M} (100%)" in err
    assert err.endswith("\n")


def test_progress_true_with_one_batch(capsys):
    X, Y, _, _ = _data()
    jg.fit_many(X, Y, jg.Gaussian(), progress=True)
    assert f"{M}/{M}" in capsys.readouterr().err


def test_progress_default_is_silent_in_scripts(capfd):
    X, Y, _, _ = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jg.fit_many(X, Y, jg.Gaussian(), batch_size=6)
        jg.fit_many(X, Y, jg.Gaussian(), batch_size=6, progress=False)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_default_shows_when_interactive(capsys, monkeypatch):
    monkeypatch.setattr(many, "wants_progress", lambda progress: True)
    X, Y, _, _ = _data()
    jg.fit_many(X, Y, jg.Gaussian(), batch_size=6)
    assert f"{M}/{M}" in capsys.readouterr().err
    # One batch: nothing to report unless asked for.
    jg.fit_many(X, Y, jg.Gaussian())
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("bad", [0, -3, 2.5, 4.0, True, "8"])
def test_bad_batch_size(bad):
    X, Y, _, _ = _data()
    with pytest.raises(ValueError, match="batch_size"):
        jg.fit_many(X, Y, jg.Gaussian(), batch_size=bad)


@pytest.mark.parametrize("bad", [1, "yes"])
def test_bad_progress(bad):
    X, Y, _, _ = _data()
    with pytest.raises(ValueError, match="progress"):
        jg.fit_many(X, Y, jg.Gaussian(), progress=bad)


def test_shared_design_shortcut_keeps_gradients_and_values():
    # fit_many forms every fit's Gram from the design's row products
    # (_linalg.row_products); values and derivatives (with respect to X, through
    # the implicit derivative and the Fisher information) must be those of
    # the per-fit computation.
    X, Y, weights, _ = _data(1)
    X, Y = jax.numpy.asarray(X), jax.numpy.asarray(Y[:4])

    def many_loss(X):
        res = jg.fit_many(X, Y, jg.Poisson(), weights=weights)
        return jax.numpy.sum(res.coef) + jax.numpy.sum(res.se)

    def vmap_loss(X):
        res = jax.vmap(lambda y: jg.fit(X, y, jg.Poisson(), weights=weights))(Y)
        return jax.numpy.sum(res.coef) + jax.numpy.sum(res.se)

    assert many.use_row_products(X)  # the shortcut is what is tested
    np.testing.assert_allclose(many_loss(X), vmap_loss(X), rtol=1e-12)
    np.testing.assert_allclose(
        jax.grad(many_loss)(X), jax.grad(vmap_loss)(X), rtol=1e-9, atol=1e-12
    )


def test_default_batches_are_few_shapes():
    """Default batch sizes are row buckets near 2**18 / n entries: a new number
    of responses reuses one of a few compiled batch shapes."""
    for n, largest in ((1000, 256), (100, 2560), (10, 4096), (100_000, 128)):
        ms = range(largest + 1, 40_000, 13)
        sizes = {many._batch_size(None, m, n, True) for m in ms}
        assert max(sizes) == largest
        assert all(row_bucket(size) == size for size in sizes)
        assert len(sizes) <= 9
    assert many._batch_size(None, 10_000, 1000, True) == 256  # 40 batches
    assert many._batch_size(None, 300, 1000, True) == 160  # 2 even batches
    assert many._batch_size(None, 200, 1000, True) == 200  # one call
