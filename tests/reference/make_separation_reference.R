# R's glm() on separated and nearly separated data: references for
# tests/test_hard_data.py (test_separation_agrees_with_r).
#
#   Rscript tests/reference/make_separation_reference.R
#
# Small deterministic designs (n = 20: an intercept, x on [-1, 1] or a group
# indicator, and cos(7x)); for each case R's glm.fit with maxit = 100 and
# epsilon = 1e-8 (R's default) where the MLE is at infinity, 1e-14 where it is
# finite (to compare coefficients), with the warnings it gave.  R's only signal for
# separation is the warning "fitted probabilities numerically 0 or 1 occurred"
# (binomial) / divergence with huge coefficients; "separated" is known by
# construction (a separating direction exists, or a zero-count group).  Writes
# separation.json: a list of cases with name, family, link (jaxglm class
# names), X (row-major), y, weights, separated, and under "rfit": coef, deviance,
# converged, iter, warnings, max_abs_coef.
#
# Needs R with jsonlite (Debian: r-base-core r-cran-jsonlite).

suppressPackageStartupMessages(library(jsonlite))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(script) == 1) dirname(normalizePath(script)) else getwd()

N <- 20
x <- seq(-1, 1, length.out = N)
wiggle <- cos(7 * x)
X <- cbind(1, x, wiggle)
group <- as.numeric(x > 0)
Xg <- cbind(1, group, wiggle)
mixed <- as.numeric((0:(N - 1)) %% 3 == 0)
x_tied <- c(seq(-1, -0.1, length.out = 9), 0, 0, seq(0.1, 1, length.out = 9))
X_tied <- cbind(1, x_tied, wiggle)

links <- list(Logit = "logit", Probit = "probit", CLogLog = "cloglog",
              Cauchit = "cauchit")

fit_case <- function(name, X, y, family, jg_family, jg_link, separated,
                     weights = rep(1, nrow(X))) {
  warnings <- character(0)
  fit <- withCallingHandlers(
    glm.fit(X, y, weights = weights, family = family,
            control = glm.control(epsilon = if (separated) 1e-8 else 1e-14,
                                  maxit = 100)),
    warning = function(w) {
      warnings <<- c(warnings, conditionMessage(w))
      invokeRestart("muffleWarning")
    }
  )
  list(
    name = name, family = jg_family, link = jg_link,
    X = unname(split(X, row(X))), y = y, weights = weights, separated = separated,
    rfit = list(
      coef = unname(fit$coefficients), deviance = fit$deviance,
      converged = fit$converged, iter = fit$iter, warnings = warnings,
      max_abs_coef = max(abs(fit$coefficients))
    )
  )
}

cases <- list()
add <- function(case) cases[[length(cases) + 1]] <<- case

for (jg_link in names(links)) {
  fam <- binomial(link = links[[jg_link]])
  add(fit_case(paste0("complete-", jg_link), X, as.numeric(x > 0), fam,
               "Binomial", jg_link, TRUE))
  add(fit_case(paste0("tied-point-", jg_link), X_tied,
               c(rep(0, 9), 0, 1, rep(1, 9)), fam, "Binomial", jg_link, TRUE))
  for (side in c("ones", "zeros")) {
    edge <- if (side == "ones") 1 else 0
    add(fit_case(paste0("quasi-", side, "-", jg_link), Xg,
                 ifelse(group > 0, edge, mixed), fam, "Binomial", jg_link, TRUE))
    add(fit_case(paste0("grouped-", side, "-", jg_link), Xg,
                 ifelse(group > 0, edge, 0.4), fam, "Binomial", jg_link, TRUE,
                 weights = rep(10, N)))
  }
  # Overlapping outcomes: two points on the wrong side, so the MLE is finite.
  y_overlap <- as.numeric(x > 0)
  y_overlap[c(9, 13)] <- c(1, 0)
  add(fit_case(paste0("overlap-", jg_link), X, y_overlap, fam, "Binomial",
               jg_link, FALSE))
}

counts <- rep(c(3, 5, 4, 6, 2), length.out = N)
add(fit_case("poisson-zero-group", Xg, ifelse(group > 0, counts, 0), poisson(),
             "Poisson", "Log", TRUE))
add(fit_case("poisson-zero-tail", cbind(1, as.numeric(x > 0.5), wiggle),
             ifelse(x > 0.5, counts + 1, 0), poisson(), "Poisson", "Log", TRUE))
y_some_zeros <- counts
y_some_zeros[c(2, 7, 15)] <- 0
add(fit_case("poisson-some-zeros", Xg, y_some_zeros, poisson(), "Poisson", "Log",
             FALSE))

out <- file.path(here, "separation.json")
writeLines(toJSON(list(r_version = R.version.string, cases = cases),
                  auto_unbox = TRUE, digits = NA, null = "null"), out)
cat("wrote", out, "with", length(cases), "cases\n")
