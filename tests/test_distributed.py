"""Fits spanning two processes (``jax.distributed``) equal single-process fits.

Two copies of ``distributed_worker.py`` start on this machine, join through
``jax.distributed.initialize`` (a coordinator on a free local port) and each
contribute one CPU device and half of the data; CPU collectives go through
gloo, jax's default.  This is how a fit runs on a GPU or TPU cluster, one
process per host (see docs/guide/big-data.md, "Many devices and many machines").
Each process checks

1. a batch of 8 Poisson fits split 4 + 4 across the processes against the same
   fits run in one process, and
2. one Poisson fit whose rows are split between the processes, both under an
   outer ``jax.jit`` and eagerly, against the fit of all rows in one process.

The fits run the same arithmetic up to the order of the sums over rows, so
rounding-level tolerances: 1e-12 for the batch, 1e-10 for the split rows.
Compiling in two processes on a small machine takes about a minute, hence
the ``slow`` marker (``JAXGLM_SLOW=1``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import pytest

WORKER = Path(__file__).resolve().parent / "distributed_worker.py"
PROCESSES = 2
TIMEOUT = 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(
    jax.default_backend() != "cpu",
    reason="checks the CPU route (gloo); this machine defaults to an accelerator",
)
def test_two_processes_equal_one():
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cache = jax.config.jax_compilation_cache_dir
    if cache:
        env["JAXGLM_TEST_CACHE_DIR"] = str(cache)
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(i), str(PROCESSES), str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(PROCESSES)
    ]
    outputs = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0, stdout[-3000:] + stderr[-5000:]
            outputs.append(stdout)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    results = [
        json.loads(line.removeprefix("RESULT "))
        for out in outputs
        for line in out.splitlines()
        if line.startswith("RESULT ")
    ]
    assert sorted(r["process_index"] for r in results) == list(range(PROCESSES))
    for r in results:
        assert r["batch_shape"] == [8, 3]
        assert r["batch_coef_shards"] == [[4, 3]]  # each process fitted its half
        assert r["batch_diff"] < 1e-12
        assert r["rows_status"] == 0
        assert r["rows_mu_shards"] == [[16384]]  # each process holds its rows
        assert r["rows_diff"] < 1e-10
        assert r["rows_eager_diff"] < 1e-10
        assert r["rows_mu_diff"] < 1e-10
