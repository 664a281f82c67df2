# Recompute the primary and secondary pre/post figures of analysis.json from long.csv, with the
# R packages DESIGN section 6 names, and compare them with the JSON.
#
# Usage (in the unzipped bundle):  Rscript reproduce.R
# Needs afex, car, effectsize, lme4 and jsonlite. Prints one line per figure and exits with
# status 1 when a figure disagrees beyond 1e-6 relative (1e-4 for the mixed model), 0 otherwise.
#
# Conventions of the engine (the same as its reference script):
#   * the JSON's control_arm is the reference level of arm, so every difference is
#     treatment_arm - control_arm (while a study is blinded these are arm_a and arm_b, and
#     control_arm only names the reference of the comparison);
#   * complete cases (pre and post both present) for everything but the mixed model, which uses
#     every available observation;
#   * the ANCOVA adds the plan's covariates (the JSON's ancova.covariates) after pre.

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
long <- read.csv(file.path(here, "long.csv"), stringsAsFactors = FALSE, check.names = FALSE,
                 colClasses = c(participant = "character", arm = "character", time = "character"))
control <- result$control_arm
treatment <- result$treatment_arm

wide_complete <- function(y, covariates) {
  pre <- long[long$time == "pre" & !is.na(long[[y]]), c("participant", "arm", y, covariates)]
  post <- long[long$time == "post" & !is.na(long[[y]]), c("participant", y)]
  names(pre)[3] <- "pre"
  names(post)[2] <- "post"
  w <- merge(pre, post, by = "participant")
  w$arm <- factor(w$arm, levels = c(control, treatment))
  w[order(w$participant), ]
}

mixed_anova <- function(w) {
  d <- rbind(
    data.frame(participant = w$participant, arm = w$arm, time = "pre", y = w$pre),
    data.frame(participant = w$participant, arm = w$arm, time = "post", y = w$post)
  )
  d$time <- factor(d$time, levels = c("pre", "post"))
  fit <- suppressMessages(aov_ez(
    id = "participant", dv = "y", data = d, between = "arm", within = "time", type = 3,
    anova_table = list(es = c("pes", "ges"), correction = "none")
  ))
  tab <- fit$anova_table
  row <- function(term) {
    list(F = tab[term, "F"], p = tab[term, "Pr(>F)"], np2 = tab[term, "pes"],
         ges = tab[term, "ges"])
  }
  list(arm = row("arm"), time = row("time"), interaction = row("arm:time"))
}

ancova <- function(w, covariates) {
  w <- w[complete.cases(w[, covariates, drop = FALSE]), ]
  terms <- c("pre", sprintf("`%s`", covariates), "arm")
  for (name in covariates) if (!is.numeric(w[[name]])) w[[name]] <- factor(w[[name]])
  fit <- lm(as.formula(paste("post ~", paste(terms, collapse = " + "))), data = w,
            contrasts = list(arm = "contr.treatment"))
  tab <- car::Anova(fit, type = 3)
  ss_arm <- tab["arm", "Sum Sq"]
  coefficient <- paste0("arm", treatment)
  ci <- confint(fit, coefficient, level = 0.95)
  list(arm = list(F = tab["arm", "F value"], p = tab["arm", "Pr(>F)"],
                  np2 = ss_arm / (ss_arm + tab["Residuals", "Sum Sq"])),
       adjusted_difference = list(estimate = unname(coef(fit)[coefficient]),
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

lmm <- function(y) {
  d <- long[long$time %in% c("pre", "post") & !is.na(long[[y]]),
            c("participant", "arm", "time", y)]
  names(d)[4] <- "y"
  d$arm <- factor(d$arm, levels = c(control, treatment))
  d$time <- factor(d$time, levels = c("pre", "post"))
  fit <- lmer(y ~ arm * time + (1 | participant), data = d, REML = TRUE,
              contrasts = list(arm = "contr.treatment", time = "contr.treatment"),
              control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12)))
  term <- paste0("arm", treatment, ":timepost")
  est <- unname(fixef(fit)[term])
  se <- unname(sqrt(diag(as.matrix(vcov(fit))))[names(fixef(fit)) == term])
  list(interaction = list(estimate = est, se = se, p = 2 * pnorm(-abs(est / se))))
}

rows <- list()
compare <- function(outcome, figure, r_value, json_value, tolerance) {
  json_value <- if (is.null(json_value)) NA_real_ else as.numeric(json_value)
  difference <- abs(r_value - json_value) / max(abs(r_value), abs(json_value), 1e-12)
  ok <- is.finite(difference) && difference <= tolerance
  rows[[length(rows) + 1]] <<- data.frame(outcome = outcome, figure = figure, R = r_value,
                                          json = json_value, relative = difference,
                                          ok = ok, stringsAsFactors = FALSE)
}

outcomes <- unique(c(result$primary_outcome, unlist(result$multiplicity$family)))
outcomes <- outcomes[outcomes %in% names(result$outcomes)]
for (y in outcomes) {
  expected <- result$outcomes[[y]]
  covariates <- unlist(expected$ancova$covariates)
  w <- wide_complete(y, covariates)
  m <- mixed_anova(w)
  for (term in c("arm", "time", "interaction")) for (key in names(m[[term]])) {
    compare(y, paste("mixed_anova", term, key, sep = "."), m[[term]][[key]],
            expected$mixed_anova[[term]][[key]], 1e-6)
  }
  a <- ancova(w, covariates)
  for (key in names(a$arm)) {
    compare(y, paste0("ancova.arm.", key), a$arm[[key]], expected$ancova$arm[[key]], 1e-6)
  }
  for (key in names(a$adjusted_difference)) {
    compare(y, paste0("ancova.adjusted_difference.", key), a$adjusted_difference[[key]],
            expected$ancova$adjusted_difference[[key]], 1e-6)
  }
  g <- hedges(w)
  for (key in names(g)) {
    compare(y, paste0("hedges_g_post.", key), g[[key]], expected$hedges_g_post[[key]], 1e-6)
  }
  l <- lmm(y)
  for (key in names(l$interaction)) {
    compare(y, paste0("lmm.interaction.", key), l$interaction[[key]],
            expected$lmm$interaction[[key]], 1e-4)
  }
}

table <- do.call(rbind, rows)
options(width = 200)
print(format(table, digits = 10), row.names = FALSE)
disagreements <- sum(!table$ok)
cat(sprintf("\nCompared %d figures of %d outcomes: %d disagreement(s).\n",
            nrow(table), length(outcomes), disagreements))
quit(status = if (disagreements > 0) 1 else 0)
