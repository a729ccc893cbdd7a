# R's quasi families and analysis-of-deviance tables: the references for
# tests/test_quasi.py and tests/test_anova.py.
#
#   Rscript tests/reference/make_quasi_anova_reference.R
#
# Needs R (4.2.2 used) with its stats package only; the JSON writer is below.  Data
# are the shipped CSVs in src/jaxglm/data (copies of R's datasets / MASS).  Every fit
# is glm(..., control = glm.control(epsilon = 1e-14, maxit = 100)).
#
# quasi_<case>.json -- one quasi-family fit of glm(y ~ X - 1):
#   name, description, formula (the model R fitted), r_family (the R call),
#   jg_family ("QuasiPoisson", "QuasiBinomial" or "Quasi"), jg_link (a jg.links class
#   name), variance (R's varfun, for Quasi), colnames, X (row-major), y (proportions
#   for the binomial-type fits), weights, offset, has_weights, has_offset, and under
#   "quasi" what R reports: coef, se, t, pvalues (t on df_resid), cov (scaled),
#   dispersion, deviance, null_deviance, df_resid, df_null, rank, nobs, mu, eta,
#   aic (null: R's NA), iter.  (No "family"/"link"/"r" keys: refdata.names() and the
#   generic reference test skip these files.)
#
# anova_<case>.json -- analysis-of-deviance tables:
#   name, description, family / link (jg class names), variance (for Quasi),
#   data (a shipped dataset name), subset (an R expression on it, or null),
#   formula (the full model, in jg.glm's syntax and R's), y, weights, offset,
#   has_weights, has_offset, and
#   "sequential": R's anova(fit, test = ...) of the full formula fit, one table per
#       test under "Chisq", "F" and "none" (test = NULL)
#   "nested": the models of anova(fit1, fit2, ...): "formulas", "X" (one design per
#       model, row-major), "colnames", and the tables under "Chisq", "F", "none"
#   Each table: rownames, and columns (R's names: "Df", "Deviance", "Resid. Df",
#   "Resid. Dev", "Pr(>Chi)", "F", "Pr(>F)"; NA -> null), plus "printed" (R's
#   print() of the table, lines) and "warning" (R's warning text, or null).

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(script) == 1) dirname(normalizePath(script)) else getwd()
data_dir <- file.path(here, "..", "..", "src", "jaxglm", "data")
read_data <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")))
options(digits = 7, width = 80, useFancyQuotes = FALSE)

# --- a minimal JSON writer (17 significant digits; NA, NaN -> null) -------------
json_number <- function(x) {
  out <- ifelse(is.finite(x), sprintf("%.17g", x), "null")
  out[is.na(x)] <- "null"
  out
}
json_string <- function(x) {
  x <- gsub("\\\\", "\\\\\\\\", x)
  x <- gsub('"', '\\\\"', x)
  paste0('"', x, '"')
}
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (!is.null(names(x))) {
      if (length(x) == 0) return("{}")
      keys <- paste0(json_string(names(x)), ":")
      return(paste0("{", paste0(keys, vapply(x, to_json, ""), collapse = ","), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ","), "]"))
  }
  if (is.matrix(x)) {
    rows <- vapply(seq_len(nrow(x)), function(i) to_json(unname(x[i, ])), "")
    return(paste0("[", paste(rows, collapse = ","), "]"))
  }
  scalar <- inherits(x, "scalar")
  values <- if (is.character(x)) {
    ifelse(is.na(x), "null", json_string(x))
  } else if (is.logical(x)) {
    ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else {
    json_number(as.numeric(x))
  }
  if (scalar) values else paste0("[", paste(values, collapse = ","), "]")
}
scalar <- function(x) structure(x, class = "scalar")
write_json <- function(out, file) {
  path <- file.path(here, file)
  writeLines(to_json(out), path)
  cat("wrote", file, "\n")
}

tight <- glm.control(epsilon = 1e-14, maxit = 100)

# --- quasi families ----------------------------------------------------------------
write_quasi <- function(name, description, formula, data, family, r_family, jg_family,
                        jg_link, variance = NULL, weights = NULL, binomial = FALSE) {
  mf_call <- list(formula = formula, data = data, family = family, control = tight)
  if (!is.null(weights)) mf_call$weights <- weights
  fit <- do.call(glm, mf_call)
  stopifnot(fit$converged)
  s <- summary(fit)
  X <- model.matrix(fit)
  n <- nrow(X)
  off <- if (is.null(fit$offset)) rep(0, n) else fit$offset
  # fit$y is the proportion for cbind() responses, and prior.weights the trials.
  w <- fit$prior.weights
  cf <- coef(s)
  out <- list(
    name = scalar(name),
    description = scalar(description),
    formula = scalar(paste(deparse(formula), collapse = " ")),
    r_family = scalar(r_family),
    jg_family = scalar(jg_family),
    jg_link = scalar(jg_link),
    variance = if (is.null(variance)) NULL else scalar(variance),
    colnames = colnames(X),
    X = unname(X),
    y = unname(fit$y),
    weights = unname(w),
    offset = unname(off),
    has_weights = scalar(binomial || !is.null(weights)),
    has_offset = scalar(!is.null(fit$offset)),
    quasi = list(
      coef = unname(cf[, 1]),
      se = unname(cf[, 2]),
      t = unname(cf[, 3]),
      pvalues = unname(cf[, 4]),
      cov = unname(vcov(fit)),
      dispersion = scalar(s$dispersion),
      deviance = scalar(fit$deviance),
      null_deviance = scalar(fit$null.deviance),
      df_resid = scalar(fit$df.residual),
      df_null = scalar(fit$df.null),
      rank = scalar(fit$rank),
      nobs = scalar(sum(w > 0)),
      mu = unname(fit$fitted.values),
      eta = unname(fit$linear.predictors),
      aic = scalar(fit$aic),
      iter = scalar(fit$iter),
      family_name = scalar(fit$family$family),
      printed_dispersion_line = scalar(grep("Dispersion parameter",
                                            capture.output(print(s)), value = TRUE))
    ),
    r_version = scalar(R.version.string)
  )
  write_json(out, paste0("quasi_", name, ".json"))
}

wb <- read_data("warpbreaks")
wb$wool <- factor(wb$wool, levels = c("A", "B"))
wb$tension <- factor(wb$tension, levels = c("L", "M", "H"))
trees <- read_data("trees")
mtcars <- read_data("mtcars")
esoph <- read_data("esoph")
lv <- list(agegp = c("25-34", "35-44", "45-54", "55-64", "65-74", "75+"),
           alcgp = c("0-39g/day", "40-79", "80-119", "120+"),
           tobgp = c("0-9g/day", "10-19", "20-29", "30+"))
# Ordered factors, as R's esoph (polynomial contrasts), as the other esoph references.
for (v in names(lv)) esoph[[v]] <- factor(esoph[[v]], levels = lv[[v]], ordered = TRUE)
ships <- read_data("ships")
ships <- ships[ships$service > 0, ]
ships$type <- factor(ships$type)
sprays <- read_data("insectsprays")
sprays$spray <- factor(sprays$spray)

write_quasi("quasipoisson_log_warpbreaks", "Warp breaks, overdispersed counts",
            breaks ~ wool + tension, wb, quasipoisson(), "quasipoisson()",
            "QuasiPoisson", "Log")
write_quasi("quasipoisson_log_ships_offset", "Ship damage, log(service) offset",
            incidents ~ type + year + period + offset(log(service)), ships,
            quasipoisson(), "quasipoisson()", "QuasiPoisson", "Log")
write_quasi("quasibinomial_logit_esoph", "Oesophageal cancer, grouped, ordered factors",
            cbind(ncases, ncontrols) ~ agegp + tobgp + alcgp, esoph, quasibinomial(),
            "quasibinomial()", "QuasiBinomial", "Logit", binomial = TRUE)
write_quasi("quasibinomial_probit_mtcars", "Engine shape (0/1) against mpg, probit",
            vs ~ mpg, mtcars, quasibinomial(link = "probit"),
            "quasibinomial(link = \"probit\")", "QuasiBinomial", "Probit",
            binomial = TRUE)
write_quasi("quasi_log_mu2_trees", "Tree volume, log link, variance mu^2",
            Volume ~ log(Girth) + log(Height), trees,
            quasi(link = "log", variance = "mu^2"),
            "quasi(link = \"log\", variance = \"mu^2\")", "Quasi", "Log", "mu^2")
write_quasi("quasi_identity_constant_mtcars", "Fuel economy, R's quasi() defaults",
            mpg ~ wt + hp, mtcars, quasi(),
            "quasi(link = \"identity\", variance = \"constant\")", "Quasi",
            "Identity", "constant")
write_quasi("quasi_inverse_mu_mtcars", "Fuel economy, inverse link, variance mu",
            mpg ~ wt + hp, mtcars, quasi(link = "inverse", variance = "mu"),
            "quasi(link = \"inverse\", variance = \"mu\")", "Quasi", "Inverse", "mu")
write_quasi("quasi_sqrt_mu_insectsprays", "Insect counts (zeros), sqrt link, variance mu",
            count ~ spray, sprays, quasi(link = "sqrt", variance = "mu"),
            "quasi(link = \"sqrt\", variance = \"mu\")", "Quasi", "Sqrt", "mu")
write_quasi("quasi_log_mu3_trees", "Tree volume, log link, variance mu^3, weights",
            Volume ~ log(Girth) + log(Height), trees,
            quasi(link = "log", variance = "mu^3"),
            "quasi(link = \"log\", variance = \"mu^3\")", "Quasi", "Log", "mu^3",
            weights = 10 / trees$Girth)
# (R's glm.fit does not converge on esoph's proportions with trials as weights
# under this family: from mustart = 0.001 it oscillates; 0/1 data are used.)
write_quasi("quasi_logit_mu1mu_mtcars", "Transmission (0/1) against weight, mu(1-mu)",
            am ~ wt, mtcars, quasi(link = "logit", variance = "mu(1-mu)"),
            "quasi(link = \"logit\", variance = \"mu(1-mu)\")", "Quasi", "Logit",
            "mu(1-mu)")

# R's pmax(..., 0) in quasi(variance = "mu^2")'s deviance is flat at y = 0 when
# mu < e, so that deviance is not the objective of the score equations there; R's
# glm.fit, which does not halve steps that raise the deviance, still converges.
write_quasi("quasi_log_mu2_insectsprays_zeros", "Insect counts with zeros, variance mu^2",
            count ~ spray, sprays, quasi(link = "log", variance = "mu^2"),
            "quasi(link = \"log\", variance = \"mu^2\")", "Quasi", "Log", "mu^2")

# --- analysis of deviance ------------------------------------------------------------
table_json <- function(tab, warning_text) {
  columns <- lapply(as.list(tab), function(col) unname(as.numeric(col)))
  list(rownames = rownames(tab), columns = columns,
       printed = capture.output(print(tab)),
       warning = if (is.null(warning_text)) NULL else scalar(warning_text))
}
run_anova <- function(expr) {
  warning_text <- NULL
  tab <- withCallingHandlers(expr, warning = function(w) {
    warning_text <<- conditionMessage(w)
    invokeRestart("muffleWarning")
  })
  table_json(tab, warning_text)
}
anova_tables <- function(call_with_test) {
  list(Chisq = run_anova(call_with_test("Chisq")),
       F = run_anova(call_with_test("F")),
       none = run_anova(call_with_test(NULL)))
}

write_anova <- function(name, description, data_name, data, formula, nested,
                        family, jg_family, jg_link, variance = NULL, subset = NULL,
                        weights = NULL, jg_formula = NULL, jg_nested = NULL) {
  call <- list(formula = formula, data = data, family = family, control = tight)
  if (!is.null(weights)) call$weights <- weights
  full <- do.call(glm, call)
  stopifnot(full$converged)
  sequential <- anova_tables(function(test) anova(full, test = test))
  fits <- lapply(nested, function(f) {
    call$formula <- f
    fit <- do.call(glm, call)
    stopifnot(fit$converged)
    fit
  })
  nested_tables <- anova_tables(function(test) {
    do.call(anova, c(fits, list(test = test)))
  })
  n <- length(full$y)
  out <- list(
    name = scalar(name),
    description = scalar(description),
    family = scalar(jg_family),
    link = scalar(jg_link),
    variance = if (is.null(variance)) NULL else scalar(variance),
    data = scalar(data_name),
    subset = if (is.null(subset)) NULL else scalar(subset),
    formula = scalar(if (is.null(jg_formula)) deparse(formula) else jg_formula),
    r_formula = scalar(paste(deparse(formula), collapse = " ")),
    y = unname(full$y),
    weights = unname(full$prior.weights),
    offset = unname(if (is.null(full$offset)) rep(0, n) else full$offset),
    has_weights = scalar(!is.null(weights)),
    has_offset = scalar(!is.null(full$offset)),
    dispersion = scalar(summary(full)$dispersion),
    sequential = sequential,
    nested = list(
      formulas = vapply(nested, function(f) paste(deparse(f), collapse = " "), ""),
      jg_formulas = if (is.null(jg_nested)) {
        vapply(nested, function(f) paste(deparse(f), collapse = " "), "")
      } else jg_nested,
      X = lapply(fits, function(f) unname(model.matrix(f))),
      colnames = lapply(fits, function(f) colnames(model.matrix(f))),
      tables = nested_tables
    ),
    r_version = scalar(R.version.string)
  )
  write_json(out, paste0("anova_", name, ".json"))
}

write_anova("poisson_warpbreaks", "Warp breaks, Poisson, wool * tension",
            "warpbreaks", wb, breaks ~ wool * tension,
            list(breaks ~ wool, breaks ~ wool + tension, breaks ~ wool * tension),
            poisson(), "Poisson", "Log")
write_anova("poisson_warpbreaks_noint", "Warp breaks, Poisson, no intercept",
            "warpbreaks", wb, breaks ~ tension + wool - 1,
            list(breaks ~ tension - 1, breaks ~ tension + wool - 1),
            poisson(), "Poisson", "Log",
            jg_formula = "breaks ~ 0 + tension + wool",
            jg_nested = c("breaks ~ 0 + tension", "breaks ~ 0 + tension + wool"))
write_anova("quasipoisson_warpbreaks", "Warp breaks, quasi-Poisson, wool * tension",
            "warpbreaks", wb, breaks ~ wool * tension,
            list(breaks ~ wool, breaks ~ wool * tension),
            quasipoisson(), "QuasiPoisson", "Log")
write_anova("gamma_log_trees", "Tree volume, Gamma log link",
            "trees", trees, Volume ~ log(Girth) + log(Height),
            list(Volume ~ log(Girth), Volume ~ log(Girth) + log(Height)),
            Gamma(link = "log"), "Gamma", "Log")
write_anova("gaussian_mtcars_weighted", "Fuel economy, Gaussian, weights 1/cyl",
            "mtcars", mtcars, mpg ~ wt * hp,
            list(mpg ~ wt, mpg ~ wt + hp, mpg ~ wt * hp),
            gaussian(), "Gaussian", "Identity", weights = 1 / mtcars$cyl,
            jg_formula = "mpg ~ wt * hp")
write_anova("quasibinomial_esoph", "Oesophageal cancer, quasi-binomial",
            "esoph", esoph, cbind(ncases, ncontrols) ~ agegp + tobgp + alcgp,
            list(cbind(ncases, ncontrols) ~ agegp,
                 cbind(ncases, ncontrols) ~ agegp + tobgp + alcgp),
            quasibinomial(), "QuasiBinomial", "Logit")
write_anova("quasipoisson_ships_offset", "Ship damage, quasi-Poisson, offset",
            "ships", ships, incidents ~ type + year + period + offset(log(service)),
            list(incidents ~ type + offset(log(service)),
                 incidents ~ type + year + period + offset(log(service))),
            quasipoisson(), "QuasiPoisson", "Log", subset = "service > 0")
write_anova("quasi_log_mu2_trees", "Tree volume, quasi(log, mu^2)",
            "trees", trees, Volume ~ log(Girth) + log(Height),
            list(Volume ~ 1, Volume ~ log(Girth), Volume ~ log(Girth) + log(Height)),
            quasi(link = "log", variance = "mu^2"), "Quasi", "Log", variance = "mu^2")

# MASS's anova.negbin for one glm.nb fit: anova.glm at the fitted theta (not
# re-estimated; R warns so), as jg.anova does for a jg.glm_nb fit.
suppressPackageStartupMessages(library(MASS))
quine <- read_data("quine")
for (v in c("Eth", "Sex", "Age", "Lrn")) quine[[v]] <- factor(quine[[v]])
nb <- glm.nb(Days ~ Eth + Sex + Age, data = quine, control = tight)
stopifnot(nb$converged)
write_json(list(
  name = scalar("negbin_quine"),
  description = scalar("School absences, glm.nb, anova at the fitted theta"),
  data = scalar("quine"),
  formula = scalar("Days ~ Eth + Sex + Age"),
  theta = scalar(nb$theta),
  sequential = list(Chisq = run_anova(anova(nb, test = "Chisq"))),
  r_version = scalar(R.version.string),
  mass_version = scalar(as.character(packageVersion("MASS")))
), "anova_negbin_quine.json")
