"""Fits sharded over several devices equal the same fits on one device.

Run on the devices the machine has (``jax.devices()``: several GPUs or TPUs, or
CPU devices a user asked JAX for), with nothing set by the test; on a machine
with one device there is nothing to shard and the two sharded tests skip.  They
fit

1. a batch of 64 Poisson fits (``jax.vmap(jg.fit)`` and ``jg.fit_many``) with the
   batch axis sharded over all devices, and
2. one Poisson fit of 65,536 rows with the rows sharded over the devices,

and compare each with the unsharded fit.  The arithmetic is the same up to the
order of sums over rows, so the tolerances are rounding-level: 1e-12 for the
batch (each fit runs whole on one device) and 1e-10 for the row-sharded fit
(the sums over rows meet in an all-reduce).  The row-sharded fit must also
really run sharded: its compiled program reduces across devices and never
gathers an n-row array onto one device.

Also checked here, on any machine: the blocked normal equations agree with the
direct formula whatever n is (they cut the rows into groups so that row shards
line up).
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import jaxglm as jg
from jaxglm import _linalg

DEVICES = jax.device_count()
several_devices = pytest.mark.skipif(
    DEVICES < 2 or 64 % DEVICES != 0,
    reason=f"sharding needs several devices dividing 64; this machine has {DEVICES}",
)


def _mesh(axis: str) -> Mesh:
    # GSPMD (Auto axes) partitions jg.fit as it is; see docs/guide/big-data.md.
    return Mesh(np.array(jax.devices()), (axis,), axis_types=(AxisType.Auto,))


FIELDS = ("coef", "se", "cov", "deviance", "null_deviance", "aic", "bic", "scale",
          "mu", "eta", "pvalues")  # fmt: skip
EXACT = ("n_iter", "status", "nobs", "rank")


def max_rel_diff(a, b) -> float:
    """Largest relative difference over FIELDS; inf if a count differs."""
    worst = 0.0
    for name in EXACT:
        if not np.array_equal(
            np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        ):
            return float("inf")
    for name in FIELDS:
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        diff = np.abs(x - y) / np.maximum(np.abs(y), 1.0)
        worst = max(worst, float(np.max(diff)))
    return worst


def spread(array) -> dict:
    """How a result array is laid out over the devices."""
    return {
        "devices": len(array.sharding.device_set),
        "replicated": bool(array.sharding.is_fully_replicated),
        "shard_shapes": sorted({tuple(s.data.shape) for s in array.addressable_shards}),
    }


def collectives(compiled_text: str, n: int) -> dict:
    """Collective ops in a compiled program; gathers of an n-row array counted."""
    ops = re.findall(r"= (\S+) (all-gather|all-reduce|collective-permute)(?:-start)?\(",
                     compiled_text)  # fmt: skip
    return {
        "all_reduce": sum(op == "all-reduce" for _, op in ops),
        "row_gathers": sum(
            op != "all-reduce" and re.match(rf"\w+\[{n}\b", shape) is not None
            for shape, op in ops
        ),
    }


def batch_of_fits(mesh) -> dict:
    """64 Poisson fits, each with its own design, sharded over the batch axis."""
    rng = np.random.default_rng(0)
    fits, n, p = 64, 200, 4
    X = np.concatenate(
        [np.ones((fits, n, 1)), rng.normal(scale=0.5, size=(fits, n, p - 1))], -1
    )
    coef = rng.normal(scale=0.3, size=(fits, p))
    Y = rng.poisson(np.exp(np.einsum("bnp,bp->bn", X, coef))).astype(float)
    fit = jax.jit(jax.vmap(lambda X, y: jg.fit(X, y, jg.Poisson())))
    batch = NamedSharding(mesh, P("batch"))
    sharded = fit(jax.device_put(X, batch), jax.device_put(Y, batch))
    single = fit(X, Y)

    shared_X = X[0]
    many_sharded = jg.fit_many(shared_X, jax.device_put(Y, batch), jg.Poisson())
    many_single = jg.fit_many(shared_X, Y, jg.Poisson())
    return {
        "vmap_diff": max_rel_diff(sharded, single),
        "vmap_layout": spread(sharded.coef),
        "vmap_status": int(np.sum(np.asarray(sharded.status) != 0)),
        "fit_many_diff": max_rel_diff(many_sharded, many_single),
        "fit_many_layout": spread(many_sharded.coef),
    }


def one_large_fit(mesh) -> dict:
    """One Poisson fit with an offset, its rows sharded over the devices."""
    rng = np.random.default_rng(1)
    n, p = 65536, 5
    X = np.column_stack([np.ones(n), rng.normal(scale=0.5, size=(n, p - 1))])
    offset = np.log(rng.uniform(1.0, 2.0, n))
    y = rng.poisson(np.exp(X @ [0.2, 0.3, -0.2, 0.1, 0.0] + offset)).astype(float)
    rows = NamedSharding(mesh, P("rows"))
    Xs, ys, offsets = (jax.device_put(a, rows) for a in (X, y, offset))

    fit = jax.jit(lambda X, y, o: jg.fit(X, y, jg.Poisson(), offset=o))
    compiled = fit.lower(Xs, ys, offsets).compile()
    sharded = compiled(Xs, ys, offsets)
    eager = jg.fit(Xs, ys, jg.Poisson(), offset=offsets)  # jg.fit's own jit
    single = jg.fit(X, y, jg.Poisson(), offset=offset)
    return {
        "rows_diff": max_rel_diff(sharded, single),
        "rows_eager_diff": max_rel_diff(eager, single),
        "rows_status": int(sharded.status),
        "rows_layout": spread(sharded.mu),
        "rows_eager_layout": spread(eager.mu),
        "rows_collectives": collectives(compiled.as_text(), n),
    }


@several_devices
def test_batch_sharded_over_devices_equals_single_device():
    sharded = batch_of_fits(_mesh("batch"))
    assert sharded["vmap_diff"] < 1e-12
    assert sharded["vmap_status"] == 0
    assert sharded["vmap_layout"] == {
        "devices": DEVICES, "replicated": False, "shard_shapes": [(64 // DEVICES, 4)],
    }  # fmt: skip
    assert sharded["fit_many_diff"] < 1e-12
    assert sharded["fit_many_layout"]["devices"] == DEVICES
    assert not sharded["fit_many_layout"]["replicated"]


@several_devices
def test_rows_sharded_over_devices_equals_single_device():
    sharded = one_large_fit(_mesh("rows"))
    assert sharded["rows_status"] == 0
    assert sharded["rows_diff"] < 1e-10
    assert sharded["rows_eager_diff"] < 1e-10
    expected = {
        "devices": DEVICES, "replicated": False, "shard_shapes": [(65536 // DEVICES,)],
    }  # fmt: skip
    for layout in (sharded["rows_layout"], sharded["rows_eager_layout"]):
        assert layout == expected
    # Really sharded: the sums over rows meet in all-reduces, and no array with
    # one entry per row is ever gathered onto a device.
    assert sharded["rows_collectives"]["all_reduce"] > 0
    assert sharded["rows_collectives"]["row_gathers"] == 0


@pytest.mark.parametrize("n", [16384, 16390, 16392, 20001, 65536])
def test_grouped_normal_equations_match_the_direct_formula(n):
    rng = np.random.default_rng(n)
    X = jnp.asarray(rng.normal(size=(n, 3)))
    weights = jnp.asarray(rng.uniform(0.0, 2.0, n))
    target = jnp.asarray(rng.normal(size=n))
    G, b = _linalg.normal_equations(X, weights, target)
    weighted = np.asarray(weights)[:, None] * np.asarray(X)
    np.testing.assert_allclose(G, np.asarray(X).T @ weighted, rtol=1e-12)
    np.testing.assert_allclose(b, weighted.T @ np.asarray(target), rtol=1e-12)
