# Reference values for the ANCOVA adjusted for baseline covariates (DESIGN.md section 6, "Statistical
# analysis plan"): post ~ pre + arm + covariates.
#
# Usage (from the repository root):  Rscript tests/analysis/r/covariates.R
# Reads tests/analysis/data/covariates_*.csv (made by make_covariates_datasets.py), writes
# tests/analysis/data/covariates_reference.json. Tested with R 4.2.2, car 3.1, jsonlite 1.8.4.
#
# Conventions mirrored by the Python engine:
#   * control arm "education", treatment arm "contact"; the adjusted difference is the coefficient of
#     armcontact (contact - education), its CI from confint();
#   * complete cases: pre, post and every covariate present (lm's na.omit);
#   * categorical covariates are factors whose levels are sorted by code point (sort(method =
#     "radix"), as Python's sorted), treatment-coded (the first level is the reference); numeric
#     covariates enter as numbers;
#   * the arm F test is car::Anova(type = 3) under treatment contrasts. Type III tests depend on the
#     contrasts only for terms involved in interactions; arm is not (the model has no interaction),
#     and it has one df, so its F is the t^2 of its coefficient. The script checks both claims: the
#     arm row is the same under contr.sum, and F equals t^2;
#   * homogeneity of slopes: anova(m, update(m, . ~ . + pre:arm)); Shapiro-Wilk on the residuals.

suppressPackageStartupMessages({
  library(car)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
data_dir <- file.path(here, "..", "data")

control <- "education"
treatment <- "contact"
outcomes <- c("anxiety", "stigma")
# Covariate sets analysed per dataset (each a separate call of the engine).
sets <- list(
  balanced = list(c("profession"), c("profession", "year")),
  unbalanced = list(c("profession"), c("profession", "year"), c("profession", "year", "site"))
)
categorical <- c("profession", "site")

wide_data <- function(long, y, covariates) {
  pre <- long[long$time == "pre" & !is.na(long[[y]]), c("participant", "arm", y, covariates)]
  post <- long[long$time == "post" & !is.na(long[[y]]), c("participant", y)]
  names(pre)[3] <- "pre"
  names(post)[2] <- "post"
  w <- merge(pre, post, by = "participant")
  w$arm <- factor(w$arm, levels = c(control, treatment))
  for (name in intersect(covariates, categorical)) {
    w[[name]] <- factor(w[[name]], levels = sort(unique(na.omit(w[[name]])), method = "radix"))
  }
  w
}

arm_row <- function(fit) {
  tab <- car::Anova(fit, type = 3)
  list(F = tab["arm", "F value"], df1 = tab["arm", "Df"], df2 = tab["Residuals", "Df"],
       p = tab["arm", "Pr(>F)"],
       np2 = tab["arm", "Sum Sq"] / (tab["arm", "Sum Sq"] + tab["Residuals", "Sum Sq"]))
}

adjusted <- function(w, covariates) {
  form <- reformulate(c("pre", "arm", covariates), response = "post")
  fit <- lm(form, data = w)
  stopifnot(!any(is.na(coef(fit))))
  row <- arm_row(fit)
  coef_name <- paste0("arm", treatment)
  est <- coef(summary(fit))[coef_name, ]
  ci <- confint(fit, coef_name, level = 0.95)
  # Type III F for arm: the same under sum-to-zero contrasts, and the square of the t statistic.
  old <- options(contrasts = c("contr.sum", "contr.poly"))
  w_sum <- w
  w_sum$arm <- factor(w_sum$arm)
  row_sum <- arm_row(lm(form, data = w_sum))
  options(old)
  stopifnot(isTRUE(all.equal(row$F, row_sum$F, tolerance = 1e-10)),
            isTRUE(all.equal(row$F, unname(est["t value"])^2, tolerance = 1e-10)))
  used <- model.frame(fit)
  separate <- update(fit, . ~ . + pre:arm)
  slopes <- anova(fit, separate)
  sw <- shapiro.test(residuals(fit))
  list(
    ancova = list(
      covariates = I(covariates),
      arm = row,
      adjusted_difference = list(estimate = unname(est["Estimate"]),
                                 se = unname(est["Std. Error"]),
                                 ci_low = ci[1, 1], ci_high = ci[1, 2]),
      n = list(education = sum(used$arm == control), contact = sum(used$arm == treatment))
    ),
    assumptions = list(
      shapiro_wilk = list(W = unname(sw$statistic), p = sw$p.value),
      homogeneity_of_slopes = list(F = slopes$F[2], df1 = slopes$Df[2], df2 = slopes$Res.Df[2],
                                   p = slopes[["Pr(>F)"]][2])
    )
  )
}

reference <- list()
for (name in names(sets)) {
  long <- read.csv(file.path(data_dir, paste0("covariates_", name, ".csv")),
                   colClasses = c(participant = "character", arm = "character",
                                  time = "character"),
                   na.strings = c("", "NA"))
  runs <- list()
  for (covariates in sets[[name]]) {
    per_outcome <- list()
    for (y in outcomes) {
      per_outcome[[y]] <- adjusted(wide_data(long, y, covariates), covariates)
    }
    runs[[length(runs) + 1]] <- list(covariates = I(covariates), outcomes = per_outcome)
  }
  reference[[name]] <- runs
}

out <- file.path(data_dir, "covariates_reference.json")
writeLines(toJSON(reference, auto_unbox = TRUE, digits = NA, pretty = TRUE), out)
cat("wrote", normalizePath(out), "\n")
