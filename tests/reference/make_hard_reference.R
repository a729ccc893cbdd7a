# R's glm() on rank-deficient designs: the references for tests/test_hard_data.py.
#
#   Rscript tests/reference/make_hard_reference.R
#
# Each case simulates a small dataset with set.seed, builds a design matrix that is
# rank deficient on purpose (a duplicated column, a linear combination, a dummy
# trap, p > n, a column living only on zero-weight rows, a zero column),
# finds the aliased columns with glm() at its default control, refits R with those
# columns dropped at epsilon = 1e-14, and writes hard_<case>.json next to this script:
#
#   name, description, family, link (jaxglm class names), family_params,
#   colnames, X (row-major), y, weights, offset, and under "rfit" what R reports:
#   coef (NA as null for the aliased columns), aliased (logical), se (null where
#   aliased, or where R's dispersion is NaN because df_resid = 0), deviance,
#   null_deviance, aic, dispersion, df_resid, rank, nobs, mu, eta, converged, iter,
#   and full_rank, full_df_resid, full_deviance from the fit with every column.
#
# The top-level key is "rfit", not "r", on purpose: tests/refdata.py treats files with
# an "r" key as full-fit references, and these fits are not (aliased coefficients
# have no cov, z or p-values).  R drops the LATER column of a collinear set
# (LINPACK dqrdc2 with limited pivoting), which is what the tests check.
#
# Needs R with MASS and jsonlite (Debian: r-base-core r-cran-mass r-cran-jsonlite).

suppressPackageStartupMessages({
  library(MASS)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(script) == 1) dirname(normalizePath(script)) else getwd()

glm_fit <- function(X, y, w, off, family, epsilon) {
  intercept <- any(apply(X, 2, function(col) all(col == col[1]) && col[1] != 0))
  fit <- glm.fit(X, y, weights = w, offset = off, family = family, intercept = intercept,
                 control = glm.control(epsilon = epsilon, maxit = 100))
  class(fit) <- c("glm", "lm")
  if (intercept && any(off != 0)) {
    # As glm() does: the null model is the intercept-only fit with the offset.
    null <- glm.fit(matrix(1, nrow(X), 1), y, weights = w, offset = off,
                    family = family, intercept = TRUE,
                    control = glm.control(epsilon = epsilon, maxit = 100))
    fit$null.deviance <- null$deviance
  }
  fit
}

write_case <- function(name, description, X, y, family, jg_family, jg_link,
                       family_params = list(), weights = NULL, offset = NULL) {
  n <- nrow(X)
  w <- if (is.null(weights)) rep(1, n) else weights
  off <- if (is.null(offset)) rep(0, n) else offset
  # Which columns R aliases: glm() at its default control.  (glm.fit's QR tolerance
  # is min(1e-7, epsilon / 1000), so at epsilon = 1e-14 it would keep an exact
  # duplicate column and then diverge; the default epsilon is what users get.)
  full <- glm_fit(X, y, w, off, family, 1e-8)
  aliased <- unname(is.na(full$coefficients))
  stopifnot(full$converged, full$rank < ncol(X), sum(!aliased) == full$rank)
  # R's numbers: the same fit with the aliased columns dropped, at epsilon = 1e-14.
  fit <- glm_fit(X[, !aliased, drop = FALSE], y, w, off, family, 1e-14)
  stopifnot(fit$converged, fit$rank == full$rank)
  # Dispersion fixed at 1 for the one-parameter families (negative.binomial with a
  # known theta included, as MASS's summary.negbin); Pearson / df_resid otherwise.
  fixed <- family$family %in% c("poisson", "binomial") ||
    startsWith(family$family, "Negative Binomial")
  s <- if (fixed) summary.glm(fit, dispersion = 1) else summary.glm(fit)
  coef <- se <- rep(NA_real_, ncol(X))
  coef[!aliased] <- fit$coefficients
  se[!aliased] <- s$coefficients[, 2]
  stopifnot(isTRUE(all.equal(unname(full$coefficients[!aliased]), unname(fit$coefficients),
                             tolerance = 1e-6)))
  rfit <- list(
    coef = coef,
    aliased = aliased,
    se = se,
    deviance = fit$deviance,
    null_deviance = fit$null.deviance,
    aic = fit$aic,
    dispersion = s$dispersion,
    df_resid = fit$df.residual,
    rank = fit$rank,
    nobs = sum(w != 0),
    mu = unname(fit$fitted.values),
    eta = unname(fit$linear.predictors),
    converged = fit$converged,
    iter = fit$iter,
    full_rank = full$rank,
    full_df_resid = full$df.residual,
    full_deviance = full$deviance
  )
  out <- list(
    name = name,
    description = description,
    family = jg_family,
    link = jg_link,
    family_params = family_params,
    colnames = colnames(X),
    X = unname(X),
    y = unname(y),
    weights = w,
    offset = off,
    has_weights = !is.null(weights),
    has_offset = !is.null(offset),
    rfit = rfit,
    r_version = R.version.string
  )
  if (length(family_params) == 0) {
    out$family_params <- structure(list(), names = character(0))
  }
  path <- file.path(here, paste0("hard_", name, ".json"))
  # digits = NA: jsonlite's maximum, 15 significant digits -- far below the tests'
  # tolerances (rtol 1e-6); NA and NaN become null.
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null",
                    matrix = "rowmajor", pretty = FALSE), path)
  cat("wrote", basename(path), " rank", fit$rank, "of", ncol(X), " aliased:",
      paste(colnames(X)[aliased], collapse = ","), "\n")
}

# 1. Poisson: a covariate entered twice; R keeps the first copy.
set.seed(101)
n <- 40
x1 <- rnorm(n)
x2 <- runif(n)
X <- cbind("(Intercept)" = 1, x1 = x1, x2 = x2, x1_again = x1)
y <- rpois(n, exp(0.5 + 0.4 * x1 - 0.3 * x2))
write_case("poisson_dup_column", "Poisson log; x1 duplicated as the last column",
           X, y, poisson(), "Poisson", "Log")

# 2. Binomial (grouped, trials as weights): the third column is x1 + 2 x2 and x2
#    comes after it, so R drops x2 (the later column), not the combination.
set.seed(102)
n <- 60
x1 <- rnorm(n)
x2 <- rnorm(n)
X <- cbind("(Intercept)" = 1, x1 = x1, x1_plus_2x2 = x1 + 2 * x2, x2 = x2)
trials <- sample(3:15, n, replace = TRUE)
p <- plogis(-0.2 + 0.6 * x1 - 0.5 * x2)
y <- rbinom(n, trials, p) / trials
write_case("binomial_collinear", "Binomial logit with trials; x2 after x1 + 2 x2",
           X, y, binomial(), "Binomial", "Logit", weights = trials)

# 3. Gamma log: intercept plus a dummy for every level of a 3-level factor (the dummy
#    trap); the last dummy is aliased although a covariate follows it.
set.seed(103)
n <- 45
g <- rep(1:3, each = 15)
x <- rnorm(n)
X <- cbind("(Intercept)" = 1, gA = as.numeric(g == 1), gB = as.numeric(g == 2),
           gC = as.numeric(g == 3), x = x)
mu <- exp(1 + 0.3 * (g == 2) - 0.4 * (g == 3) + 0.2 * x)
y <- rgamma(n, shape = 5, scale = mu / 5)
write_case("gamma_dummy_trap", "Gamma log; intercept + all three dummies + x",
           X, y, Gamma(link = "log"), "Gamma", "Log")

# 4. Gaussian with p > n: 6 rows, 9 columns; rank 6, df_resid 0, R's dispersion NaN.
set.seed(104)
n <- 6
X <- cbind("(Intercept)" = 1, matrix(rnorm(n * 8), n, 8,
                                     dimnames = list(NULL, paste0("x", 1:8))))
y <- rnorm(n, 2)
write_case("gaussian_p_gt_n", "Gaussian identity, n = 6 rows, p = 9 columns",
           X, y, gaussian(), "Gaussian", "Identity")

# 5. Poisson with p > n and positive counts: the saturated fit (mu = y) exists.
set.seed(105)
n <- 7
X <- cbind("(Intercept)" = 1, matrix(runif(n * 9), n, 9,
                                     dimnames = list(NULL, paste0("x", 1:9))))
y <- rpois(n, 6) + 1
write_case("poisson_p_gt_n", "Poisson log, n = 7, p = 10, all counts positive",
           X, y, poisson(), "Poisson", "Log")

# 6. Binomial with zero-weight rows: one column is non-zero only on those rows, so it
#    is aliased on the rows that count (R fits on the rows with weight > 0).
set.seed(106)
n <- 50
x <- rnorm(n)
trials <- sample(1:10, n, replace = TRUE)
trials[c(3, 11, 20, 33, 47)] <- 0
only_zero <- ifelse(trials == 0, rnorm(n), 0)
X <- cbind("(Intercept)" = 1, x = x, only_on_zero_weight = only_zero, x2 = x^2)
y <- rbinom(n, pmax(trials, 1), plogis(0.3 + 0.8 * x)) / pmax(trials, 1)
write_case("binomial_zero_weight_alias",
           "Binomial logit; a column that is non-zero only on zero-weight rows",
           X, y, binomial(), "Binomial", "Logit", weights = trials)

# 7. Negative binomial: the intercept entered twice and an all-zero column, with an
#    offset; both extra columns are aliased.
set.seed(107)
n <- 50
x <- rnorm(n)
exposure <- runif(n, 0.5, 2)
X <- cbind("(Intercept)" = 1, x = x, zero = 0, intercept_again = 1)
y <- rnegbin(n, exposure * exp(1 + 0.5 * x), theta = 2)
write_case("negbin_zero_and_const_columns",
           "NegativeBinomial(alpha = 0.5) log with offset; an all-zero column and a second intercept",
           X, y, negative.binomial(theta = 2), "NegativeBinomial", "Log",
           family_params = list(alpha = 0.5), offset = log(exposure))
