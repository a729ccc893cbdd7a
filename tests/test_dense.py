"""The LAPACK-free factorizations (``_dense``) and the one-matrix-per-call LAPACK
route (``_lapack``) against numpy/LAPACK, and the promise behind them: a
vmapped fit compiles to no batched LAPACK call (tests/test_batch_no_hang.py
runs the batches that used to hang)."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
from jaxglm import _dense, _lapack, _linalg


def _spd(rng, p, cond_scale=1.0):
    A = rng.normal(size=(p + 7, p)) * np.logspace(0, cond_scale, p)
    return A.T @ A


@pytest.mark.parametrize("p", [1, 2, 5, 16, 64])
def test_cholesky_and_solves_equal_lapack(p):
    rng = np.random.default_rng(p)
    G = _spd(rng, p)
    b = rng.normal(size=p)
    L = _dense.cholesky(jnp.asarray(G))
    np.testing.assert_allclose(L, np.linalg.cholesky(G), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        _dense.cho_solve(L, b), np.linalg.solve(G, b), rtol=1e-9, atol=1e-12
    )
    B = rng.normal(size=(p, 3))
    np.testing.assert_allclose(
        _dense.cho_solve(L, B), np.linalg.solve(G, B), rtol=1e-9, atol=1e-12
    )
    A = rng.normal(size=(p, p)) + 3 * np.eye(p)
    np.testing.assert_allclose(
        _dense.lu_solve(jnp.asarray(A), b), np.linalg.solve(A, b), rtol=1e-9
    )


def test_lu_solve_pivots():
    # A zero leading pivot: elimination without row exchanges would divide by 0.
    A = np.array([[0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [3.0, 0.0, 1.0]])
    b = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(
        _dense.lu_solve(jnp.asarray(A), b), np.linalg.solve(A, b)
    )


def test_cholesky_of_an_indefinite_matrix_is_all_nan():
    L = _dense.cholesky(jnp.array([[1.0, 2.0], [2.0, 1.0]]))
    assert np.all(np.isnan(L))


def test_qr_q_equals_lapack_up_to_column_signs():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(40, 6)) * np.logspace(0, 6, 6)  # cond ~1e6
    Q = np.asarray(_dense.qr_q(jnp.asarray(A)))
    np.testing.assert_allclose(Q.T @ Q, np.eye(6), atol=1e-12)
    Qn = np.linalg.qr(A)[0]
    np.testing.assert_allclose(Q * np.sign(Q[0] * Qn[0]), Qn, atol=1e-10)
    # The hat values of the diagnostics: row sums of Q^2.
    np.testing.assert_allclose(np.sum(Q**2, 1), np.sum(Qn**2, 1), atol=1e-12)


@pytest.mark.parametrize("log_cond", [0, 3, 7])
def test_condition_number_within_one_percent_above_eigvalsh(log_cond):
    rng = np.random.default_rng(log_cond)
    G = _spd(rng, 12, log_cond / 2)
    scale = 1 / np.sqrt(np.diag(G))
    eig = np.linalg.eigvalsh(G * np.outer(scale, scale))
    exact = eig[-1] / eig[0]
    _, cond = _linalg.inverse_and_condition(jnp.asarray(G), jnp.zeros(12, bool))
    estimate = float(cond)
    assert exact * (1 - 1e-9) <= estimate <= exact * 1.01


def test_derivatives_equal_those_of_jnp_linalg():
    rng = np.random.default_rng(4)
    G = jnp.asarray(_spd(rng, 6))
    b = jnp.asarray(rng.normal(size=6))

    def ours(G):
        return jnp.sum(_dense.cho_solve(_dense.cholesky(G), b) ** 2)

    def lapack(G):
        return jnp.sum(
            jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(G), True), b) ** 2
        )

    np.testing.assert_allclose(jax.grad(ours)(G), jax.grad(lapack)(G), rtol=1e-10)
    dG = jnp.asarray(rng.normal(size=(6, 6)))
    np.testing.assert_allclose(
        jax.jvp(ours, (G,), (dG,))[1], jax.jvp(lapack, (G,), (dG,))[1], rtol=1e-10
    )


def test_large_p_lapack_inverses_are_differentiable_and_batch():
    rng = np.random.default_rng(5)
    G = jnp.asarray(np.stack([_spd(rng, 70) for _ in range(3)]))
    inv = jax.vmap(_lapack.inverse_spd)(G)
    np.testing.assert_allclose(inv, np.linalg.inv(np.asarray(G)), rtol=1e-8)
    general = jax.vmap(_lapack.inverse)(G + jnp.triu(G, 1))
    np.testing.assert_allclose(general, np.linalg.inv(np.asarray(G + jnp.triu(G, 1))))
    w = jnp.asarray(rng.normal(size=70))

    def loss(G):
        return jnp.sum(jax.vmap(lambda g: w @ _lapack.inverse_spd(g) @ w)(G))

    def reference(G):
        return jnp.sum(jax.vmap(lambda g: w @ jnp.linalg.solve(g, w))(G))

    expected = jax.grad(reference)(G)
    np.testing.assert_allclose(
        jax.grad(loss)(G), 0.5 * (expected + jnp.swapaxes(expected, 1, 2)), rtol=1e-8
    )
    # Many right-hand sides against one matrix: one call, same answer.
    B = jnp.asarray(rng.normal(size=(4, 70)))
    x, ok = jax.vmap(lambda b: _lapack.cho_solve(G[0], b))(B)
    np.testing.assert_allclose(x, np.linalg.solve(np.asarray(G[0]), B.T).T, rtol=1e-8)
    assert ok.shape == (4,) and bool(jnp.all(ok))


def _lapack_operand_shapes(fun, *args):
    """Dimensions ("70,70") of the operands of every LAPACK custom call in the
    program ``fun`` compiles to."""
    hlo = jax.jit(fun).lower(*args).compile().as_text()
    shapes = []
    for line in hlo.splitlines():
        if 'custom_call_target="lapack' in line:
            operands = line.split("operand_layout_constraints=", 1)[1]
            operands = operands[: operands.index("}}") + 2]
            shapes += re.findall(r"[a-z]+\d+\[([\d,]*)\]", operands)
    return shapes


@pytest.mark.parametrize("p", [5, 70])
def test_vmapped_fits_make_no_batched_lapack_call(p):
    rng = np.random.default_rng(p)
    X = rng.normal(size=(3, 120, p)) * 0.1
    X[..., 0] = 1.0
    Y = rng.poisson(1.0, size=(3, 120)).astype(float)

    def fit_all(X, Y):
        res = jax.vmap(lambda x, y: jg.fit(x, y, jg.Poisson()))(X, Y)
        return res.se, jax.vmap(jg.influence)(res, X).hat

    def grad_all(X):
        return jax.grad(lambda X: jnp.sum(fit_all(X, Y)[0]))(X)

    for fun, args in ((fit_all, (X, Y)), (grad_all, (X,))):
        shapes = _lapack_operand_shapes(fun, *args)
        if p <= _dense.MAX_P:
            assert shapes == []
        else:
            assert shapes and all(s.count(",") <= 1 for s in shapes), shapes

    res = jax.vmap(lambda x, y: jg.fit(x, y, jg.Poisson()))(X, Y)
    single = jg.fit(X[1], Y[1], jg.Poisson())
    np.testing.assert_allclose(res.coef[1], single.coef, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.se[1], single.se, rtol=1e-12)
