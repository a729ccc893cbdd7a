"""Fits sharded over several devices equal the same fits on one device.

``sharding_worker.py`` runs in a subprocess with 4 virtual CPU devices
(JAX's ``jax_num_cpu_devices`` option, set by the worker before JAX starts its
backend, so the test process itself cannot have them; no XLA flag is set).  It fits

1. a batch of 64 Poisson fits (``jax.vmap(jg.fit)`` and ``jg.fit_many``) with the
   batch axis sharded over a 4-device mesh, and
2. one Poisson fit of 65,536 rows with the rows sharded over the devices,

and compares each with the unsharded fit.  The arithmetic is the same up to the
order of sums over rows, so the tolerances are rounding-level: 1e-12 for the
batch (each fit runs whole on one device) and 1e-10 for the row-sharded fit
(the sums over rows meet in an all-reduce).  The row-sharded fit must also
really run sharded: its compiled program reduces across devices and never
gathers an n-row array onto one device.

Also checked here: the blocked normal equations agree with the direct formula
whatever n is (they cut the rows into groups so that row shards line up).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxglm import _linalg

WORKER = Path(__file__).resolve().parent / "sharding_worker.py"
TIMEOUT = 900


def run_worker(script: Path, devices: int) -> dict:
    env = {
        **os.environ,
        "JAXGLM_TEST_CPU_DEVICES": str(devices),
        "JAX_PLATFORMS": "cpu",
        "PYTHONWARNINGS": "ignore",
    }
    cache = jax.config.jax_compilation_cache_dir
    if cache:
        env["JAXGLM_TEST_CACHE_DIR"] = str(cache)
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.fixture(scope="module")
def sharded():
    return run_worker(WORKER, devices=4)


def test_batch_sharded_over_devices_equals_single_device(sharded):
    assert sharded["vmap_diff"] < 1e-12
    assert sharded["vmap_status"] == 0
    assert sharded["vmap_layout"] == {
        "devices": 4, "replicated": False, "shard_shapes": [[16, 4]],
    }  # fmt: skip
    assert sharded["fit_many_diff"] < 1e-12
    assert sharded["fit_many_layout"]["devices"] == 4
    assert not sharded["fit_many_layout"]["replicated"]


def test_rows_sharded_over_devices_equals_single_device(sharded):
    assert sharded["rows_status"] == 0
    assert sharded["rows_diff"] < 1e-10
    assert sharded["rows_eager_diff"] < 1e-10
    for layout in (sharded["rows_layout"], sharded["rows_eager_layout"]):
        assert layout == {"devices": 4, "replicated": False, "shard_shapes": [[16384]]}
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
