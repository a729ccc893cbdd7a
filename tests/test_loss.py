"""``jg.loss``: the half deviance of a GLM as a function of the linear predictor."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxglm as jg
from cases import CASES, case_ids

L = jg.links
EXTREME = (-1000.0, -50.0, 50.0, 1000.0)


def _mean_half_deviance(family, eta, y, weights=None):
    eta = jnp.asarray(eta)
    w = jnp.ones_like(eta) if weights is None else jnp.asarray(weights)
    mu = family.link.inverse(eta)
    return family.deviance(jnp.asarray(y), mu, w) / (2 * eta.shape[0])


def _true_eta(case, sim):
    eta = sim.X @ sim.coef
    return eta if sim.offset is None else eta + sim.offset


# --- equal to family.deviance / (2 n) ---------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_equals_deviance_over_2n(case):
    sim = case.simulate()
    family = case.jg_family()
    eta = _true_eta(case, sim)
    weights = sim.weights
    expected = _mean_half_deviance(family, eta, sim.y, weights)  # / n, not / sum(w)
    got = jg.loss(family, eta, sim.y, weights)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def _positive_y(rng, n):
    return rng.gamma(3.0, 1.0, size=n)


@pytest.mark.parametrize("power", [0.0, 1.0, 1.2, 1.5, 1.8, 2.0, 2.5, 3.0, 4.0])
@pytest.mark.parametrize("link", [L.Log(), L.Identity(), L.Power(p=0.5)])
def test_tweedie_powers_equal_deviance(power, link):
    rng = np.random.default_rng(int(power * 10))
    n = 60
    eta = rng.uniform(0.3, 1.5, size=n)
    y = _positive_y(rng, n)
    if 1.0 <= power < 2.0:
        y[::4] = 0.0  # the compound Poisson-gamma point mass
    family = jg.Tweedie(power=power, link=link)
    w = rng.uniform(0.0, 2.0, size=n)
    np.testing.assert_allclose(
        jg.loss(family, eta, y, w),
        _mean_half_deviance(family, eta, y, w),
        rtol=1e-10,
    )


@pytest.mark.parametrize(
    "family",
    [
        jg.Binomial(link=L.Logit()),
        jg.Binomial(link=L.Probit()),
        jg.Binomial(link=L.CLogLog()),
        jg.Binomial(link=L.LogLog()),
        jg.Binomial(link=L.Cauchit()),
        jg.Gaussian(link=L.Log()),
        jg.Poisson(link=L.Sqrt()),
        jg.Gamma(link=L.InverseSquared()),
        jg.NegativeBinomial(alpha=0.01, link=L.Log()),
        jg.NegativeBinomial(alpha=3.0, link=L.Power(p=0.5)),
        jg.InverseGaussian(link=L.Sqrt()),
    ],
    ids=lambda f: f"{type(f).__name__}-{type(f.link).__name__}",
)
def test_more_pairs_equal_deviance_with_weights(family):
    rng = np.random.default_rng(7)
    n = 80
    if family.mean_support == "unit":
        # |eta| <= 1.5: beyond, 1 - mu computed from mu (the reference) loses digits
        eta = rng.uniform(-1.5, 1.5, size=n)
        y = rng.integers(0, 11, size=n) / 10.0  # includes 0 and 1
    else:
        eta = rng.uniform(0.2, 2.0, size=n)
        y = _positive_y(rng, n)
        if isinstance(family, jg.Poisson | jg.NegativeBinomial):
            y = np.floor(y)
    w = rng.uniform(0.0, 3.0, size=n)
    w[:5] = 0.0
    np.testing.assert_allclose(
        jg.loss(family, eta, y, w), _mean_half_deviance(family, eta, y, w), rtol=1e-10
    )


def test_more_accurate_than_going_through_mu():
    # -log(1 - mu) = exp(eta) for CLogLog, where 1 - mu = 2e-9 has lost 8 digits.
    eta, y = jnp.array([3.0]), jnp.array([0.0])
    binomial = jg.Binomial(link=L.CLogLog())
    np.testing.assert_allclose(jg.loss(binomial, eta, y), np.exp(3.0), rtol=1e-15)
    np.testing.assert_allclose(
        jg.loss(jg.Binomial(link=L.LogLog()), -eta, 1.0 - y), np.exp(3.0), rtol=1e-15
    )


def test_zero_weight_rows_add_nothing_even_when_undefined():
    family = jg.Poisson(link=L.Identity())
    eta = jnp.array([1.0, -2.0, 3.0])  # mu = -2 is outside the support
    y = jnp.array([1.0, 2.0, 2.0])
    value = jg.loss(family, eta, y, jnp.array([1.0, 0.0, 1.0]))
    assert np.isfinite(value)
    assert np.isnan(jg.loss(family, eta, y))


def test_user_family_and_link_fall_back_to_unit_deviance():
    class Scaled(jg.Family):
        link: L.Link | None = None

        def unit_deviance(self, y, mu):
            return 3.0 * (y - mu) ** 2

    class Softplus(L.Link):
        mean_range = "positive"

        def inverse(self, eta):
            return jax.nn.softplus(eta)

    class Doubled(jg.Poisson):
        def unit_deviance(self, y, mu):
            return 2.0 * super().unit_deviance(y, mu)

    rng = np.random.default_rng(3)
    eta = rng.normal(size=20)
    y = rng.poisson(2.0, size=20).astype(float)
    np.testing.assert_allclose(
        jg.loss(Scaled(), eta, y), np.mean(1.5 * (y - eta) ** 2), rtol=1e-12
    )
    for family in (jg.Poisson(link=Softplus()), jg.NegativeBinomial(link=Softplus())):
        np.testing.assert_allclose(
            jg.loss(family, eta, y), _mean_half_deviance(family, eta, y), rtol=1e-10
        )
    np.testing.assert_allclose(
        jg.loss(Doubled(), eta, y), 2.0 * jg.loss(jg.Poisson(), eta, y), rtol=1e-12
    )


# --- against optax -----------------------------------------------------------------


def _xlogx(v):
    return np.where(v > 0, v * np.log(np.where(v > 0, v, 1.0)), 0.0)


@pytest.mark.parametrize("fractional", [False, True])
def test_binomial_logit_is_sigmoid_cross_entropy(fractional):
    rng = np.random.default_rng(0)
    eta = np.concatenate([[-1000.0, -50.0, 0.0, 50.0, 1000.0], rng.normal(0, 4, 45)])
    if fractional:
        y = rng.uniform(size=eta.size)
    else:
        y = rng.integers(0, 2, size=eta.size).astype(float)

    def bce(e):
        return jnp.mean(optax.sigmoid_binary_cross_entropy(e, y))

    saturated = np.mean(_xlogx(y) + _xlogx(1.0 - y))
    ours = jg.loss(jg.Binomial(), eta, y)
    np.testing.assert_allclose(ours, bce(eta) + saturated, rtol=1e-12)
    grad = jax.grad(lambda e: jg.loss(jg.Binomial(), e, y))(jnp.asarray(eta))
    np.testing.assert_allclose(grad, jax.grad(bce)(jnp.asarray(eta)), atol=1e-15)


def test_multinomial_labels_is_softmax_cross_entropy():
    rng = np.random.default_rng(1)
    n, k = 40, 4
    logits = rng.normal(0, 3, size=(n, k))
    logits[0] = [1000.0, -1000.0, 50.0, 0.0]
    labels = rng.integers(0, k, size=n)

    def ce(z):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(z, labels))

    full = jnp.asarray(logits)
    np.testing.assert_allclose(jg.loss(jg.Multinomial(), full, labels), ce(full))
    np.testing.assert_allclose(
        jax.grad(lambda z: jg.loss(jg.Multinomial(), z, labels))(full),
        jax.grad(ce)(full),
        atol=1e-15,
    )
    # baseline logits: class 0 is the reference, a zero column prepended
    base = full[:, 1:]
    with_zero = jnp.concatenate([jnp.zeros((n, 1)), base], axis=1)
    family = jg.Multinomial(n_classes=k)
    np.testing.assert_allclose(jg.loss(family, base, labels), ce(with_zero))
    np.testing.assert_allclose(jg.loss(family, full, labels), ce(full))
    np.testing.assert_allclose(
        jax.grad(lambda z: jg.loss(family, z, labels))(base),
        jax.grad(ce)(with_zero)[:, 1:],
        atol=1e-15,
    )


def test_multinomial_probabilities_is_softmax_cross_entropy():
    rng = np.random.default_rng(2)
    n, k = 30, 3
    logits = jnp.asarray(rng.normal(0, 2, size=(n, k)))
    probs = rng.dirichlet(np.ones(k), size=n)
    probs[0] = [0.0, 1.0, 0.0]
    w = rng.uniform(0.5, 2.0, size=n)
    expected = jnp.mean(w * optax.softmax_cross_entropy(logits, probs))
    np.testing.assert_allclose(jg.loss(jg.Multinomial(), logits, probs, w), expected)
    base = logits[:, 1:] - logits[:, :1]  # the same probabilities as baselines
    np.testing.assert_allclose(jg.loss(jg.Multinomial(), base, probs, w), expected)
    counts = rng.multinomial(5, np.ones(k) / k, size=n)
    np.testing.assert_allclose(
        jg.loss(jg.Multinomial(), logits, counts),
        jnp.mean(optax.softmax_cross_entropy(logits, counts.astype(float))),
    )


def test_multinomial_two_classes_is_binomial_logit():
    rng = np.random.default_rng(4)
    eta = rng.normal(0, 3, size=25)
    labels = rng.integers(0, 2, size=25)
    np.testing.assert_allclose(
        jg.loss(jg.Multinomial(n_classes=2), eta[:, None], labels),
        jg.loss(jg.Binomial(), eta, labels.astype(float)),
        rtol=1e-12,
    )


def test_poisson_log_is_poisson_nll():
    # optax (0.2.x) has no Poisson loss: compare with its closed form exp(eta) - y eta.
    rng = np.random.default_rng(5)
    eta = rng.normal(0, 3, size=50)
    y = rng.poisson(3.0, size=50).astype(float)

    def nll(e):
        return jnp.mean(jnp.exp(e) - y * e)

    saturated = np.mean(_xlogx(y) - y)
    np.testing.assert_allclose(
        jg.loss(jg.Poisson(), eta, y), nll(eta) + saturated, rtol=1e-12
    )
    e = jnp.asarray(eta)
    np.testing.assert_allclose(
        jax.grad(lambda v: jg.loss(jg.Poisson(), v, y))(e), jax.grad(nll)(e)
    )


# --- gradients against finite differences -----------------------------------------

FD_FAMILIES = [
    jg.Binomial(link=L.CLogLog()),
    jg.Binomial(link=L.Cauchit()),
    jg.Gamma(link=L.Log()),
    jg.NegativeBinomial(alpha=0.5),
    jg.Tweedie(power=1.5),
    jg.Tweedie(power=3.0),
    jg.InverseGaussian(link=L.Log()),
]


@pytest.mark.parametrize(
    "family", FD_FAMILIES, ids=lambda f: f"{f.name}-{type(f.link).__name__}"
)
@pytest.mark.parametrize("center", [0.5, 300.0, -300.0])
def test_gradient_matches_finite_differences(family, center):
    # center +-300 is beyond the float64 cut (about 177): the continuation's slope.
    rng = np.random.default_rng(6)
    n = 12
    eta = jnp.asarray(center + rng.normal(size=n))
    y = rng.uniform(0.0, 1.0, size=n) if family.mean_support == "unit" else None
    if y is None:
        y = rng.gamma(2.0, 1.0, size=n)
    direction = jnp.asarray(rng.normal(size=n))
    h = 1e-6 * max(1.0, abs(center))

    def f(e):
        return jg.loss(family, e, y)

    fd = (f(eta + h * direction) - f(eta - h * direction)) / (2 * h)
    slope = jnp.dot(jax.grad(f)(eta), direction)
    np.testing.assert_allclose(slope, fd, rtol=1e-6, atol=1e-9)  # flat tails: ~0


def test_multinomial_gradient_matches_finite_differences():
    rng = np.random.default_rng(8)
    eta = jnp.asarray(rng.normal(size=(10, 3)))
    y = rng.integers(0, 4, size=10)
    direction = jnp.asarray(rng.normal(size=(10, 3)))
    family = jg.Multinomial(n_classes=4)

    def f(e):
        return jg.loss(family, e, y)

    h = 1e-6
    fd = (f(eta + h * direction) - f(eta - h * direction)) / (2 * h)
    np.testing.assert_allclose(jnp.sum(jax.grad(f)(eta) * direction), fd, rtol=1e-7)


# --- finite everywhere the link reaches the support ---------------------------------

STABLE = [
    (jg.Binomial(link=L.Logit()), [0.0, 0.3, 1.0]),
    (jg.Binomial(link=L.Probit()), [0.0, 0.3, 1.0]),
    (jg.Binomial(link=L.CLogLog()), [0.0, 0.3, 1.0]),
    (jg.Binomial(link=L.LogLog()), [0.0, 0.3, 1.0]),
    (jg.Binomial(link=L.Cauchit()), [0.0, 0.3, 1.0]),
    (jg.Poisson(), [0.0, 1.0, 7.0]),
    (jg.Poisson(link=L.Sqrt()), [0.0, 1.0, 7.0]),
    (jg.Gamma(link=L.Log()), [0.1, 1.0, 30.0]),
    (jg.InverseGaussian(link=L.Log()), [0.1, 1.0, 30.0]),
    (jg.NegativeBinomial(alpha=0.5), [0.0, 1.0, 7.0]),
    (jg.NegativeBinomial(alpha=1e-3), [0.0, 1.0, 7.0]),
    (jg.Tweedie(power=1.5), [0.0, 1.0, 7.0]),
    (jg.Tweedie(power=1.0), [0.0, 1.0, 7.0]),
    (jg.Tweedie(power=2.0), [0.1, 1.0, 7.0]),
    (jg.Tweedie(power=3.0), [0.1, 1.0, 7.0]),
    (jg.Tweedie(power=0.0), [-2.0, 0.0, 7.0]),
    (jg.Gaussian(), [-2.0, 0.0, 7.0]),
    (jg.Gaussian(link=L.Log()), [0.1, 1.0, 7.0]),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("family", "ys"),
    STABLE,
    ids=[f"{f.name}-{type(f.link).__name__}-{i}" for i, (f, _) in enumerate(STABLE)],
)
def test_finite_at_extreme_eta(family, ys, dtype):
    y = jnp.asarray(ys, dtype)
    values = {}
    for value in EXTREME:
        eta = jnp.full(y.shape, value, dtype)
        loss, grad = jax.value_and_grad(lambda e: jg.loss(family, e, y))(eta)
        assert loss.dtype == grad.dtype == jnp.dtype(dtype)
        assert np.isfinite(loss), (value, loss)
        assert np.all(np.isfinite(grad)), (value, grad)
        assert loss >= 0.0
        values[value] = float(loss)
    # the continuation keeps growing outwards: no tail turns back down
    assert values[1000.0] >= values[50.0] and values[-1000.0] >= values[-50.0]


def test_exact_below_the_cut_and_continued_beyond():
    y = jnp.array([2.0])
    poisson = jg.Poisson()
    np.testing.assert_allclose(
        jg.loss(poisson, jnp.array([150.0]), y),
        np.exp(150.0) - 2.0 * 150.0 + 2.0 * np.log(2.0) - 2.0,
        rtol=1e-12,
    )
    cut = np.log(np.finfo(np.float64).max) / 4
    d = 1000.0 - cut
    continued = np.exp(cut) * (1 + d + d * d / 2)
    np.testing.assert_allclose(
        jg.loss(poisson, jnp.array([1000.0]), y), continued, rtol=1e-12
    )


# --- transforms and dtypes ---------------------------------------------------------


def test_jit_and_vmap_over_eta():
    rng = np.random.default_rng(9)
    etas = jnp.asarray(rng.normal(size=(5, 16)))
    y = jnp.asarray(rng.poisson(1.0, size=16).astype(float))
    family = jg.NegativeBinomial(alpha=0.7)
    loop = jnp.stack([jg.loss(family, e, y) for e in etas])
    batched = jax.vmap(lambda e: jg.loss(family, e, y))(etas)
    np.testing.assert_allclose(batched, loop, rtol=1e-13)
    np.testing.assert_allclose(jax.jit(jg.loss)(family, etas[0], y), loop[0])
    grads = jax.jit(jax.vmap(jax.grad(lambda e: jg.loss(family, e, y))))(etas)
    assert grads.shape == etas.shape and np.all(np.isfinite(grads))
    # a batch of families (alpha is a leaf) in one call
    fams = jg.NegativeBinomial(alpha=jnp.array([0.2, 0.7, 2.0]))
    per_family = jax.vmap(lambda f: jg.loss(f, etas[0], y))(fams)
    np.testing.assert_allclose(per_family[1], loop[0], rtol=1e-13)


def test_multinomial_under_jit_and_vmap():
    rng = np.random.default_rng(10)
    logits = jnp.asarray(rng.normal(size=(4, 8, 3)))
    labels = jnp.asarray(rng.integers(0, 3, size=8))
    family = jg.Multinomial()
    batched = jax.jit(jax.vmap(lambda z: jg.loss(family, z, labels)))(logits)
    loop = jnp.stack([jg.loss(family, z, labels) for z in logits])
    np.testing.assert_allclose(batched, loop, rtol=1e-13)


@pytest.mark.parametrize(
    "family", [jg.Binomial(), jg.Poisson(), jg.Tweedie(), jg.Gamma(link=L.Log())]
)
def test_float32_in_float32_out(family):
    y = np.array([0.5, 1.0, 0.25])
    with jax.enable_x64(False):
        eta = jnp.array([0.1, -0.4, 1.2], jnp.float32)
        value = jax.jit(jg.loss)(family, eta, y, np.ones(3))
        grad = jax.grad(lambda e: jg.loss(family, e, y))(eta)
        assert value.dtype == grad.dtype == jnp.float32
    eta32 = jnp.array([0.1, -0.4, 1.2], jnp.float32)
    assert jg.loss(family, eta32, y).dtype == jnp.float32  # also with x64 on
    np.testing.assert_allclose(
        jg.loss(family, eta32, y), jg.loss(family, eta32.astype(float), y), rtol=1e-5
    )
    labels = jnp.array([0, 2, 1])
    multinomial = jg.loss(jg.Multinomial(), jnp.zeros((3, 3), jnp.float32), labels)
    assert multinomial.dtype == jnp.float32


def test_extra_response_dimensions_are_summed_per_row():
    rng = np.random.default_rng(11)
    eta = rng.normal(size=(10, 2))
    y = rng.poisson(1.0, size=(10, 2)).astype(float)
    w = rng.uniform(size=10)
    both = jg.loss(jg.Poisson(), eta[:, 0], y[:, 0], w) + jg.loss(
        jg.Poisson(), eta[:, 1], y[:, 1], w
    )
    np.testing.assert_allclose(jg.loss(jg.Poisson(), eta, y, w), both, rtol=1e-13)


# --- bad input ----------------------------------------------------------------------


def test_family_must_be_an_instance():
    eta, y = jnp.zeros(3), jnp.ones(3)
    with pytest.raises(TypeError, match="instance"):
        jg.loss(jg.Poisson, eta, y)
    with pytest.raises(TypeError, match="jaxglm family"):
        jg.loss(42, eta, y)
    assert jg.loss("poisson", eta, y) == jg.loss(jg.Poisson(), eta, y)
    with pytest.raises(ValueError, match="not a known family"):
        jg.loss("poison", eta, y)


def test_eta_must_be_floating():
    with pytest.raises(TypeError, match="eta has dtype int"):
        jg.loss(jg.Poisson(), jnp.arange(3), jnp.ones(3))


@pytest.mark.parametrize("jit", [False, True])
def test_shape_mismatches_name_the_argument(jit):
    def call(*args):
        fn = jax.jit(jg.loss) if jit else jg.loss
        return fn(*args)

    with pytest.raises(ValueError, match="y has shape"):
        call(jg.Poisson(), jnp.zeros(3), jnp.ones(4))
    with pytest.raises(ValueError, match="weights has shape"):
        call(jg.Poisson(), jnp.zeros(3), jnp.ones(3), jnp.ones(2))
    with pytest.raises(ValueError, match="eta is a scalar"):
        call(jg.Poisson(), jnp.zeros(()), jnp.ones(()))
    with pytest.raises(ValueError, match="Multinomial needs"):
        call(jg.Multinomial(), jnp.zeros(3), jnp.array([0, 1, 2]))
    with pytest.raises(ValueError, match="eta has 5 columns"):
        call(jg.Multinomial(n_classes=3), jnp.zeros((4, 5)), jnp.zeros(4, jnp.int32))
    with pytest.raises(ValueError, match="eta has 1 columns"):
        call(jg.Multinomial(), jnp.zeros((4, 1)), jnp.ones((4, 3)))
    with pytest.raises(ValueError, match="n_classes=3"):
        call(jg.Multinomial(n_classes=3), jnp.zeros((4, 3)), jnp.ones((4, 4)))
    with pytest.raises(ValueError, match="eta has 4 rows"):
        call(jg.Multinomial(), jnp.zeros((4, 3)), jnp.zeros(5, jnp.int32))
