# MASS::glm.nb (theta estimated) on real and simulated data: the references for
# tests/test_negbin.py.
#
#   Rscript tests/reference/make_negbin_reference.R
#
# Writes glmnb_<case>.json next to this script.  Every case is fitted with
# glm.nb(..., control = glm.control(epsilon = 1e-12, maxit = 100)); the data are
# the MASS / datasets objects that src/jaxglm/data ships as CSV, or simulated with
# set.seed.  Each JSON holds
#
#   name, description, formula (R's call), link ("log", "sqrt"), colnames,
#   X (model.matrix, row-major), y, weights (prior weights), offset,
#   has_weights, has_offset, r_version,
#
# and under "rnb" what R reports: coef, se, z, pvalues (summary(fit)), cov
# (vcov), theta, SE.theta, SE_theta_at_mle (theta.ml's information at the
# final theta and means; SE.theta is it one Newton step earlier), twologlik,
# loglik (logLik), aic (AIC), bic (BIC),
# deviance, null_deviance, df_resid, df_null, rank, nobs (rows with weight > 0),
# mu, iter (fit$iter: Fisher scoring iterations of the last glm.fitter call, as
# summary prints), alternations (glm.nb's outer loop, counted from its trace),
# warnings, converged (no warning), and polish_rel_diff: the largest relative
# change of coef and theta when theta.ml is rerun at eps = 1e-12 theta and glm.fit
# refitted at that theta (how far glm.nb's own stopping rule, theta.ml's
# eps = 1.2e-4, leaves R from the joint MLE).  "rnb_default" is the same fit at
# glm.nb's default control (theta, coef; for boundary cases what R did).
#
# Boundary cases (theta -> infinity: no overdispersion) have "boundary": true
# and hold what R did instead of a fit -- the warnings and theta it returned, or
# the error it stopped with -- plus "poisson": R's glm(family = poisson) fit
# (coef, se, deviance, twologlik), the limit a negative binomial fit approaches.
#
# The top-level key is "rnb", not "r", on purpose: tests/refdata.py treats files
# with an "r" key as glm() references with a fixed family.
#
# Needs R with MASS and jsonlite (Debian: r-base-core r-cran-mass r-cran-jsonlite).

suppressPackageStartupMessages({
  library(MASS)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(script) == 1) dirname(normalizePath(script)) else getwd()

tight <- glm.control(epsilon = 1e-12, maxit = 100)

# Run expr, collecting warnings and counting glm.nb's "Theta(k) = ..." trace
# messages (control$trace = 1 prints one per alternation).
run <- function(expr) {
  warns <- character(0)
  alternations <- 0L
  value <- withCallingHandlers(
    tryCatch(expr, error = function(e) e),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      if (startsWith(conditionMessage(m), "Theta(")) alternations <<- alternations + 1L
      invokeRestart("muffleMessage")
    }
  )
  list(value = value, warnings = unique(warns), alternations = alternations)
}

# theta.ml's info() at the final theta and means.  R's SE.theta is info() at
# the theta before theta.ml's last Newton step (up to ~1e-5 away).
se_theta_at <- function(th, mu, y, w) {
  info <- sum(w * (-trigamma(th + y) + trigamma(th) - 1 / th + 2 / (mu + th) -
                     (y + th) / (mu + th)^2))
  1 / sqrt(info)
}

polish <- function(fit, X, y, w, off, link) {
  mu <- fitted(fit)
  th <- theta.ml(y, mu, sum(w), w, limit = 100, eps = 1e-12 * max(1, fit$theta))
  refit <- glm.fit(X, y, weights = w, offset = off, etastart = fit$linear.predictors,
                   family = negative.binomial(as.vector(th), link = link),
                   control = glm.control(epsilon = 1e-14, maxit = 100))
  max(abs(th / fit$theta - 1),
      abs(refit$coefficients - coef(fit)) / pmax(abs(coef(fit)), 1e-8))
}

write_case <- function(name, description, formula, data, link = "log", weights = NULL,
                       boundary = FALSE) {
  data$.w <- if (is.null(weights)) rep(1, nrow(data)) else weights
  call <- substitute(glm.nb(f, data = data, weights = .w, link = L,
                            control = glm.control(epsilon = 1e-12, maxit = 100,
                                                  trace = 1)),
                     list(f = formula, L = as.name(link)))
  result <- run(eval(call))
  fit <- result$value
  mf <- model.frame(formula, data = data)
  X <- model.matrix(formula, mf)
  y <- model.response(mf)
  off <- model.offset(mf)
  has_offset <- !is.null(off)
  if (!has_offset) off <- rep(0, nrow(X))
  w <- data$.w
  out <- list(
    name = name,
    description = description,
    formula = paste(deparse(formula), collapse = " "),
    link = link,
    colnames = colnames(X),
    X = unname(X),
    y = unname(as.numeric(y)),
    weights = w,
    offset = unname(off),
    has_weights = !is.null(weights),
    has_offset = has_offset,
    boundary = boundary
  )
  if (boundary) {
    out$rnb <- if (inherits(fit, "error")) {
      list(error = conditionMessage(fit), warnings = result$warnings)
    } else {
      list(theta = fit$theta, SE.theta = fit$SE.theta, coef = unname(coef(fit)),
           warnings = result$warnings)
    }
    default <- run(eval(substitute(glm.nb(f, data = data, weights = .w, link = L),
                                   list(f = formula, L = as.name(link)))))
    out$rnb_default <- if (inherits(default$value, "error")) {
      list(error = conditionMessage(default$value), warnings = default$warnings)
    } else {
      list(theta = default$value$theta, SE.theta = default$value$SE.theta,
           warnings = default$warnings)
    }
    pois <- glm.fit(X, y, weights = w, offset = off, family = poisson(link = link),
                    control = glm.control(epsilon = 1e-14, maxit = 100))
    class(pois) <- c("glm", "lm")
    out$poisson <- list(
      coef = unname(coef(pois)),
      se = unname(summary.glm(pois)$coefficients[, 2]),
      deviance = pois$deviance,
      twologlik = 2 * as.numeric(logLik(pois))
    )
  } else {
    stopifnot(!inherits(fit, "error"))
    s <- summary(fit)
    co <- s$coefficients
    out$rnb <- list(
      coef = unname(co[, 1]),
      se = unname(co[, 2]),
      z = unname(co[, 3]),
      pvalues = unname(co[, 4]),
      cov = unname(vcov(fit)),
      theta = fit$theta,
      SE.theta = fit$SE.theta,
      SE_theta_at_mle = se_theta_at(fit$theta, fitted(fit), y, w),
      twologlik = fit$twologlik,
      loglik = as.numeric(logLik(fit)),
      aic = AIC(fit),
      bic = BIC(fit),
      deviance = fit$deviance,
      null_deviance = fit$null.deviance,
      df_resid = fit$df.residual,
      df_null = fit$df.null,
      rank = fit$rank,
      nobs = sum(w > 0),
      mu = unname(fitted(fit)),
      iter = fit$iter,
      alternations = result$alternations,
      warnings = result$warnings,
      converged = length(result$warnings) == 0,
      polish_rel_diff = polish(fit, X, y, w, off, link)
    )
    default <- eval(substitute(glm.nb(f, data = data, weights = .w, link = L),
                               list(f = formula, L = as.name(link))))
    out$rnb_default <- list(theta = default$theta, coef = unname(coef(default)))
  }
  out$r_version <- R.version.string
  path <- file.path(here, paste0("glmnb_", name, ".json"))
  # digits = NA: jsonlite's maximum, 15 significant digits; NA/NaN become null.
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null",
                    matrix = "rowmajor", pretty = FALSE), path)
  cat("wrote", basename(path), if (boundary) "(boundary)" else
      sprintf(" theta %.6g  SE %.4g  polish %.2g", fit$theta, fit$SE.theta,
              out$rnb$polish_rel_diff), "\n")
}

# 1. The classic: days absent from school (Venables & Ripley, MASS 7.4).
write_case("quine", "MASS::quine, the classic negative binomial regression",
           Days ~ Eth + Sex + Age + Lrn, quine)

# 2. The same with the sqrt link (MASS's negative.binomial allows log, sqrt,
#    identity; with identity R's glm.fit finds no valid start on these data).
write_case("quine_sqrt", "MASS::quine with link = sqrt",
           Days ~ Eth + Sex + Age + Lrn, quine, link = "sqrt")

# 3. Prior weights, some zero: integer frequency weights drawn with set.seed.
set.seed(20240601)
quine_w <- sample(0:3, nrow(quine), replace = TRUE, prob = c(0.05, 0.35, 0.35, 0.25))
write_case("quine_weighted", "MASS::quine with prior weights 0..3 (set.seed(20240601))",
           Days ~ Eth + Sex + Age + Lrn, quine, weights = quine_w)

# 4. An offset: ship damage per month of service (the 6 ships with no service
#    dropped).  With year in the model as well theta -> infinity (case 8).
ships_used <- subset(ships, service > 0)
ships_used$type <- factor(ships_used$type)
ships_used$period <- factor(ships_used$period)
ships_used$year <- factor(ships_used$year)
write_case("ships_offset", "MASS::ships, incidents per log(service) by type and period",
           incidents ~ type + period + offset(log(service)), ships_used)

# 5. A second real data set without an offset.
write_case("warpbreaks", "datasets::warpbreaks, breaks by wool and tension",
           breaks ~ wool + tension, warpbreaks)

# 6. Nearly Poisson data with a large but finite theta (simulated Poisson counts
#    whose sample happens to be a little overdispersed).
set.seed(1)
sim <- data.frame(x = rnorm(200))
sim$y <- rpois(200, exp(1 + 0.5 * sim$x))
write_case("sim_large_theta", "Poisson counts, n = 200 (set.seed(1)); theta about 49",
           y ~ x, sim)

# 7. Poisson data that are a little underdispersed: the likelihood rises all the
#    way to theta = infinity; R warns "iteration limit reached" and returns a
#    large theta.
set.seed(2)
sim <- data.frame(x = rnorm(200))
sim$y <- rpois(200, exp(1 + 0.5 * sim$x))
write_case("sim_poisson", "Poisson counts, n = 200 (set.seed(2)); theta -> infinity",
           y ~ x, sim, boundary = TRUE)

# 8. Real data with no overdispersion: R's theta.ml overshoots below zero
#    ("estimate truncated at zero") and glm.nb stops with an error.
write_case("ships_poisson", "MASS::ships, full model with offset; theta -> infinity",
           incidents ~ type + year + period + offset(log(service)), ships_used,
           boundary = TRUE)
