# Reference values for the follow-up figures of analysis/ (DESIGN.md section 6, "Follow-up").
#
# Usage (from the repository root):  Rscript tests/analysis/r/followup.R
# Reads tests/analysis/data/followup_*.csv, writes tests/analysis/data/followup_reference.json.
# Tested with R 4.2.2, afex 1.2.1, car 3.1, lme4 1.1.31, jsonlite 1.8.4.
#
#   * mixed_anova: afex::aov_ez, Type III, on participants with pre, post and follow-up; the
#     uncorrected table (correction = "none") and the Greenhouse-Geisser one (correction = "GG");
#     epsilon is the ratio of the corrected to the uncorrected numerator df, checked against
#     summary(fit)$pval.adjustments (the same GG function of car);
#   * ancova: lm(followup ~ pre + arm) on participants with pre and follow-up, car::Anova type 3,
#     confint;
#   * lmm: lmer(y ~ arm * time + (1 | participant), REML) on every available observation, time with
#     pre as the reference level; Wald SE, CI and p (as reference.R does for the two-level model).

suppressPackageStartupMessages({
  library(afex)
  library(car)
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
data_dir <- file.path(here, "..", "data")

control <- "education"
treatment <- "contact"
times <- c("pre", "post", "followup")
keys <- c("participant", "arm", "time")

values_at <- function(long, y, t) {
  d <- long[long$time == t & !is.na(long[[y]]), c("participant", "arm", y)]
  names(d)[3] <- t
  d
}

descriptives <- function(long, y) {
  out <- list()
  for (a in c(control, treatment)) for (t in times) {
    v <- long[[y]][long$arm == a & long$time == t]
    v <- v[!is.na(v)]
    out[[length(out) + 1]] <- list(arm = a, time = t, n = length(v), mean = mean(v), sd = sd(v))
  }
  out
}

per_arm <- function(arm) {
  setNames(as.list(as.integer(table(factor(arm, levels = c(control, treatment))))),
           c(control, treatment))
}

mixed_anova <- function(long, y) {
  w <- Reduce(function(a, b) merge(a, b[, c("participant", names(b)[3])], by = "participant"),
              lapply(times, function(t) values_at(long, y, t)))
  d <- do.call(rbind, lapply(times, function(t) {
    data.frame(participant = w$participant, arm = w$arm, time = t, y = w[[t]])
  }))
  d$arm <- factor(d$arm, levels = c(control, treatment))
  d$time <- factor(d$time, levels = times)
  fit <- function(correction) {
    suppressMessages(aov_ez(
      id = "participant", dv = "y", data = d, between = "arm", within = "time", type = 3,
      anova_table = list(es = c("pes", "ges"), correction = correction)
    ))
  }
  plain <- fit("none")$anova_table
  gg_fit <- fit("GG")
  gg <- gg_fit$anova_table
  adjustments <- summary(gg_fit)$pval.adjustments
  row <- function(term) {
    out <- list(F = plain[term, "F"], df1 = plain[term, "num Df"], df2 = plain[term, "den Df"],
                p = plain[term, "Pr(>F)"], np2 = plain[term, "pes"], ges = plain[term, "ges"])
    if (term != "arm") {
      eps <- gg[term, "num Df"] / plain[term, "num Df"]
      stopifnot(abs(eps - adjustments[term, "GG eps"]) < 1e-12,
                abs(gg[term, "den Df"] / plain[term, "den Df"] - eps) < 1e-12,
                abs(gg[term, "F"] - plain[term, "F"]) < 1e-12)
      out$gg_epsilon <- eps
      out$p_gg <- gg[term, "Pr(>F)"]
    }
    out
  }
  list(n_complete = per_arm(w$arm),
       mixed_anova = list(arm = row("arm"), time = row("time"), interaction = row("arm:time")))
}

ancova <- function(long, y) {
  w <- merge(values_at(long, y, "pre"), values_at(long, y, "followup")[, c("participant", "followup")],
             by = "participant")
  w$arm <- factor(w$arm, levels = c(control, treatment))
  fit <- lm(followup ~ pre + arm, data = w)
  tab <- car::Anova(fit, type = 3)
  ss_arm <- tab["arm", "Sum Sq"]
  ss_res <- tab["Residuals", "Sum Sq"]
  coef_name <- paste0("arm", treatment)
  est <- coef(summary(fit))[coef_name, ]
  ci <- confint(fit, coef_name, level = 0.95)
  list(
    n = per_arm(w$arm),
    arm = list(F = tab["arm", "F value"], df1 = tab["arm", "Df"], df2 = tab["Residuals", "Df"],
               p = tab["arm", "Pr(>F)"], np2 = ss_arm / (ss_arm + ss_res)),
    adjusted_difference = list(estimate = unname(est["Estimate"]), se = unname(est["Std. Error"]),
                               ci_low = ci[1, 1], ci_high = ci[1, 2])
  )
}

lmm <- function(long, y) {
  d <- long[!is.na(long[[y]]), c("participant", "arm", "time", y)]
  names(d)[4] <- "y"
  d$arm <- factor(d$arm, levels = c(control, treatment))
  d$time <- factor(d$time, levels = times)
  fit <- lmer(y ~ arm * time + (1 | participant), data = d, REML = TRUE,
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
  list(interaction_post = wald("post"), interaction_followup = wald("followup"),
       n_participants = length(unique(d$participant)), n_observations = nrow(d),
       variance_participant = vc$vcov[1], variance_residual = vc$vcov[2])
}

reference <- list()
for (file in sort(list.files(data_dir, pattern = "^followup_.*\\.csv$", full.names = TRUE))) {
  name <- sub("\\.csv$", "", basename(file))
  long <- read.csv(file, stringsAsFactors = FALSE, colClasses = c(participant = "character"))
  ys <- setdiff(names(long), keys)
  outcomes <- list()
  for (y in ys) {
    anova <- mixed_anova(long, y)
    outcomes[[y]] <- list(
      descriptives = descriptives(long, y),
      followup = list(n_complete = anova$n_complete, mixed_anova = anova$mixed_anova,
                      ancova = ancova(long, y), lmm = lmm(long, y))
    )
  }
  reference[[name]] <- list(outcomes = outcomes)
}

out <- file.path(data_dir, "followup_reference.json")
writeLines(toJSON(reference, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), out)
cat("wrote", out, "\n")
