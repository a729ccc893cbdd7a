# Reference fit for jaxglm's demo: Poisson claims model on MASS::Insurance.
#
#   Rscript tests/reference/make_insurance_reference.R
#
# Reads the CSV that jaxglm ships (src/jaxglm/data/insurance.csv), codes every factor
# with treatment contrasts in R's level order (Group and Age are ordered factors in
# MASS, which glm() would give polynomial contrasts; we make them unordered), fits
# glm() at epsilon = 1e-14 and writes, next to this script,
#   poisson_log_insurance_treatment.json  (same layout as the other reference files)
#   poisson_log_insurance_treatment.txt   (R's printed summary())
# Needs R with MASS and jsonlite (Debian: r-base-core r-cran-mass r-cran-jsonlite).

suppressPackageStartupMessages({
  library(MASS)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(script) == 1) dirname(normalizePath(script)) else getwd()
root <- normalizePath(file.path(here, "..", ".."))
name <- "poisson_log_insurance_treatment"

raw <- read.csv(file.path(root, "src", "jaxglm", "data", "insurance.csv"),
                colClasses = c("character", "character", "character",
                               "numeric", "numeric"))
d <- data.frame(
  District = factor(raw$District, levels = c("1", "2", "3", "4")),
  Group = factor(raw$Group, levels = c("<1l", "1-1.5l", "1.5-2l", ">2l")),
  Age = factor(raw$Age, levels = c("<25", "25-29", "30-35", ">35")),
  Holders = raw$Holders,
  Claims = raw$Claims
)
# The shipped CSV must be MASS's Insurance, row for row.
stopifnot(
  !anyNA(d),
  identical(as.character(d$District), as.character(Insurance$District)),
  identical(as.character(d$Group), as.character(Insurance$Group)),
  identical(as.character(d$Age), as.character(Insurance$Age)),
  all(d$Holders == Insurance$Holders),
  all(d$Claims == Insurance$Claims)
)

formula <- Claims ~ District + Group + Age + offset(log(Holders))
# bquote() puts the formula itself, not the symbol, into the printed Call.
fit <- eval(bquote(glm(.(formula), family = poisson(link = "log"), data = d,
                       control = glm.control(epsilon = 1e-14, maxit = 100))))
fit_default <- glm(formula, family = poisson(link = "log"), data = d)
s <- summary(fit)

X <- model.matrix(fit)
n <- nrow(X)
coef_table <- s$coefficients
ll <- logLik(fit)
working <- sqrt(fit$weights) * X
equilibrated <- sweep(working, 2, sqrt(colSums(working^2)), "/")

# Predictions at a spread of rows, with the offset shifted, as the other references.
rows <- unique(round(seq(1, n, length.out = 15)))
eta_no_offset <- drop(X[rows, , drop = FALSE] %*% coef(fit))
new_offset <- log(d$Holders[rows]) + 0.05

u <- function(x) unname(x)
r <- list(
  coef = u(coef(fit)),
  se = u(coef_table[, 2]),
  z = u(coef_table[, 3]),
  pvalues = u(coef_table[, 4]),
  pvalue_dist = "normal",
  cov = u(vcov(fit)),
  conf_int_95 = u(confint.default(fit, level = 0.95)),
  conf_int_90 = u(confint.default(fit, level = 0.90)),
  deviance = deviance(fit),
  null_deviance = fit$null.deviance,
  df_null = fit$df.null,
  aic = AIC(fit),
  loglik = as.numeric(ll),
  loglik_df = attr(ll, "df"),
  bic = BIC(fit),
  dispersion = s$dispersion,
  dispersion_estimated = FALSE,
  df_resid = fit$df.residual,
  rank = fit$rank,
  nobs = nobs(fit),
  n_rows = n,
  mu = u(fitted(fit)),
  eta = u(fit$linear.predictors),
  iter = fit$iter,
  converged = fit$converged,
  boundary = fit$boundary,
  kappa_weighted_X = kappa(working, exact = TRUE),
  kappa_equilibrated = kappa(equilibrated, exact = TRUE)
)
stopifnot(fit$converged, fit$rank == ncol(X))

out <- list(
  name = name,
  description = paste("Motor insurance claims by District, car Group and driver",
                      "Age, log Holders offset; treatment coding for all factors",
                      "(Group and Age made unordered)"),
  source = "MASS::Insurance",
  formula = "Claims ~ District + Group + Age + offset(log(Holders))",
  family = "Poisson",
  link = "Log",
  family_params = structure(list(), names = character(0)),
  r_family = "poisson",
  r_link = "log",
  n = n,
  p = ncol(X),
  colnames = I(colnames(X)),
  has_intercept = TRUE,
  has_weights = FALSE,
  has_offset = TRUE,
  has_zero_weights = FALSE,
  r_start = NULL,
  needs_start_in_R = FALSE,
  X = u(X),
  y = d$Claims,
  weights = u(fit$prior.weights),
  offset = u(fit$offset),
  r = r,
  r_default_control = list(
    coef = u(coef(fit_default)),
    iter = fit_default$iter,
    max_rel_coef_err = max(abs(coef(fit_default) - coef(fit)) / abs(coef(fit)))
  ),
  predict = list(
    rows = rows - 1,  # 0-based, for Python
    eta_no_offset = u(eta_no_offset),
    mu_no_offset = u(exp(eta_no_offset)),
    offset = u(new_offset),
    eta = u(eta_no_offset + new_offset),
    mu = u(exp(eta_no_offset + new_offset))
  ),
  r_version = R.version.string
)

# One top-level key per line, as in the other reference files. Numbers use the
# fewest significant digits (15, 16 or 17) that read back as the same double, so
# the JSON holds R's values exactly (jsonlite's digits = NA stops at 15).
num_json <- function(x) {
  vapply(x, function(v) {
    if (is.na(v)) return("null")
    for (digits in 15:17) {
      text <- sprintf("%.*g", digits, v)
      if (as.numeric(text) == v) break
    }
    text
  }, character(1))
}
value_json <- function(value) {
  if (is.null(value)) return("null")
  if (is.list(value)) {
    if (length(value) == 0) return("{}")
    fields <- vapply(names(value), function(key) {
      sprintf("\"%s\":%s", key, value_json(value[[key]]))
    }, character(1))
    return(paste0("{", paste(fields, collapse = ","), "}"))
  }
  if (is.matrix(value)) {
    rows <- apply(value, 1, function(row) paste0("[", paste(num_json(row), collapse = ","), "]"))
    return(paste0("[", paste(rows, collapse = ","), "]"))
  }
  scalar <- length(value) == 1 && is.null(attr(value, "AsIs"))
  parts <- if (is.character(value)) {
    as.character(toJSON(value))  # jsonlite handles string escaping
  } else if (is.logical(value)) {
    ifelse(value, "true", "false")
  } else {
    num_json(as.numeric(value))
  }
  if (is.character(value)) {
    return(if (scalar) substring(parts, 2, nchar(parts) - 1) else parts)
  }
  if (scalar) parts else paste0("[", paste(parts, collapse = ","), "]")
}
lines <- vapply(names(out), function(key) {
  sprintf("\"%s\":%s", key, value_json(out[[key]]))
}, character(1))
json_path <- file.path(here, paste0(name, ".json"))
writeLines(c("{", paste0(lines, c(rep(",", length(lines) - 1), "")), "}"), json_path)

txt_path <- file.path(here, paste0(name, ".txt"))
writeLines(c(
  capture.output(print(s)),
  sprintf("logLik: %s (df = %d)", format(as.numeric(ll), digits = 10), attr(ll, "df")),
  sprintf("AIC: %s  BIC: %s", format(AIC(fit), digits = 10), format(BIC(fit), digits = 10)),
  sprintf("Pearson chi2 / df_resid: %s",
          format(sum(residuals(fit, type = "pearson")^2) / fit$df.residual, digits = 10)),
  R.version.string
), txt_path)
cat("wrote", json_path, "and", txt_path, "\n")
