"""Elastic-net paths and cross-validation against glmnet, glum and scikit-learn.

Problems (``--quick`` shrinks both):

- ``poisson_path``: a Poisson elastic-net path (alpha = 0.5), n = 100,000,
  p = 200 N(0, 1) columns (standardised, so ``standardize`` does not matter),
  20 non-zero slopes N(0, 0.1^2), 100 lambdas (glmnet's default sequence,
  computed by jaxglm and passed to every library).
- ``logistic_cv``: 10-fold cross-validation of a logistic lasso path, n = 20,000,
  p = 100, 10 non-zero slopes, 100 lambdas, one fixed ``foldid``.

Libraries, float64, BLAS threads as the user's defaults (nothing pinned):

- ``jaxglm``: ``jg.fit_path`` / ``jg.cv_path`` (default tol 1e-8); "compile s"
  is the first call minus a steady-state call.
- ``glmnet`` (R, ``Rscript``): ``glmnet`` / ``cv.glmnet(foldid, type.measure =
  "deviance")`` at the same lambdas, timed inside R (data loading excluded), at
  its default ``thresh`` (1e-7) and at ``thresh = 1e-10``.
- ``glum``: ``GeneralizedLinearRegressor(alpha=lambdas, l1_ratio, alpha_search=True)``
  (the same objective as glmnet's) and ``GeneralizedLinearRegressorCV`` with
  the same folds.
- ``scikit-learn``: no Poisson elastic net; for the logistic CV
  ``LogisticRegressionCV(penalty="l1", solver="saga", Cs = 1 / (n_train lambda))``.

"max |dcoef|" compares each library's coefficients with jaxglm's over the
whole path (CV: the full-data path where the library returns it, else the
coefficients at lambda_min), "min lambda agrees" whether the CV picked the
same lambda_min.  Results: a table on stdout, JSON in ``benchmarks/results/``.

    python benchmarks/bench_path.py            # full run (several minutes)
    python benchmarks/bench_path.py --quick    # tiny sizes; run by the tests
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _common import thread_label


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--problems", default="poisson_path,logistic_cv")
    parser.add_argument("--no-sklearn", action="store_true", help="skip saga (slow)")
    parser.add_argument("--no-glum", action="store_true", help="skip glum (slow)")
    parser.add_argument("--out", type=Path, help="JSON path (default: results/)")
    args = parser.parse_args(argv)
    args.threads_label = thread_label()
    return args


R_PATH = r"""
suppressPackageStartupMessages(library(glmnet))
a <- commandArgs(TRUE); dir <- a[1]; n <- as.integer(a[2]); p <- as.integer(a[3])
X <- matrix(readBin(file.path(dir, "X.bin"), "double", n * p), n, p, byrow = TRUE)
y <- readBin(file.path(dir, "y.bin"), "double", n)
lam <- readBin(file.path(dir, "lambda.bin"), "double", as.integer(a[4]))
fam <- a[5]; alpha <- as.numeric(a[6]); out <- list()
for (thresh in c(1e-7, 1e-10)) {
  if (a[7] == "path") {
    t <- system.time(f <- glmnet(X, y, family = fam, alpha = alpha, lambda = lam,
                                 standardize = FALSE, thresh = thresh))[["elapsed"]]
    coef <- as.matrix(t(f$beta))
  } else {
    foldid <- readBin(file.path(dir, "foldid.bin"), "integer", n)
    t <- system.time(f <- cv.glmnet(X, y, family = fam, alpha = alpha,
                                    lambda = lam, standardize = FALSE,
                                    foldid = foldid, thresh = thresh,
                                    type.measure = "deviance"))[["elapsed"]]
    coef <- as.matrix(t(f$glmnet.fit$beta))
    out[[paste0("lmin", thresh)]] <- f$lambda.min
  }
  out[[paste0("t", thresh)]] <- t
  writeBin(as.vector(t(coef)), file.path(dir, paste0("coef", thresh, ".bin")))
}
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def _data(n, p, k, family, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    X = (X - X.mean(0)) / X.std(0)
    beta = np.zeros(p)
    if family == "poisson":
        beta[:k] = rng.normal(0.0, 0.1, k)
        y = rng.poisson(np.exp(0.5 + X @ beta)).astype(float)
    else:
        beta[:k] = rng.normal(0.0, 0.5, k)
        y = (rng.random(n) < 1 / (1 + np.exp(-(X @ beta)))).astype(float)
    return X, y


def _glmnet(X, y, lambdas, family, alpha, kind, foldid=None):
    import numpy as np

    if shutil.which("Rscript") is None:
        return None, "Rscript not found"
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        X.astype("<f8").tofile(d / "X.bin")
        y.astype("<f8").tofile(d / "y.bin")
        np.asarray(lambdas, "<f8").tofile(d / "lambda.bin")
        if foldid is not None:
            (np.asarray(foldid) + 1).astype("<i4").tofile(d / "foldid.bin")
        (d / "run.R").write_text(R_PATH)
        n, p = X.shape
        args = [str(d), str(n), str(p), str(len(lambdas)), family, str(alpha), kind]
        proc = subprocess.run(
            ["Rscript", str(d / "run.R"), *args], capture_output=True, text=True
        )
        if proc.returncode != 0:
            return None, "glmnet failed: " + proc.stderr[-300:]
        out = json.loads(proc.stdout)
        for thresh in ("1e-07", "1e-10"):
            coef = np.fromfile(d / f"coef{thresh}.bin", "<f8").reshape(-1, p)
            out[f"coef{thresh}"] = coef
        return out, ""


def _row(problem, library, method, seconds, ref_seconds, dcoef, note, compile_s=None):
    return {
        "problem": problem,
        "library": library,
        "method": method,
        "seconds": seconds,
        "x_jaxglm": None if seconds is None else seconds / ref_seconds,
        "compile_s": compile_s,
        "max_dcoef": dcoef,
        "note": note,
    }


def poisson_path(args):
    import jax
    import numpy as np

    import jaxglm as jg

    n, p, n_lambda = (2_000, 20, 20) if args.quick else (100_000, 200, 100)
    X, y = _data(n, p, max(2, p // 10), "poisson", 0)
    alpha = 0.5
    Xj, yj = jax.device_put((X, y))

    def run():
        res = jg.fit_path(
            Xj, yj, jg.Poisson(), alpha=alpha, n_lambda=n_lambda, standardize=False
        )
        return jax.block_until_ready(res)

    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = run()
    ours = time.perf_counter() - t0
    coef = np.asarray(res.coef)
    lambdas = np.asarray(res.lambdas)
    ok = int(np.sum(np.asarray(res.status) == 0))
    rows = [
        _row(
            "poisson_path",
            "jaxglm",
            "fit_path",
            ours,
            ours,
            0.0,
            f"{ok}/{n_lambda} SUCCESS; {int(np.sum(res.n_iter))} IRLS steps",
            first - ours,
        )
    ]
    out, why = _glmnet(X, y, lambdas, "poisson", alpha, "path")
    if out is None:
        rows.append(_row("poisson_path", "glmnet", "glmnet", None, ours, None, why))
    else:
        for thresh, key in (("1e-07", "1e-07"), ("1e-10", "1e-10")):
            d = float(np.abs(out["coef" + key] - coef).max())
            rows.append(
                _row(
                    "poisson_path",
                    "glmnet",
                    f"glmnet thresh={thresh}",
                    out["t" + key],
                    ours,
                    d,
                    "timed inside R",
                )
            )
    try:
        if args.no_glum:
            raise ImportError
        from glum import GeneralizedLinearRegressor

        model = GeneralizedLinearRegressor(
            family="poisson",
            alpha=list(lambdas),
            l1_ratio=alpha,
            alpha_search=True,
            gradient_tol=1e-8,
        )
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        glum_s = time.perf_counter() - t0
        d = float(np.abs(np.asarray(model.coef_path_) - coef).max())
        rows.append(
            _row(
                "poisson_path",
                "glum",
                "GeneralizedLinearRegressor",
                glum_s,
                ours,
                d,
                "alpha_search over the same lambdas",
            )
        )
    except ImportError:
        why = "skipped (--no-glum)" if args.no_glum else "not installed"
        rows.append(_row("poisson_path", "glum", "-", None, ours, None, why))
    rows.append(
        _row(
            "poisson_path",
            "scikit-learn",
            "-",
            None,
            ours,
            None,
            "no Poisson elastic net (PoissonRegressor is L2 only)",
        )
    )
    return rows


def logistic_cv(args):
    import jax
    import numpy as np

    import jaxglm as jg

    n, p, n_lambda, k = (1_000, 10, 20, 5) if args.quick else (20_000, 100, 100, 10)
    X, y = _data(n, p, max(2, p // 10), "binomial", 1)
    foldid = np.random.default_rng(2).permutation(np.arange(n) % k)
    Xj, yj = jax.device_put((X, y))

    def run():
        res = jg.cv_path(
            Xj, yj, jg.Binomial(), foldid=foldid, n_lambda=n_lambda, standardize=False
        )
        return jax.block_until_ready(res)

    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = run()
    ours = time.perf_counter() - t0
    coef = np.asarray(res.path.coef)
    lambdas = np.asarray(res.lambdas)
    lmin = float(res.lambda_min)
    ok = int(np.sum(np.asarray(res.fold_status) == 0))
    rows = [
        _row(
            "logistic_cv",
            "jaxglm",
            "cv_path",
            ours,
            ours,
            0.0,
            f"{ok}/{k * n_lambda} fold fits SUCCESS; lambda_min {lmin:.4g}",
            first - ours,
        )
    ]
    out, why = _glmnet(X, y, lambdas, "binomial", 1.0, "cv", foldid)
    if out is None:
        rows.append(_row("logistic_cv", "glmnet", "cv.glmnet", None, ours, None, why))
    else:
        for key in ("1e-07", "1e-10"):
            d = float(np.abs(out["coef" + key] - coef).max())
            same = np.isclose(out["lmin" + key], lmin, rtol=1e-9)
            rows.append(
                _row(
                    "logistic_cv",
                    "glmnet",
                    f"cv.glmnet thresh={key}",
                    out["t" + key],
                    ours,
                    d,
                    f"timed inside R; lambda_min agrees: {bool(same)}",
                )
            )
    try:
        if args.no_glum:
            raise ImportError
        from glum import GeneralizedLinearRegressorCV
        from sklearn.model_selection import PredefinedSplit

        model = GeneralizedLinearRegressorCV(
            family="binomial",
            alphas=list(lambdas),
            l1_ratio=1.0,
            cv=PredefinedSplit(foldid),
            gradient_tol=1e-8,
        )
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        glum_s = time.perf_counter() - t0
        i = int(np.argmin(np.abs(lambdas - model.alpha_)))
        d = float(np.abs(model.coef_ - coef[i]).max())
        same = np.isclose(model.alpha_, lmin, rtol=1e-9)
        rows.append(
            _row(
                "logistic_cv",
                "glum",
                "GeneralizedLinearRegressorCV",
                glum_s,
                ours,
                d,
                f"coef at its lambda_min; lambda_min agrees: {bool(same)}",
            )
        )
    except ImportError:
        rows.append(_row("logistic_cv", "glum", "-", None, ours, None, "not installed"))
    if not args.no_sklearn:
        from sklearn.linear_model import LogisticRegressionCV
        from sklearn.model_selection import PredefinedSplit

        n_train = n * (k - 1) / k
        model = LogisticRegressionCV(
            Cs=list(1.0 / (n_train * lambdas)),
            penalty="l1",
            solver="saga",
            cv=PredefinedSplit(foldid),
            scoring="neg_log_loss",
            tol=1e-6,
            max_iter=10_000,
        )
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        sk_s = time.perf_counter() - t0
        i = int(np.argmin(np.abs(1.0 / (n_train * lambdas) - model.C_[0])))
        # Its refit on all rows is jg.fit with l1 = 1 / C (C sum logloss + |b|_1).
        refit = jg.fit(jg.add_intercept(X), y, jg.Binomial(), l1=1.0 / model.C_[0])
        d = float(np.abs(model.coef_[0] - np.asarray(refit.coef[1:])).max())
        same = i == int(res.index_min)
        rows.append(
            _row(
                "logistic_cv",
                "scikit-learn",
                "LogisticRegressionCV saga",
                sk_s,
                ours,
                d,
                f"coef of its refit vs jg.fit(l1=1/C); lambda_min agrees: {same}",
            )
        )
    return rows


def main(args):
    import jax

    jax.config.update("jax_enable_x64", True)
    rows = []
    problems = {"poisson_path": poisson_path, "logistic_cv": logistic_cv}
    for name in args.problems.split(","):
        rows += problems[name](args)
    header = (
        "problem",
        "library",
        "method",
        "seconds",
        "x jaxglm",
        "compile s",
        "max |dcoef|",
        "note",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:

        def fmt(v, spec):
            return "-" if v is None else format(v, spec)

        print(
            f"| {r['problem']} | {r['library']} | {r['method']} | "
            f"{fmt(r['seconds'], '.3f')} | {fmt(r['x_jaxglm'], '.2f')} | "
            f"{fmt(r['compile_s'], '.1f')} | {fmt(r['max_dcoef'], '.1e')} | "
            f"{r['note']} |"
        )
    payload = {
        "quick": args.quick,
        "threads": args.threads_label,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "jax": jax.__version__,
        "rows": rows,
    }
    out = args.out or Path(__file__).parent / "results" / "bench_path.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=float))


if __name__ == "__main__":
    main(_parse_args())
