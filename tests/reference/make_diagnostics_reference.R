# R's residuals and influence measures: the references for tests/test_diagnostics.py.
#
#   Rscript tests/reference/make_diagnostics_reference.R
#
# One case per family (each is a separate compile in the tests).  Each fits
# glm(y ~ X - 1) at glm.control(epsilon = 1e-16) on a design built with model.matrix
# from the shipped data in src/jaxglm/data (clotting, which is not shipped, is typed
# in from McCullagh & Nelder sec. 8.4.2), and writes diagnostics_<case>.json next to
# this script:
#
#   name, description, family, link (jaxglm class names), family_params, colnames,
#   X (row-major), y (proportions for binomial), weights, offset, has_weights,
#   has_offset, and under "rdiag" what R reports:
#     residuals: response, working, pearson, deviance   residuals.glm(fit, type)
#     anscombe: (A(y) - A(mu)) V(mu)^(-1/6) sqrt(w) with A(t) = integral of V^(-1/3),
#               by integrate() at rel.tol 1e-12 -- the definition itself, unscaled
#               (statsmodels' resid_anscombe_unscaled); R has no Anscombe residuals
#     hat: hatvalues(fit); cooks_distance: cooks.distance(fit);
#     rstandard_deviance, rstandard_pearson: rstandard(fit, type = ...)
#     (R leaves zero-weight rows out of these four: they are null here),
#     dispersion, rank, df_resid, mu, aliased (R's aliased columns; R's numbers
#     come from the refit without them).
#
# Negative binomial with a fixed theta uses dispersion 1, as MASS's summary.negbin and
# jaxglm do (summary.glm would estimate it for a negative.binomial() family).
#
# The top-level key is "rdiag", not "r", so tests/refdata.py does not take these files
# for full-fit references.  Needs R with MASS only: the JSON writer is below.

suppressPackageStartupMessages(library(MASS))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(script) == 1) dirname(normalizePath(script)) else getwd()
data_dir <- file.path(here, "..", "..", "src", "jaxglm", "data")
read_data <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")))

# --- a minimal JSON writer (17 significant digits; NA, NaN -> null) -------------
json_number <- function(x) {
  out <- ifelse(is.finite(x), sprintf("%.17g", x), "null")
  out[is.na(x)] <- "null"
  out
}
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (!is.null(names(x))) {
      if (length(x) == 0) return("{}")
      keys <- paste0('"', names(x), '":')
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
    paste0('"', gsub('"', '\\\\"', x), '"')
  } else if (is.logical(x)) {
    ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else {
    json_number(as.numeric(x))
  }
  if (scalar) values else paste0("[", paste(values, collapse = ","), "]")
}
scalar <- function(x) structure(x, class = "scalar")

# --- Anscombe residuals from their definition -------------------------------------
anscombe <- function(y, mu, w, variance) {
  a <- function(lo, hi) {
    if (lo == hi) return(0)
    f <- function(t) variance(t)^(-1 / 3)
    sgn <- if (hi > lo) 1 else -1
    sgn * integrate(f, min(lo, hi), max(lo, hi), rel.tol = 1e-12,
                    subdivisions = 1000L)$value
  }
  diff <- mapply(a, mu, y)
  ifelse(w > 0, diff * variance(mu)^(-1 / 6) * sqrt(w), 0)
}

write_case <- function(name, description, X, y, family, jg_family, jg_link,
                       variance, family_params = list(), weights = NULL,
                       offset = NULL, dispersion = NULL) {
  n <- nrow(X)
  w <- if (is.null(weights)) rep(1, n) else weights
  off <- if (is.null(offset)) rep(0, n) else offset
  # Which columns R aliases: glm() at its default control.  (glm.fit's QR tolerance
  # is min(1e-7, epsilon / 1000), so at epsilon = 1e-14 it would keep an exact
  # duplicate column and diverge.)  Influence measures depend only on the columns
  # kept, so R's numbers come from the refit without the aliased columns.
  full <- glm(y ~ X - 1, family = family, weights = w, offset = off)
  aliased <- unname(is.na(coef(full)))
  Xk <- X[, !aliased, drop = FALSE]
  fit <- glm(y ~ Xk - 1, family = family, weights = w, offset = off,
             control = glm.control(epsilon = 1e-16, maxit = 100))
  stopifnot(fit$converged, full$converged, fit$rank == full$rank)
  # epsilon = 1e-16, not 1e-14: a non-canonical fit (negative binomial, log) stops
  # on the deviance change about sqrt(epsilon) from the MLE, 1e-7 at 1e-14, while
  # jaxglm finishes at the optimum; at 1e-16 R's score is at rounding (1e-12).
  # (At the default epsilon R stops short of the optimum, and its hat values use
  # the weights of the previous iteration, hence the loose check.)
  stopifnot(isTRUE(all.equal(unname(hatvalues(full)), unname(hatvalues(fit)),
                             tolerance = 1e-4)))
  # summary.glm warns that zero-weight rows do not count towards the dispersion.
  r_disp <- suppressWarnings(summary(fit)$dispersion)
  disp <- if (is.null(dispersion)) r_disp else dispersion
  # rstandard.glm takes summary.glm's dispersion: rescale where ours differs.
  rescale <- sqrt(r_disp / disp)
  used <- w != 0
  expand <- function(v) {
    out <- rep(NA_real_, n)
    out[used] <- unname(v)
    out
  }
  rdiag <- list(
    residuals = list(
      response = unname(residuals(fit, "response")),
      working = unname(residuals(fit, "working")),
      pearson = unname(residuals(fit, "pearson")),
      deviance = unname(residuals(fit, "deviance"))
    ),
    anscombe = anscombe(y, unname(fitted(fit)), w, variance),
    hat = expand(hatvalues(fit)),
    cooks_distance = expand(cooks.distance(fit, dispersion = disp)),
    rstandard_deviance = expand(suppressWarnings(rstandard(fit, type = "deviance")) *
                                  rescale),
    rstandard_pearson = expand(suppressWarnings(rstandard(fit, type = "pearson")) *
                                 rescale),
    dispersion = scalar(disp),
    rank = scalar(fit$rank),
    df_resid = scalar(fit$df.residual),
    mu = unname(fitted(fit)),
    aliased = aliased
  )
  fp <- lapply(family_params, scalar)
  out <- list(
    name = scalar(name),
    description = scalar(description),
    family = scalar(jg_family),
    link = scalar(jg_link),
    family_params = if (length(fp)) fp else structure(list(), names = character(0)),
    colnames = colnames(X),
    X = unname(X),
    y = unname(y),
    weights = w,
    offset = off,
    has_weights = scalar(!is.null(weights)),
    has_offset = scalar(!is.null(offset)),
    rdiag = rdiag,
    r_version = scalar(R.version.string)
  )
  path <- file.path(here, paste0("diagnostics_", name, ".json"))
  writeLines(to_json(out), path)
  cat("wrote", basename(path), " n", n, " p", ncol(X), " rank", fit$rank, "\n")
}

# 1. Poisson log with an offset and an aliased column: ships, service > 0 (MASS
#    sec. 7.1), with typeB entered a second time as the last column.
ships <- read_data("ships")
ships <- ships[ships$service > 0, ]
ships$year <- factor(ships$year)
ships$period <- factor(ships$period)
X <- model.matrix(~ type + year + period, ships)
X <- cbind(X, typeB_again = X[, "typeB"])
write_case("poisson_log_ships_aliased",
           "Ship damage incidents, log service offset, typeB again (aliased)",
           X, ships$incidents, poisson(), "Poisson", "Log", function(t) t,
           offset = log(ships$service))

# 2. Binomial logit, grouped (trials as weights), ordered factors: esoph.
esoph <- read_data("esoph")
lv <- list(agegp = c("25-34", "35-44", "45-54", "55-64", "65-74", "75+"),
           alcgp = c("0-39g/day", "40-79", "80-119", "120+"),
           tobgp = c("0-9g/day", "10-19", "20-29", "30+"))
for (v in names(lv)) esoph[[v]] <- factor(esoph[[v]], levels = lv[[v]], ordered = TRUE)
X <- model.matrix(~ agegp + tobgp + alcgp, esoph)
trials <- esoph$ncases + esoph$ncontrols
write_case("binomial_logit_esoph", "Oesophageal cancer, grouped, poly contrasts",
           X, esoph$ncases / trials, binomial(), "Binomial", "Logit",
           function(t) t * (1 - t), weights = trials)

# 3. Gamma log: trees.
trees <- read_data("trees")
X <- model.matrix(~ log(Girth) + log(Height), trees)
write_case("gamma_log_trees", "Black cherry trees, volume on log girth and height",
           X, trees$Volume, Gamma(link = "log"), "Gamma", "Log", function(t) t^2)

# 4. Gaussian identity with prior weights 10/Girth and one zero-weight row.
w <- 10 / trees$Girth
w[5] <- 0
X <- model.matrix(~ Girth + Height, trees)
write_case("gaussian_identity_trees_zero_weight",
           "Trees, precision weights 10/Girth, row 5 has weight 0",
           X, trees$Volume, gaussian(), "Gaussian", "Identity", function(t) 1 + 0 * t,
           weights = w)

# 5. Negative binomial with theta fixed at glm.nb's estimate: quine.
quine <- read_data("quine")
for (v in c("Eth", "Sex", "Age", "Lrn")) quine[[v]] <- factor(quine[[v]])
theta <- glm.nb(Days ~ Eth + Sex + Age + Lrn, quine)$theta
X <- model.matrix(~ Eth + Sex + Age + Lrn, quine)
write_case("negbin_log_quine", "Days absent, theta fixed at glm.nb's estimate",
           X, quine$Days, negative.binomial(theta = theta), "NegativeBinomial", "Log",
           function(t) t + t^2 / theta,
           family_params = list(alpha = 1 / theta, theta = theta), dispersion = 1)

# 6. Inverse Gaussian, canonical link: clotting times (McCullagh & Nelder 8.4.2).
u <- c(5, 10, 15, 20, 30, 40, 60, 80, 100)
lot1 <- c(118, 58, 42, 35, 27, 25, 21, 19, 18)
X <- model.matrix(~ log(u))
write_case("invgauss_inverse_squared_clotting", "Clotting times, lot 1",
           X, lot1, inverse.gaussian(), "InverseGaussian", "InverseSquared",
           function(t) t^3)
