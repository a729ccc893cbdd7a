"""Single large GLM fits: jaxglm against peers on the same data, time and memory.

Problems (issue 6; ``--quick`` shrinks n to 20,000 and keeps p):

- ``P1``: one Poisson/log fit, n = 1,000,000, p = 50 (intercept + 49 covariates).
- ``P2``: one logistic fit, n = 1,000,000, p = 50.
- ``P5``: one Gamma/log fit (shape 2), n = 200,000, p = 20.

Data are simulated in float64 with a fixed seed per problem: covariates
N(0, 0.2^2), slopes evenly spaced in [-0.5, 0.5], so every fit converges in a few
iterations.  The data are made block by block (no full-size temporaries), so
the data themselves are all a process holds when its baseline is taken.

Libraries (``--libraries``; each is timed in a fresh subprocess of this script,
``--one LIB --problem P``, so that its peak memory is its own):

- ``jaxglm``: ``jg.fit(X, y, family, tol=1e-8)`` on the NumPy arrays every peer
  gets, full inference, timed to ``block_until_ready``; "compile s" is the first
  call minus the steady-state median.
- ``jaxglm-jax``: the same fit on data already converted to JAX arrays (the
  conversion is done before the baseline, and the NumPy copy freed).
- ``glum``: ``GeneralizedLinearRegressor(alpha=0, gradient_tol=1e-9)``, solver
  ``"auto"`` (its recommended choice: IRLS with line search for this problem).
- ``scikit-learn``: ``PoissonRegressor`` / ``LogisticRegression(C=inf)`` /
  ``GammaRegressor``, ``solver="newton-cholesky"``, ``tol=1e-10``.
- ``statsmodels``: ``GLM(...).fit(tol=1e-8)`` plus ``bse``.
- ``tfp``: ``tfp.substrates.jax.glm.fit`` (``tfp-nightly``), jitted, coef only.
- ``R``: ``glm(y ~ X - 1, family, control = glm.control(epsilon = 1e-8))`` run by
  ``Rscript`` on the same data (written with ``ndarray.tofile``, read with
  ``readBin``), timed with ``system.time`` inside R.

Each library is run ``--repeats`` times (default 3) and the median reported, but
one whose single run takes longer than ``--slow`` seconds (default 10) is run
once ("1 run (slow)" in the table).  JIT-compiled libraries (jaxglm, tfp) make
one extra, first call that compiles; the other peers first fit the first 2,000
rows once (imports, first-call overheads) before their baseline.

Peak memory (Linux): once the data are made and the library imported, the child
hands freed heap back to the OS (``malloc_trim``) and records its resident
memory (``VmRSS``) as the baseline.  Before each call it resets the high-water
mark (``/proc/self/clear_refs``); after it reads ``VmHWM``.  "peak MiB" is the
highest ``VmHWM`` minus the baseline over the whole timed run, the first,
compiling call included (what ``ru_maxrss`` would show; its difference, end
minus baseline, is kept in the JSON as a check); "steady MiB" is the highest
``VmHWM`` of a steady-state call minus the resident memory just before that
call: what one more fit of the same shape needs on top of what the process
already holds.  "x data" divides by the size of X (with the intercept column)
and y.  R measures itself the same way from ``/proc/self/status``.

Every library runs with a user's default threads (nothing is pinned).
Results: one table on stdout and JSON in ``benchmarks/results/`` (git-ignored).

    python benchmarks/bench_large.py                  # full run (about 10 minutes)
    python benchmarks/bench_large.py --problems P5    # one problem
    python benchmarks/bench_large.py --quick          # n = 20,000; run by the tests

``--quick`` times each library once (``--repeats 1``) and leaves out
``jaxglm-jax`` unless ``--libraries`` names it.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

LIBRARIES = ("jaxglm", "jaxglm-jax", "glum", "scikit-learn", "statsmodels", "tfp", "R")
LABELS = {"jaxglm-jax": "jaxglm (JAX arrays in)", "tfp": "tfp.glm (JAX)", "R": "R glm"}


def _csv(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 20,000, seconds")
    parser.add_argument(
        "--problems", type=_csv, default=["P1", "P2", "P5"],
        help="comma-separated, from P1,P2,P5 (default all)",
    )  # fmt: skip
    parser.add_argument(
        "--libraries", type=_csv,
        help=f"comma-separated, from {','.join(LIBRARIES)} "
        "(default all; --quick leaves out jaxglm-jax)",
    )  # fmt: skip
    parser.add_argument("--n", type=int, help="rows for every problem (override)")
    parser.add_argument(
        "--repeats", type=int, help="timed runs, median reported (default 3; 1 quick)"
    )
    parser.add_argument(
        "--slow", type=float, default=10.0,
        help="a run longer than this many seconds is not repeated",
    )  # fmt: skip
    parser.add_argument("--child-timeout", type=float, default=1800.0)
    parser.add_argument("--out", type=Path, help="JSON path (default: results/)")
    # internal: time one library on one problem in this (fresh) process
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--problem", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    if args.libraries is None:
        skip = ("jaxglm-jax",) if args.quick else ()
        args.libraries = [name for name in LIBRARIES if name not in skip]
    for names, known in ((args.problems, PROBLEMS), (args.libraries, LIBRARIES)):
        for name in names:
            if name not in known:
                parser.error(f"unknown {name!r}; choose from {', '.join(known)}")
    return args


@dataclass(frozen=True)
class Problem:
    name: str
    kind: str  # "poisson", "logistic" or "gamma"
    title: str
    n: int
    p: int  # columns including the intercept
    intercept: float
    seed: int


PROBLEMS = {
    "P1": Problem("P1", "poisson", "Poisson/log", 1_000_000, 50, 0.7, 1),
    "P2": Problem("P2", "logistic", "logistic", 1_000_000, 50, 0.3, 2),
    "P5": Problem("P5", "gamma", "Gamma/log, shape 2", 200_000, 20, 1.0, 5),
}
QUICK_N = 20_000
GAMMA_SHAPE = 2.0
TOL = 1e-8
WARMUP_ROWS = 2_000
BLOCK_ROWS = 65_536

ARGS = _parse_args() if __name__ == "__main__" else None
from _common import thread_label  # noqa: E402  (standard library only)

_THREADS = thread_label()

import numpy as np  # noqa: E402
from _common import MIB, cpu_and_memory, reset_peak, status_mib  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"


# --------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------


def true_coef(problem):
    slopes = np.linspace(-0.5, 0.5, problem.p - 1)
    return np.concatenate([[problem.intercept], slopes])


def make_data(problem, n, intercept=True, order="C"):
    """(X, y) in float64, made block by block; X has the intercept column first
    unless ``intercept=False``.  The same rows whatever ``intercept``/``order``."""
    rng = np.random.default_rng(problem.seed)
    coef = true_coef(problem)
    k = 1 if intercept else 0
    X = np.empty((n, problem.p - 1 + k), order=order)
    y = np.empty(n)
    if intercept:
        X[:, 0] = 1.0
    for start in range(0, n, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n)
        Z = rng.normal(scale=0.2, size=(stop - start, problem.p - 1))
        X[start:stop, k:] = Z
        eta = coef[0] + Z @ coef[1:]
        if problem.kind == "poisson":
            y[start:stop] = rng.poisson(np.exp(eta))
        elif problem.kind == "logistic":
            y[start:stop] = rng.random(stop - start) < 1.0 / (1.0 + np.exp(-eta))
        else:
            y[start:stop] = rng.gamma(GAMMA_SHAPE, np.exp(eta) / GAMMA_SHAPE)
    return X, y


def data_mib(problem, n):
    return (n * problem.p + n) * 8 / MIB


# --------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------


def _maxrss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _trim():
    """Hand freed heap memory back to the OS (glibc), so RSS is memory in use."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Memory:
    """Resident memory of each call: its peak above the baseline taken at
    construction, and above the resident memory just before the call."""

    def __init__(self):
        gc.collect()
        _trim()
        self.base = status_mib("VmRSS")
        self.maxrss = _maxrss_mib()
        self.resets = self.base is not None and reset_peak()
        self.whole, self.transient = [], []
        self._before = self.base

    def before(self):
        if self.resets:
            gc.collect()
            _trim()
            self._before = status_mib("VmRSS")
            reset_peak()

    def after(self):
        if self.resets:
            peak = status_mib("VmHWM")
            self.whole.append(peak - self.base)
            self.transient.append(peak - self._before)

    def summary(self, steady_from):
        gc.collect()
        _trim()
        steady = self.transient[steady_from:]
        maxrss = _maxrss_mib() - self.maxrss
        retained = status_mib("VmRSS")
        return {
            "peak_mib": max(self.whole) if self.whole else maxrss,
            "steady_mib": max(steady) if steady else None,
            "maxrss_mib": maxrss,
            "retained_mib": None if self.base is None else retained - self.base,
            "baseline_rss_mib": self.base,
            "baseline_maxrss_mib": self.maxrss,
        }


# --------------------------------------------------------------------------------
# Libraries: setup(problem) -> Runner (imports happen in setup, before the data)
# --------------------------------------------------------------------------------


@dataclass
class Runner:
    fit: object  # (X, y) -> (coef with the intercept first, info dict)
    intercept_column: bool = True  # X with the intercept column, or covariates only
    jit: bool = False  # first call compiles: reported apart, no warm-up slice
    to_input: object = None  # converts (X, y) once before the baseline
    note: str = ""
    version: str | None = None


class Unavailable(Exception):
    pass


def _import(module):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return __import__(module, fromlist=["_"])
    except Exception as err:  # noqa: BLE001 - any import failure means unavailable
        raise Unavailable(f"{type(err).__name__}: {str(err)[:80]}") from None


def _v(module):
    return f"{module.__name__.split('.')[0]} {module.__version__}"


def setup_jaxglm(problem, jax_input=False):
    jax = _import("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = _import("jax.numpy")
    jg = _import("jaxglm")
    family = {
        "poisson": jg.Poisson(),
        "logistic": jg.Binomial(),
        "gamma": jg.Gamma(link=jg.links.Log()),
    }[problem.kind]

    def fit(X, y):
        res = jax.block_until_ready(jg.fit(X, y, family, tol=TOL))
        status = jg.Status(int(res.status)).name
        return np.asarray(res.coef), {"status": status, "n_iter": int(res.n_iter)}

    def to_input(X, y):
        return jnp.asarray(X), jnp.asarray(y)

    note = "full inference" + ("; X, y already JAX arrays" if jax_input else "")
    version = f"jaxglm {jg.__version__}, jax {jax.__version__}"
    return Runner(
        fit, jit=True, to_input=to_input if jax_input else None, note=note,
        version=version,
    )  # fmt: skip


def setup_glum(problem):
    glum = _import("glum")
    family, link = {"poisson": ("poisson", "log"), "logistic": ("binomial", "logit"),
                    "gamma": ("gamma", "log")}[problem.kind]  # fmt: skip
    model = glum.GeneralizedLinearRegressor(
        family=family,
        link=link,
        alpha=0.0,
        solver="auto",
        gradient_tol=1e-9,  # its default (1e-4) leaves |dcoef| ~ 1e-4
    )

    def fit(X, y):
        model.fit(X, y)
        return np.concatenate([[model.intercept_], model.coef_]), {
            "n_iter": int(model.n_iter_)
        }

    return Runner(fit, intercept_column=False, note="coef only", version=_v(glum))


def setup_sklearn(problem):
    linear_model = _import("sklearn.linear_model")
    common = {"solver": "newton-cholesky", "tol": 1e-10, "max_iter": 100}
    if problem.kind == "poisson":
        model = linear_model.PoissonRegressor(alpha=0.0, **common)
    elif problem.kind == "gamma":
        model = linear_model.GammaRegressor(alpha=0.0, **common)
    else:  # C=inf is penalty=None (deprecated spelling since 1.8)
        model = linear_model.LogisticRegression(C=np.inf, **common)

    def fit(X, y):
        model.fit(X, y)
        coef = np.concatenate([np.ravel(model.intercept_), np.ravel(model.coef_)])
        return coef, {"n_iter": int(np.max(model.n_iter_))}

    version = _v(_import("sklearn"))
    return Runner(fit, intercept_column=False, note="coef only", version=version)


def setup_statsmodels(problem):
    sm = _import("statsmodels.api")
    family = {
        "poisson": sm.families.Poisson(),
        "logistic": sm.families.Binomial(),
        "gamma": sm.families.Gamma(sm.families.links.Log()),
    }[problem.kind]

    def fit(X, y):
        res = sm.GLM(y, X, family=family).fit(tol=TOL)
        res.bse  # noqa: B018 - the standard errors are part of the work
        return np.asarray(res.params), {"n_iter": int(res.fit_history["iteration"])}

    return Runner(fit, note="bse", version=_v(_import("statsmodels")))


def setup_tfp(problem):
    jax = _import("jax")
    jax.config.update("jax_enable_x64", True)
    tfp = _import("tensorflow_probability.substrates.jax")
    model = {"poisson": tfp.glm.Poisson(), "logistic": tfp.glm.Bernoulli(),
             "gamma": tfp.glm.GammaExp()}[problem.kind]  # fmt: skip

    @jax.jit
    def tfp_fit(X, y):
        coef, _, converged, n_iter = tfp.glm.fit(X, y, model, maximum_iterations=100)
        return coef, converged, n_iter

    def fit(X, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "fast_unsafe_numerics not supported"
            coef, converged, n_iter = jax.block_until_ready(tfp_fit(X, y))
        return np.asarray(coef), {"converged": bool(converged), "n_iter": int(n_iter)}

    version = _v(_import("tensorflow_probability"))
    return Runner(fit, jit=True, note="coef only", version=version)


SETUPS = {
    "jaxglm": setup_jaxglm,
    "jaxglm-jax": lambda problem: setup_jaxglm(problem, jax_input=True),
    "glum": setup_glum,
    "scikit-learn": setup_sklearn,
    "statsmodels": setup_statsmodels,
    "tfp": setup_tfp,
}


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def run_python_library(library, problem, n, repeats, slow):
    runner = SETUPS[library](problem)
    X, y = make_data(problem, n, intercept=runner.intercept_column)
    input_mib = (X.nbytes + y.nbytes) / MIB
    if runner.to_input is not None:
        X, y = runner.to_input(X, y)  # the NumPy copies are freed here
    elif not runner.jit:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runner.fit(X[:WARMUP_ROWS], y[:WARMUP_ROWS])
    memory = Memory()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = None
        if runner.jit:
            memory.before()
            first, _ = _timed(runner.fit, X, y)
            memory.after()
        times = []
        while len(times) < max(repeats, 1):
            memory.before()
            seconds, (coef, info) = _timed(runner.fit, X, y)
            memory.after()
            times.append(seconds)
            if seconds > slow:
                break
    steady = float(np.median(times))
    warned = sorted({w.category.__name__ for w in caught})
    return {
        "times": times, "seconds": steady, "runs": len(times),
        "compile": None if first is None else max(first - steady, 0.0),
        "first": first, "coef": [float(c) for c in coef], "info": info,
        "warnings": warned, "input_mib": input_mib, "note": runner.note,
        "version": runner.version,
        **memory.summary(steady_from=1 if runner.jit else 0),
    }  # fmt: skip


# --------------------------------------------------------------------------------
# R
# --------------------------------------------------------------------------------

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
n <- as.integer(args[3]); p <- as.integer(args[4])
reps <- as.integer(args[6]); slow <- as.numeric(args[7])
status_mib <- function(field) {
  lines <- tryCatch(readLines("/proc/self/status"), error = function(e) character())
  line <- grep(paste0("^", field, ":"), lines, value = TRUE)
  if (length(line) == 0) return(NA_real_)
  as.numeric(strsplit(trimws(sub("^[^:]*:", "", line)), " +")[[1]][1]) / 1024
}
reset_peak <- function() tryCatch({
  cat("5", file = "/proc/self/clear_refs"); TRUE
}, error = function(e) FALSE, warning = function(w) FALSE)
X <- readBin(args[1], "double", n = n * p)
dim(X) <- c(n, p)
y <- readBin(args[2], "double", n = n)
family <- switch(args[5], poisson = poisson(), logistic = binomial(),
                 gamma = Gamma(link = "log"))
invisible(gc())
base <- status_mib("VmRSS")
resets <- reset_peak()  # can R reset VmHWM here?
times <- numeric(); whole <- numeric(); transient <- numeric()
for (i in seq_len(reps)) {
  if (exists("fit")) { rm(fit); invisible(gc()) }
  before <- status_mib("VmRSS")
  if (resets) reset_peak()
  t <- system.time(fit <- glm(y ~ X - 1, family = family,
                              control = glm.control(epsilon = 1e-8)))[["elapsed"]]
  times <- c(times, t)
  peak <- if (resets) status_mib("VmHWM") else NA_real_
  whole <- c(whole, peak - base); transient <- c(transient, peak - before)
  if (t > slow) break
}
cat("times", times, "\n")
cat("whole", whole, "\n")
cat("transient", transient, "\n")
cat("iter", fit$iter, "\n")
cat("converged", fit$converged, "\n")
cat("coef", sprintf("%.17g", coef(fit)), "\n")
cat("version", R.version$major, R.version$minor, "\n")
"""


def run_r(problem, n, repeats, slow, timeout):
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise Unavailable("Rscript not found")
    X, y = make_data(problem, n, intercept=True, order="F")
    input_mib = (X.nbytes + y.nbytes) / MIB
    with tempfile.TemporaryDirectory(prefix="bench_large_") as folder:
        folder = Path(folder)
        X.T.tofile(folder / "X.bin")  # X.T is C-contiguous: X column by column
        y.tofile(folder / "y.bin")
        del X, y
        (folder / "fit.R").write_text(R_SCRIPT)
        proc = subprocess.run(
            [rscript, "--vanilla", str(folder / "fit.R"), str(folder / "X.bin"),
             str(folder / "y.bin"), str(n), str(problem.p), problem.kind,
             str(max(repeats, 1)), str(slow)],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError("Rscript failed: " + " | ".join(tail))
    out = {}
    for line in proc.stdout.splitlines():
        key, *values = line.split()
        out[key] = values
    times = [float(t) for t in out["times"]]
    whole = [float(v) for v in out["whole"] if v != "NA"]
    transient = [float(v) for v in out["transient"] if v != "NA"]
    return {
        "times": times, "seconds": float(np.median(times)), "runs": len(times),
        "compile": None, "first": None, "coef": [float(c) for c in out["coef"]],
        "info": {"n_iter": int(out["iter"][0]),
                 "converged": out["converged"][0] == "TRUE"},
        "warnings": [], "input_mib": input_mib,
        "note": "R " + ".".join(out["version"]),
        "version": "R " + ".".join(out["version"]),
        "peak_mib": max(whole) if whole else None,
        "steady_mib": max(transient) if transient else None, "maxrss_mib": None,
        "retained_mib": None, "baseline_rss_mib": None, "baseline_maxrss_mib": None,
    }  # fmt: skip


# --------------------------------------------------------------------------------
# Child: one library, one problem, in a fresh process
# --------------------------------------------------------------------------------


def child(args):
    problem = PROBLEMS[args.problem]
    n = args.n or (QUICK_N if args.quick else problem.n)
    try:
        if args.one == "R":
            result = run_r(problem, n, args.repeats, args.slow, args.child_timeout)
        else:
            result = run_python_library(args.one, problem, n, args.repeats, args.slow)
    except Unavailable as err:
        result = {"unavailable": str(err)}
    args.child_out.write_text(json.dumps(result))
    return 0


def run_child(library, problem, args, timeout):
    with tempfile.TemporaryDirectory(prefix="bench_large_") as folder:
        out = Path(folder) / "one.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--one", library,
                   "--problem", problem.name, "--child-out", str(out),
                   "--repeats", str(args.repeats), "--slow", str(args.slow),
                   "--child-timeout", str(timeout)]  # fmt: skip
        if args.quick:
            command.append("--quick")
        if args.n:
            command += ["--n", str(args.n)]
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        try:
            proc = subprocess.run(command, capture_output=True, text=True,
                                  timeout=timeout, env=env)  # fmt: skip
        except subprocess.TimeoutExpired:
            return {"failed": f"timed out after {timeout:.0f} s"}
        if proc.returncode != 0 or not out.exists():
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
            return {"failed": f"exit {proc.returncode}: {lines[-1][:120]}"}
        return json.loads(out.read_text())


# --------------------------------------------------------------------------------
# Parent: every library on every problem, one table
# --------------------------------------------------------------------------------


def _load():
    try:
        return os.getloadavg()
    except OSError:
        return None


def _version(dist):
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine():
    cpu, memory = cpu_and_memory()
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for dist in ("jax", "jaxlib", "jaxglm", "glum", "scikit-learn", "statsmodels",
                 "tfp-nightly", "tensorflow-probability"):  # fmt: skip
        versions[dist] = _version(dist)
    rscript = shutil.which("Rscript")
    if rscript:
        try:
            proc = subprocess.run([rscript, "--version"], capture_output=True,
                                  text=True, timeout=60)  # fmt: skip
            text = (proc.stdout + proc.stderr).strip().splitlines()
            versions["R"] = text[0] if text else None
        except (OSError, subprocess.SubprocessError):
            versions["R"] = None
    return {
        "cores": os.cpu_count(), "cpu": cpu, "memory": memory, "threads": _THREADS,
        "platform": platform.platform(), "versions": versions,
    }  # fmt: skip


def run_problem(problem, args, rows, versions):
    n = args.n or (QUICK_N if args.quick else problem.n)
    size = data_mib(problem, n)
    print(f"{problem.name}: {problem.title}, n={n:,}, p={problem.p}, "
          f"data {size:,.1f} MiB (X + y, float64)", flush=True)  # fmt: skip
    base = {"problem": problem.name, "kind": problem.kind, "n": n, "p": problem.p,
            "data_mib": size}  # fmt: skip
    results = {}
    for library in args.libraries:
        start = time.perf_counter()
        out = run_child(library, problem, args, args.child_timeout)
        wall = time.perf_counter() - start
        label = LABELS.get(library, library)
        if "unavailable" in out or "failed" in out:
            why = out.get("unavailable") or out.get("failed")
            word = "unavailable" if "unavailable" in out else "failed"
            rows.append({**base, "library": label, "seconds": None,
                         "note": f"{word}: {why}"})  # fmt: skip
            print(f"  {label}: {word} ({why})", flush=True)
            continue
        results[library] = out
        versions[label] = out.get("version")
        row = {**base, "library": label, "wall_s": wall, **out}
        note = [out["note"]]
        info = out["info"]
        if "status" in info:
            note.append(f"{info['status']} in {info['n_iter']} iterations")
        elif "n_iter" in info:
            note.append(f"{info['n_iter']} iterations")
        if info.get("converged") is False:
            note.append("NOT converged")
        if out["runs"] == 1 and args.repeats > 1:
            note.append("1 run (slow)")
        if out["warnings"]:
            note.append("warned: " + ", ".join(out["warnings"]))
        row["note"] = "; ".join(note)
        rows.append(row)
        compile_s = "" if out["compile"] is None else f", {out['compile']:.1f} s jit"
        peak = "?" if out["peak_mib"] is None else f"{out['peak_mib']:,.0f}"
        print(f"  {label}: {out['seconds']:.3f} s ({out['runs']} runs{compile_s}), "
              f"peak +{peak} MiB, child {wall:.0f} s", flush=True)  # fmt: skip

    reference = results.get("jaxglm")
    for row in rows:
        if row["problem"] != problem.name or row.get("seconds") is None:
            continue
        if reference is None:
            row["max_dcoef"], row["x_jaxglm"] = None, None
            continue
        diff = np.asarray(row["coef"]) - np.asarray(reference["coef"])
        row["max_dcoef"] = float(np.max(np.abs(diff)))
        row["x_jaxglm"] = row["seconds"] / reference["seconds"]


def _mib(value, size):
    if value is None:
        return "-"
    return f"{value:,.0f} ({value / size:.2f}x)"


def format_table(rows):
    header = (
        "problem", "library", "runs", "seconds", "x jaxglm", "compile s",
        "max |dcoef|", "peak MiB (x data)", "steady MiB (x data)", "note",
    )  # fmt: skip
    lines = []
    for r in rows:
        if r.get("seconds") is None:
            lines.append((r["problem"], r["library"], "-", "-", "-", "-", "-", "-",
                          "-", r["note"]))  # fmt: skip
            continue
        lines.append((
            r["problem"], r["library"], str(r["runs"]), f"{r['seconds']:.3f}",
            "-" if r["x_jaxglm"] is None else f"{r['x_jaxglm']:.1f}",
            "-" if r["compile"] is None else f"{r['compile']:.1f}",
            "-" if r["max_dcoef"] is None else f"{r['max_dcoef']:.1e}",
            _mib(r["peak_mib"], r["data_mib"]), _mib(r["steady_mib"], r["data_mib"]),
            r["note"],
        ))  # fmt: skip
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    out = ["| " + " | ".join(h.replace("|", "\\|").ljust(w) for h, w in
                             zip(header, widths, strict=True)) + " |"]  # fmt: skip
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines:
        cells = (str(x).ljust(w) for x, w in zip(line, widths, strict=True))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(args):
    if args.one:
        return child(args) == 0
    load_start = _load()
    info = machine()
    print(f"threads {_THREADS}; libraries {', '.join(args.libraries)}; "
          f"repeats {args.repeats} (1 if a run takes > {args.slow:g} s)",
          flush=True)  # fmt: skip
    rows = []
    start = time.perf_counter()
    versions = {}
    for name in args.problems:
        run_problem(PROBLEMS[name], args, rows, versions)
    info["versions"]["as imported"] = versions
    total = time.perf_counter() - start
    info["load_average_start"] = load_start
    info["load_average_end"] = _load()

    print()
    print(format_table(rows))
    print()
    print(
        "peak MiB: the child's resident-memory high-water mark over the whole run "
        "above its baseline (data made, library imported); steady MiB: a "
        "steady-state call's mark above the resident memory just before it; "
        "x data: over the size of X (with its intercept column) and y"
    )
    load = "unknown"
    if load_start and info["load_average_end"]:
        load = (f"{load_start[0]:.2f} at start, "
                f"{info['load_average_end'][0]:.2f} at end")  # fmt: skip
    print(
        f"machine: {info['cores']} cores, {info['cpu']}, {info['memory']}; "
        f"threads {_THREADS}; load average (1 min) {load}; total {total:.0f} s"
    )

    name = "bench_large" + ("_quick" if args.quick else "")
    out = args.out or RESULTS_DIR / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"quick": args.quick, "problems": args.problems,
               "libraries": args.libraries, "repeats": args.repeats,
               "slow": args.slow, "machine": info, "total_s": total,
               "rows": rows}  # fmt: skip
    out.write_text(json.dumps(payload, indent=2, default=float))
    print(f"results: {out}")
    return payload


if __name__ == "__main__":
    sys.exit(0 if main(ARGS) else 1)
