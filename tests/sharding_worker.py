"""Run by ``test_sharding.py`` in a subprocess with 4 virtual CPU devices.

Prints one JSON line of measurements; the test makes the assertions.  Needs
``jax_num_cpu_devices`` = ``JAXGLM_TEST_CPU_DEVICES`` (4), set before JAX starts.
"""

from __future__ import annotations

import json
import os
import re
import sys

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_num_cpu_devices", int(os.environ["JAXGLM_TEST_CPU_DEVICES"]))
jax.config.update("jax_numpy_rank_promotion", "raise")
if os.environ.get("JAXGLM_TEST_CACHE_DIR"):
    jax.config.update("jax_compilation_cache_dir", os.environ["JAXGLM_TEST_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

import jaxglm as jg  # noqa: E402

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


def main() -> None:
    devices = np.array(jax.devices())
    assert devices.size == 4, f"expected 4 CPU devices, got {devices}"
    out = {}
    # GSPMD (Auto axes) partitions jg.fit as it is; see docs/guide/big-data.md.
    out.update(batch_of_fits(Mesh(devices, ("batch",), axis_types=(AxisType.Auto,))))
    out.update(one_large_fit(Mesh(devices, ("rows",), axis_types=(AxisType.Auto,))))
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
