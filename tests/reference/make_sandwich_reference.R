# R's sandwich covariances of glm fits: the references for tests/test_sandwich.py.
#
#   Rscript tests/reference/make_sandwich_reference.R
#
# Needs R with sandwich (3.0-2 used), lmtest (0.9-40) and zoo; the JSON writer is
# below.  Each case fits glm(y ~ X - 1) on a design built with model.matrix from the
# shipped data in src/jaxglm/data and writes sandwich_<case>.json next to this script:
#
#   name, description, family, link (jaxglm class names), family_params, colnames,
#   X (row-major), y (proportions for binomial), weights, offset, has_weights,
#   has_offset, cluster (R's integer cluster codes, 1..G, as passed to vcovCL), and
#   under "sandwich" what R reports:
#     coef, aliased (R's NA coefficients, from glm() at its default control),
#     vcovHC: {HC0, HC1, HC2, HC3}   sandwich::vcovHC(fit, type)
#     vcovCL: {HC0, HC1}             sandwich::vcovCL(fit, cluster, type), its default
#                                    cadjust = TRUE (G / (G - 1))
#     n_clusters                     G as vcovCL counts it (length(unique(cluster)))
#     coeftest_HC3: {estimate, se, z, p}  lmtest::coeftest(fit, vcov = vcovHC(fit,
#                                    "HC3")) -- a z test for every glm (df = Inf)
#     coefci_HC3_90                  lmtest::coefci(fit, vcov = vcovHC(fit, "HC3"),
#                                    level = 0.9), p x 2 (normal quantiles too)
#     nobs (non-zero weights), n (all rows), rank
#   Matrices are p x p with aliased rows and columns null (R drops them: its matrices
#   are rank x rank).
#
# The zero-weight case: R's hatvalues() leave zero-weight rows out (length nobs) while
# meatHC's residuals have all n rows, so vcovHC's HC2/HC3 recycle the hat values onto
# the wrong rows (with a warning).  "vcovHC" there holds HC2/HC3 with the hat values
# aligned (0 at zero-weight rows) through vcovHC's own omega argument; what R returns
# is kept as "vcovHC_r_misaligned", not used by the tests.  HC0, HC1 and vcovCL are
# R's own: note that sandwich divides by n = all rows in the meat and the sandwich but
# multiplies the bread by nobs, a factor (nobs / n)^2 overall.
#
# Each fit is polished: glm() at epsilon = 1e-14, then repeated one-step refits from
# the previous coefficients until they stop moving.  R's glm keeps the working weights
# (hence cov.unscaled, weights(fit, "working") and hatvalues) from the start of its
# last iteration, which at a deviance tolerance of 1e-14 is ~1e-7 away from the
# optimum; after the polish it is the optimum to rounding, so the references are the
# sandwich of the exact fit.  The script checks its closed form of the sandwich,
#   (nobs / n)^2 (X'WX)^-1 [sum_i omega_i s_i^2 x_i x_i'] (X'WX)^-1,
# s_i = working residual x working weight, against sandwich's numbers.

suppressPackageStartupMessages({
  library(sandwich)
  library(lmtest)
})

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

# p x p from R's rank x rank matrix, NA in aliased rows and columns.
expand_matrix <- function(m, aliased) {
  p <- length(aliased)
  out <- matrix(NA_real_, p, p)
  out[!aliased, !aliased] <- unname(m)
  out
}
expand_rows <- function(m, aliased) {
  out <- matrix(NA_real_, length(aliased), ncol(m))
  out[!aliased, ] <- unname(m)
  out
}
expand_vector <- function(v, aliased) {
  out <- rep(NA_real_, length(aliased))
  out[!aliased] <- unname(v)
  out
}

polish <- function(y, X, family, w, off) {
  fit <- suppressWarnings(glm(y ~ X - 1, family = family, weights = w, offset = off,
                              control = glm.control(epsilon = 1e-14, maxit = 100)))
  stopifnot(fit$converged)
  for (i in seq_len(200)) {
    old <- coef(fit)
    # maxit = 1 "did not converge" warnings are expected here.
    fit <- suppressWarnings(glm(y ~ X - 1, family = family, weights = w,
                                offset = off, start = old,
                                control = glm.control(epsilon = 1e-14, maxit = 1)))
    if (max(abs(coef(fit) - old) / (abs(old) + 1)) < 1e-14) break
  }
  stopifnot(i < 200)
  fit
}

# The closed form the library implements, checked against sandwich's numbers.
closed_form <- function(fit, omega_factor) {
  X <- model.matrix(fit)
  n <- nrow(X)
  nobs <- sum(fit$prior.weights > 0)
  s <- fit$residuals * fit$weights
  bread <- chol2inv(qr.R(qr(X * sqrt(fit$weights))))
  meat <- crossprod(X * (s * sqrt(omega_factor)))
  (nobs / n)^2 * bread %*% meat %*% bread
}

# summary.glm (inside sandwich's bread) warns on every call that zero-weight rows
# do not count towards the dispersion; that is expected here.
quiet_dispersion <- function(expr) {
  withCallingHandlers(expr, warning = function(w) {
    if (grepl("zero weight not used", conditionMessage(w))) invokeRestart("muffleWarning")
  })
}

write_case <- function(...) quiet_dispersion(write_case_(...))

write_case_ <- function(name, description, X, y, family, jg_family, jg_link, cluster,
                        weights = NULL, offset = NULL, family_params = list()) {
  n <- nrow(X)
  w <- if (is.null(weights)) rep(1, n) else weights
  off <- if (is.null(offset)) rep(0, n) else offset
  # Which columns R aliases: glm() at its default control (at epsilon = 1e-14 the QR
  # tolerance min(1e-7, epsilon / 1000) would keep an exact duplicate).  sandwich
  # drops aliased columns, so its numbers are those of the refit without them.
  full <- suppressWarnings(glm(y ~ X - 1, family = family, weights = w, offset = off))
  aliased <- unname(is.na(coef(full)))
  Xk <- X[, !aliased, drop = FALSE]
  fit <- polish(y, Xk, family, w, off)
  stopifnot(isTRUE(all.equal(unname(vcovHC(full, "HC0")), unname(vcovHC(fit, "HC0")),
                             tolerance = 1e-5)))

  used <- w > 0
  nobs <- sum(used)
  hat <- rep(0, n)
  hat[used] <- hatvalues(fit)
  k <- ncol(Xk)
  factors <- list(HC0 = rep(1, n), HC1 = rep(n / (n - k), n), HC2 = 1 / (1 - hat),
                  HC3 = 1 / (1 - hat)^2)
  hc <- list()
  misaligned <- NULL
  for (type in names(factors)) {
    if (type %in% c("HC2", "HC3") && nobs < n) {
      f <- factors[[type]]
      hc[[type]] <- vcovHC(fit, omega = function(residuals, diaghat, df) {
        residuals^2 * f
      })
      misaligned[[type]] <- suppressWarnings(vcovHC(fit, type = type))
    } else {
      hc[[type]] <- vcovHC(fit, type = type)
    }
    stopifnot(isTRUE(all.equal(unname(hc[[type]]),
                               unname(closed_form(fit, factors[[type]])),
                               tolerance = 1e-10)))
  }
  cl <- list(HC0 = vcovCL(fit, cluster = cluster, type = "HC0"),
             HC1 = vcovCL(fit, cluster = cluster, type = "HC1"))
  # (hc$HC3 is vcovHC(fit, "HC3"), hat values aligned where there are zero weights.)
  ct <- coeftest(fit, vcov = hc$HC3)
  stopifnot(attr(ct, "method") == "z test of coefficients")

  sw <- list(
    coef = expand_vector(coef(fit), aliased),
    aliased = aliased,
    vcovHC = lapply(hc, expand_matrix, aliased = aliased),
    vcovCL = lapply(cl, expand_matrix, aliased = aliased),
    n_clusters = scalar(length(unique(cluster))),
    coeftest_HC3 = list(
      estimate = expand_vector(ct[, 1], aliased),
      se = expand_vector(ct[, 2], aliased),
      z = expand_vector(ct[, 3], aliased),
      p = expand_vector(ct[, 4], aliased)
    ),
    coefci_HC3_90 = expand_rows(coefci(fit, vcov. = hc$HC3, level = 0.9), aliased),
    nobs = scalar(nobs),
    n = scalar(n),
    rank = scalar(fit$rank)
  )
  if (!is.null(misaligned)) {
    sw$vcovHC_r_misaligned <- lapply(misaligned, expand_matrix, aliased = aliased)
  }
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
    cluster = as.integer(cluster),
    sandwich = sw,
    r_version = scalar(R.version.string),
    sandwich_version = scalar(as.character(packageVersion("sandwich"))),
    lmtest_version = scalar(as.character(packageVersion("lmtest")))
  )
  path <- file.path(here, paste0("sandwich_", name, ".json"))
  writeLines(to_json(out), path)
  cat("wrote", basename(path), " n", n, " p", ncol(X), " rank", fit$rank,
      " G", length(unique(cluster)), "\n")
}

# 1. Poisson log: warpbreaks, clustered by the wool x tension cell.
wb <- read_data("warpbreaks")
wb$wool <- factor(wb$wool, levels = c("A", "B"))
wb$tension <- factor(wb$tension, levels = c("L", "M", "H"))
X <- model.matrix(~ wool + tension, wb)
write_case("poisson_log_warpbreaks", "Warp breaks, clustered by wool x tension cell",
           X, wb$breaks, poisson(), "Poisson", "Log",
           cluster = as.integer(interaction(wb$wool, wb$tension)))

# 2. Binomial logit, 0/1 response: infert, clustered by matched set (stratum).
infert <- read_data("infert")
X <- model.matrix(~ spontaneous + induced, infert)
write_case("binomial_logit_infert", "Infertility case-control, clustered by stratum",
           X, infert$case, binomial(), "Binomial", "Logit",
           cluster = infert$stratum)

# 3. Gamma log (estimated dispersion, non-canonical link): trees, clustered in
#    blocks of three consecutive rows (the data are sorted by girth).
trees <- read_data("trees")
X <- model.matrix(~ log(Girth) + log(Height), trees)
write_case("gamma_log_trees", "Black cherry trees; clusters: blocks of 3 rows",
           X, trees$Volume, Gamma(link = "log"), "Gamma", "Log",
           cluster = (seq_len(nrow(trees)) - 1) %/% 3 + 1)

# 4. Binomial logit, grouped (trials as prior weights), ordered factors: esoph,
#    clustered by age group.
esoph <- read_data("esoph")
lv <- list(agegp = c("25-34", "35-44", "45-54", "55-64", "65-74", "75+"),
           alcgp = c("0-39g/day", "40-79", "80-119", "120+"),
           tobgp = c("0-9g/day", "10-19", "20-29", "30+"))
for (v in names(lv)) esoph[[v]] <- factor(esoph[[v]], levels = lv[[v]], ordered = TRUE)
X <- model.matrix(~ agegp + tobgp + alcgp, esoph)
trials <- esoph$ncases + esoph$ncontrols
write_case("binomial_logit_esoph_weighted",
           "Oesophageal cancer, grouped (trials as weights), clustered by age group",
           X, esoph$ncases / trials, binomial(), "Binomial", "Logit",
           cluster = as.integer(esoph$agegp), weights = trials)

# 5. Gaussian identity, estimated dispersion, precision weights 10/Girth with a
#    zero-weight row; clusters: blocks of 4 rows (the zero-weight row's block counts).
w <- 10 / trees$Girth
w[5] <- 0
X <- model.matrix(~ Girth + Height, trees)
write_case("gaussian_identity_trees_zero_weight",
           "Trees, weights 10/Girth, row 5 weight 0; clusters: blocks of 4 rows",
           X, trees$Volume, gaussian(), "Gaussian", "Identity",
           cluster = (seq_len(nrow(trees)) - 1) %/% 4 + 1, weights = w)

# 6. Poisson log with an offset and an aliased column: ships, service > 0, typeB
#    entered a second time as the last column; clustered by ship type.
ships <- read_data("ships")
ships <- ships[ships$service > 0, ]
ships$year <- factor(ships$year)
ships$period <- factor(ships$period)
X <- model.matrix(~ type + year + period, ships)
X <- cbind(X, typeB_again = X[, "typeB"])
write_case("poisson_log_ships_offset_aliased",
           "Ship damage, log service offset, typeB again (aliased); clustered by type",
           X, ships$incidents, poisson(), "Poisson", "Log",
           cluster = as.integer(factor(ships$type)), offset = log(ships$service))

# 7. Poisson log with an offset, ordered factors: MASS Insurance, clustered by
#    district.
ins <- read_data("insurance")
ins$District <- factor(ins$District)
ins$Group <- factor(ins$Group, levels = c("<1l", "1-1.5l", "1.5-2l", ">2l"),
                    ordered = TRUE)
ins$Age <- factor(ins$Age, levels = c("<25", "25-29", "30-35", ">35"), ordered = TRUE)
X <- model.matrix(~ District + Group + Age, ins)
write_case("poisson_log_insurance_offset",
           "Car insurance claims, log holders offset; clustered by district",
           X, ins$Claims, poisson(), "Poisson", "Log",
           cluster = as.integer(ins$District), offset = log(ins$Holders))
