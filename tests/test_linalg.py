"""The weighted least-squares building blocks against plain numpy."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxglm import _linalg


def test_blocked_normal_equations_equal_direct_products():
    rng = np.random.default_rng(0)
    n = 5 * _linalg._BLOCKED_MIN_ROWS // 4 + 123  # blocks plus a ragged tail
    X = rng.normal(size=(n, 5))
    w = rng.uniform(0.0, 3.0, size=n)
    t = rng.normal(size=n)
    G, b = _linalg.normal_equations(jnp.asarray(X), jnp.asarray(w), jnp.asarray(t))
    np.testing.assert_allclose(G, X.T @ (w[:, None] * X), rtol=1e-12)
    np.testing.assert_allclose(b, X.T @ (w * t), rtol=1e-12)


def test_aliased_columns_drop_the_later_of_a_collinear_set_as_r():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 3))
    X = np.c_[np.ones(30), x, x[:, 0] - 2 * x[:, 2], x[:, 1]]
    aliased = _linalg.aliased_columns(jnp.asarray(X), jnp.ones(30, bool))
    assert aliased.tolist() == [False, False, False, False, True, True]


def test_aliasing_ignores_zero_weight_rows():
    X = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    used = jnp.array([True, True, False])
    assert _linalg.aliased_columns(jnp.asarray(X), used).tolist() == [False, True]


def test_solve_and_inverse_skip_aliased_block():
    G = jnp.array([[4.0, 2.0, 0.0], [2.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    aliased = jnp.array([False, False, True])
    x, ok = _linalg.solve_spd(G, jnp.array([1.0, 2.0, 5.0]), aliased)
    np.testing.assert_allclose(x[:2], np.linalg.solve(G[:2, :2], [1.0, 2.0]))
    assert bool(ok) and float(x[2]) == 0.0
    inv = _linalg.inverse_spd(G, aliased)
    np.testing.assert_allclose(inv[:2, :2], np.linalg.inv(G[:2, :2]))
    assert np.isnan(inv[2]).all() and np.isnan(inv[:, 2]).all()


def test_row_products_give_the_gram_and_the_aliasing_of_the_design():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 3))
    X = np.c_[np.ones(40), x, x[:, 0] - 2 * x[:, 2]]
    w = rng.uniform(0.0, 3.0, size=40)
    t = rng.normal(size=40)
    K = _linalg.row_products(jnp.asarray(X))
    assert K.shape == (40, 5 * 6 // 2)
    G, b = _linalg.normal_equations(
        jnp.asarray(X), jnp.asarray(w), jnp.asarray(t), products=K
    )
    np.testing.assert_allclose(G, X.T @ (w[:, None] * X), rtol=1e-12)
    np.testing.assert_array_equal(G, G.T)
    np.testing.assert_allclose(b, X.T @ (w * t), rtol=1e-12)
    used = jnp.asarray(w > 0.5)
    np.testing.assert_array_equal(
        _linalg.aliased_columns(jnp.asarray(X), used, K),
        _linalg.aliased_columns(jnp.asarray(X), used),
    )


def test_row_products_only_for_designs_that_fit_the_budget():
    assert _linalg.use_row_products(jnp.zeros((1000, 8)))
    assert not _linalg.use_row_products(jnp.zeros((1_000_000, 50)))
