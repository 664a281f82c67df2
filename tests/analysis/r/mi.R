# Reference values for multiple imputation (DESIGN.md section 6, "Missing outcomes").
#
# Usage (from the repository root), after python tests/analysis/r/make_mi_datasets.py:
#   Rscript tests/analysis/r/mi.R
# Reads tests/analysis/data/mi_imputed.csv (the completed datasets the Python engine drew, stacked
# with .imp = 0 the incomplete data) and mi_missing.csv; writes tests/analysis/data/mi_reference.json.
# Tested with R 4.2.2, mice 3.15.0, jsonlite 1.8.4.
#
# For every case: as.mids() of the stacked data, lm(post ~ pre + arm) on each completed dataset,
# mice::pool() (Rubin's rules, Barnard-Rubin df) and summary(pool, conf.int = TRUE), the arm
# coefficient (contact - education). The imputations themselves are Python's (numpy's generator),
# so this checks the analysis and pooling of the SAME datasets, not mice's random draws.
# Also the `missing` table of mi_missing.csv, from the long data directly.

suppressPackageStartupMessages({
  library(mice)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
data_dir <- file.path(here, "..", "data")

stacked <- read.csv(file.path(data_dir, "mi_imputed.csv"), check.names = FALSE,
                    stringsAsFactors = FALSE)
cases <- list()
for (case in unique(stacked$case)) {
  long <- stacked[stacked$case == case, names(stacked) != "case"]
  long$arm <- factor(long$arm, levels = c("education", "contact"))
  imp <- as.mids(long)
  fit <- with(imp, lm(post ~ pre + arm))
  pooled <- pool(fit)
  p <- pooled$pooled[pooled$pooled$term == "armcontact", ]
  s <- summary(pooled, conf.int = TRUE)
  s <- s[s$term == "armcontact", ]
  cases[[case]] <- list(
    m = imp$m,
    n = nrow(imp$data),
    n_imputed = sum(is.na(imp$data$post)),
    summary = list(estimate = s$estimate, std.error = s$std.error, statistic = s$statistic,
                   df = s$df, p.value = s$p.value, conf.low = s[["2.5 %"]],
                   conf.high = s[["97.5 %"]]),
    pooled = list(estimate = p$estimate, ubar = p$ubar, b = p$b, t = p$t, dfcom = p$dfcom,
                  df = p$df, riv = p$riv, lambda = p$lambda, fmi = p$fmi)
  )
}

# The `missing` table: per arm, participants in the data, those without a post score of the
# outcome, and the mean pre score of those with / without a post score.
long <- read.csv(file.path(data_dir, "mi_missing.csv"), stringsAsFactors = FALSE)
missing <- list()
for (y in c("stigma", "anxiety", "empathy")) {
  rows <- list()
  for (a in c("education", "contact")) {
    ids <- unique(long$participant[long$arm == a])
    pre <- long[long$time == "pre" & long$arm == a & !is.na(long[[y]]), ]
    post <- long[long$time == "post" & long$arm == a & !is.na(long[[y]]), ]
    with_post <- pre$participant %in% post$participant
    mean_or_null <- function(v) if (length(v)) mean(v) else NULL
    rows[[length(rows) + 1]] <- list(
      arm = a, allocated = length(ids), missing_post = length(setdiff(ids, post$participant)),
      baseline_mean_complete = mean_or_null(pre[[y]][with_post]),
      baseline_mean_missing = mean_or_null(pre[[y]][!with_post]))
  }
  missing[[y]] <- rows
}

out <- list(
  versions = list(R = as.character(getRversion()), mice = as.character(packageVersion("mice"))),
  cases = cases,
  missing = missing
)
write(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE),
      file.path(data_dir, "mi_reference.json"))
cat("wrote mi_reference.json:", length(cases), "cases\n")
