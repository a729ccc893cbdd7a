"""Batches of 10,000 fits finish in a user's default environment.

jaxlib 0.10's batched LAPACK calls could deadlock XLA:CPU's thread pool on a
2-core machine (every vmapped batch of thousands of fits hung; see
``src/jaxglm/_dense.py``).  A hang cannot be caught inside the process, so
fresh interpreters run ``batch_hang_worker.py`` (a 10,000-fit vmapped Poisson
batch with its batched diagnostics, and a 10,000-response logistic
``fit_many``, twice each) under a timeout, with nothing set in the
environment and no CPU pinning: the machine as a user's process sees it (the
hang showed on 2 cores, as this project's test machine has).  The healthy run
takes about 12 s on 2 cores; the timeout leaves room for a loaded machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).resolve().parent / "batch_hang_worker.py"
REPEATS = 2
TIMEOUT = 180
EXPECTED = ("OK vmap-fit", "OK vmap-influence", "OK fit_many")


def _default_environment() -> dict[str, str]:
    """This environment without the test run's own JAX settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    return {**env, "PYTHONWARNINGS": "ignore"}


@pytest.mark.parametrize("run", [1, 2])
def test_ten_thousand_fits_do_not_hang(run):
    try:
        proc = subprocess.run(
            [sys.executable, str(WORKER), str(REPEATS)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=_default_environment(),
        )
    except subprocess.TimeoutExpired as hung:
        done = hung.stdout or ""
        done = done.decode() if isinstance(done, bytes) else done
        pytest.fail(f"batched fits did not finish in {TIMEOUT} s; finished:\n{done}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    for what in EXPECTED:
        assert proc.stdout.count(what) == REPEATS, proc.stdout
