"""Forward mode (``jax.jvp``, ``jax.jacfwd``) agrees with reverse mode (``jax.vjp``,
``jax.jacrev``) through ``jg.fit``.

Forward mode runs the implicit-function rule of ``_implicit.py`` directly; reverse
mode runs its transpose.  Both are exact for the same solution, so they agree to
rounding: full Jacobians at rtol 1e-9 (an absolute floor of 1e-12 times the
largest entry for entries that are 0 in exact arithmetic), and the identity
``u . (J v) = (u J) . v`` at rtol 1e-10.

The function is the vector of ``coef``, ``deviance``, predictions on new rows,
``se`` and ``aic`` (``test_grad.statistics``, unprojected) of a fit, as a
function of every input at once: ``X, y, weights, offset, l2`` and the family
parameters.  Cases: canonical and non-canonical links, grouped binomial data,
weights, an offset, and both families with a parameter leaf.  Each case is one
jitted program (one compile).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
from cases import CASES
from test_grad import Inputs, inputs

CASE_IDS = (
    "Poisson-Log",  # canonical, with an offset
    "Binomial-Probit",  # non-canonical, grouped data (trials as weights)
    "Gamma-Log",  # non-canonical, weighted, dispersion estimated
    "NegativeBinomial-Sqrt",  # alpha leaf
    "Tweedie-Log",  # power leaf
)
JVP_CASES = tuple(c for c in CASES if c.id in CASE_IDS)
N_NEW = 8
FIT_TOL = 1e-12


def outputs(case):
    """inputs -> one vector of statistics of the fit."""
    X_new = case.simulate(seed=1, n=N_NEW).X

    def f(t: Inputs) -> jax.Array:
        res = jg.fit(
            t.X, t.y, t.family, weights=t.weights, offset=t.offset, l2=t.l2,
            tol=FIT_TOL,
        )  # fmt: skip
        parts = [res.coef, res.deviance[None], jg.predict(res, X_new), res.se]
        if case.family != "Tweedie":  # Tweedie has no AIC (NaN, as R's NA)
            parts.append(res.aic[None])
        return jnp.concatenate(parts)

    return f


@functools.cache
def program(case):
    """jit: (inputs, tangent, cotangent) -> both Jacobians, a JVP and a VJP."""
    f = outputs(case)

    def run(t, tangent, cotangent):
        primal_fwd, jvp = jax.jvp(f, (t,), (tangent,))
        primal_rev, pullback = jax.vjp(f, t)
        (vjp,) = pullback(cotangent)
        return {
            "jacfwd": jax.jacfwd(f)(t),
            "jacrev": jax.jacrev(f)(t),
            "jvp": (primal_fwd, jvp),
            "vjp": (primal_rev, vjp),
        }

    return jax.jit(run)


def _random_like(tree, rng):
    return jax.tree.map(lambda a: jnp.asarray(rng.normal(size=np.shape(a))), tree)


def _tree_dot(a, b):
    return float(sum(jax.tree.leaves(jax.tree.map(lambda u, v: jnp.sum(u * v), a, b))))


@pytest.fixture(scope="module", params=JVP_CASES, ids=[c.id for c in JVP_CASES])
def computed(request):
    case = request.param
    t = inputs(case)._replace(l2=jnp.asarray(0.5))
    rng = np.random.default_rng(3)
    tangent = _random_like(t, rng)
    (n_out,) = jax.eval_shape(outputs(case), t).shape  # traced, not compiled
    cotangent = jnp.asarray(rng.normal(size=n_out))
    return case, t, tangent, cotangent, program(case)(t, tangent, cotangent)


def test_jacfwd_equals_jacrev(computed):
    _, _, _, _, out = computed
    forward, reverse = out["jacfwd"], out["jacrev"]
    names = [
        jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_leaves_with_path(forward)
    ]
    for name, a, b in zip(
        names, jax.tree.leaves(forward), jax.tree.leaves(reverse), strict=True
    ):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, name
        assert np.all(np.isfinite(a)), name
        atol = 1e-12 * max(np.abs(a).max(), 1e-300)
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=atol, err_msg=name)
    # The Jacobian is not trivially zero in any input.
    for name, a in zip(names, jax.tree.leaves(forward), strict=True):
        assert np.abs(np.asarray(a)).max() > 0, name


def test_jvp_and_vjp_are_transposes(computed):
    _, _, tangent, cotangent, out = computed
    primal_fwd, jvp = out["jvp"]
    primal_rev, vjp = out["vjp"]
    np.testing.assert_allclose(primal_fwd, primal_rev, rtol=1e-13)
    lhs = float(jnp.dot(cotangent, jvp))  # u . (J v)
    rhs = _tree_dot(vjp, tangent)  # (u J) . v
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10)


def test_jvp_equals_jacobian_times_tangent(computed):
    _, _, tangent, cotangent, out = computed
    _, jvp = out["jvp"]
    _, vjp = out["vjp"]
    J = out["jacrev"]
    # J v from the reverse-mode Jacobian, leaf by leaf.
    Jv = sum(
        jnp.tensordot(Jleaf, vleaf, axes=np.ndim(vleaf))
        for Jleaf, vleaf in zip(
            jax.tree.leaves(J), jax.tree.leaves(tangent), strict=True
        )
    )
    np.testing.assert_allclose(jvp, Jv, rtol=1e-9, atol=1e-12 * np.abs(Jv).max())
    # u J from the forward-mode Jacobian.
    uJ = jax.tree.map(
        lambda Jleaf: jnp.tensordot(cotangent, Jleaf, axes=1), out["jacfwd"]
    )
    for a, b in zip(jax.tree.leaves(vjp), jax.tree.leaves(uJ), strict=True):
        np.testing.assert_allclose(
            a, b, rtol=1e-9, atol=1e-12 * max(np.abs(np.asarray(b)).max(), 1e-300)
        )
