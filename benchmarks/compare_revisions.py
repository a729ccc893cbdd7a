"""Before/after timings of the batched fits: two revisions of jaxglm, alternating
in one process, so the host's drift (large on a shared 2-core machine) cancels.

The base revision's ``src/jaxglm`` is exported with ``git archive`` into a
temporary directory and imported as ``jaxglm_base`` (the package imports
itself relatively, so a renamed copy is a complete second package); the working
tree's ``jaxglm`` is the other side.  Each round times every problem twice
with each version, once in each order, after one warm-up call each; the table
gives medians and the ratio new / base.

Problems (bench_batch.py's data): ``poisson_separate`` (10,000 Poisson fits,
n = 1000, p = 8, ``jax.vmap(jg.fit)``), ``poisson_shared`` (the same sizes,
``jg.fit_many``), ``logistic_separate`` (10,000 logistic fits, n = 500, p = 4);
with ``--problems``, also ``negbin_separate`` (2,000 ``jg.fit_negbin`` fits,
n = 200, p = 3, ``jax.vmap``).

Both revisions run in the environment as it is, so compare revisions that
finish there: those up to ad63e8d hang on few cores (their batched LAPACK
calls; benchmarks/README.md says how their timings were taken).
``--base none`` times the working tree alone.

    python benchmarks/compare_revisions.py --base HEAD~1 --rounds 5
    python benchmarks/compare_revisions.py --base none
"""

from __future__ import annotations

import argparse
import importlib
import io
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD", help="git revision, or 'none'")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fits", type=int, default=10_000)
    parser.add_argument(
        "--problems",
        default="poisson_separate,poisson_shared,logistic_separate",
        help="comma-separated; also negbin_separate (2,000 glm.nb fits, n = 200)",
    )
    return parser.parse_args()


ARGS = _parse_args()

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch import make_logistic, make_poisson  # noqa: E402

import jaxglm  # noqa: E402


def _import_revision(revision: str, into: Path):
    archive = subprocess.run(
        ["git", "archive", revision, "src/jaxglm"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "src" / "jaxglm").rename(into / "jaxglm_base")
    sys.path.insert(0, str(into))
    return importlib.import_module("jaxglm_base")


def _data(fits):
    """bench_batch.py's problems, made once and shared by both versions."""
    Xp, Yp = make_poisson(fits, 1000, 8, 0, shared=False)
    Xs, Ys = make_poisson(fits, 1000, 8, 1, shared=True)
    Xl, Yl = make_logistic(fits, 500, 4, 2)
    rng = np.random.default_rng(3)
    Xn = np.concatenate([np.ones((2000, 200, 1)), rng.normal(size=(2000, 200, 2))], -1)
    mu = np.exp(1.0 + 0.3 * Xn[..., 1] - 0.2 * Xn[..., 2])
    Yn = rng.negative_binomial(2.0, 2.0 / (2.0 + mu)).astype(float)
    arrays = (Xp, Yp, Xl, Yl, Xn, Yn)
    Xp, Yp, Xl, Yl, Xn, Yn = (jax.numpy.asarray(a) for a in arrays)
    return Xp, Yp, Xs, Ys, Xl, Yl, Xn, Yn


def _problems(jg, data):
    Xp, Yp, Xs, Ys, Xl, Yl, Xn, Yn = data
    each_poisson = jax.jit(jax.vmap(lambda X, y: jg.fit(X, y, jg.Poisson())))
    each_logistic = jax.jit(jax.vmap(lambda X, y: jg.fit(X, y, jg.Binomial())))
    each_negbin = jax.jit(jax.vmap(lambda X, y: jg.fit_negbin(X, y)))
    problems = {
        "poisson_separate": lambda: each_poisson(Xp, Yp),
        "poisson_shared": lambda: jg.fit_many(Xs, Ys, jg.Poisson(), progress=False),
        "logistic_separate": lambda: each_logistic(Xl, Yl),
        "negbin_separate": lambda: each_negbin(Xn, Yn),
    }
    return {name: problems[name] for name in ARGS.problems.split(",")}


def _time(call) -> float:
    start = time.perf_counter()
    res = jax.block_until_ready(call())
    elapsed = time.perf_counter() - start
    assert int(np.sum(np.asarray(res.status) == 0)) == res.status.shape[0]
    return elapsed


def main() -> None:
    versions = {"new": jaxglm}
    with tempfile.TemporaryDirectory() as tmp:
        if ARGS.base != "none":
            versions["base"] = _import_revision(ARGS.base, Path(tmp))
        data = _data(ARGS.fits)
        calls = {name: _problems(jg, data) for name, jg in versions.items()}
        times = {(v, p): [] for v in versions for p in calls["new"]}
        for name in versions:  # warm-up: compile every program once
            for call in calls[name].values():
                _time(call)
        # Each round runs every problem in both orders: a call right after a
        # different program ran 1.2-1.4x slower than one right after the other
        # version's same program (measured with both sides the same revision),
        # so a fixed order would favour whichever side goes second.
        for _ in range(ARGS.rounds):
            for order in (list(versions), list(versions)[::-1]):
                for problem in calls["new"]:
                    for name in order:
                        times[name, problem].append(_time(calls[name][problem]))
    print(f"{ARGS.rounds} rounds, {ARGS.fits} fits; medians in seconds")
    for problem in calls["new"]:
        new = float(np.median(times["new", problem]))
        line = f"{problem:18s} new {new:7.3f}"
        if "base" in versions:
            base = float(np.median(times["base", problem]))
            line += f"   base ({ARGS.base}) {base:7.3f}   new/base {new / base:5.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
