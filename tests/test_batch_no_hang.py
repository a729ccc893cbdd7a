"""Batches of 10,000 fits finish in a user's default environment.

jaxlib 0.10's batched LAPACK calls could deadlock XLA:CPU's thread pool on a
2-core machine (every vmapped batch of thousands of fits hung; see
``src/jaxglm/_dense.py``).  A hang cannot be caught inside the process, so
fresh interpreters run ``batch_hang_worker.py`` (a 10,000-fit vmapped Poisson
batch with its batched diagnostics, and a 10,000-response logistic
``fit_many``, twice each) under a timeout: with nothing set in the environment,
and with the XLA:CPU pool forced down to 2 threads (``NPROC=2``) so the test
bites on a machine with more cores too.  The healthy run takes about 12 s
each on 2 cores; the timeout leaves room for a loaded machine.
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


def _default_environment(**extra: str) -> dict[str, str]:
    """This environment without anything that sizes or configures XLA."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("NPROC", "XLA_FLAGS") and not key.startswith("JAX_")
    }
    return {**env, "PYTHONWARNINGS": "ignore", **extra}


@pytest.mark.parametrize(
    "extra",
    [{}, {}, {"NPROC": "2"}],
    ids=["default-1", "default-2", "pool-of-2"],
)
def test_ten_thousand_fits_do_not_hang(extra):
    try:
        proc = subprocess.run(
            [sys.executable, str(WORKER), str(REPEATS)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=_default_environment(**extra),
        )
    except subprocess.TimeoutExpired as hung:
        done = (
            (hung.stdout or b"").decode()
            if isinstance(hung.stdout, bytes)
            else (hung.stdout or "")
        )
        pytest.fail(f"batched fits did not finish in {TIMEOUT} s; finished:\n{done}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    for what in EXPECTED:
        assert proc.stdout.count(what) == REPEATS, proc.stdout
