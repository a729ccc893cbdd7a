"""Every benchmark script runs with ``--quick`` (STYLE.md section 11), so none rot.

Each ``benchmarks/bench_*.py`` runs as a subprocess of this interpreter with
``--quick`` and a JSON path in a temporary directory; the test checks the exit
code and that the JSON has results.  Peers that are not installed are reported
as unavailable by the scripts, not skipped here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(BENCHMARKS_DIR.glob("bench_*.py"))
TIMEOUT = 600  # --quick takes about a minute on 2 cores; compile time dominates


def test_there_are_benchmarks():
    assert SCRIPTS, f"no bench_*.py in {BENCHMARKS_DIR}"


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_benchmark_quick(script, tmp_path):
    out = tmp_path / f"{script.stem}.json"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        cwd=BENCHMARKS_DIR.parent,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    payload = json.loads(out.read_text())
    assert payload["quick"] is True
    rows = payload["rows"]
    ours = [r for r in rows if r["library"] == "jaxglm"]
    assert ours and all(r["seconds"] > 0 for r in ours)
    assert all("SUCCESS" in r["note"] for r in ours)
    # Every peer that ran agrees with jaxglm on the coefficients.
    for row in rows:
        if row.get("seconds") is not None and row["library"] != "jaxglm":
            assert row["max_dcoef"] < 1e-3, row
    check = payload["status_check"]
    assert check["separated_flagged"] == check["separated"]
    assert check["nan_flagged"] == check["nan"]
    assert check["clean_success"] == check["clean"]
