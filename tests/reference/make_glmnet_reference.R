# glmnet's elastic-net paths and cv.glmnet on the shipped data: the references for
# tests/test_penalized.py.
#
#   Rscript tests/reference/make_glmnet_reference.R
#
# Needs R with glmnet (4.1-6 used) and jsonlite.  Writes glmnet_paths.json and
# glmnet_cv.json next to this script.  Each path case holds the design (X without an
# intercept column, row-major), y, weights, offset, family, alpha, standardize, and:
#   lambda_default  glmnet's default sequence (nlambda = 30): exp(seq(log(lmax),
#                   log(lmax * ratio), length = 30)) with lmax glmnet's first lambda
#                   (glmnet may stop its own default path early; this is the sequence)
#   lambda, a0, beta (L x p), df, deviance   glmnet(..., lambda = lambda_default,
#                   thresh = 1e-14, maxit = 1e7) at that full sequence
# Each CV case adds foldid (1..K, R's) and cv.glmnet(type.measure = "deviance",
# foldid, lambda = lambda_default): cvm, cvsd, lambda_min, lambda_1se.

suppressPackageStartupMessages({
  library(glmnet)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(script) == 1) dirname(normalizePath(script)) else getwd()
data_dir <- file.path(here, "..", "..", "src", "jaxglm", "data")
read_data <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")))

NLAMBDA <- 30

mtcars_data <- function() {
  d <- read_data("mtcars")
  X <- as.matrix(d[, c("cyl", "disp", "hp", "drat", "wt", "qsec", "vs", "am",
                       "gear", "carb")])
  list(X = X, y = d$mpg, offset = NULL)
}

infert_data <- function() {
  d <- read_data("infert")
  d$education <- factor(d$education)
  X <- model.matrix(~ education + age + parity + induced + spontaneous, d)[, -1]
  list(X = X, y = d$case, offset = NULL)
}

insurance_data <- function() {
  d <- read_data("insurance")
  d$District <- factor(d$District)
  d$Group <- factor(d$Group, levels = c("<1l", "1-1.5l", "1.5-2l", ">2l"))
  d$Age <- factor(d$Age, levels = c("<25", "25-29", "30-35", ">35"))
  X <- model.matrix(~ District + Group + Age, d)[, -1]
  list(X = X, y = d$Claims, offset = log(d$Holders))
}

# MASS's housing table as a log-linear model with every interaction up to
# third order: 59 columns, enough for fit_path's active-set stages (p >= 48).
housing_data <- function() {
  d <- read_data("housing")
  d$Sat <- factor(d$Sat, levels = c("Low", "Medium", "High"))
  d$Infl <- factor(d$Infl, levels = c("Low", "Medium", "High"))
  d$Type <- factor(d$Type, levels = c("Tower", "Apartment", "Atrium", "Terrace"))
  d$Cont <- factor(d$Cont, levels = c("Low", "High"))
  X <- model.matrix(~ (Sat + Infl + Type + Cont)^3, d)[, -1]
  list(X = X, y = d$Freq, offset = NULL)
}

# Deterministic weights 1, 1.5, 2, 1, ... (the tests rebuild nothing: all stored).
case_weights <- function(n) 1 + ((seq_len(n) - 1) %% 3) / 2

path_case <- function(name, data, family, alpha, standardize, weighted) {
  n <- nrow(data$X)
  w <- if (weighted) case_weights(n) else rep(1, n)
  off <- data$offset
  first <- glmnet(data$X, data$y, family = family, alpha = alpha,
                  standardize = standardize, weights = w, offset = off,
                  nlambda = NLAMBDA, thresh = 1e-14, maxit = 1e7)
  ratio <- if (n < ncol(data$X)) 1e-2 else 1e-4
  lmax <- first$lambda[1]
  lam <- exp(seq(log(lmax), log(lmax * ratio), length.out = NLAMBDA))
  fit <- glmnet(data$X, data$y, family = family, alpha = alpha,
                standardize = standardize, weights = w, offset = off,
                lambda = lam, thresh = 1e-14, maxit = 1e7)
  list(
    name = name, family = family, alpha = alpha, standardize = standardize,
    colnames = colnames(data$X), X = unname(data$X), y = data$y, weights = w,
    offset = if (is.null(off)) rep(0, n) else off, has_offset = !is.null(off),
    lambda_default = lam, lambda = fit$lambda, a0 = unname(fit$a0),
    beta = unname(t(as.matrix(fit$beta))), df = fit$df,
    deviance = deviance(fit), nulldev = fit$nulldev, dev_ratio = fit$dev.ratio
  )
}

cv_case <- function(name, data, family, alpha, nfolds, weighted) {
  n <- nrow(data$X)
  w <- if (weighted) case_weights(n) else rep(1, n)
  off <- data$offset
  set.seed(15)
  foldid <- sample(rep(seq_len(nfolds), length.out = n))
  base <- path_case(name, data, family, alpha, TRUE, weighted)
  cv <- cv.glmnet(data$X, data$y, family = family, alpha = alpha, weights = w,
                  offset = off, foldid = foldid, lambda = base$lambda_default,
                  type.measure = "deviance", thresh = 1e-14, maxit = 1e7)
  c(base, list(foldid = foldid, cvm = cv$cvm, cvsd = cv$cvsd,
               lambda_min = cv$lambda.min, lambda_1se = cv$lambda.1se))
}

paths <- list(
  path_case("gaussian_mtcars_a1", mtcars_data(), "gaussian", 1, TRUE, FALSE),
  path_case("gaussian_mtcars_a05_w_nostd", mtcars_data(), "gaussian", 0.5, FALSE, TRUE),
  path_case("gaussian_mtcars_a0", mtcars_data(), "gaussian", 0, TRUE, FALSE),
  path_case("binomial_infert_a1", infert_data(), "binomial", 1, TRUE, FALSE),
  path_case("binomial_infert_a05_w", infert_data(), "binomial", 0.5, TRUE, TRUE),
  path_case("binomial_infert_a0_nostd", infert_data(), "binomial", 0, FALSE, FALSE),
  path_case("poisson_insurance_a1_offset", insurance_data(), "poisson", 1, TRUE, FALSE),
  path_case("poisson_insurance_a05_offset_w_nostd", insurance_data(), "poisson", 0.5,
            FALSE, TRUE),
  path_case("poisson_insurance_a0_offset", insurance_data(), "poisson", 0, TRUE, FALSE),
  path_case("poisson_housing_a1", housing_data(), "poisson", 1, TRUE, FALSE),
  path_case("poisson_housing_a05_w_nostd", housing_data(), "poisson", 0.5, FALSE, TRUE)
)
names(paths) <- vapply(paths, function(x) x$name, "")

cvs <- list(
  cv_case("cv_binomial_infert_a1", infert_data(), "binomial", 1, 5, FALSE),
  cv_case("cv_poisson_insurance_a05_offset_w", insurance_data(), "poisson", 0.5, 4,
          TRUE),
  cv_case("cv_gaussian_mtcars_a1", mtcars_data(), "gaussian", 1, 4, FALSE)
)
names(cvs) <- vapply(cvs, function(x) x$name, "")

meta <- list(r_version = R.version.string,
             glmnet_version = as.character(packageVersion("glmnet")))
write_json(c(meta, list(cases = paths)), file.path(here, "glmnet_paths.json"),
           digits = NA, auto_unbox = TRUE, matrix = "rowmajor")
write_json(c(meta, list(cases = cvs)), file.path(here, "glmnet_cv.json"),
           digits = NA, auto_unbox = TRUE, matrix = "rowmajor")
