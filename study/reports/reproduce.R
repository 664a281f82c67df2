# Recompute the figures of analysis.json from long.csv, with the R packages DESIGN section 6
# names, and compare them with the JSON: for the primary and the secondary outcomes, the pre/post
# figures and, when the data hold follow-up rows, the follow-up figures.
#
# Usage (in the unzipped bundle):  Rscript reproduce.R
# Needs afex, car, effectsize, lme4 and jsonlite. Prints one line per figure and exits with
# status 1 when a figure disagrees beyond 1e-6 relative (1e-4 for the mixed models; values below
# 1e-8 in magnitude are compared absolutely), 0 otherwise.
#
# Conventions of the engine (the same as its reference scripts, tests/analysis/r/reference.R,
# covariates.R and followup.R):
#   * the JSON's control_arm is the reference level of arm, so every difference is
#     treatment_arm - control_arm (while a study is blinded these are arm_a and arm_b, and
#     control_arm only names the reference of the comparison);
#   * long.csv is read with the column classes of long_codebook.csv, so that a covariate whose
#     codes look like numbers ("1", "2", "3": a cohort, a choice item) stays a factor, as the
#     engine treated it, and a missing value is an empty cell;
#   * pre/post: complete cases (pre and post both present) for everything but the mixed model,
#     which uses every available pre and post observation; the ANCOVA is
#     post ~ pre [+ covariates] + arm on those who also have every covariate (the JSON's
#     ancova.covariates);
#   * follow-up (the JSON's followup object of each outcome): the arm x time (pre, post,
#     follow-up) mixed ANOVA on participants with all three scores, uncorrected and with the
#     Greenhouse-Geisser epsilon and p; the ANCOVA followup ~ pre [+ covariates] + arm on those
#     with pre and follow-up (and every covariate); the mixed model y ~ arm * time +
#     (1 | participant) on every observation, pre the reference time.

suppressPackageStartupMessages({
  library(afex)
  library(car)
  library(effectsize)
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- args[grep("^--file=", args)]
here <- if (length(script)) dirname(normalizePath(sub("^--file=", "", script))) else getwd()

result <- fromJSON(file.path(here, "analysis.json"), simplifyVector = FALSE)
columns <- read.csv(file.path(here, "long_codebook.csv"), colClasses = "character")
long <- read.csv(file.path(here, "long.csv"), check.names = FALSE, na.strings = "",
                 colClasses = setNames(columns$class, columns$variable))
control <- result$control_arm
treatment <- result$treatment_arm
arms <- c(control, treatment)
TIMES <- c("pre", "post", "followup")
has_followup <- any(long$time == "followup")

# Participants with a value of y at time t: participant, arm, the extra columns, then y named t.
at <- function(y, t, extra = character()) {
  d <- long[long$time == t & !is.na(long[[y]]), c("participant", "arm", extra, y)]
  names(d)[ncol(d)] <- t
  d
}

# Merge on participant the values of y at times (the first time's columns kept whole).
waves <- function(y, times, extra = character()) {
  w <- at(y, times[1], extra)
  for (t in times[-1]) w <- merge(w, at(y, t)[, c("participant", t)], by = "participant")
  w$arm <- factor(w$arm, levels = arms)
  w[order(w$participant), ]
}

per_arm <- function(arm) setNames(as.list(as.numeric(table(factor(arm, levels = arms)))), arms)

mixed_anova <- function(w, times) {
  d <- do.call(rbind, lapply(times, function(t) {
    data.frame(participant = w$participant, arm = w$arm, time = t, y = w[[t]])
  }))
  d$time <- factor(d$time, levels = times)
  fit <- suppressMessages(aov_ez(
    id = "participant", dv = "y", data = d, between = "arm", within = "time", type = 3,
    anova_table = list(es = c("pes", "ges"), correction = "none")
  ))
  plain <- fit$anova_table
  gg <- if (length(times) > 2) anova(fit, es = c("pes", "ges"), correction = "GG") else NULL
  row <- function(term) {
    out <- list(F = plain[term, "F"], df1 = plain[term, "num Df"], df2 = plain[term, "den Df"],
                p = plain[term, "Pr(>F)"], np2 = plain[term, "pes"], ges = plain[term, "ges"])
    if (!is.null(gg) && term != "arm") {
      out$gg_epsilon <- gg[term, "num Df"] / plain[term, "num Df"]
      out$p_gg <- gg[term, "Pr(>F)"]
    }
    out
  }
  list(arm = row("arm"), time = row("time"), interaction = row("arm:time"))
}

# response ~ pre [+ covariates] + arm, car::Anova type 3, as the engine's ancova objects.
ancova <- function(w, response, covariates) {
  w <- w[complete.cases(w[, covariates, drop = FALSE]), ]
  for (name in covariates) if (!is.numeric(w[[name]])) w[[name]] <- factor(w[[name]])
  terms <- c("pre", sprintf("`%s`", covariates), "arm")
  fit <- lm(as.formula(paste(response, "~", paste(terms, collapse = " + "))), data = w,
            contrasts = list(arm = "contr.treatment"))
  tab <- car::Anova(fit, type = 3)
  ss_arm <- tab["arm", "Sum Sq"]
  coefficient <- paste0("arm", treatment)
  ci <- confint(fit, coefficient, level = 0.95)
  list(n = per_arm(w$arm),
       arm = list(F = tab["arm", "F value"], df1 = tab["arm", "Df"],
                  df2 = tab["Residuals", "Df"], p = tab["arm", "Pr(>F)"],
                  np2 = ss_arm / (ss_arm + tab["Residuals", "Sum Sq"])),
       adjusted_difference = list(estimate = unname(coef(fit)[coefficient]),
                                  se = unname(coef(summary(fit))[coefficient, "Std. Error"]),
                                  ci_low = ci[1, 1], ci_high = ci[1, 2]))
}

# The estimate from effectsize; the interval by the same method (noncentral t inverted, scaled by
# J) with uniroot at tol 1e-13, because effectsize's optimiser stops near 1e-7 absolute.
hedges <- function(w) {
  x <- w$post[w$arm == treatment]
  y <- w$post[w$arm == control]
  g <- effectsize::hedges_g(x, y, pooled_sd = TRUE, ci = 0.95)
  n1 <- length(x)
  n2 <- length(y)
  df <- n1 + n2 - 2
  s <- sqrt(((n1 - 1) * var(x) + (n2 - 1) * var(y)) / df)
  hn <- 1 / n1 + 1 / n2
  t <- (mean(x) - mean(y)) / s / sqrt(hn)
  J <- exp(lgamma(df / 2) - log(sqrt(df / 2)) - lgamma((df - 1) / 2))
  ncp <- function(p) uniroot(function(l) pt(t, df, ncp = l) - p, c(t - 6, t + 6), tol = 1e-13)$root
  list(estimate = g$Hedges_g, ci_low = J * ncp(0.975) * sqrt(hn),
       ci_high = J * ncp(0.025) * sqrt(hn))
}

# REML random-intercept model on every observation of y at times; Wald SE, CI and p of the
# arm x time terms (named as the JSON names them).
lmm <- function(y, times, terms) {
  d <- long[long$time %in% times & !is.na(long[[y]]), c("participant", "arm", "time", y)]
  names(d)[4] <- "y"
  d$arm <- factor(d$arm, levels = arms)
  d$time <- factor(d$time, levels = times)
  fit <- lmer(y ~ arm * time + (1 | participant), data = d, REML = TRUE,
              contrasts = list(arm = "contr.treatment", time = "contr.treatment"),
              control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12)))
  se_all <- sqrt(diag(as.matrix(vcov(fit))))
  z <- qnorm(0.975)
  wald <- function(time) {
    term <- paste0("arm", treatment, ":time", time)
    est <- unname(fixef(fit)[term])
    se <- unname(se_all[names(fixef(fit)) == term])
    list(estimate = est, se = se, ci_low = est - z * se, ci_high = est + z * se,
         p = 2 * pnorm(-abs(est / se)))
  }
  vc <- as.data.frame(VarCorr(fit))
  out <- lapply(times[-1], wald)
  names(out) <- terms
  c(out, list(n_participants = length(unique(d$participant)), n_observations = nrow(d),
              variance_participant = vc$vcov[1], variance_residual = vc$vcov[2]))
}

rows <- list()
compare_one <- function(outcome, figure, r_value, json_value, tolerance) {
  json_value <- if (is.null(json_value) || is.list(json_value)) NA_real_ else as.numeric(json_value)
  # Relative, except near zero: a variance component on the boundary is exactly 0 in the engine's
  # closed form and about 1e-13 where lme4's optimizer stops, so magnitudes below 1e-8 compare
  # absolutely (scaled by 1e-8).
  difference <- abs(r_value - json_value) / max(abs(r_value), abs(json_value), 1e-8)
  ok <- is.finite(difference) && difference <= tolerance
  rows[[length(rows) + 1]] <<- data.frame(outcome = outcome, figure = figure, R = r_value,
                                          json = json_value, relative = difference,
                                          ok = ok, stringsAsFactors = FALSE)
}

# Every number of the R list against the same path in the JSON. A figure the JSON reports as
# {"error": ...} is not compared: the line says so.
compare <- function(outcome, path, r_value, json_value, tolerance) {
  if (is.list(json_value) && !is.null(json_value$error)) {
    notes[[length(notes) + 1]] <<- sprintf("%s %s: not compared, the JSON says: %s",
                                           outcome, path, json_value$error)
    return(invisible())
  }
  if (is.list(r_value)) {
    for (key in names(r_value)) {
      compare(outcome, paste(path, key, sep = "."), r_value[[key]], json_value[[key]],
              tolerance)
    }
  } else {
    compare_one(outcome, path, r_value, json_value, tolerance)
  }
}
notes <- list()

# The figure's R value, or the JSON's error when the JSON has one (R then does not try it).
figure <- function(json_value, compute) {
  if (is.list(json_value) && !is.null(json_value$error)) json_value else compute()
}

outcomes <- unique(c(result$primary_outcome, unlist(result$multiplicity$family)))
outcomes <- outcomes[outcomes %in% names(result$outcomes)]
for (y in outcomes) {
  expected <- result$outcomes[[y]]
  covariates <- unlist(expected$ancova$covariates)
  w <- waves(y, c("pre", "post"), covariates)
  compare(y, "n_complete", per_arm(w$arm), expected$n_complete, 1e-6)
  compare(y, "mixed_anova", figure(expected$mixed_anova, function() {
    mixed_anova(w, c("pre", "post"))
  }), expected$mixed_anova, 1e-6)
  compare(y, "ancova", figure(expected$ancova, function() ancova(w, "post", covariates)),
          expected$ancova, 1e-6)
  compare(y, "hedges_g_post", figure(expected$hedges_g_post, function() hedges(w)),
          expected$hedges_g_post, 1e-6)
  compare(y, "lmm", figure(expected$lmm, function() {
    lmm(y, c("pre", "post"), "interaction")
  }), expected$lmm, 1e-4)

  if (!has_followup) next
  followup <- expected$followup
  if (is.null(followup)) {
    compare_one(y, "followup (absent from the JSON)", 1, NA_real_, 0)
    next
  }
  if (!is.null(followup$error)) {
    compare(y, "followup", list(), followup, 0)
    next
  }
  w3 <- waves(y, TIMES)
  compare(y, "followup.n_complete", per_arm(w3$arm), followup$n_complete, 1e-6)
  compare(y, "followup.mixed_anova", figure(followup$mixed_anova, function() {
    mixed_anova(w3, TIMES)
  }), followup$mixed_anova, 1e-6)
  fu_covariates <- unlist(followup$ancova$covariates)
  compare(y, "followup.ancova", figure(followup$ancova, function() {
    ancova(waves(y, c("pre", "followup"), fu_covariates), "followup", fu_covariates)
  }), followup$ancova, 1e-6)
  compare(y, "followup.lmm", figure(followup$lmm, function() {
    lmm(y, TIMES, c("interaction_post", "interaction_followup"))
  }), followup$lmm, 1e-4)
}

table <- do.call(rbind, rows)
options(width = 200)
print(format(table, digits = 10), row.names = FALSE)
for (note in notes) cat(note, "\n")
disagreements <- sum(!table$ok)
cat(sprintf("\nCompared %d figures of %d outcomes%s: %d disagreement(s).\n",
            nrow(table), length(outcomes), if (has_followup) " (with follow-up)" else "",
            disagreements))
quit(status = if (disagreements > 0) 1 else 0)
