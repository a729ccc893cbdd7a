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
# bench_large.py starts one process per library and problem; its own test below
# runs the smallest selection, so the generic quick run leaves it out.
GENERIC = [s for s in SCRIPTS if s.stem != "bench_large"]
TIMEOUT = 600  # --quick takes about a minute on 2 cores; compile time dominates


def test_there_are_benchmarks():
    assert SCRIPTS, f"no bench_*.py in {BENCHMARKS_DIR}"


@pytest.mark.parametrize("script", GENERIC, ids=[s.stem for s in GENERIC])
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
    check = payload.get("status_check")  # bench_batch's injected failures
    if check is not None:
        assert check["separated_flagged"] == check["separated"]
        assert check["nan_flagged"] == check["nan"]
        assert check["clean_success"] == check["clean"]


def test_bench_large_selection_and_memory(tmp_path):
    """bench_large.py runs only the problems and libraries asked for, each in its
    own process, and reports each one's peak memory next to the data size."""
    out = tmp_path / "bench_large.json"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS_DIR / "bench_large.py"), "--quick",
         "--problems", "P5", "--libraries", "jaxglm,R", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        cwd=BENCHMARKS_DIR.parent,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [(r["problem"], r["library"]) for r in rows] == [
        ("P5", "jaxglm"), ("P5", "R glm"),
    ]  # fmt: skip
    for row in rows:
        if row.get("seconds") is None:  # no Rscript here: reported, with the reason
            assert row["note"].startswith("unavailable"), row
            continue
        assert row["data_mib"] > 0
        assert row["peak_mib"] is None or row["peak_mib"] >= 0, row
        assert row["max_dcoef"] < 1e-6, row  # the same IRLS as R, the same data
