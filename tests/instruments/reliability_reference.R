# Reference values for tests/instruments/test_reliability.py, computed with R's psych package.
#
#   Rscript tests/instruments/reliability_reference.R    (from the repository root)
#
# Needs R and psych (Debian: r-base-core r-cran-psych r-cran-gparotation). Writes
# tests/instruments/data/reliability_reference.csv; the tests read that file and never need R.
# Data are analysed listwise (complete rows), as instruments.reliability does.
suppressPackageStartupMessages(library(psych))

here <- "tests/instruments/data"
rows <- list()
for (name in c("agree6", "ten12", "mixed5")) {
  x <- na.omit(read.csv(file.path(here, paste0("reliability_", name, ".csv"))))
  # mixed5 keeps one item unreversed on purpose (it tests omega's reflection); psych warns about it
  a <- suppressWarnings(alpha(x, check.keys = FALSE, warnings = FALSE))
  o <- suppressWarnings(suppressMessages(omega(x, nfactors = 1, plot = FALSE)))
  rows[[name]] <- data.frame(
    dataset = name,
    n = nrow(x),
    k = ncol(x),
    alpha = sprintf("%.15g", a$total$raw_alpha),
    alpha_ci_low = sprintf("%.15g", unname(a$feldt$lower.ci)),
    alpha_ci_high = sprintf("%.15g", unname(a$feldt$upper.ci)),
    omega_total = sprintf("%.15g", o$omega.tot)
  )
}
out <- do.call(rbind, rows)
out$psych_version <- as.character(packageVersion("psych"))
out$r_version <- paste(R.version$major, R.version$minor, sep = ".")
write.csv(out, file.path(here, "reliability_reference.csv"), row.names = FALSE)
print(out)
