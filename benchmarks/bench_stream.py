"""A Poisson fit streamed from disk: time per pass and peak memory against rows.

Writes a Poisson dataset of ``--rows`` rows (default 100 million) with 20
float32 covariates to ``.npy`` files block by block (8 GB at the default
size), fits ``y ~ 1 + x1 + ... + x20`` with ``jg.fit_stream`` over
``np.load(mmap_mode="r")`` arrays, and deletes the files.  Reported: the compile
time (a warm-up fit on one block of the same shape), the steady-state fit time,
the time of each pass over the data, and the peak resident memory of the
process (``ru_maxrss``) and of the fit alone (Linux ``VmHWM`` after resetting
it).  ``/usr/bin/time -v python benchmarks/bench_stream.py`` gives an
independent peak ("Maximum resident set size").

The files are written with plain writes, not through a memory map, so making the
data does not inflate the process's peak memory; they then sit in the operating
system's page cache if it is large enough, so the passes time the arithmetic
and memory bandwidth rather than the disk (drop the cache, or use more rows than
memory, to time a cold disk).

    python benchmarks/bench_stream.py                   # 100 million rows, 8 GB
    python benchmarks/bench_stream.py --rows 10000000   # 10 million rows, 0.8 GB
    python benchmarks/bench_stream.py --quick           # seconds; run by the tests

``--quick`` (120,000 rows) also fits the same data in memory with ``jg.fit``
and reports the largest coefficient difference.  Results: a table on stdout
and JSON in ``benchmarks/results/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--rows", type=int, help="rows (default 1e8; 120000 quick)")
    parser.add_argument("--chunk-rows", type=int, help="rows per block (default: auto)")
    parser.add_argument("--data-dir", type=Path, help="where to write the data")
    parser.add_argument("--keep", action="store_true", help="keep the data files")
    parser.add_argument("--out", type=Path, help="JSON path (default: results/)")
    return parser.parse_args(argv)


ARGS = _parse_args() if __name__ == "__main__" else None
from _common import thread_label  # noqa: E402  (standard library only)

_THREADS = thread_label()

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

from _common import cpu_and_memory, reset_peak, status_mib  # noqa: E402

import jaxglm as jg  # noqa: E402
from jaxglm import _stream  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
COVARIATES = 20
WRITE_ROWS = 1_000_000
COEF = np.concatenate([[0.5], np.linspace(-0.2, 0.2, COVARIATES)])


def write_data(folder: Path, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """X (rows, 20) and y (rows,) as float32 .npy files, written block by block."""
    rng = np.random.default_rng(seed)
    paths = folder / "X.npy", folder / "y.npy"
    with open(paths[0], "wb") as fx, open(paths[1], "wb") as fy:
        for f, shape in ((fx, (rows, COVARIATES)), (fy, (rows,))):
            header = {"descr": "<f4", "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_2_0(f, header)
        for start in range(0, rows, WRITE_ROWS):
            m = min(WRITE_ROWS, rows - start)
            X = rng.normal(scale=0.5, size=(m, COVARIATES)).astype(np.float32)
            eta = COEF[0] + X.astype(np.float64) @ COEF[1:]
            y = rng.poisson(np.exp(eta)).astype(np.float32)
            fx.write(X.tobytes())
            fy.write(y.tobytes())
    return paths


class PassTimer:
    """Times each pass of fit_stream by wrapping its pass function."""

    def __init__(self):
        self.seconds: list[float] = []
        self._run_pass = _stream.run_pass

    def __enter__(self):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            out = self._run_pass(*args, **kwargs)
            self.seconds.append(time.perf_counter() - start)
            return out

        _stream.run_pass = timed
        return self

    def __exit__(self, *exc):
        _stream.run_pass = self._run_pass


def machine():
    cpu, memory = cpu_and_memory()
    return {
        "cores": os.cpu_count(), "cpu": cpu, "memory": memory,
        "load_average": os.getloadavg(), "threads": _THREADS,
        "platform": platform.platform(),
        "versions": {"python": platform.python_version(), "jax": jax.__version__,
                     "jaxglm": jg.__version__, "numpy": np.__version__},
    }  # fmt: skip


def main(args):
    rows = args.rows or (120_000 if args.quick else 100_000_000)
    chunk_rows = args.chunk_rows or (50_000 if args.quick else None)
    folder = Path(tempfile.mkdtemp(prefix="jaxglm_stream_", dir=args.data_dir))
    info = machine()
    try:
        start = time.perf_counter()
        x_path, y_path = write_data(folder, rows)
        write_seconds = time.perf_counter() - start
        size_gb = (x_path.stat().st_size + y_path.stat().st_size) / 1e9
        print(f"{rows:,} rows x {COVARIATES} float32 covariates: {size_gb:.2f} GB "
              f"written in {write_seconds:.1f} s to {folder}", flush=True)  # fmt: skip
        X = np.load(x_path, mmap_mode="r")
        y = np.load(y_path, mmap_mode="r")
        chunks = jg.chunks_from_arrays(X, y, chunk_rows=chunk_rows, intercept=True)
        block = chunks.chunk_rows
        print(f"{len(chunks)} blocks of {block:,} rows", flush=True)

        # Warm-up: one block of the same shape compiles everything.
        first = jg.chunks_from_arrays(X[:block], y[:block], chunk_rows=block,
                                      intercept=True)  # fmt: skip
        start = time.perf_counter()
        jg.fit_stream(first, jg.Poisson(), progress=False)
        warm = time.perf_counter() - start

        rss_before = status_mib("VmRSS")
        has_hwm = reset_peak()
        with PassTimer() as timer:
            start = time.perf_counter()
            res = jg.fit_stream(
                chunks, jg.Poisson(), progress=False if args.quick else None
            )
            jax.block_until_ready(res.coef)
            seconds = time.perf_counter() - start
        fit_peak = status_mib("VmHWM") if has_hwm else None
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        status = jg.Status(int(res.status)).name
        passes, n_iter = int(res.n_passes), int(res.n_iter)
        print(f"fit: {seconds:.1f} s, {passes} passes ({n_iter} iterations), "
              f"status {status}", flush=True)  # fmt: skip
        row = {
            "problem": "poisson_stream", "library": "jaxglm", "rows": rows,
            "p": COVARIATES + 1, "chunk_rows": block, "chunks": len(chunks),
            "data_gb": size_gb, "seconds": seconds, "compile": warm,
            "passes": int(res.n_passes), "n_iter": int(res.n_iter),
            "seconds_per_pass": timer.seconds,
            "mean_seconds_per_pass": seconds / int(res.n_passes),
            "rows_per_second_per_pass": rows * int(res.n_passes) / seconds,
            "rss_before_fit_mb": rss_before, "fit_peak_rss_mb": fit_peak,
            "process_peak_rss_mb": peak, "write_seconds": write_seconds,
            "max_abs_coef_error": float(np.max(np.abs(np.asarray(res.coef) - COEF))),
            "note": f"status {status}; full inference", "max_dcoef": 0.0,
        }  # fmt: skip
        result_rows = [row]
        if args.quick:
            X_mem = jg.add_intercept(np.asarray(X, np.float64))
            start = time.perf_counter()
            memory = jg.fit(X_mem, np.asarray(y, np.float64), jg.Poisson())
            jax.block_until_ready(memory.coef)
            result_rows.append({
                "problem": "poisson_stream", "library": "jg.fit (in memory)",
                "rows": rows, "seconds": time.perf_counter() - start,
                "note": "includes compile",
                "max_dcoef": float(np.max(np.abs(np.asarray(res.coef)
                                                 - np.asarray(memory.coef)))),
            })  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    print()
    print(
        "| rows | p | blocks | passes | compile s | fit s | s per pass | "
        "rows/s per pass | RSS before fit MB | fit peak RSS MB | process peak MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    fmt = lambda v: "-" if v is None else f"{v:,.0f}"  # noqa: E731
    print(f"| {rows:,} | {row['p']} | {row['chunks']} | {row['passes']} | "
          f"{warm:.1f} | {seconds:.1f} | {row['mean_seconds_per_pass']:.2f} | "
          f"{row['rows_per_second_per_pass']:,.0f} | {fmt(rss_before)} | "
          f"{fmt(fit_peak)} | {fmt(peak)} |")  # fmt: skip
    print("seconds per pass: " + ", ".join(f"{s:.2f}" for s in timer.seconds))
    print(f"machine: {info['cores']} cores, {info['cpu']}, {info['memory']}, "
          f"load average at start {info['load_average'][0]:.2f}")  # fmt: skip

    out = args.out or RESULTS_DIR / f"bench_stream{'_quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"quick": args.quick, "machine": info, "rows": result_rows}
    out.write_text(json.dumps(payload, indent=2, default=float))
    print(f"results: {out}")
    return payload


if __name__ == "__main__":
    sys.exit(0 if main(ARGS) else 1)
