# Reference profile-likelihood intervals for jg.confint_profile: R's confint(fit).
#
#   Rscript tests/reference/make_profile_reference.R
#
# For each case below, fits glm() (glm.nb for the negative binomial) with R's
# default control, as a user would, and writes profile_<case>.json next to this
# script with:
#   X, colnames, y (proportions for binomial), weights (prior weights; binomial
#   trials), offset, family / link / family_params (NB alpha = 1/theta),
#   coef_r, se_r, deviance_r, dispersion_r, converged_r,
#   confint_r        confint(fit)               (MASS's profile intervals, 95%)
#   confint_r_90     confint(fit, level = 0.9)
#   wald_r           confint.default(fit)       (Wald, for contrast)
#   coef_r_tight, confint_r_tight: the same at glm.control(epsilon = 1e-14), to
#                    show how much R's own answer moves with its tolerance
#                    (confint_r_tight null where R fails to profile that fit).
# NA (aliased coefficients; a side whose profile never reaches the cutoff) is
# written as null.  The key set deliberately differs from the standard fit
# references (no "name" / "r"), so tests/refdata.names() skips these files.
# Needs R with MASS and jsonlite.

suppressPackageStartupMessages({
  library(MASS)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(script) == 1) dirname(normalizePath(script)) else getwd()
root <- normalizePath(file.path(here, "..", ".."))
data_csv <- function(name) read.csv(file.path(root, "src", "jaxglm", "data", name))

quiet_confint <- function(fit, level = 0.95) {
  # confint() prints "Waiting for profiling to be done..." and the profile fits
  # of near-separated logistic regressions warn; neither changes the numbers.
  suppressWarnings(suppressMessages(confint(fit, level = level)))
}

write_case <- function(case, description, fit, fit_tight, family, link,
                       family_params = structure(list(), names = character(0))) {
  X <- model.matrix(fit)
  s <- summary(fit)
  out <- list(
    case = case,
    description = description,
    formula = deparse(formula(fit)),
    family = family,
    link = link,
    family_params = family_params,
    colnames = colnames(X),
    X = unname(X),
    y = unname(fit$y),
    weights = unname(fit$prior.weights),
    offset = if (is.null(fit$offset)) rep(0, nrow(X)) else unname(fit$offset),
    coef_r = unname(coef(fit)),
    se_r = unname(sqrt(diag(vcov(fit, complete = TRUE)))),
    deviance_r = deviance(fit),
    dispersion_r = s$dispersion,
    converged_r = fit$converged,
    confint_r = unname(quiet_confint(fit)),
    confint_r_90 = unname(quiet_confint(fit, 0.9)),
    wald_r = unname(confint.default(fit)),
    coef_r_tight = unname(coef(fit_tight)),
    # glm.fit's rank tolerance is min(1e-7, epsilon / 1000): at epsilon = 1e-14
    # an aliased column can come out "not aliased", and profiling then stops
    # ("profiling has found a better solution"); null then.
    confint_r_tight = tryCatch(unname(quiet_confint(fit_tight)),
                               error = function(e) NA),
    r_version = R.version.string
  )
  path <- file.path(here, paste0("profile_", case, ".json"))
  # 17 significant digits: every double reads back exactly.
  writeLines(toJSON(out, digits = I(17), na = "null", auto_unbox = TRUE,
                    matrix = "rowmajor"), path)
  cat("wrote", path, "\n")
}

tight <- glm.control(epsilon = 1e-14, maxit = 100)

# 1. esoph, cancer cases by age group only (grouped binomial, trials as weights).
# The youngest group has 1 case in 116: the Wald interval for agegp35-44 covers 0,
# the profile interval does not.
esoph <- data_csv("esoph.csv")
esoph$agegp <- factor(esoph$agegp, levels = unique(esoph$agegp))
esoph$trials <- esoph$ncases + esoph$ncontrols
f <- ncases / trials ~ agegp
write_case("binomial_logit_esoph_agegp",
           "esoph: ncases/trials ~ agegp, weights = trials (sparse baseline group)",
           glm(f, binomial, esoph, weights = trials),
           glm(f, binomial, esoph, weights = trials, control = tight),
           "Binomial", "Logit")

# 2. mtcars, am ~ hp + wt: 32 cars, near separation (profile fits hit 0/1).
mtcars_csv <- data_csv("mtcars.csv")
f <- am ~ hp + wt
write_case("binomial_logit_mtcars_am",
           "mtcars: am ~ hp + wt (small n, near separation)",
           glm(f, binomial, mtcars_csv), glm(f, binomial, mtcars_csv, control = tight),
           "Binomial", "Logit")

# 3. Insurance claims with a log(Holders) offset and (synthetic) prior weights.
ins <- data_csv("insurance.csv")
ins$District <- factor(ins$District, levels = c("1", "2", "3", "4"))
ins$Group <- factor(ins$Group, levels = c("<1l", "1-1.5l", "1.5-2l", ">2l"))
ins$Age <- factor(ins$Age, levels = c("<25", "25-29", "30-35", ">35"))
ins$w <- 1 + (seq_len(nrow(ins)) %% 3) / 2
f <- Claims ~ District + Group + Age + offset(log(Holders))
write_case("poisson_log_insurance_offset_weights",
           paste("MASS::Insurance: Claims ~ District + Group + Age + offset(log(Holders)),",
                 "weights 1 + (row %% 3) / 2 (synthetic, to exercise prior weights)"),
           glm(f, poisson, ins, weights = w),
           glm(f, poisson, ins, weights = w, control = tight),
           "Poisson", "Log")

# 4. trees, Gamma with log link: estimated dispersion (F-based grid).
trees <- data_csv("trees.csv")
f <- Volume ~ log(Girth) + log(Height)
write_case("gamma_log_trees",
           "trees: Volume ~ log(Girth) + log(Height), Gamma(log)",
           glm(f, Gamma(link = "log"), trees),
           glm(f, Gamma(link = "log"), trees, control = tight),
           "Gamma", "Log")

# 5. trees, Gaussian with an aliased column and a zero-weight row.  R's grid uses
# n - p with n counting the zero-weight row and p the aliased column.
trees$w <- rep(c(1, 2), length.out = nrow(trees))
trees$w[5] <- 0
f <- Volume ~ Girth + Height + I(2 * Girth)
write_case("gaussian_identity_trees_aliased_zero_weight",
           paste("trees: Volume ~ Girth + Height + I(2 * Girth) (aliased),",
                 "weights alternating 1, 2 with row 5 at 0"),
           glm(f, gaussian, trees, weights = w),
           glm(f, gaussian, trees, weights = w, control = tight),
           "Gaussian", "Identity")

# 6. quine, negative binomial (glm.nb): theta from glm.nb, dispersion 1.
quine <- data_csv("quine.csv")
for (v in c("Eth", "Sex", "Age", "Lrn")) quine[[v]] <- factor(quine[[v]])
f <- Days ~ Eth + Sex + Age + Lrn
nb <- glm.nb(f, quine)
nb_tight <- glm(f, negative.binomial(nb$theta), quine, control = tight)
nb_tight$theta <- nb$theta
class(nb_tight) <- class(nb)
write_case("negbin_log_quine",
           "quine: glm.nb(Days ~ Eth + Sex + Age + Lrn); alpha = 1/theta held fixed",
           nb, nb_tight, "NegativeBinomial", "Log",
           family_params = list(alpha = 1 / nb$theta))

# 7. Complete separation (synthetic): y = x > 5.  R's fit stops at iteration 25
# with se ~ 6e4; its profile never crosses the cutoff above the estimate (NA).
sep <- data.frame(x = 1:10, y = as.numeric(1:10 > 5))
f <- y ~ x
write_case("binomial_logit_separated",
           "synthetic: y = (x > 5), x = 1..10 (complete separation)",
           suppressWarnings(glm(f, binomial, sep)),
           suppressWarnings(glm(f, binomial, sep, control = tight)),
           "Binomial", "Logit")

# 8. warpbreaks, quasipoisson: the dispersion estimated (F-based grid, z scaled
# by the Pearson dispersion) for a family that is otherwise Poisson.
warp <- data_csv("warpbreaks.csv")
warp$wool <- factor(warp$wool)
warp$tension <- factor(warp$tension, levels = c("L", "M", "H"))
f <- breaks ~ wool + tension
write_case("quasipoisson_log_warpbreaks",
           "warpbreaks: breaks ~ wool + tension, quasipoisson",
           glm(f, quasipoisson, warp), glm(f, quasipoisson, warp, control = tight),
           "QuasiPoisson", "Log")

# 9. R's spline() (method "fmm", n = 3 * length(x)) and the approx() that reads
# it backwards, on their own: profile-like knots (increasing x, z from about
# -3 to 3 with some curvature) for every knot count R's profile can produce.
set.seed(20240101)
spline_cases <- lapply(3:19, function(m) {
  x <- cumsum(runif(m, 0.5, 1.5))
  z <- sinh((x - x[ceiling(m / 2)]) / max(1, m / 4)) + rnorm(m, sd = 0.05)
  sp <- spline(x, z)
  list(x = x, z = z, xout = sp$x, yout = sp$y,
       bounds = approx(sp$y, sp$x, xout = qnorm(c(0.025, 0.975)))$y)
})
path <- file.path(here, "profile_spline_fmm.json")
writeLines(toJSON(list(description = paste("R's spline(x, z) and",
                                           "approx(sp$y, sp$x, xout = qnorm(c(0.025, 0.975)))"),
                       cases = spline_cases, r_version = R.version.string),
                  digits = I(17), na = "null", auto_unbox = TRUE), path)
cat("wrote", path, "\n")
