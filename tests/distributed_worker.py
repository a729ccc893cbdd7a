"""One of two processes run by ``test_distributed.py``: ``jax.distributed`` on CPU.

Usage: ``python distributed_worker.py PROCESS_ID NUM_PROCESSES PORT``.  Each
process owns one CPU device and half of the data; the fits span both
processes (CPU collectives through gloo, jax's default).  Every process also
fits its own copy of all the data on its local device, for comparison, and
prints one JSON line of measurements; the test makes the assertions.
"""

from __future__ import annotations

import json
import os
import sys

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

FIELDS = ("coef", "se", "deviance", "null_deviance", "aic", "scale")


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1.0)))


def local_part(array, mine: slice) -> np.ndarray:
    """This process's rows of a global array, split or replicated."""
    if array.is_fully_replicated:  # small outputs may be gathered everywhere
        return np.asarray(array.addressable_shards[0].data)[mine]
    shards = sorted(array.addressable_shards, key=lambda s: s.index[0].start or 0)
    return np.concatenate([np.asarray(s.data) for s in shards])


def main(process_id: int, num_processes: int, port: int) -> None:
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=120,
    )
    jax.config.update("jax_enable_x64", True)
    if os.environ.get("JAXGLM_TEST_CACHE_DIR"):
        cache = os.environ["JAXGLM_TEST_CACHE_DIR"]
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    import jaxglm as jg

    devices = np.array(jax.devices())
    assert devices.size == num_processes, devices
    mesh = Mesh(devices, ("data",), axis_types=(AxisType.Auto,))
    sharded = NamedSharding(mesh, P("data"))
    out = {"process_index": jax.process_index()}

    # 1. A batch of fits, each process holding half of them.
    rng = np.random.default_rng(0)  # every process makes the same data
    fits, n, p = 4 * num_processes, 200, 3
    X = np.concatenate(
        [np.ones((fits, n, 1)), rng.normal(scale=0.5, size=(fits, n, p - 1))], -1
    )
    coef = rng.normal(scale=0.3, size=(fits, p))
    Y = rng.poisson(np.exp(np.einsum("bnp,bp->bn", X, coef))).astype(float)
    mine = slice(4 * process_id, 4 * (process_id + 1))
    fit_batch = jax.jit(jax.vmap(lambda X, y: jg.fit(X, y, jg.Poisson())))
    res = fit_batch(
        jax.make_array_from_process_local_data(sharded, X[mine]),
        jax.make_array_from_process_local_data(sharded, Y[mine]),
    )
    alone = fit_batch(X[mine], Y[mine])  # this process's fits, on its own device
    out["batch_diff"] = max(
        rel_diff(local_part(getattr(res, name), mine), getattr(alone, name))
        for name in FIELDS
    )
    out["batch_shape"] = list(res.coef.shape)
    out["batch_coef_shards"] = [list(s.data.shape) for s in res.coef.addressable_shards]

    # 2. One fit, each process holding half of the rows.
    rng = np.random.default_rng(1)
    n = 16384 * num_processes
    X = np.column_stack([np.ones(n), rng.normal(scale=0.5, size=(n, 3))])
    offset = np.log(rng.uniform(1.0, 2.0, n))
    y = rng.poisson(np.exp(X @ [0.2, 0.3, -0.2, 0.1] + offset)).astype(float)
    rows = slice(n // num_processes * process_id, n // num_processes * (process_id + 1))
    Xg, yg, og = (
        jax.make_array_from_process_local_data(sharded, a[rows]) for a in (X, y, offset)
    )
    res = jax.jit(lambda X, y, o: jg.fit(X, y, jg.Poisson(), offset=o))(Xg, yg, og)
    eager = jg.fit(Xg, yg, jg.Poisson(), offset=og)  # no outer jit needed
    whole = jg.fit(X, y, jg.Poisson(), offset=offset)  # all rows, one process
    out["rows_diff"] = max(rel_diff(getattr(res, f), getattr(whole, f)) for f in FIELDS)
    out["rows_eager_diff"] = max(
        rel_diff(getattr(eager, f), getattr(whole, f)) for f in FIELDS
    )
    out["rows_mu_diff"] = rel_diff(local_part(res.mu, rows), np.asarray(whole.mu)[rows])
    out["rows_status"] = int(res.status)
    out["rows_mu_shards"] = [list(s.data.shape) for s in res.mu.addressable_shards]
    print("RESULT " + json.dumps(out), flush=True)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:4]))
