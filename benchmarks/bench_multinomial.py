"""Multinomial regression: one large fit and a batch of small fits, against peers.

Problems (``--quick`` shrinks both):

- ``big``: one fit, n = 100,000, p = 20 (intercept + 19 N(0, 1) covariates),
  K = 5 classes (``--quick``: n = 5,000).
- ``batch``: 1,000 fits sharing one design, n = 200, p = 4 (intercept + 3
  N(0, 1) covariates), K = 3, each with its own labels (``--quick``: 20 fits).

Labels are drawn from a multinomial logit model with a fixed seed (class 0 the
baseline; the big fit's slopes N(0, 0.15^2), intercepts N(0, 0.3^2); each batch
fit's coefficients N(0, 0.5^2)).

Libraries, all in this one process, float64:

- ``jaxglm``: ``jg.fit(X, y, family=jg.Multinomial(n_classes=K), tol=1e-8)`` on
  JAX arrays, full inference (coef, covariance, standard errors, p-values,
  deviance, AIC, ...), timed to ``block_until_ready``.  The batch runs as
  ``jg.fit_many(X, Y, family=...)`` and as
  ``jax.jit(jax.vmap(jg.fit, in_axes=(None, 0)))``.  "compile s" is the first
  call minus the median steady-state call.
- ``scikit-learn``: ``LogisticRegression(C=inf, solver="newton-cholesky",
  tol=1e-10)`` (``C=inf`` is scikit-learn 1.8's spelling of ``penalty=None``;
  for K > 2 every solver but liblinear fits the multinomial loss, and
  newton-cholesky has done so since 1.6); on the big fit also
  ``solver="lbfgs"``, its default.  Its symmetric coefficients (one row per
  class) are turned into baseline logits by subtracting class 0's row.
- ``statsmodels``: ``MNLogit(y, X).fit(method="newton", tol=1e-8, disp=0)``
  plus ``bse``.  Its rule stops when no coefficient moves by more than ``tol``.
- glum has no multinomial family (its families are single-response
  exponential-dispersion models): reported as such.

Every library is timed in ``--repeats`` rounds (5; 1 quick), the order of the
libraries rotated from round to round, and the median reported, so that a noisy
host's drift hits every library alike.  jaxglm's first (compiling) call is
timed apart; the other libraries first fit a 2,000-row slice (big) or one fit
(batch).  The batch's peer loops run over ``--subset`` of the fits (default all
of them) and are scaled to the whole batch when fewer.

Memory (Linux): before each call the script collects garbage, hands freed heap
back to the OS (``malloc_trim``), reads the resident memory (``VmRSS``) and
resets the high-water mark (``/proc/self/clear_refs``); "steady MiB" is the
highest ``VmHWM`` of a steady-state call minus the resident memory just before
it (what one more fit needs), "x data" over the size of X and y.  jaxglm's
first call's figure (compile included) is kept in the JSON as ``first_mib``.

Every library runs with a user's default threads (nothing is pinned).
Results: one table on stdout and JSON in ``benchmarks/results/`` (git-ignored).

    python benchmarks/bench_multinomial.py            # full run (4-6 minutes here)
    python benchmarks/bench_multinomial.py --quick    # about a minute; run by the tests
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--problems", default="big,batch", help="big, batch or both")
    parser.add_argument("--n", type=int, help="rows of the big fit (default 100000)")
    parser.add_argument("--fits", type=int, help="batch size (default 1000; 20 quick)")
    parser.add_argument("--subset", type=int, help="batch fits per peer loop (all)")
    parser.add_argument("--repeats", type=int, help="rounds, median (5; 1 quick)")
    parser.add_argument("--out", type=Path, help="JSON path (default: results/)")
    args = parser.parse_args(argv)
    args.problems = [p.strip() for p in args.problems.split(",") if p.strip()]
    for name in args.problems:
        if name not in ("big", "batch"):
            parser.error(f"unknown problem {name!r}; choose from big, batch")
    args.repeats = args.repeats or (1 if args.quick else 5)
    return args


ARGS = _parse_args() if __name__ == "__main__" else None
from _common import thread_label  # noqa: E402  (standard library only)

_THREADS = thread_label()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

from _common import MIB, cpu_and_memory, reset_peak, status_mib  # noqa: E402

import jaxglm as jg  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TOL = 1e-8
WARMUP_ROWS = 2_000


# --------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------


def _draw(rng, eta):
    """Labels 0..K-1 from baseline logits ``eta`` (..., K-1), class 0 at 0."""
    full = np.concatenate([np.zeros((*eta.shape[:-1], 1)), eta], axis=-1)
    prob = np.exp(full - full.max(-1, keepdims=True))
    prob /= prob.sum(-1, keepdims=True)
    u = rng.random(eta.shape[:-1])[..., None]
    return np.minimum((u > np.cumsum(prob, -1)).sum(-1), full.shape[-1] - 1)


def make_big(n, p=20, k=5, seed=1):
    rng = np.random.default_rng(seed)
    X = np.concatenate([np.ones((n, 1)), rng.normal(size=(n, p - 1))], axis=1)
    coef = rng.normal(scale=0.15, size=(p, k - 1))
    coef[0] = rng.normal(scale=0.3, size=k - 1)
    return X, _draw(rng, X @ coef).astype(np.int64)


def make_batch(fits, n=200, p=4, k=3, seed=2):
    rng = np.random.default_rng(seed)
    X = np.concatenate([np.ones((n, 1)), rng.normal(size=(n, p - 1))], axis=1)
    coef = rng.normal(scale=0.5, size=(fits, p, k - 1))
    return X, _draw(rng, np.einsum("np,mpk->mnk", X, coef)).astype(np.int64)


# --------------------------------------------------------------------------------
# Memory and timing
# --------------------------------------------------------------------------------


def _trim():
    """Hand freed heap memory back to the OS (glibc), so RSS is memory in use."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measured(call):
    """(seconds, MiB above the resident memory before the call or None, result)."""
    gc.collect()
    _trim()
    before = status_mib("VmRSS")
    resets = before is not None and reset_peak()
    start = time.perf_counter()
    out = call()
    seconds = time.perf_counter() - start
    peak = status_mib("VmHWM") if resets else None
    return seconds, None if peak is None else peak - before, out


# --------------------------------------------------------------------------------
# Libraries: each returns fit() -> (coef, info), timed as one call
# coef is (p, K-1) baseline logits, or (fits, p, K-1) for a batch
# --------------------------------------------------------------------------------


def _status_note(status, n_iter=None):
    status = np.atleast_1d(np.asarray(status))
    if status.size == 1:
        name = jg.Status(int(status[0])).name
        return f"{name} in {int(n_iter)} iterations" if n_iter is not None else name
    ok = int(np.sum(status == jg.Status.SUCCESS))
    return f"{ok}/{status.size} SUCCESS"


def jaxglm_big(X, y, k):
    family = jg.Multinomial(n_classes=k)
    X, y = jnp.asarray(X), jnp.asarray(y)

    def fit():
        res = jax.block_until_ready(jg.fit(X, y, family=family, tol=TOL))
        return np.asarray(res.coef), {"status": _status_note(res.status, res.n_iter)}

    return fit


def jaxglm_fit_many(X, Y, k):
    family = jg.Multinomial(n_classes=k)
    X, Y = jnp.asarray(X), jnp.asarray(Y)

    def fit():
        res = jax.block_until_ready(jg.fit_many(X, Y, family=family, tol=TOL))
        return np.asarray(res.coef), {"status": _status_note(res.status)}

    return fit


def jaxglm_vmap(X, Y, k):
    family = jg.Multinomial(n_classes=k)
    batched = jax.jit(
        jax.vmap(lambda X, y: jg.fit(X, y, family=family, tol=TOL), in_axes=(None, 0))
    )
    X, Y = jnp.asarray(X), jnp.asarray(Y)

    def fit():
        res = jax.block_until_ready(batched(X, Y))
        return np.asarray(res.coef), {"status": _status_note(res.status)}

    return fit


def _sklearn_model(solver):
    from sklearn.linear_model import LogisticRegression

    # C=inf: unpenalised (penalty=None is deprecated since scikit-learn 1.8)
    tol, max_iter = (1e-10, 100) if solver == "newton-cholesky" else (1e-10, 1000)
    return LogisticRegression(C=np.inf, solver=solver, tol=tol, max_iter=max_iter)


def _baseline(model, k):
    """scikit-learn's symmetric (K, p) coefficients -> (p, K-1) baseline logits."""
    full = np.full((k, model.coef_.shape[1] + 1), np.nan)
    rows = np.asarray(model.classes_, dtype=int)
    full[rows] = np.column_stack([model.intercept_, model.coef_])
    if model.coef_.shape[0] == 1:  # two classes seen: one row, class 1 vs 0
        full[rows] = np.vstack([np.zeros_like(full[0]), full[rows[1]]])
    return (full[1:] - full[0]).T


def sklearn_fit(X, y, k, solver):
    model = _sklearn_model(solver)
    Z = np.ascontiguousarray(X[:, 1:])

    def fit(rows=slice(None)):
        model.fit(Z[rows], y[rows])
        return _baseline(model, k), {"n_iter": int(np.max(model.n_iter_))}

    return fit


def statsmodels_fit(X, y):
    import statsmodels.api as sm

    def fit(rows=slice(None)):
        res = sm.MNLogit(y[rows], X[rows]).fit(
            method="newton", tol=TOL, maxiter=100, disp=0
        )
        res.bse  # noqa: B018 - the standard errors are part of the work
        info = {"n_iter": int(res.mle_retvals["iterations"]),
                "converged": bool(res.mle_retvals["converged"])}  # fmt: skip
        return np.asarray(res.params), info

    return fit


def loop(fit_one, count):
    """One peer loop over the first ``count`` fits of a batch."""

    def fit():
        coefs, iters, unconverged = [], [], 0
        for i in range(count):
            coef, info = fit_one(i)
            coefs.append(coef)
            iters.append(info["n_iter"])
            unconverged += info.get("converged", True) is False
        return np.asarray(coefs), {"n_iter": iters, "unconverged": unconverged}

    return fit


def glum_row():
    """glum has no multinomial family: say so, checked on the installed glum."""
    try:
        from glum import GeneralizedLinearRegressor
    except ImportError:
        return ("not installed; glum has no multinomial family anyway "
                "(single-response families only, Quantco/glum#569)")  # fmt: skip
    X, y = make_batch(1, n=60, k=3)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            GeneralizedLinearRegressor(family="multinomial").fit(X[:, 1:], y[0])
    except Exception as err:  # noqa: BLE001 - any refusal means no family
        return f"no multinomial family ({type(err).__name__}: {str(err)[:60]})"
    return "accepted family='multinomial' (not benchmarked)"


# --------------------------------------------------------------------------------
# Rounds: every library once per round, the order rotated
# --------------------------------------------------------------------------------


def run_rounds(entries, repeats):
    """entries: {label: fit}; returns {label: {"times", "mib", "coef", "info"}}."""
    out = {label: {"times": [], "mib": []} for label in entries}
    labels = list(entries)
    for r in range(repeats):
        shift = r % len(labels)
        for label in labels[shift:] + labels[:shift]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seconds, mib, (coef, info) = measured(entries[label])
            out[label]["times"].append(seconds)
            out[label]["mib"].append(mib)
            out[label]["coef"], out[label]["info"] = coef, info
        print(f"  round {r + 1}: " + ", ".join(
            f"{label} {out[label]['times'][-1]:.3f} s" for label in labels
        ), flush=True)  # fmt: skip
    return out


def _row(base, library, method, timed, reference_coef, note, compile_s=None,
         first=None, scale=1.0):  # fmt: skip
    times = timed["times"]
    mib = [m for m in timed["mib"] if m is not None]
    diff = np.abs(np.asarray(timed["coef"]) - reference_coef)
    return {
        **base, "library": library, "method": method, "runs": len(times),
        "times": times, "seconds": float(np.median(times)) * scale,
        "compile": compile_s, "first_s": first,
        "max_dcoef": float(np.nanmax(diff)) if np.isfinite(diff).any() else None,
        "steady_mib": max(mib) if mib else None,
        "first_mib": timed.get("first_mib"), "note": note,
    }  # fmt: skip


def run_big(n, repeats, rows):
    p, k = 20, 5
    X, y = make_big(n, p, k)
    data = (X.nbytes + y.nbytes) / MIB
    print(f"big: n={n:,}, p={p}, K={k}, data {data:.1f} MiB (X float64, y int64); "
          f"classes {np.bincount(y, minlength=k).tolist()}", flush=True)  # fmt: skip
    base = {"problem": "big", "n": n, "p": p, "K": k, "fits": 1, "data_mib": data}
    ours = jaxglm_big(X, y, k)
    first, first_mib, _ = measured(ours)
    print(f"  jaxglm first call {first:.2f} s", flush=True)
    sk_newton = sklearn_fit(X, y, k, "newton-cholesky")
    sk_lbfgs = sklearn_fit(X, y, k, "lbfgs")
    sm_fit = statsmodels_fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fit in (sk_newton, sk_lbfgs, sm_fit):  # imports, first-call overheads
            fit(slice(0, WARMUP_ROWS))
    out = run_rounds({"jaxglm": ours, "sk-newton": sk_newton, "sk-lbfgs": sk_lbfgs,
                      "statsmodels": sm_fit}, repeats)  # fmt: skip
    out["jaxglm"]["first_mib"] = first_mib
    ref = out["jaxglm"]["coef"]
    steady = float(np.median(out["jaxglm"]["times"]))
    rows.append(_row(base, "jaxglm", "jg.fit", out["jaxglm"], ref,
                     "full inference; " + out["jaxglm"]["info"]["status"],
                     compile_s=max(first - steady, 0.0), first=first))  # fmt: skip
    for label, library, method, note in (
        ("sk-newton", "scikit-learn", "newton-cholesky", "coef only"),
        ("sk-lbfgs", "scikit-learn", "lbfgs", "coef only"),
        ("statsmodels", "statsmodels", "MNLogit newton", "bse"),
    ):
        info = out[label]["info"]
        note = f"{note}; {info['n_iter']} iterations" + (
            "; NOT converged" if info.get("converged") is False else ""
        )
        rows.append(_row(base, library, method, out[label], ref, note))
    rows.append({**base, "library": "glum", "method": "-", "seconds": None,
                 "note": glum_row()})  # fmt: skip


def run_batch(fits, subset, repeats, rows):
    n, p, k = 200, 4, 3
    X, Y = make_batch(fits, n, p, k)
    data = (X.nbytes + Y.nbytes) / MIB
    count = min(subset or fits, fits)
    print(f"batch: {fits:,} fits, n={n}, p={p}, K={k}, shared X; peers loop over "
          f"{count:,} fits", flush=True)  # fmt: skip
    base = {"problem": "batch", "n": n, "p": p, "K": k, "fits": fits, "data_mib": data}
    many, vmapped = jaxglm_fit_many(X, Y, k), jaxglm_vmap(X, Y, k)
    first_many, mib_many, _ = measured(many)
    first_vmap, mib_vmap, _ = measured(vmapped)
    print(f"  jaxglm first calls: fit_many {first_many:.2f} s, vmap "
          f"{first_vmap:.2f} s", flush=True)  # fmt: skip

    def sk_one(i):
        return sklearn_fit(X, Y[i], k, "newton-cholesky")()

    def sm_one(i):
        return statsmodels_fit(X, Y[i])()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk_one(0), sm_one(0)  # imports, first-call overheads
    out = run_rounds({"fit_many": many, "vmap": vmapped,
                      "statsmodels": loop(sm_one, count),
                      "scikit-learn": loop(sk_one, count)}, repeats)  # fmt: skip
    out["fit_many"]["first_mib"], out["vmap"]["first_mib"] = mib_many, mib_vmap
    ref = out["fit_many"]["coef"]
    ours = (("fit_many", "jg.fit_many", first_many),
            ("vmap", "jit(vmap(jg.fit))", first_vmap))  # fmt: skip
    for label, method, first in ours:
        steady = float(np.median(out[label]["times"]))
        rows.append({**_row(base, "jaxglm", method, out[label], ref,
                            "full inference; " + out[label]["info"]["status"],
                            compile_s=max(first - steady, 0.0), first=first),
                     "timed": fits, "extrapolated": False})  # fmt: skip
    peers = (("statsmodels", "MNLogit newton", "bse"),
             ("scikit-learn", "newton-cholesky", "coef only"))  # fmt: skip
    for label, method, note in peers:
        info = out[label]["info"]
        iters = info["n_iter"]
        note = f"{note}; {min(iters)}-{max(iters)} iterations" + (
            f"; {info['unconverged']} NOT converged" if info["unconverged"] else ""
        )
        row = _row(base, label, method, out[label], ref[:count], note,
                   scale=fits / count)  # fmt: skip
        rows.append({**row, "timed": count, "extrapolated": count < fits})


# --------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------


def machine():
    cpu, memory = cpu_and_memory()
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for dist in ("jax", "jaxlib", "jaxglm-stats", "scikit-learn", "statsmodels",
                 "glum"):  # fmt: skip
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "cores": os.cpu_count(), "cpu": cpu, "memory": memory,
        "threads": _THREADS, "platform": platform.platform(),
        "versions": versions,
    }  # fmt: skip


def _mib(value, size):
    if value is None:
        return "-"
    text = f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    return f"{text} ({value / size:.2f}x)"


def format_table(rows):
    header = ("problem", "library", "method", "runs", "seconds", "fits/s",
              "x jaxglm", "compile s", "max |dcoef|", "steady MiB (x data)",
              "note")  # fmt: skip
    base = {}
    for r in rows:
        if r["library"] == "jaxglm":
            base.setdefault(r["problem"], r["seconds"])
    lines = []
    for r in rows:
        if r.get("seconds") is None:
            lines.append((r["problem"], r["library"], r["method"], "-", "-", "-", "-",
                          "-", "-", "-", r["note"]))  # fmt: skip
            continue
        star = "*" if r.get("extrapolated") else ""
        runs = str(r["runs"])
        if r.get("extrapolated"):
            runs += f" x {r['timed']:,}"
        lines.append((
            r["problem"], r["library"], r["method"], runs,
            f"{r['seconds']:.3f}{star}", f"{r['fits'] / r['seconds']:,.1f}",
            f"{r['seconds'] / base[r['problem']]:.2f}",
            "-" if r.get("compile") is None else f"{r['compile']:.1f}",
            "-" if r.get("max_dcoef") is None else f"{r['max_dcoef']:.1e}",
            _mib(r.get("steady_mib"), r["data_mib"]), r["note"],
        ))  # fmt: skip
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    out = ["| " + " | ".join(h.replace("|", "\\|").ljust(w) for h, w in
                             zip(header, widths, strict=True)) + " |"]  # fmt: skip
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines:
        cells = (str(x).ljust(w) for x, w in zip(line, widths, strict=True))
        out.append("| " + " | ".join(cells) + " |")
    if any(r.get("extrapolated") for r in rows):
        out.append("* scaled linearly from the fits timed to the whole batch")
    return "\n".join(out)


def main(args):
    n = args.n or (5_000 if args.quick else 100_000)
    fits = args.fits or (20 if args.quick else 1_000)
    subset = args.subset or (10 if args.quick else None)
    info = machine()
    info["load_average_start"] = os.getloadavg()
    print(f"threads {_THREADS}; {args.repeats} rounds, libraries alternating",
          flush=True)  # fmt: skip
    rows = []
    start = time.perf_counter()
    if "big" in args.problems:
        run_big(n, args.repeats, rows)
    if "batch" in args.problems:
        run_batch(fits, subset, args.repeats, rows)
    total = time.perf_counter() - start
    info["load_average_end"] = os.getloadavg()

    print()
    print(format_table(rows))
    print()
    print(
        "steady MiB: a steady-state call's resident-memory high-water mark above "
        "the resident memory just before it; x data: over the size of X and y"
    )
    for r in rows:
        if r["library"] == "jaxglm" and r.get("first_mib") is not None:
            print(f"{r['problem']} {r['method']}: first call (compile included) "
                  f"+{r['first_mib']:,.0f} MiB")  # fmt: skip
    load = info["load_average_start"][0], info["load_average_end"][0]
    print(f"machine: {info['cores']} cores, {info['cpu']}, {info['memory']}; "
          f"threads {_THREADS}; load average {load[0]:.2f} at start, "
          f"{load[1]:.2f} at end; total {total:.0f} s")  # fmt: skip
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))

    name = "bench_multinomial" + ("_quick" if args.quick else "")
    out = args.out or RESULTS_DIR / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"quick": args.quick, "n": n, "fits": fits, "subset": subset,
               "repeats": args.repeats, "machine": info, "total_s": total,
               "rows": rows}  # fmt: skip
    out.write_text(json.dumps(payload, indent=2, default=float))
    print(f"results: {out}")
    return payload


if __name__ == "__main__":
    sys.exit(0 if main(ARGS) else 1)
