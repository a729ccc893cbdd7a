"""Batched GLM fits: one vmapped jaxglm call against per-fit loops elsewhere.

Problems (full sizes; ``--quick`` shrinks the batch to 50 and the peer subsets
to 10):

- ``poisson_separate``: 10,000 Poisson/log fits, each with its own design
  (n = 1000, p = 8): ``jax.jit(jax.vmap(jg.fit))``.
- ``poisson_shared``: the same responses against one shared design:
  ``jg.fit_many``.
- ``logistic_separate``: 10,000 logistic fits with their own designs
  (n = 500, p = 4).

jaxglm computes the full inference of every fit (coef, cov, se, p-values,
deviance, null deviance, AIC, ...) and is timed to ``block_until_ready``.  Its
compile time (first call minus a steady-state call) is reported on its own.
Peers run in a Python loop over a subset of the fits (statsmodels GLM with
``bse``/``deviance``/``aic``; scikit-learn ``PoissonRegressor`` /
``LogisticRegression`` unpenalised with ``newton-cholesky``; glum
``GeneralizedLinearRegressor(alpha=0)``), and their time is extrapolated
linearly to the whole batch (marked in the table).  TensorFlow Probability's JAX
substrate (``tfp.substrates.jax.glm.fit``), when importable, fits the whole
batch at once (coefficients only).  Each peer's coefficients are compared with
jaxglm's (``max |dcoef|``).

A status check injects failures into the logistic batch (separated data, NaN
responses) and counts how many ``status`` flags are right.  Full runs also sweep
the batch size (1 to 10,000) for ``poisson_separate``.

Every library runs with a user's default threads (nothing is pinned).
Results: one table on stdout and JSON in ``benchmarks/results/`` (git-ignored).

    python benchmarks/bench_batch.py            # full run
    python benchmarks/bench_batch.py --quick    # seconds; run by the test suite
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--fits", type=int, help="batch size (default 10000; 50 quick)")
    parser.add_argument("--subset", type=int, help="fits timed per peer loop")
    parser.add_argument("--no-sweep", action="store_true", help="skip the batch sweep")
    parser.add_argument("--out", type=Path, help="JSON path (default: results/)")
    return parser.parse_args(argv)


ARGS = _parse_args() if __name__ == "__main__" else None
from _common import thread_label  # noqa: E402  (standard library only)

_THREADS = thread_label()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

from _common import cpu_and_memory  # noqa: E402

import jaxglm as jg  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TOL = 1e-8


# --------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------


def make_poisson(fits, n, p, seed, shared):
    rng = np.random.default_rng(seed)
    shape = (n, p - 1) if shared else (fits, n, p - 1)
    covariates = rng.normal(scale=0.3, size=shape)
    X = np.concatenate([np.ones((*shape[:-1], 1)), covariates], axis=-1)
    coef = rng.normal(scale=0.3, size=(fits, p))
    coef[:, 0] = 1.0
    eta = X @ coef.T if shared else np.einsum("bnp,bp->bn", X, coef)
    Y = rng.poisson(np.exp(eta.T if shared else eta)).astype(np.float64)
    return X, Y


def make_logistic(fits, n, p, seed):
    rng = np.random.default_rng(seed)
    X = np.concatenate(
        [np.ones((fits, n, 1)), rng.normal(size=(fits, n, p - 1))], axis=-1
    )
    coef = rng.normal(scale=0.5, size=(fits, p))
    eta = np.einsum("bnp,bp->bn", X, coef)
    Y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta))).astype(np.float64)
    return X, Y


# --------------------------------------------------------------------------------
# Timing helpers
# --------------------------------------------------------------------------------


def _steady(call, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(call())
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def time_jaxglm(call, repeats):
    """(first call incl. compile, steady-state seconds, result)."""
    start = time.perf_counter()
    result = jax.block_until_ready(call())
    first = time.perf_counter() - start
    steady = _steady(call, repeats)
    return first, steady, result


def time_loop(fit_one, count):
    coefs = []
    start = time.perf_counter()
    for i in range(count):
        coefs.append(fit_one(i))
    return time.perf_counter() - start, np.asarray(coefs)


# --------------------------------------------------------------------------------
# Peers: each returns fit_one(i) -> coef (with the intercept first), or None
# --------------------------------------------------------------------------------


def statsmodels_peer(X, Y, kind, shared):
    try:
        import statsmodels.api as sm
    except ImportError:
        return None, "not installed"
    family = sm.families.Poisson() if kind == "poisson" else sm.families.Binomial()

    def fit_one(i):
        res = sm.GLM(Y[i], X if shared else X[i], family=family).fit(tol=TOL)
        res.bse, res.deviance, res.aic  # noqa: B018 - the inference is part of the work
        return res.params

    return fit_one, "bse, deviance, aic"


def sklearn_peer(X, Y, kind, shared):
    try:
        from sklearn.linear_model import LogisticRegression, PoissonRegressor
    except ImportError:
        return None, "not installed"
    if kind == "poisson":
        model = PoissonRegressor(alpha=0.0, solver="newton-cholesky", tol=1e-10)
    else:  # C=inf is penalty=None (deprecated spelling since 1.8)
        model = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10)
    model.set_params(max_iter=100)

    def fit_one(i):
        Xi = X if shared else X[i]
        model.fit(np.ascontiguousarray(Xi[:, 1:]), Y[i])
        return np.concatenate([np.ravel(model.intercept_), np.ravel(model.coef_)])

    return fit_one, "coef only"


def glum_peer(X, Y, kind, shared):
    try:
        from glum import GeneralizedLinearRegressor
    except ImportError:
        return None, "not installed"
    model = GeneralizedLinearRegressor(
        family="poisson" if kind == "poisson" else "binomial",
        alpha=0.0,
        gradient_tol=1e-8,  # its default (1e-4) leaves |dcoef| ~ 1e-4
    )

    def fit_one(i):
        Xi = X if shared else X[i]
        model.fit(np.ascontiguousarray(Xi[:, 1:]), Y[i])
        return np.concatenate([[model.intercept_], model.coef_])

    return fit_one, "coef only"


def tfp_batched(X, Y, kind, shared):
    """(first, steady, coef) for one batched tfp.glm.fit call, or a reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from tensorflow_probability.substrates import jax as tfp
    except Exception as err:  # noqa: BLE001 - any import failure means unavailable
        return f"unavailable ({type(err).__name__}: {str(err)[:60]})"
    model = tfp.glm.Poisson() if kind == "poisson" else tfp.glm.Bernoulli()
    design = np.broadcast_to(X, (Y.shape[0], *X.shape)) if shared else X

    @jax.jit
    def fit(design, Y):
        coef, _, converged, n_iter = tfp.glm.fit(
            design, Y, model, maximum_iterations=100
        )
        return coef, converged, n_iter

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "fast_unsafe_numerics not supported"
            first, steady, (coef, _, _) = time_jaxglm(lambda: fit(design, Y), 2)
    except Exception as err:  # noqa: BLE001
        return f"failed ({type(err).__name__}: {str(err)[:60]})"
    return first, steady, np.asarray(coef)


# --------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------


def _jaxglm_call(kind, X, Y, shared):
    family = jg.Poisson() if kind == "poisson" else jg.Binomial()
    if shared:
        X, Y = jnp.asarray(X), jnp.asarray(Y)
        return lambda: jg.fit_many(X, Y, family, tol=TOL)
    fit = jax.jit(jax.vmap(lambda X, y: jg.fit(X, y, family, tol=TOL)))
    X, Y = jnp.asarray(X), jnp.asarray(Y)
    return lambda: fit(X, Y)


def run_problem(name, kind, X, Y, shared, subset, repeats, rows):
    fits = Y.shape[0]
    first, steady, res = time_jaxglm(_jaxglm_call(kind, X, Y, shared), repeats)
    ok = int(np.sum(np.asarray(res.status) == jg.Status.SUCCESS))
    coef = np.asarray(res.coef)
    base = {"problem": name, "fits": fits, "n": Y.shape[1], "p": coef.shape[1]}
    rows.append({
        **base, "library": "jaxglm", "timed": fits, "seconds": steady,
        "compile": max(first - steady, 0.0), "extrapolated": False,
        "note": f"full inference; {ok}/{fits} SUCCESS", "max_dcoef": 0.0,
    })  # fmt: skip
    print(
        f"  jaxglm: {steady:.3f} s steady, {first - steady:.1f} s compile", flush=True
    )

    peers = (
        ("statsmodels", statsmodels_peer),
        ("scikit-learn", sklearn_peer),
        ("glum", glum_peer),
    )
    for label, make in peers:
        fit_one, note = make(X, Y, kind, shared)
        if fit_one is None:
            rows.append({**base, "library": label, "seconds": None, "note": note})
            continue
        count = min(subset, fits)
        fit_one(0)  # warm-up (imports, first-call overheads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds, peer_coef = time_loop(fit_one, count)
        rows.append({
            **base, "library": label, "timed": count,
            "seconds": seconds * fits / count, "compile": None,
            "extrapolated": count < fits, "note": note,
            "max_dcoef": float(np.max(np.abs(peer_coef - coef[:count]))),
        })  # fmt: skip
        print(f"  {label}: {seconds:.2f} s for {count} fits", flush=True)

    out = tfp_batched(X, Y, kind, shared)
    if isinstance(out, str):
        rows.append({**base, "library": "tfp.glm (JAX)", "seconds": None, "note": out})
    else:
        first_tfp, steady_tfp, tfp_coef = out
        rows.append({
            **base, "library": "tfp.glm (JAX)", "timed": fits, "seconds": steady_tfp,
            "compile": max(first_tfp - steady_tfp, 0.0), "extrapolated": False,
            "note": "coef only; one convergence test for the whole batch",
            "max_dcoef": float(np.max(np.abs(tfp_coef - coef))),
        })  # fmt: skip
        print(f"  tfp: {steady_tfp:.3f} s steady", flush=True)
    return res


def status_check(X, Y, repeats_unused=None):
    """Inject separated and NaN responses into a logistic batch; count flags."""
    fits = Y.shape[0]
    rng = np.random.default_rng(11)
    Y = Y.copy()
    index = rng.permutation(fits)
    n_bad = max(fits // 20, 1)
    separated, with_nan = index[:n_bad], index[n_bad : 2 * n_bad]
    Y[separated] = (X[separated, :, 1] > 0).astype(np.float64)
    Y[with_nan, 0] = np.nan
    expected = np.full(fits, int(jg.Status.SUCCESS))
    expected[separated] = jg.Status.SEPARATION
    expected[with_nan] = jg.Status.INVALID_INPUT
    res = _jaxglm_call("logistic", X, Y, shared=False)()
    status = np.asarray(res.status)
    flagged = {
        "separated_flagged": int(np.sum(status[separated] == jg.Status.SEPARATION)),
        "separated": int(n_bad),
        "nan_flagged": int(np.sum(status[with_nan] == jg.Status.INVALID_INPUT)),
        "nan": int(n_bad),
        "clean_success": int(np.sum(status[expected == 0] == 0)),
        "clean": int(np.sum(expected == 0)),
    }
    flagged["accuracy"] = float(np.mean(status == expected))
    return flagged


def batch_sweep(sizes, n, p, repeats):
    out = []
    for size in sizes:
        X, Y = make_poisson(size, n, p, seed=5, shared=False)
        first, steady, _ = time_jaxglm(_jaxglm_call("poisson", X, Y, False), repeats)
        out.append({"fits": size, "seconds": steady, "fits_per_second": size / steady,
                    "compile": max(first - steady, 0.0)})  # fmt: skip
        print(f"  sweep {size}: {size / steady:,.0f} fits/s", flush=True)
    return out


def machine():
    cpu, memory = cpu_and_memory()
    versions = {"python": platform.python_version(), "jax": jax.__version__,
                "jaxglm": jg.__version__, "numpy": np.__version__}  # fmt: skip
    for module in ("statsmodels", "sklearn", "glum"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import tensorflow_probability as tfp_module

            versions["tensorflow_probability"] = tfp_module.__version__
    except Exception:  # noqa: BLE001
        versions["tensorflow_probability"] = None
    return {
        "cores": os.cpu_count(), "cpu": cpu, "memory": memory,
        "load_average": os.getloadavg(), "threads": _THREADS,
        "platform": platform.platform(), "versions": versions,
    }  # fmt: skip


def format_table(rows):
    header = ("problem", "library", "fits timed", "seconds", "fits/s",
              "x jaxglm", "compile s", "max |dcoef|", "note")  # fmt: skip
    lines = []
    base = {r["problem"]: r["seconds"] for r in rows if r["library"] == "jaxglm"}
    for r in rows:
        if r.get("seconds") is None:
            lines.append((r["problem"], r["library"], "-", "-", "-", "-", "-", "-",
                          r["note"]))  # fmt: skip
            continue
        timed = f"{r['timed']:,}" + (f" of {r['fits']:,}" if r["extrapolated"] else "")
        seconds = f"{r['seconds']:.3f}" + ("*" if r["extrapolated"] else "")
        lines.append((
            r["problem"], r["library"], timed, seconds,
            f"{r['fits'] / r['seconds']:,.0f}",
            f"{r['seconds'] / base[r['problem']]:.1f}",
            "-" if r.get("compile") is None else f"{r['compile']:.1f}",
            f"{r['max_dcoef']:.1e}", r["note"],
        ))  # fmt: skip
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    out = [
        "| "
        + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
        + " |"
    ]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines:
        cells = (str(x).ljust(w) for x, w in zip(line, widths, strict=True))
        out.append("| " + " | ".join(cells) + " |")
    out.append("* extrapolated linearly from the fits timed to the whole batch")
    return "\n".join(out)


def main(args):
    fits = args.fits or (50 if args.quick else 10_000)
    subset = args.subset or (10 if args.quick else 100)
    repeats = 1 if args.quick else 3
    info = machine()
    print(f"{fits} fits per problem; peers timed on {subset}; threads {_THREADS}",
          flush=True)  # fmt: skip
    rows = []
    print("poisson_separate", flush=True)
    X, Y = make_poisson(fits, 1000, 8, seed=1, shared=False)
    run_problem("poisson_separate", "poisson", X, Y, False, subset, repeats, rows)
    del X, Y
    print("poisson_shared", flush=True)
    X, Y = make_poisson(fits, 1000, 8, seed=2, shared=True)
    run_problem("poisson_shared", "poisson", X, Y, True, subset, repeats, rows)
    del X, Y
    print("logistic_separate", flush=True)
    X, Y = make_logistic(fits, 500, 4, seed=3)
    run_problem("logistic_separate", "logistic", X, Y, False, subset, repeats, rows)
    status = status_check(X, Y)
    del X, Y
    sweep = []
    if not (args.quick or args.no_sweep):
        print("batch sweep (poisson_separate)", flush=True)
        sweep = batch_sweep([1, 10, 100, 1000], 1000, 8, repeats)
        full = next(r for r in rows if r["library"] == "jaxglm")
        sweep.append({"fits": fits, "seconds": full["seconds"],
                      "fits_per_second": fits / full["seconds"],
                      "compile": full["compile"]})  # fmt: skip

    print()
    print(format_table(rows))
    print()
    print("status check (logistic batch, 5% separated, 5% NaN): "
          f"{status['separated_flagged']}/{status['separated']} SEPARATION, "
          f"{status['nan_flagged']}/{status['nan']} INVALID_INPUT, "
          f"{status['clean_success']}/{status['clean']} clean fits SUCCESS"
    )  # fmt: skip
    if sweep:
        print("\nbatch size sweep, poisson_separate (n=1000, p=8):")
        for s in sweep:
            print(f"  {s['fits']:>6,} fits: {s['seconds']:.4f} s, "
                  f"{s['fits_per_second']:,.0f} fits/s, "
                  f"compile {s['compile']:.1f} s")  # fmt: skip
    print(f"\nmachine: {info['cores']} cores, {info['cpu']}, {info['memory']}, "
          f"load average at start {info['load_average'][0]:.2f}")  # fmt: skip

    out = args.out or RESULTS_DIR / f"bench_batch{'_quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"quick": args.quick, "fits": fits, "subset": subset, "machine": info,
               "rows": rows, "status_check": status, "sweep": sweep}  # fmt: skip
    out.write_text(json.dumps(payload, indent=2, default=float))
    print(f"results: {out}")
    return payload


if __name__ == "__main__":
    sys.exit(0 if main(ARGS) else 1)
