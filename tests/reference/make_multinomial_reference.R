# Multinomial (softmax) regression on real data: reference outputs from nnet and VGAM.
#
#   Rscript tests/reference/make_multinomial_reference.R
#
# Needs R with MASS, nnet, VGAM and jsonlite (Debian: r-base-core r-cran-mass
# r-cran-nnet r-cran-vgam r-cran-jsonlite).  Written by R 4.2.2, nnet 7.3-18,
# VGAM 1.1-7.  Writes, next to this script, one multinomial_<case>.json per case and
# multinomial_housing.txt (R's printed summary(multinom(...)) for the housing case; in
# its Call, d is the data and w its column of prior weights, here Freq).
#
# Every case is fitted twice and the two fits must agree (the script stops if not;
# it prints the max abs differences of coef, SE, cov and fitted per case):
#   nnet::multinom(formula, data, weights, maxit = 1000, reltol = 1e-14,
#                  abstol = 1e-300, Hess = TRUE)  -- BFGS.  Its Hessian
#                  (nnet:::multinomHess) is analytic, but BFGS stops when the relative
#                  change of the deviance is below reltol, which leaves the coefficients
#                  up to ~6e-6 (fgl, survey_weighted) from the optimum.
#   VGAM::vglm(formula, multinomial(refLevel = 1), data, weights,
#              control = vglm.control(epsilon = 1e-15, maxit = 100,
#                                     half.stepsizing = FALSE))  -- Fisher scoring
#              (= Newton for this canonical model).  At epsilon = 1e-12 with step
#              halving VGAM stopped "at a half-step" on cars93 and survey_weighted,
#              up to 3e-7 from the optimum; these settings reach it.
# VGAM's fit is the primary reference.  The script also runs Newton's method from it
# with the analytic score and information and stops unless VGAM's coefficients are
# within 1e-10 of that optimum and its SEs within 1e-7 relative (they are: <= 6e-14
# and <= 3e-9).
# Class 0 (the first level) is the reference: eta_k = log(P(class k) / P(class 0)).
# Factors use treatment contrasts in R's level order (ordered factors from MASS are
# made unordered, keeping the level order).  Each fit is checked to be well behaved:
# converged, |coef| < 50, SE < 50 (no separation).
#
# Cases:
#   housing         MASS::housing, Sat ~ Infl + Type + Cont, weights = Freq; 72 rows,
#                   K = 3 (Low < Medium < High), p = 7.
#   housing_counts  the same model with a count-matrix response: one row per
#                   (Infl, Type, Cont) (24 rows), cbind(Low, Medium, High) ~ ...,
#                   no prior weights.  Same coefficients as housing.
#   survey          MASS::survey, Smoke ~ Sex + Age + Pulse, rows with NA dropped;
#                   190 rows, K = 4 (Heavy, Never, Occas, Regul), p = 4.
#   survey_weighted the survey case with non-integer prior weights
#                   runif(190, 0.5, 2) drawn under set.seed(1) (stored in the JSON).
#   fgl             MASS::fgl, type ~ RI + Al; 214 rows, K = 6 (WinF, WinNF, Veh,
#                   Con, Tabl, Head), p = 3.
#   cars93          "held-out" case: MASS::Cars93, AirBags ~ Price + MPG.city +
#                   Horsepower; 93 rows, K = 3 ("Driver & Passenger", "Driver only",
#                   "None"), p = 4.  (iris with the sepal measurements only is
#                   quasi-separated, so it is not used.)
#
# JSON fields (matrices are lists of rows; numbers are written with the fewest of
# 15/16/17 significant digits that read back as the same double, i.e. exactly --
# jsonlite's digits = NA stops at 15):
#   name, description, formula, classes (class names, class 0 = reference),
#   terms (colnames of the model matrix, R's names, e.g. "(Intercept)", "InflMedium"),
#   n, p, K, X (n x p model matrix),
#   y (integer labels 0..K-1) for label cases, or y_counts (n x K counts) for the
#   count case, weights (prior weights, n; all ones if none), has_weights,
#   coef, se, z, pvalues: p x (K-1) (row = term, column = class k = 1..K-1 vs class 0)
#     from VGAM (se = sqrt(diag(vcov)); z = coef/se; p = 2 pnorm(-|z|), which equals
#     VGAM's summary),
#   cov: VGAM's vcov reordered to nnet's layout ((K-1)p x (K-1)p, all terms of class 1,
#     then all terms of class 2, ...: index (k-1)*p + j), cov_names (nnet's
#     "class:term" names in that order),
#   coef_nnet, se_nnet (p x (K-1)), cov_nnet (vcov(multinom fit), same layout),
#   deviance: nnet's fit$deviance = -2 sum_i w_i log p_i(y_i)  (for the count form
#     -2 sum_ik y_ik log p_ik: the same number as the label form, no multinomial
#     coefficients and no saturated term),
#   loglik = logLik(fit) = -deviance/2, edf (nnet: (K-1) * rank), aic = AIC(fit) =
#     fit$AIC = deviance + 2 edf, bic = BIC(fit) = deviance + log(bic_nobs) edf, where
#     bic_nobs = attr(logLik(fit), "nobs") = sum of nnet's case weights (the prior
#     weights; for the count form the row totals), NOT the number of rows,
#   null_deviance: nnet deviance of the intercept-only fit (same weights),
#   vgam_deviance, vgam_loglik, vgam_df_residual (n (K-1) - rank, rows not weights),
#     vgam_rank, vgam_null_deviance, n_iter_vgam, converged_nnet, converged_vgam,
#   fitted: n x K fitted probabilities (VGAM), fitted_nnet (nnet),
#   predict_X: model-matrix rows of new data (numeric columns shifted, or other level
#     combinations), predict_newdata (that new data, by column),
#   predict_prob: predict(vglm fit, newdata, type = "response") (VGAM, consistent with
#     coef), predict_prob_nnet: predict(multinom fit, newdata, type = "probs") (nnet;
#     within ~1e-6 of VGAM's, since nnet stops a little short),
#   label_form (count case only): deviance / loglik of the equivalent label fit
#     (housing), log_multinomial_coef = sum_i [log n_i! - sum_k log y_ik!]; VGAM's
#     count-form loglik includes it (vgam_loglik = loglik + log_multinomial_coef) and
#     its count-form deviance is against the saturated model
#     (vgam_deviance = deviance + 2 saturated_loglik, saturated_loglik =
#     sum_ik y_ik log(y_ik / n_i), 0 log 0 = 0); note says the same in words,
#   weights_seed, weights_note (weighted case only), r_version, nnet_version,
#   vgam_version.
# These files have no "r"/"family" keys, so tests/refdata.py does not take them for
# glm() references.

suppressPackageStartupMessages({
  library(MASS)
  library(nnet)
  library(VGAM)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
here <- if (length(script) == 1) dirname(normalizePath(script)) else getwd()

# --- JSON writer: exact doubles (see the header), jsonlite for string escaping -----
num_json <- function(x) {
  vapply(x, function(v) {
    if (is.na(v) || !is.finite(v)) return("null")
    for (digits in 15:17) {
      text <- sprintf("%.*g", digits, v)
      if (as.numeric(text) == v) break
    }
    text
  }, character(1))
}
value_json <- function(value) {
  if (is.null(value)) return("null")
  if (is.data.frame(value)) value <- as.list(value)
  if (is.list(value)) {
    if (is.null(names(value))) {
      return(paste0("[", paste(vapply(value, value_json, ""), collapse = ","), "]"))
    }
    if (length(value) == 0) return("{}")
    fields <- vapply(names(value), function(key) {
      sprintf("%s:%s", as.character(toJSON(key, auto_unbox = TRUE)),
              value_json(value[[key]]))
    }, character(1))
    return(paste0("{", paste(fields, collapse = ","), "}"))
  }
  if (is.factor(value)) value <- as.character(value)
  if (is.matrix(value)) {
    rows <- vapply(seq_len(nrow(value)), function(i) {
      value_json(I(unname(value[i, ])))
    }, character(1))
    return(paste0("[", paste(rows, collapse = ","), "]"))
  }
  scalar <- length(value) == 1 && !inherits(value, "AsIs")
  parts <- if (is.character(value)) {
    vapply(value, function(s) as.character(toJSON(s, auto_unbox = TRUE)), "")
  } else if (is.logical(value)) {
    ifelse(is.na(value), "null", ifelse(value, "true", "false"))
  } else {
    num_json(as.numeric(value))
  }
  if (scalar) unname(parts) else paste0("[", paste(parts, collapse = ","), "]")
}
write_json_exact <- function(x, path) {
  lines <- vapply(names(x), function(key) {
    sprintf("\"%s\":%s", key, value_json(x[[key]]))
  }, character(1))
  writeLines(c("{", paste0(lines, c(rep(",", length(lines) - 1), "")), "}"), path)
}

unordered <- function(f) factor(f, levels = levels(f), ordered = FALSE)
u <- function(x) unname(x)

ctrl_nnet <- list(maxit = 1000, reltol = 1e-14, abstol = 1e-300)

# Softmax probabilities with class 0 as reference; B is p x (K-1).
softmax <- function(X, B) {
  E <- exp(X %*% cbind(0, B))
  E / rowSums(E)
}
# Newton's method on the multinomial log-likelihood sum_ik Yw_ik log p_ik (Yw = counts
# times prior weights), analytic score and information; returns the optimum, the
# inverse information (nnet's layout) and the score at the start.
newton_polish <- function(X, Yw, B) {
  p <- ncol(X); km1 <- ncol(B); Nw <- rowSums(Yw)
  score <- function(B) (t(X) %*% (Yw - Nw * softmax(X, B)))[, -1, drop = FALSE]
  info <- function(B) {
    P <- softmax(X, B)[, -1, drop = FALSE]
    H <- matrix(0, p * km1, p * km1)
    for (a in seq_len(km1)) for (b in seq_len(km1)) {
      H[(a - 1) * p + seq_len(p), (b - 1) * p + seq_len(p)] <-
        t(X) %*% (Nw * P[, a] * ((a == b) - P[, b]) * X)
    }
    H
  }
  score_start <- score(B)
  for (it in 1:5) B <- B + matrix(solve(info(B), as.vector(score(B))), p, km1)
  stopifnot(max(abs(score(B))) < 1e-8)
  list(coef = B, cov = solve(info(B)), score_start = score_start)
}

# --- one case ---------------------------------------------------------------------
# formula: the model; d: the data frame (a column "w" holds the prior weights);
# counts: the response is a count matrix; newdata: rows to predict at.
fit_case <- function(name, description, formula, d, newdata, counts = FALSE,
                     has_weights = TRUE, extra = list(), txt = FALSE) {
  # model.frame.multinom (model.matrix, predict) looks for d in the formula's env.
  environment(formula) <- environment()
  # bquote() puts the formula itself into the printed Call.
  fit <- eval(bquote(multinom(.(formula), data = d, weights = w, Hess = TRUE,
                              maxit = .(ctrl_nnet$maxit), reltol = .(ctrl_nnet$reltol),
                              abstol = .(ctrl_nnet$abstol), trace = FALSE)))
  vfit <- eval(bquote(vglm(.(formula), family = multinomial(refLevel = 1), data = d,
                           weights = w, control = vglm.control(
                             epsilon = 1e-15, maxit = 100, half.stepsizing = FALSE))))
  null_formula <- update(formula, . ~ 1)
  nfit <- eval(bquote(multinom(.(null_formula), data = d, weights = w,
                               maxit = 1000, reltol = 1e-14, abstol = 1e-300,
                               trace = FALSE)))
  vnull <- eval(bquote(vglm(.(null_formula), family = multinomial(refLevel = 1),
                            data = d, weights = w, control = vglm.control(
                              epsilon = 1e-15, maxit = 100, half.stepsizing = FALSE))))

  X <- model.matrix(fit)
  terms <- colnames(X)
  classes <- fit$lev
  if (is.null(classes)) classes <- fit$lab
  n <- nrow(X); p <- ncol(X); K <- length(classes); km1 <- K - 1

  # nnet: coef is (K-1) x p; VGAM: interleaved "(Intercept):1", "(Intercept):2", ...
  coef_nnet <- t(coef(fit))
  se_nnet <- t(summary(fit)$standard.errors)
  cov_nnet <- vcov(fit)
  vnames <- paste0(rep(terms, each = km1), ":", rep(seq_len(km1), times = p))
  stopifnot(identical(names(coef(vfit)), vnames))
  coef_vgam <- matrix(coef(vfit), nrow = p, ncol = km1, byrow = TRUE)
  # VGAM index of (term j, class k) in nnet's order (k-1)*p + j.
  perm <- as.vector(outer(seq_len(p), seq_len(km1),
                          function(j, k) (j - 1) * km1 + k))
  stopifnot(identical(vnames[perm],
                      paste0(rep(terms, times = km1), ":", rep(seq_len(km1), each = p))),
            identical(rownames(cov_nnet),
                      paste0(rep(classes[-1], each = p), ":", rep(terms, times = km1))))
  cov_vgam <- vcov(vfit)[perm, perm]
  se_vgam <- matrix(sqrt(diag(vcov(vfit))), nrow = p, ncol = km1, byrow = TRUE)
  ctab <- coef(summary(vfit))
  stopifnot(identical(rownames(ctab), vnames),
            max(abs(ctab[, 2] - sqrt(diag(vcov(vfit))))) < 1e-12)
  z <- coef_vgam / se_vgam
  pvalues <- 2 * pnorm(-abs(z))
  stopifnot(max(abs(matrix(ctab[, 4], nrow = p, byrow = TRUE) - pvalues)) < 1e-12)

  # --- checks: convergence, no separation, VGAM == exact optimum, nnet == VGAM ------
  # Counts times prior weights (indicator rows for label cases).
  resp <- model.response(model.frame(fit))
  Yw <- d$w * (if (counts) as.matrix(resp) else
    outer(as.integer(resp), seq_len(K), "==") * 1)
  Nw <- rowSums(Yw)
  # Newton's method from VGAM's solution with the analytic score and information, to
  # confirm VGAM is at the optimum and its vcov is the inverse information there.
  exact <- newton_polish(X, Yw, coef_vgam)
  d_exact_coef <- max(abs(exact$coef - coef_vgam))
  d_exact_se <- max(abs(sqrt(diag(exact$cov)) / as.vector(se_vgam) - 1))
  conv_nnet <- fit$convergence == 0
  conv_vgam <- vfit@iter < 100
  d_coef <- max(abs(coef_nnet - coef_vgam))
  d_se <- max(abs(se_nnet - se_vgam))
  d_cov <- max(abs(cov_nnet - cov_vgam))
  fitted_vgam <- fitted(vfit)
  fitted_nnet <- fitted(fit)
  d_fit <- max(abs(fitted_nnet - fitted_vgam))
  cat(sprintf(paste0("%-16s n=%3d p=%d K=%d  nnet vs VGAM: max|d coef|=%.2e ",
                     "max|d se|=%.2e max|d cov|=%.2e max|d fitted|=%.2e\n",
                     "                 VGAM: %d iterations, |score| %.1e; vs Newton-polished ",
                     "optimum: max|d coef|=%.1e, max rel d se=%.1e\n"),
              name, n, p, K, d_coef, d_se, d_cov, d_fit, vfit@iter,
              max(abs(exact$score_start)), d_exact_coef, d_exact_se))
  # nnet's BFGS stops a little short (its criterion is the relative change of the
  # deviance): its coefficients are within ~1e-5 of VGAM's, not 1e-8.
  stopifnot(conv_nnet, conv_vgam, max(abs(coef_vgam)) < 50, max(se_vgam) < 50,
            d_exact_coef < 1e-10, d_exact_se < 1e-7,
            d_coef < 1e-4, d_se < 1e-4, d_fit < 1e-5,
            max(abs(fitted_vgam - softmax(X, coef_vgam))) < 1e-12)

  ll <- logLik(fit)
  stopifnot(abs(AIC(fit) - fit$AIC) < 1e-8,
            abs(BIC(fit) - (fit$deviance + log(attr(ll, "nobs")) * fit$edf)) < 1e-8)

  # --- predictions at new data --------------------------------------------------------
  predict_X <- model.matrix(delete.response(terms(fit)), newdata,
                            xlev = fit$xlevels, contrasts.arg = fit$contrasts)
  stopifnot(identical(colnames(predict_X), terms))
  predict_prob <- predict(fit, newdata = newdata, type = "probs")
  predict_prob_vgam <- predict(vfit, newdata = newdata, type = "response")
  eta <- predict_X %*% cbind(0, coef_vgam)
  stopifnot(max(abs(predict_prob_vgam - exp(eta) / rowSums(exp(eta)))) < 1e-12,
            max(abs(predict_prob - predict_prob_vgam)) < 1e-5)

  out <- list(
    name = name,
    description = description,
    formula = paste(deparse(formula), collapse = " "),
    classes = I(classes),
    terms = I(terms),
    n = n, p = p, K = K,
    X = u(X)
  )
  if (counts) {
    out$y_counts <- u(as.matrix(resp))
  } else {
    out$y <- I(as.integer(resp) - 1L)
  }
  out <- c(out, list(
    weights = I(u(d$w)),
    has_weights = has_weights,
    coef = u(coef_vgam),
    se = u(se_vgam),
    z = u(z),
    pvalues = u(pvalues),
    cov = u(cov_vgam),
    cov_names = I(rownames(cov_nnet)),
    coef_nnet = u(coef_nnet),
    se_nnet = u(se_nnet),
    cov_nnet = u(cov_nnet),
    deviance = fit$deviance,
    loglik = as.numeric(ll),
    edf = fit$edf,
    aic = AIC(fit),
    bic = BIC(fit),
    bic_nobs = attr(ll, "nobs"),
    null_deviance = nfit$deviance,
    vgam_deviance = deviance(vfit),
    vgam_loglik = as.numeric(logLik(vfit)),
    vgam_df_residual = df.residual(vfit),
    vgam_rank = vfit@rank,
    vgam_null_deviance = deviance(vnull),
    n_iter_vgam = vfit@iter,
    converged_nnet = conv_nnet,
    converged_vgam = conv_vgam,
    fitted = u(fitted_vgam),
    fitted_nnet = u(fitted_nnet),
    predict_X = u(predict_X),
    predict_newdata = lapply(newdata, function(col) I(u(if (is.factor(col))
      as.character(col) else col))),
    predict_prob = u(predict_prob_vgam),
    predict_prob_nnet = u(predict_prob)
  ), extra, list(
    r_version = R.version.string,
    nnet_version = packageDescription("nnet")$Version,
    vgam_version = packageDescription("VGAM")$Version
  ))
  # Every matrix-valued field has the documented shape.
  stopifnot(all(dim(out$coef) == c(p, km1)), all(dim(out$cov) == c(p * km1, p * km1)),
            all(dim(out$fitted) == c(n, K)), length(out$weights) == n)

  json_path <- file.path(here, paste0("multinomial_", name, ".json"))
  write_json_exact(out, json_path)
  # The file reads back to R's values.  (jsonlite's own parser is not correctly
  # rounded -- it can be 1 ulp off for a 16-digit number that R and Python read
  # exactly -- hence the 1e-15 tolerance here.)
  back <- fromJSON(json_path)
  same <- function(a, b) isTRUE(all.equal(as.vector(a), as.vector(b), tolerance = 1e-15,
                                          scale = 1)) && identical(dim(a), dim(b))
  stopifnot(same(back$coef, out$coef), same(back$cov, out$cov),
            same(back$fitted, out$fitted), same(back$X, unname(as.matrix(X[, ]))),
            same(back$weights, d$w))
  cat(sprintf("  deviance=%.10g aic=%.10g bic=%.10g (bic_nobs=%g) null_deviance=%.10g\n",
              fit$deviance, AIC(fit), BIC(fit), attr(ll, "nobs"), nfit$deviance))
  cat(sprintf("  vgam_deviance=%.10g vgam_loglik=%.10g vgam_df_residual=%d  -> %s (%.0f KB)\n",
              deviance(vfit), as.numeric(logLik(vfit)), df.residual(vfit),
              basename(json_path), file.size(json_path) / 1024))
  if (txt) {
    txt_path <- file.path(here, paste0("multinomial_", name, ".txt"))
    writeLines(c(
      capture.output(print(summary(fit))),
      "",
      sprintf("logLik: %s (df = %d, nobs = %s)", format(as.numeric(ll), digits = 10),
              attr(ll, "df"), format(attr(ll, "nobs"))),
      sprintf("AIC: %s  BIC: %s", format(AIC(fit), digits = 10),
              format(BIC(fit), digits = 10)),
      sprintf("nnet %s, %s", packageDescription("nnet")$Version, R.version.string)
    ), txt_path)
    cat("  wrote", basename(txt_path), "\n")
  }
  invisible(list(fit = fit, vfit = vfit))
}

# --- housing (label form) -------------------------------------------------------------
h <- housing
for (v in c("Sat", "Infl", "Type", "Cont")) h[[v]] <- unordered(h[[v]])
h$w <- h$Freq
stopifnot(identical(levels(h$Sat), c("Low", "Medium", "High")), all(h$Freq > 0))
combos <- unique(h[, c("Infl", "Type", "Cont")])
rownames(combos) <- NULL
housing_new <- combos[c(1, 5, 10, 15, 20, 24), ]
housing <- fit_case(
  "housing",
  paste("MASS::housing: satisfaction (Low < Medium < High, as unordered classes) by",
        "influence, housing type and contact, one row per cell, prior weights = Freq."),
  Sat ~ Infl + Type + Cont, h, housing_new, txt = TRUE)

# --- housing as a count matrix ----------------------------------------------------------
key <- paste(h$Infl, h$Type, h$Cont)
hc <- h[h$Sat == "Low", c("Infl", "Type", "Cont")]
for (lv in levels(h$Sat)) {
  hc[[lv]] <- h$Freq[h$Sat == lv][match(key[h$Sat == "Low"], key[h$Sat == lv])]
}
rownames(hc) <- NULL
hc$w <- 1
Y <- as.matrix(hc[, c("Low", "Medium", "High")])
stopifnot(nrow(hc) == 24, !anyNA(Y), sum(Y) == sum(h$Freq))
N <- rowSums(Y)
lmc <- sum(lgamma(N + 1)) - sum(lgamma(Y + 1))
P <- fitted(housing$vfit)[h$Sat == "Low", ][match(paste(hc$Infl, hc$Type, hc$Cont),
                                                   key[h$Sat == "Low"]), ]
sat_term <- 2 * sum(ifelse(Y > 0, Y * log(Y / N), 0))
label_dev <- housing$fit$deviance
hc_cases <- fit_case(
  "housing_counts",
  paste("MASS::housing as counts: one row per (Infl, Type, Cont), columns Low, Medium,",
        "High = Freq; cbind(Low, Medium, High) ~ Infl + Type + Cont, no prior weights.",
        "Same coefficients as the housing case."),
  cbind(Low, Medium, High) ~ Infl + Type + Cont, hc, housing_new, counts = TRUE,
  has_weights = FALSE,
  extra = list(
    label_form = list(deviance = label_dev, loglik = -label_dev / 2),
    log_multinomial_coef = lmc,
    saturated_loglik = sat_term / 2,
    note = paste("nnet's deviance for a count-matrix response is -2 sum y log p, the",
                 "same number as the label form with Freq weights. VGAM's count-form",
                 "deviance is against the saturated model (= deviance + 2 *",
                 "saturated_loglik) and its loglik adds log_multinomial_coef.")))
stopifnot(abs(hc_cases$fit$deviance - label_dev) < 1e-8,
          max(abs(fitted(hc_cases$vfit) - P)) < 1e-8,
          abs(deviance(hc_cases$vfit) - (label_dev + sat_term)) < 1e-8,
          abs(as.numeric(logLik(hc_cases$vfit)) - (-label_dev / 2 + lmc)) < 1e-8)

# --- survey (K = 4) ---------------------------------------------------------------------
s <- na.omit(survey[, c("Smoke", "Sex", "Age", "Pulse")])
rownames(s) <- NULL
s$w <- 1
stopifnot(nrow(s) == 190, identical(levels(s$Smoke), c("Heavy", "Never", "Occas", "Regul")))
survey_rows <- c(1, 40, 80, 120, 160)
survey_new <- s[survey_rows, c("Sex", "Age", "Pulse")]
survey_new$Age <- survey_new$Age + 1.5
survey_new$Pulse <- survey_new$Pulse - 7
survey_new$Sex <- factor(ifelse(survey_new$Sex == "Male", "Female", "Male"),
                         levels = levels(s$Sex))
rownames(survey_new) <- NULL
invisible(fit_case(
  "survey",
  paste("MASS::survey: smoking (Heavy, Never, Occas, Regul) by sex, age and pulse;",
        "rows with NA dropped (190 of 237)."),
  Smoke ~ Sex + Age + Pulse, s, survey_new, has_weights = FALSE))

# --- survey with non-integer prior weights ------------------------------------------------
sw <- s
set.seed(1)
sw$w <- runif(nrow(sw), 0.5, 2)
invisible(fit_case(
  "survey_weighted",
  paste("The survey case with non-integer prior weights runif(190, 0.5, 2) drawn",
        "under set.seed(1)."),
  Smoke ~ Sex + Age + Pulse, sw, survey_new,
  extra = list(weights_seed = 1L,
               weights_note = "set.seed(1); runif(190, 0.5, 2), in row order")))

# --- fgl (K = 6) ------------------------------------------------------------------------
g <- fgl[, c("type", "RI", "Al")]
rownames(g) <- NULL
g$w <- 1
fgl_new <- g[c(1, 50, 100, 150, 200), c("RI", "Al")]
fgl_new$RI <- fgl_new$RI + 0.5
fgl_new$Al <- fgl_new$Al - 0.2
rownames(fgl_new) <- NULL
invisible(fit_case(
  "fgl",
  paste("MASS::fgl: glass type (WinF, WinNF, Veh, Con, Tabl, Head) by refractive index",
        "and aluminium."),
  type ~ RI + Al, g, fgl_new, has_weights = FALSE))

# --- Cars93 (held-out, K = 3) -------------------------------------------------------------
cr <- Cars93[, c("AirBags", "Price", "MPG.city", "Horsepower")]
rownames(cr) <- NULL
cr$MPG.city <- as.numeric(cr$MPG.city)
cr$Horsepower <- as.numeric(cr$Horsepower)
cr$w <- 1
stopifnot(!anyNA(cr))
cars_new <- cr[c(3, 20, 45, 70, 90), c("Price", "MPG.city", "Horsepower")]
cars_new$Price <- cars_new$Price * 1.1
cars_new$Horsepower <- cars_new$Horsepower + 20
rownames(cars_new) <- NULL
invisible(fit_case(
  "cars93",
  paste("MASS::Cars93 (held-out case): air bags (Driver & Passenger, Driver only, None)",
        "by price, city MPG and horsepower."),
  AirBags ~ Price + MPG.city + Horsepower, cr, cars_new, has_weights = FALSE))
