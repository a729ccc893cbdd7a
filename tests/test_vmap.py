"""``jax.vmap`` over ``jg.fit``: a batch of fits equals a loop of solo fits.

Every batched fit is compared with the same fit run alone (eagerly), field by
field, at rtol 1e-10: the batch runs the same IRLS arithmetic, only vectorised, so
the two agree to rounding (matrix products batched differently differ in the last
bits).  Counts (``n_iter``, ``status``, ``nobs``, ...) must match exactly: each
fit keeps its own convergence, and a failing neighbour (separated data, all-zero
counts, NaN inputs) changes nothing for the others.

Shapes are fixed (n = 60, p = 4, batches of B = 5) and each batched program is a
module-level ``jax.jit`` of ``jax.vmap``, so it compiles once per family.  Solo
fits always pass explicit weights and offset arrays, so every solo fit of a family
shares one compiled program too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
from cases import CASES

N = 60
B = 5
FIT_TOL = 1e-10
RTOL = 1e-10
# Fields compared between a batched fit and its solo twin (family, l2 are inputs).
FIELDS = (
    "coef", "cov", "se", "z", "pvalues", "deviance", "null_deviance", "loglik",
    "aic", "bic", "scale", "df_resid", "df_model", "df_null", "nobs", "rank",
    "mu", "eta", "n_iter", "converged", "status", "aliased",
)  # fmt: skip
EXACT = ("df_resid", "df_model", "df_null", "nobs", "rank", "n_iter", "converged",
         "status", "aliased")  # fmt: skip
SUCCESS, SEPARATION, INVALID = (
    jg.Status.SUCCESS, jg.Status.SEPARATION, jg.Status.INVALID_INPUT,
)  # fmt: skip


def _case(case_id):
    return next(c for c in CASES if c.id == case_id)


POISSON = _case("Poisson-Log")  # simulated with an offset
BINOMIAL = _case("Binomial-Logit")
GAUSSIAN = _case("Gaussian-Identity")


def _fit(X, y, family, weights, offset):
    return jg.fit(X, y, family, weights=weights, offset=offset, tol=FIT_TOL)


def _solo(X, y, family, weights=None, offset=None):
    """One eager fit with explicit weights/offset (one compile per family)."""
    n = np.shape(y)[0]
    weights = np.ones(n) if weights is None else weights
    offset = np.zeros(n) if offset is None else offset
    return _fit(X, y, family, weights, offset)


def _solo_failing(X, y, family, offset=None):
    with pytest.warns(jg.ConvergenceWarning):
        return _solo(X, y, family, offset=offset)


def _take(res, i):
    return jax.tree.map(lambda leaf: leaf[i], res)


def assert_same_fit(batched, solo, what=""):
    """Every field of ``batched`` equals ``solo`` (rtol 1e-10; counts exactly)."""
    for name in FIELDS:
        actual = np.asarray(getattr(batched, name))
        expected = np.asarray(getattr(solo, name))
        assert actual.shape == expected.shape, f"{what}{name}: shape"
        if name in EXACT:
            np.testing.assert_array_equal(actual, expected, err_msg=f"{what}{name}")
        else:
            # atol for entries that are 0 in exact arithmetic (1e-15 noise).
            finite = np.abs(expected[np.isfinite(expected)])
            atol = 1e-12 * np.max(finite, initial=0.0)
            np.testing.assert_allclose(
                actual, expected, rtol=RTOL, atol=atol, err_msg=f"{what}{name}"
            )


def _datasets(case, first_seed):
    return [case.simulate(seed=seed, n=N) for seed in range(first_seed, first_seed + B)]


def _stack(datasets, field):
    return np.stack([getattr(d, field) for d in datasets])


# Batched programs, each compiled once per family for the whole module.
# Many responses, one shared design (X, weights and offset closed over).
_shared_design = jax.jit(jax.vmap(_fit, in_axes=(None, 0, None, None, None)))
# Everything per fit: designs, responses, weights, offsets.
_per_fit = jax.jit(jax.vmap(_fit, in_axes=(0, 0, None, 0, 0)))
# Shared design; per-fit responses, weights and offsets.  Also the reference for
# fit_many (a shared weight/offset is broadcast to (B, n) for it).
_per_fit_weights = jax.jit(jax.vmap(_fit, in_axes=(None, 0, None, 0, 0)))


# --------------------------------------------------------------------------------
# A batch equals a loop
# --------------------------------------------------------------------------------


def test_shared_design_many_responses():
    data = _datasets(POISSON, 0)
    X, offset, Y = data[0].X, data[0].offset, _stack(data, "y")
    family = POISSON.jg_family()
    res = _shared_design(X, Y, family, jnp.ones(N), jnp.asarray(offset))
    assert res.coef.shape == (B, 4) and res.mu.shape == (B, N)
    for i in range(B):
        solo = _solo(X, Y[i], family, offset=offset)
        assert_same_fit(_take(res, i), solo, f"fit {i}: ")
    assert np.ptp(np.asarray(res.coef[:, 1])) > 1e-3, "the fits should differ"


def test_many_designs_responses_weights_offsets():
    data = _datasets(POISSON, 10)
    weights_batch = np.random.default_rng(0).uniform(0.5, 2.0, size=(B, N))
    Xs, Y, offsets = _stack(data, "X"), _stack(data, "y"), _stack(data, "offset")
    family = POISSON.jg_family()
    res = _per_fit(Xs, Y, family, weights_batch, offsets)
    for i in range(B):
        solo = _solo(Xs[i], Y[i], family, weights=weights_batch[i], offset=offsets[i])
        assert_same_fit(_take(res, i), solo, f"fit {i}: ")


def test_shared_design_per_fit_weights_and_offsets():
    data = _datasets(POISSON, 20)
    X, Y = data[0].X, _stack(data, "y")
    rng = np.random.default_rng(1)
    weights_batch = rng.uniform(0.5, 2.0, size=(B, N))
    weights_batch[1, :5] = 0.0  # zero-weight rows leave this fit only
    offsets = rng.normal(scale=0.3, size=(B, N))
    family = POISSON.jg_family()
    res = _per_fit_weights(X, Y, family, weights_batch, offsets)
    np.testing.assert_array_equal(res.nobs, [N, N - 5, N, N, N])
    for i in range(B):
        solo = _solo(X, Y[i], family, weights=weights_batch[i], offset=offsets[i])
        assert_same_fit(_take(res, i), solo, f"fit {i}: ")


@pytest.mark.parametrize(
    ("case_id", "name", "values"),
    [
        ("NegativeBinomial-Log", "alpha", (0.1, 0.3, 0.5, 1.0, 2.0)),
        ("Tweedie-Log", "power", (1.1, 1.3, 1.5, 1.7, 1.9)),
    ],
    ids=["NegativeBinomial-alpha", "Tweedie-power"],
)
def test_batch_of_family_parameters(case_id, name, values):
    case = _case(case_id)
    d = case.simulate(n=N)
    weights = jnp.ones(N)
    offset = jnp.zeros(N) if d.offset is None else jnp.asarray(d.offset)
    families = case.jg_family(**{name: jnp.asarray(values)})
    in_axes = jax.tree.map(lambda _: 0, families)  # every parameter leaf batched
    fit_all = jax.vmap(lambda fam: _fit(d.X, d.y, fam, weights, offset), (in_axes,))
    res = jax.jit(fit_all)(families)
    np.testing.assert_array_equal(getattr(res.family, name), values)
    for i, value in enumerate(values):
        solo = _solo(d.X, d.y, case.jg_family(**{name: value}), offset=offset)
        assert_same_fit(_take(res, i), solo, f"{name}={value}: ")
    # Each fit keeps its own iteration count; here they differ across the batch.
    assert len(set(np.asarray(res.n_iter).tolist())) > 1


def test_iteration_counts_are_per_fit():
    # Responses at their fitted means converge at once, scrambled ones slowly: the
    # batch reports each fit's own count, not the batch maximum.
    data = _datasets(POISSON, 30)
    d = data[0]
    exact = np.exp(d.X @ d.coef + d.offset)
    Y = np.stack(
        [exact, d.y, 4.0 * d.y * (np.arange(N) % 2), data[1].y, np.round(exact)]
    )
    family = POISSON.jg_family()
    res = _shared_design(d.X, Y, family, jnp.ones(N), jnp.asarray(d.offset))
    solo_counts = [int(_solo(d.X, y, family, offset=d.offset).n_iter) for y in Y]
    np.testing.assert_array_equal(res.n_iter, solo_counts)
    assert len(set(solo_counts)) > 2, solo_counts


# --------------------------------------------------------------------------------
# Bad fits in a batch: their own status, neighbours untouched
# --------------------------------------------------------------------------------


def test_bad_binomial_fits_do_not_disturb_neighbours():
    data = _datasets(BINOMIAL, 40)
    X = data[0].X
    separated = (X[:, 1] > 0).astype(np.float64)  # y decided by x1: MLE at infinity
    with_nan = data[1].y.copy()
    with_nan[7] = np.nan
    Y = np.stack([data[0].y, separated, with_nan, data[3].y, data[4].y])
    family = BINOMIAL.jg_family()
    res = _shared_design(X, Y, family, jnp.ones(N), jnp.zeros(N))

    np.testing.assert_array_equal(
        res.status, [SUCCESS, SEPARATION, INVALID, SUCCESS, SUCCESS]
    )
    np.testing.assert_array_equal(res.converged, [True, False, False, True, True])
    assert np.all(np.isnan(res.coef[2])), "an invalid fit reports NaN coefficients"
    assert int(res.n_iter[2]) == 0, "an invalid fit must stop at once"
    for i in (0, 3, 4):
        assert_same_fit(_take(res, i), _solo(X, Y[i], family), f"fit {i}: ")
    # The separated fit fails the same way alone (and, being eager, warns).
    solo = _solo_failing(X, separated, family)
    assert int(solo.status) == SEPARATION
    assert int(solo.n_iter) == int(res.n_iter[1])
    np.testing.assert_allclose(res.coef[1], solo.coef, rtol=1e-8)
    # Eagerly, the NaN response is rejected before fitting.
    with pytest.raises(ValueError, match="NaN"):
        _solo(X, with_nan, family)


def test_bad_poisson_fits_do_not_disturb_neighbours():
    data = _datasets(POISSON, 50)
    X, offset = data[0].X, data[0].offset
    with_nan = data[2].y.copy()
    with_nan[3] = np.nan
    Y = np.stack([data[0].y, np.zeros(N), data[1].y, with_nan, data[4].y])
    family = POISSON.jg_family()
    res = _shared_design(X, Y, family, jnp.ones(N), jnp.asarray(offset))

    # All-zero counts: the intercept runs off to -infinity (mu -> 0, the edge).
    np.testing.assert_array_equal(
        res.status, [SUCCESS, SEPARATION, SUCCESS, INVALID, SUCCESS]
    )
    assert np.all(np.isnan(res.coef[3]))
    for i in (0, 2, 4):
        solo = _solo(X, Y[i], family, offset=offset)
        assert_same_fit(_take(res, i), solo, f"fit {i}: ")
    solo = _solo_failing(X, Y[1], family, offset=offset)
    assert int(solo.status) == SEPARATION
    assert int(solo.n_iter) == int(res.n_iter[1])


def test_nan_in_design_weights_offset_inside_vmap():
    data = _datasets(POISSON, 60)
    Xs, Y, offsets = _stack(data, "X"), _stack(data, "y"), _stack(data, "offset")
    weights_batch = np.ones((B, N))
    Xs[1, 4, 2] = np.nan
    weights_batch[2, 9] = np.nan
    offsets[3, 0] = np.inf
    weights_batch[4, 0] = -1.0  # negative weight: invalid too
    family = POISSON.jg_family()
    res = _per_fit(Xs, Y, family, weights_batch, offsets)
    np.testing.assert_array_equal(res.status, [SUCCESS] + [INVALID] * 4)
    solo = _solo(Xs[0], Y[0], family, offset=offsets[0])
    assert_same_fit(_take(res, 0), solo, "fit 0: ")
    with pytest.raises(RuntimeError, match=r"index 1: INVALID_INPUT"):
        jg.check(res)


# --------------------------------------------------------------------------------
# jg.fit_many = vmap of jg.fit
# --------------------------------------------------------------------------------


def _many_inputs(case, mode, seed):
    """Design, (B, n) responses, weights/offsets absent, shared or per response."""
    data = _datasets(case, seed)
    rng = np.random.default_rng(seed)
    per_row_weights = mode == "per_response"
    per_row_offset = mode in ("per_response", "per_response_offset")
    weights = rng.uniform(0.5, 2.0, size=(B, N) if per_row_weights else N)
    offset = rng.normal(scale=0.2, size=(B, N) if per_row_offset else N)
    if mode == "none":
        weights = offset = None
    return data[0].X, _stack(data, "y"), weights, offset


@pytest.mark.parametrize(
    ("case_id", "mode"),
    [
        ("Poisson-Log", "shared"),
        ("Poisson-Log", "per_response"),
        ("Poisson-Log", "per_response_offset"),
        ("Gaussian-Identity", "none"),
        ("Gaussian-Identity", "shared"),
        ("Gaussian-Identity", "per_response"),
        ("Gaussian-Identity", "per_response_offset"),
    ],
)
def test_fit_many_equals_vmap_of_fit(case_id, mode):
    # Gaussian/identity with shared weights takes fit_many's one-factorisation
    # fast path; these cases (no offset, shared offset, per-response offsets)
    # once failed to broadcast the offset there.
    fast_path = case_id == "Gaussian-Identity" and mode != "per_response"
    case = _case(case_id)
    X, Y, weights, offset = _many_inputs(case, mode, seed=70)
    family = case.jg_family()
    res = jg.fit_many(X, Y, family, weights=weights, offset=offset, tol=FIT_TOL)
    ref = _per_fit_weights(
        X,
        Y,
        family,
        np.broadcast_to(1.0 if weights is None else weights, (B, N)),
        np.broadcast_to(0.0 if offset is None else offset, (B, N)),
    )
    assert res.coef.shape == (B, X.shape[1])
    for i in range(B):
        ours, theirs = _take(res, i), _take(ref, i)
        if fast_path:
            # One solve and nothing to iterate: the fast path reports n_iter = 1.
            np.testing.assert_array_equal(ours.n_iter, 1)
            ours = ours.replace(n_iter=theirs.n_iter)
        assert_same_fit(ours, theirs, f"response {i}: ")
