# Reference values for analysis/ (DESIGN.md section 6), computed with the R packages the design names.
#
# Usage (from the repository root):  Rscript tests/analysis/r/reference.R
# Reads tests/analysis/data/*.csv, writes tests/analysis/data/reference.json.
# Tested with R 4.2.2, afex 1.2.1, car 3.1, effectsize 0.8.3, lme4 1.1.31, jsonlite 1.8.4.
#
# Conventions mirrored by the Python engine:
#   * control arm "education", treatment arm "contact"; every difference is contact - education;
#   * complete cases (pre and post both present) for everything except the descriptives (all available
#     values) and the mixed model (all available observations);
#   * Holm adjustment over the ANCOVA arm p-values of the secondary outcomes (the primary is not adjusted).

suppressPackageStartupMessages({
  library(afex)
  library(car)
  library(effectsize)
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
data_dir <- file.path(here, "..", "data")

control <- "education"
treatment <- "contact"
keys <- c("participant", "arm", "time")

# Primary outcome per dataset (for the Holm family); the rest are secondary.
primary <- list(balanced = "stigma", unbalanced = "stigma", small = "stigma", null = "stigma",
                ties = "stigma", singular = "stigma")
covariates <- list(balanced = c("age"))

wide_complete <- function(long, y) {
  pre <- long[long$time == "pre" & !is.na(long[[y]]), c("participant", "arm", y)]
  post <- long[long$time == "post" & !is.na(long[[y]]), c("participant", y)]
  names(pre)[3] <- "pre"
  names(post)[2] <- "post"
  w <- merge(pre, post, by = "participant")
  w$arm <- factor(w$arm, levels = c(control, treatment))
  w$change <- w$post - w$pre
  w[order(w$participant), ]
}

descriptives <- function(long, y) {
  out <- list()
  for (a in c(control, treatment)) for (t in c("pre", "post")) {
    v <- long[[y]][long$arm == a & long$time == t]
    v <- v[!is.na(v)]
    out[[length(out) + 1]] <- list(arm = a, time = t, n = length(v), mean = mean(v), sd = sd(v))
  }
  out
}

mixed_anova <- function(w) {
  long <- rbind(
    data.frame(participant = w$participant, arm = w$arm, time = "pre", y = w$pre),
    data.frame(participant = w$participant, arm = w$arm, time = "post", y = w$post)
  )
  long$time <- factor(long$time, levels = c("pre", "post"))
  fit <- suppressMessages(aov_ez(
    id = "participant", dv = "y", data = long, between = "arm", within = "time", type = 3,
    anova_table = list(es = c("pes", "ges"), correction = "none")
  ))
  tab <- fit$anova_table
  row <- function(term) {
    list(F = tab[term, "F"], df1 = tab[term, "num Df"], df2 = tab[term, "den Df"],
         p = tab[term, "Pr(>F)"], np2 = tab[term, "pes"], ges = tab[term, "ges"])
  }
  list(arm = row("arm"), time = row("time"), interaction = row("arm:time"))
}

ancova <- function(w) {
  fit <- lm(post ~ pre + arm, data = w)
  tab <- car::Anova(fit, type = 3)
  ss_arm <- tab["arm", "Sum Sq"]
  ss_res <- tab["Residuals", "Sum Sq"]
  coef_name <- paste0("arm", treatment)
  est <- coef(summary(fit))[coef_name, ]
  ci <- confint(fit, coef_name, level = 0.95)
  list(
    arm = list(F = tab["arm", "F value"], df1 = tab["arm", "Df"], df2 = tab["Residuals", "Df"],
               p = tab["arm", "Pr(>F)"], np2 = ss_arm / (ss_arm + ss_res)),
    adjusted_difference = list(estimate = unname(est["Estimate"]), se = unname(est["Std. Error"]),
                               ci_low = ci[1, 1], ci_high = ci[1, 2])
  )
}

change_welch <- function(w) {
  tt <- t.test(w$change[w$arm == treatment], w$change[w$arm == control], var.equal = FALSE)
  list(t = unname(tt$statistic), df = unname(tt$parameter), p = tt$p.value,
       mean_difference = unname(tt$estimate[1] - tt$estimate[2]),
       ci_low = tt$conf.int[1], ci_high = tt$conf.int[2])
}

# effectsize's CI comes from Nelder-Mead (optim, abstol 1e-9 on the summed probability errors), so
# its limits carry an absolute error of about 1e-7. "exact" repeats the same method (noncentral-t
# inversion scaled by J) with uniroot at tol 1e-13 on R's pt(): the value the engine matches to 6+
# significant digits; the effectsize values are checked to their own accuracy.
hedges <- function(w) {
  x <- w$post[w$arm == treatment]
  y <- w$post[w$arm == control]
  g <- effectsize::hedges_g(x, y, pooled_sd = TRUE, ci = 0.95)
  n1 <- length(x)
  n2 <- length(y)
  df <- n1 + n2 - 2
  s <- sqrt(((n1 - 1) * var(x) + (n2 - 1) * var(y)) / df)
  hn <- 1 / n1 + 1 / n2
  d <- (mean(x) - mean(y)) / s
  t <- d / sqrt(hn)
  J <- exp(lgamma(df / 2) - log(sqrt(df / 2)) - lgamma((df - 1) / 2))
  ncp <- function(p) {
    uniroot(function(l) pt(t, df, ncp = l) - p, c(t - 6, t + 6), tol = 1e-13)$root
  }
  list(estimate = g$Hedges_g, ci_low = g$CI_low, ci_high = g$CI_high,
       exact = list(estimate = J * d, ci_low = J * ncp(0.975) * sqrt(hn),
                    ci_high = J * ncp(0.025) * sqrt(hn)))
}

# Morris (2008), Psychological Methods 13(4), 364-386: d_ppc2 (eq. 8) and its variance (eq. 25),
# with the pre-post correlation pooled within arms (correlation of the within-arm deviations).
d_ppc2 <- function(w) {
  tr <- w[w$arm == treatment, ]
  co <- w[w$arm == control, ]
  nt <- nrow(tr)
  nc <- nrow(co)
  sd_pre <- sqrt(((nt - 1) * var(tr$pre) + (nc - 1) * var(co$pre)) / (nt + nc - 2))
  cp <- 1 - 3 / (4 * (nt + nc - 2) - 1)
  d <- cp * ((mean(tr$post) - mean(tr$pre)) - (mean(co$post) - mean(co$pre))) / sd_pre
  dev_pre <- c(tr$pre - mean(tr$pre), co$pre - mean(co$pre))
  dev_post <- c(tr$post - mean(tr$post), co$post - mean(co$post))
  rho <- sum(dev_pre * dev_post) / sqrt(sum(dev_pre^2) * sum(dev_post^2))
  k <- (nt + nc) / (nt * nc)
  v <- 2 * cp^2 * (1 - rho) * k * ((nt + nc - 2) / (nt + nc - 4)) *
    (1 + d^2 / (2 * (1 - rho) * k)) - d^2
  z <- qnorm(0.975)
  list(estimate = d, ci_low = d - z * sqrt(v), ci_high = d + z * sqrt(v), variance = v, rho = rho)
}

lmm <- function(long, y) {
  d <- long[!is.na(long[[y]]), c("participant", "arm", "time", y)]
  names(d)[4] <- "y"
  d$arm <- factor(d$arm, levels = c(control, treatment))
  d$time <- factor(d$time, levels = c("pre", "post"))
  fit <- lmer(y ~ arm * time + (1 | participant), data = d, REML = TRUE,
              control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12)))
  term <- paste0("arm", treatment, ":timepost")
  est <- unname(fixef(fit)[term])
  se <- unname(sqrt(diag(as.matrix(vcov(fit))))[names(fixef(fit)) == term])
  z <- qnorm(0.975)
  vc <- as.data.frame(VarCorr(fit))
  list(interaction = list(estimate = est, se = se, ci_low = est - z * se, ci_high = est + z * se,
                          p = 2 * pnorm(-abs(est / se))),
       n_participants = length(unique(d$participant)), n_observations = nrow(d),
       variance_participant = vc$vcov[1], variance_residual = vc$vcov[2])
}

assumptions <- function(w) {
  fit <- lm(post ~ pre + arm, data = w)
  sw <- shapiro.test(residuals(fit))
  lev <- car::leveneTest(post ~ arm, data = w)  # center = median (car's default)
  slopes <- anova(fit, lm(post ~ pre * arm, data = w))
  list(
    shapiro_wilk = list(W = unname(sw$statistic), p = sw$p.value),
    levene = list(F = lev[1, "F value"], df1 = lev[1, "Df"], df2 = lev[2, "Df"], p = lev[1, "Pr(>F)"]),
    homogeneity_of_slopes = list(F = slopes[2, "F"], df1 = slopes[2, "Df"], df2 = slopes[2, "Res.Df"],
                                 p = slopes[2, "Pr(>F)"])
  )
}

baseline <- function(long, vars) {
  pre <- long[long$time == "pre", ]
  out <- list()
  for (v in vars) {
    x <- list()
    for (a in c(control, treatment)) {
      val <- pre[[v]][pre$arm == a]
      val <- val[!is.na(val)]
      x[[a]] <- list(n = length(val), mean = mean(val), sd = sd(val))
    }
    x$standardized_difference <- (x[[treatment]]$mean - x[[control]]$mean) /
      sqrt((x[[treatment]]$sd^2 + x[[control]]$sd^2) / 2)
    out[[v]] <- x
  }
  out
}

reference <- list()
# The pre/post datasets only: followup_*, covariates_* and mi_* have their own scripts.
for (name in sort(names(primary))) {
  file <- file.path(data_dir, paste0(name, ".csv"))
  long <- read.csv(file, stringsAsFactors = FALSE, colClasses = c(participant = "character"))
  ys <- setdiff(names(long), c(keys, "age", "profession"))
  outcomes <- list()
  for (y in ys) {
    w <- wide_complete(long, y)
    outcomes[[y]] <- list(
      n_complete = setNames(as.list(as.integer(table(w$arm)[c(control, treatment)])),
                            c(control, treatment)),
      descriptives = descriptives(long, y),
      mixed_anova = mixed_anova(w),
      ancova = ancova(w),
      change_welch = change_welch(w),
      hedges_g_post = hedges(w),
      d_ppc2 = d_ppc2(w),
      lmm = lmm(long, y),
      assumptions = assumptions(w)
    )
  }
  p <- sapply(ys, function(y) outcomes[[y]]$ancova$arm$p)
  secondary <- setdiff(ys, primary[[name]])
  reference[[name]] <- list(
    primary = primary[[name]],
    outcomes = outcomes,
    holm_secondary = as.list(p.adjust(p[secondary], method = "holm")),
    holm_all = as.list(p.adjust(p, method = "holm")),
    baseline = baseline(long, c(ys, covariates[[name]]))
  )
}

out <- file.path(data_dir, "reference.json")
writeLines(toJSON(reference, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), out)
cat("wrote", out, "\n")
