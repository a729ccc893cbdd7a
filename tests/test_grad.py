"""``jax.grad`` through ``jg.fit`` against central finite differences of re-fits.

For each family with its canonical (default) link and with one non-canonical link
(the first other link of that family in ``cases.CASES``), scalar functions of the
result -- a projection of ``coef``, ``deviance``, a projection of ``jg.predict`` on
new rows, a projection of ``se`` and ``aic`` -- are differentiated with respect to
``X, y, weights, offset, l2`` and the family parameter (NegativeBinomial alpha,
Tweedie power).  Each gradient, contracted with a random direction, must match the
central difference ``(f(t + h v) - f(t - h v)) / 2h`` of two full re-fits.

Tolerances: h = 1e-6 along directions scaled to the values (relative steps).
The check is ``|grad . v - fd| <= 1e-5 |fd| + 1e-7 size(f)``: relative error
below 1e-5, with an absolute floor of 1e-7 times the statistic's size (the sum of
the absolute values of its terms) for derivatives that are tiny on that scale.
The floor is what central differences of *re-fits* can resolve:

- Rounding: f is known to about eps size(f), so the quotient carries an error of
  about eps size(f) / h = 2e-10 size(f).
- Truncated iteration: R's rule stops when the *deviance* changes by less than
  tol, which leaves coefficient errors of order sqrt(tol) for linearly converging
  (non-canonical) fits, and the quotient measures the derivative of that
  truncated iteration.  Measured at tol = 1e-13 this reaches relative errors of
  8e-5 (Tweedie power, Poisson/identity offset); with tol at the float64 floor
  (the library raises tol to 10 eps) the worst is 1.5e-7 size(f)
  (NegativeBinomial/sqrt, 14 iterations).  So the fits use tol = 1e-15, and
  the quotient is only taken when both re-fits ran the same number of
  iterations (an extra iteration is a jump): otherwise the step shrinks.
  The implicit gradient itself is exact at the solution it is given.

Not perturbed: the intercept column of X (perturbing it makes the column
non-constant, which switches the ridge penalty on for it: a discontinuity by
design), and ``y`` where it sits on the edge of the support (y = 0 for counts,
0/1 for Binomial) because ``y - h`` is not a valid response.  Bernoulli 0/1
responses are therefore shrunk to 1/6 and 5/6 proportions first.

One jitted program per case computes all the values and gradients; the
finite-difference re-fits call the same program, so each case compiles once.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
from cases import CASES, DEFAULT_LINK, FAMILIES, np_link, np_variance

N = 60
N_NEW = 8
L2 = 2.0  # an interior point, so l2 +- h stays a valid penalty
FIT_TOL = 1e-15  # see the module docstring
STEPS = (1e-6, 7e-7, 5e-7)  # tried in turn until both re-fits take equal iterations
RTOL = 1e-5
ATOL_FACTOR = 1e-7  # times size(f); see the module docstring

# Fixed projections turning vector statistics into scalars.
_RNG = np.random.default_rng(20240611)
COEF_WEIGHTS = _RNG.normal(size=4)
SE_WEIGHTS = _RNG.uniform(0.5, 1.5, size=4)
PRED_WEIGHTS = _RNG.uniform(0.5, 1.5, size=N_NEW)


def _non_canonical(family):
    return next(
        c for c in CASES if c.family == family and c.link != DEFAULT_LINK[family]
    )


def _canonical(family):
    return next(
        c for c in CASES if c.family == family and c.link == DEFAULT_LINK[family]
    )


GRAD_CASES = tuple(c for f in FAMILIES for c in (_canonical(f), _non_canonical(f)))
# Cases whose default link is the canonical link theta(mu) (NegativeBinomial's
# canonical link is log(mu / (mu + 1/alpha)) and Tweedie's mu^(1-p) / (1-p), not
# their default log link): there observed and expected information coincide.
TRULY_CANONICAL = tuple(
    _canonical(f) for f in FAMILIES if f not in ("NegativeBinomial", "Tweedie")
)
FAMILY_PARAM = {"NegativeBinomial": "alpha", "Tweedie": "power"}


class Inputs(NamedTuple):
    """Everything a fit depends on, as one differentiable pytree."""

    X: jax.Array
    y: jax.Array
    weights: jax.Array
    offset: jax.Array
    l2: jax.Array
    family: jg.Family


def _fit(t: Inputs) -> jg.GLMResult:
    return jg.fit(
        t.X, t.y, t.family, weights=t.weights, offset=t.offset, l2=t.l2, tol=FIT_TOL
    )


def _project(values, weights, size):
    if size:  # the sum of |terms|: the scale the statistic is known to
        return jnp.dot(jnp.abs(values), jnp.abs(weights))
    return jnp.dot(values, weights)


def statistics(case):
    """Scalar functions ``stat(res, size=False)`` of a result.

    With ``size=True`` each returns the magnitude of what it sums instead.
    """
    X_new = case.simulate(seed=1, n=N_NEW).X
    stats = {
        "coef": lambda res, size=False: _project(res.coef, COEF_WEIGHTS, size),
        "deviance": lambda res, size=False: res.deviance,  # >= 0: its own size
        "predict": lambda res, size=False: _project(
            jg.predict(res, X_new), PRED_WEIGHTS, size
        ),
        "se": lambda res, size=False: _project(res.se, SE_WEIGHTS, size),
        "aic": lambda res, size=False: jnp.abs(res.aic) if size else res.aic,
    }
    if case.family == "Tweedie":
        del stats["aic"]  # no closed-form likelihood: R's AIC is NA
    return stats


def values_and_grads(case):
    """inputs -> ({statistic: (value, gradient)}, the fit itself)."""
    stats = statistics(case)

    def run(t: Inputs):
        out = {}
        for name, stat in stats.items():
            out[name] = jax.value_and_grad(lambda t, stat=stat: stat(_fit(t)))(t)
        return out, _fit(t)

    return run


@functools.cache
def program(case):
    """``values_and_grads(case)`` compiled once per case."""
    return jax.jit(values_and_grads(case))


def inputs(case, seed=None) -> Inputs:
    d = case.simulate(seed=seed, n=N)
    y = d.y
    if case.family == "Binomial" and d.weights is None:
        y = (y + 0.25) / 1.5  # 0/1 -> 1/6, 5/6: room for y +- h
    return Inputs(
        X=jnp.asarray(d.X),
        y=jnp.asarray(y),
        weights=jnp.ones(N) if d.weights is None else jnp.asarray(d.weights),
        offset=jnp.zeros(N) if d.offset is None else jnp.asarray(d.offset),
        l2=jnp.asarray(L2),
        # Parameters as arrays, not Python floats: a shifted copy (an array) must
        # hit the same compiled program (a weak-typed float would not).
        family=jax.tree.map(jnp.asarray, case.jg_family()),
    )


def _zero_direction(t: Inputs) -> Inputs:
    return jax.tree.map(jnp.zeros_like, t)


def directions(case, t: Inputs) -> dict[str, Inputs]:
    """One direction per input, each scaled to the size of the values it moves."""
    rng = np.random.default_rng(7)
    zero = _zero_direction(t)

    def signed(shape):
        return rng.uniform(0.5, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)

    X, y = np.asarray(t.X), np.asarray(t.y)
    dX = signed(X.shape) * (np.abs(X) + 0.1)
    dX[:, 0] = 0.0  # keep the intercept column constant (see module docstring)
    interior = y > 0
    if case.family == "Binomial":
        interior &= y < 1
    dy = signed(y.shape) * np.where(interior, np.abs(y), 0.0)
    out = {
        "X": zero._replace(X=jnp.asarray(dX)),
        "y": zero._replace(y=jnp.asarray(dy)),
        "weights": zero._replace(
            weights=jnp.asarray(signed(N) * np.asarray(t.weights))
        ),
        "offset": zero._replace(offset=jnp.asarray(signed(N))),
        "l2": zero._replace(l2=jnp.asarray(L2)),
    }
    param = FAMILY_PARAM.get(case.family)
    if param is not None:
        value = getattr(t.family, param)
        out[param] = zero._replace(family=zero.family.replace(**{param: value}))
    return out


def _tree_dot(a, b):
    leaves = jax.tree.leaves(jax.tree.map(lambda u, v: jnp.sum(u * v), a, b))
    return float(sum(leaves))


def _shift(t: Inputs, v: Inputs, h: float) -> Inputs:
    return jax.tree.map(lambda a, b: a + h * b, t, v)


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.id for c in GRAD_CASES])
def test_grad_matches_finite_differences(case):
    t = inputs(case)
    run = program(case)
    out, res = run(t)
    assert int(res.status) == jg.Status.SUCCESS
    sizes = {
        name: float(stat(res, size=True)) for name, stat in statistics(case).items()
    }
    failures = []
    for input_name, v in directions(case, t).items():
        for step in STEPS:
            plus, res_plus = run(_shift(t, v, step))
            minus, res_minus = run(_shift(t, v, -step))
            if int(res_plus.n_iter) == int(res_minus.n_iter):
                break
        else:
            pytest.fail(f"{input_name}: re-fits never took equal iteration counts")
        assert int(res_plus.status) == int(res_minus.status) == jg.Status.SUCCESS
        for stat, (_, grad) in out.items():
            analytic = _tree_dot(grad, v)
            numeric = (float(plus[stat][0]) - float(minus[stat][0])) / (2 * step)
            allowed = RTOL * abs(numeric) + ATOL_FACTOR * sizes[stat]
            if not abs(analytic - numeric) <= allowed:
                error = abs(analytic - numeric) / abs(numeric)
                failures.append(
                    f"d {stat} / d {input_name}: grad {analytic:.12g} vs "
                    f"finite difference {numeric:.12g} (relative error {error:.2e})"
                )
    assert not failures, "\n".join(failures)


def test_family_parameter_gradient_is_not_trivial():
    # The family-parameter derivatives above are real: coef moves with alpha.
    case = _canonical("NegativeBinomial")
    out, _ = program(case)(inputs(case))
    assert abs(float(out["coef"][1].family.alpha)) > 1e-3
    assert abs(float(out["deviance"][1].family.alpha)) > 1e-3


# --------------------------------------------------------------------------------
# Gradients under vmap
# --------------------------------------------------------------------------------


def test_grad_under_vmap_equals_per_fit_grads():
    # A batch of NegativeBinomial fits: responses and alphas both vary.
    case = _canonical("NegativeBinomial")
    base = inputs(case)
    Y = jnp.stack([inputs(case, seed=s).y for s in (11, 12, 13)])
    alphas = jnp.asarray([0.3, 0.5, 1.2])
    batch = base._replace(y=Y, family=base.family.replace(alpha=alphas))
    axes = Inputs(None, 0, None, None, None, jax.tree.map(lambda _: 0, base.family))
    out, res = jax.jit(jax.vmap(values_and_grads(case), in_axes=(axes,)))(batch)
    for i in range(3):
        one = base._replace(y=Y[i], family=base.family.replace(alpha=alphas[i]))
        out_i, res_i = program(case)(one)
        # The fits run to the float64 tolerance floor, where whether one more
        # iteration is needed is decided by rounding, and a batched program
        # rounds differently from a single one (seen here: 8 vs 9 iterations);
        # the converged answers and their gradients must agree.
        assert int(res.status[i]) == int(res_i.status) == jg.Status.SUCCESS
        assert abs(int(res.n_iter[i]) - int(res_i.n_iter)) <= 1
        # one iteration more or less moves the answer by the truncation error
        # of the module docstring (up to ~1.5e-7 relative)
        rtol = 1e-9 if int(res.n_iter[i]) == int(res_i.n_iter) else 1e-6
        for stat in out_i:
            got = jax.tree.map(lambda a, i=i: a[i], out[stat])
            for a, b in zip(
                jax.tree.leaves(got), jax.tree.leaves(out_i[stat]), strict=True
            ):
                atol = max(1e-14, rtol * float(np.max(np.abs(b))))
                np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=stat)


# --------------------------------------------------------------------------------
# Second order: Hessian of the deviance in coef
# --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", TRULY_CANONICAL, ids=[c.id for c in TRULY_CANONICAL])
def test_hessian_of_deviance_is_twice_fisher_information(case):
    t = inputs(case)._replace(l2=jnp.asarray(0.0))  # the plain MLE; no recompile
    _, res = program(case)(t)
    assert int(res.status) == jg.Status.SUCCESS
    family = t.family

    def deviance(coef):
        mu = family.link.inverse(t.X @ coef + t.offset)
        return family.deviance(t.y, mu, t.weights)

    H = np.asarray(jax.hessian(deviance)(res.coef))
    # IRLS weights at the solution from independent numpy formulas.
    X, w = np.asarray(t.X), np.asarray(t.weights)
    eta = X @ np.asarray(res.coef) + np.asarray(t.offset)
    link = np_link(case.link)
    mu = link.inverse(eta)
    W = w * link.inverse_deriv(eta) ** 2 / np_variance(case.family, mu)
    expected = 2.0 * X.T @ (W[:, None] * X)
    np.testing.assert_allclose(
        H, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max()
    )
    # deviance = -2 loglik + const: its gradient at the MLE is -2 * score = 0.
    gradient = np.asarray(jax.grad(deviance)(res.coef))
    assert np.max(np.abs(gradient)) < 1e-6 * np.abs(expected).max()
