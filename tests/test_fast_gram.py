"""The float32 Newton matrix of large float64 fits (``_linalg.normal_equations``
with ``fast_gram``; ``_irls`` uses it while far from the optimum).

Claims tested:

- The float32 Gram is within float32 rounding of X'WX, and ``X'W target`` stays
  exact (it is the score, which fixes the answer).
- A large fit that takes the fast path really forms a float32 product, and gives
  the same coefficients, standard errors, deviance, iteration count and status
  as the all-float64 path (rtol 1e-10), and statsmodels' answer (rtol 1e-7).
- Designs too ill-conditioned for a float32 Gram (which then fails to factor or
  gives poor steps) still converge to the float64 answer with status SUCCESS.
- Under vmap, a batch mixing such a fit with a well-conditioned one equals the
  two fits run alone.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
from jaxglm import _fit, _irls, _linalg

N = 2 * _linalg._BLOCKED_MIN_ROWS + 77  # blocks plus a ragged tail
P = 5


def _design(seed, near_collinear=0.0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(scale=0.5, size=(N, P - 1))
    if near_collinear:
        # Column 2 equals column 1 up to near_collinear: the scaled Gram's
        # condition number is about 1 / near_collinear**2.
        Z[:, 1] = Z[:, 0] + near_collinear * rng.normal(size=N)
    return np.c_[np.ones(N), Z], rng


def _data(kind, seed=0, near_collinear=0.0):
    X, rng = _design(seed, near_collinear)
    coef = np.linspace(-0.4, 0.4, P)
    coef[0] = 0.5
    eta = X @ coef
    if kind == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    elif kind == "logistic":
        y = (rng.random(N) < 1 / (1 + np.exp(-eta))).astype(float)
    else:
        y = rng.gamma(2.0, np.exp(eta) / 2.0)
    return X, y


FAMILIES = {
    "poisson": jg.Poisson(),
    "logistic": jg.Binomial(),
    "gamma": jg.Gamma(jg.links.Log()),
}


def _fitter(family, fast: bool):
    """A freshly traced fit that takes (fast=True) or never takes the fast path."""

    def run(X, y):
        return _fit.fit_traced(
            X, y, jnp.ones_like(y), jnp.zeros_like(y), jnp.zeros((), X.dtype),
            family, tol=1e-8, max_iter=100, has_offset=False,
        )  # fmt: skip

    if fast:
        return jax.jit(run)
    compiled = jax.jit(run)

    def exact(X, y):
        original = _irls.fast_gram_available
        _irls.fast_gram_available = lambda X: False
        try:
            return jax.block_until_ready(compiled(X, y))
        finally:
            _irls.fast_gram_available = original

    return exact


def _assert_same_fit(a, b, rtol=1e-10, member=()):
    def field(name):
        return np.asarray(getattr(a, name))[member]

    np.testing.assert_allclose(
        field("coef"), b.coef, rtol=rtol, atol=rtol * np.max(b.se)
    )
    np.testing.assert_allclose(field("se"), b.se, rtol=rtol)
    np.testing.assert_allclose(field("deviance"), b.deviance, rtol=rtol)
    assert int(field("status")) == int(b.status) == jg.Status.SUCCESS


def test_fast_gram_is_float32_close_and_score_exact():
    X, _ = _design(1)
    rng = np.random.default_rng(2)
    w, t = rng.uniform(0.0, 3.0, N), rng.normal(size=N)
    G, b = _linalg.normal_equations(
        jnp.asarray(X), jnp.asarray(w), jnp.asarray(t), fast_gram=True
    )
    exact = X.T @ (w[:, None] * X)
    assert _linalg.fast_gram_available(jnp.asarray(X))
    assert 1e-12 < np.max(np.abs(G - exact) / np.abs(exact).max()) < 1e-5
    np.testing.assert_allclose(b, X.T @ (w * t), rtol=1e-12)


def test_large_fits_form_a_float32_product():
    X, y = _data("poisson")
    text = str(jax.make_jaxpr(_fitter(jg.Poisson(), fast=True))(X, y))
    assert "f32" in text
    small = str(jax.make_jaxpr(_fitter(jg.Poisson(), fast=True))(X[:500], y[:500]))
    assert "f32" not in small


@pytest.mark.parametrize("kind", sorted(FAMILIES))
def test_fast_path_equals_float64_path_and_statsmodels(kind):
    sm = pytest.importorskip("statsmodels.api")
    X, y = _data(kind)
    family = FAMILIES[kind]
    fast = _fitter(family, fast=True)(X, y)
    exact = _fitter(family, fast=False)(X, y)
    _assert_same_fit(fast, exact)
    assert int(fast.n_iter) == int(exact.n_iter)

    sm_family = {
        "poisson": sm.families.Poisson(),
        "logistic": sm.families.Binomial(),
        "gamma": sm.families.Gamma(sm.families.links.Log()),
    }[kind]
    # Dispersion as R: Pearson chi^2 / df for Gamma, 1 otherwise.
    scale = "X2" if kind == "gamma" else 1.0
    ref = sm.GLM(y, X, family=sm_family).fit(tol=1e-12, scale=scale)
    np.testing.assert_allclose(fast.coef, ref.params, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fast.se, ref.bse, rtol=1e-6)


@pytest.mark.parametrize("near_collinear", [1e-3, 1e-4])
def test_ill_conditioned_design_still_gets_the_float64_answer(near_collinear):
    # Condition numbers about 1e6 (the float32 Gram factors but its steps are
    # inexact) and 1e8 (float32 cannot resolve it; the step is retried with
    # the exact Gram).  The float64 answer itself is good to about cond * eps.
    X, y = _data("poisson", seed=3, near_collinear=near_collinear)
    fast = _fitter(jg.Poisson(), fast=True)(X, y)
    exact = _fitter(jg.Poisson(), fast=False)(X, y)
    _assert_same_fit(fast, exact, rtol=1e-15 / near_collinear**2)
    assert int(fast.n_iter) <= int(exact.n_iter) + 2


def test_vmap_mixing_ill_and_well_conditioned_fits_equals_solo_fits():
    good = _data("poisson", seed=4)
    bad = _data("poisson", seed=5, near_collinear=1e-4)
    X = jnp.stack([good[0], bad[0]])
    y = jnp.stack([good[1], bad[1]])
    fit = _fitter(jg.Poisson(), fast=True)
    batch = jax.jit(jax.vmap(fit))(X, y)
    for i, member in enumerate((good, bad)):
        _assert_same_fit(batch, fit(*member), rtol=1e-7, member=i)
