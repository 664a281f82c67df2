# R doing what `flask --app app analyze CSV` does, for bench/analysis.py (issue 14 item 6).
#
# Usage (from the repository root):  Rscript bench/analysis_r.R CSV OUT.json [CONTROL]
# Needs afex, car, effectsize, lme4, mice and jsonlite (Debian: r-cran-afex r-cran-car
# r-cran-effectsize r-cran-lme4 r-cran-mice r-cran-jsonlite).
#
# For every outcome column of the long CSV (participant, arm, time pre/post, outcomes) the figures
# the engine reports, computed the way tests/analysis/r/reference.R and study/reports/reproduce.R
# compute them: n per arm, descriptives, the mixed ANOVA (afex::aov_ez, type 3, pes and ges), the
# ANCOVA post ~ pre + arm (car::Anova type 3, the adjusted difference with its CI), Welch's t on
# the change, Hedges' g on post (effectsize::hedges_g), Morris's d_ppc2, the random-intercept
# model y ~ arm * time + (1 | participant) (lme4, REML, Wald SE), the missing-outcome table, the
# assumption checks (Shapiro-Wilk only up to the 5000 residuals shapiro.test accepts, as the
# engine; car::leveneTest; the arm x pre slopes F), the multiple-imputation sensitivity analysis
# (mice's "norm" draw within arm, m = 50, pooled by Rubin's rules), then Holm over the ANCOVA p-values
# and the baseline table. bench/analysis.py times this script against the engine on the same CSV
# and compares the figures both write.

suppressPackageStartupMessages({
  library(afex)
  library(car)
  library(effectsize)
  library(lme4)
  library(mice)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 2) stop("usage: Rscript bench/analysis_r.R CSV OUT.json [CONTROL]")
control <- if (length(args) >= 3) args[3] else "education"
long <- read.csv(args[1], stringsAsFactors = FALSE, colClasses = c(participant = "character"))
keys <- c("participant", "arm", "time")
treatment <- setdiff(sort(unique(long$arm)), control)[1]
arms <- c(control, treatment)
M <- 50

wide_complete <- function(y) {
  pre <- long[long$time == "pre" & !is.na(long[[y]]), c("participant", "arm", y)]
  post <- long[long$time == "post" & !is.na(long[[y]]), c("participant", y)]
  names(pre)[3] <- "pre"
  names(post)[2] <- "post"
  w <- merge(pre, post, by = "participant")
  w$arm <- factor(w$arm, levels = arms)
  w$change <- w$post - w$pre
  w[order(w$participant), ]
}

descriptives <- function(y) {
  out <- list()
  for (a in arms) for (t in c("pre", "post")) {
    v <- long[[y]][long$arm == a & long$time == t]
    v <- v[!is.na(v)]
    out[[length(out) + 1]] <- list(arm = a, time = t, n = length(v), mean = mean(v), sd = sd(v))
  }
  out
}

mixed_anova <- function(w) {
  d <- rbind(data.frame(participant = w$participant, arm = w$arm, time = "pre", y = w$pre),
             data.frame(participant = w$participant, arm = w$arm, time = "post", y = w$post))
  d$time <- factor(d$time, levels = c("pre", "post"))
  fit <- suppressMessages(aov_ez(
    id = "participant", dv = "y", data = d, between = "arm", within = "time", type = 3,
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
  coefficient <- paste0("arm", treatment)
  est <- coef(summary(fit))[coefficient, ]
  ci <- confint(fit, coefficient, level = 0.95)
  list(arm = list(F = tab["arm", "F value"], df1 = tab["arm", "Df"],
                  df2 = tab["Residuals", "Df"], p = tab["arm", "Pr(>F)"],
                  np2 = ss_arm / (ss_arm + tab["Residuals", "Sum Sq"])),
       adjusted_difference = list(estimate = unname(est["Estimate"]),
                                  se = unname(est["Std. Error"]),
                                  ci_low = ci[1, 1], ci_high = ci[1, 2]))
}

change_welch <- function(w) {
  tt <- t.test(w$change[w$arm == treatment], w$change[w$arm == control], var.equal = FALSE)
  list(t = unname(tt$statistic), df = unname(tt$parameter), p = tt$p.value,
       mean_difference = unname(tt$estimate[1] - tt$estimate[2]),
       ci_low = tt$conf.int[1], ci_high = tt$conf.int[2])
}

# effectsize's estimate; the interval by its method (noncentral t inverted, scaled by J) with
# uniroot at tol 1e-13, as reproduce.R does (effectsize's optimiser stops near 1e-7 absolute).
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

# Morris (2008): d_ppc2 and its variance, the pre-post correlation pooled within arms.
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
  list(estimate = d, ci_low = d - z * sqrt(v), ci_high = d + z * sqrt(v))
}

lmm <- function(y) {
  d <- long[!is.na(long[[y]]), c("participant", "arm", "time", y)]
  names(d)[4] <- "y"
  d$arm <- factor(d$arm, levels = arms)
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

missing_by_arm <- function(y) {
  lapply(arms, function(a) {
    ids <- unique(long$participant[long$arm == a])
    pre <- long[long$time == "pre" & long$arm == a & !is.na(long[[y]]), ]
    post <- long[long$time == "post" & long$arm == a & !is.na(long[[y]]), ]
    with_post <- pre$participant %in% post$participant
    list(arm = a, allocated = length(ids), missing_post = length(setdiff(ids, post$participant)),
         baseline_mean_complete = mean(pre[[y]][with_post]),
         baseline_mean_missing = mean(pre[[y]][!with_post]))
  })
}

assumptions <- function(w) {
  fit <- lm(post ~ pre + arm, data = w)
  residual <- residuals(fit)
  sw <- if (length(residual) <= 5000) shapiro.test(residual) else NULL
  lev <- car::leveneTest(post ~ arm, data = w)  # center = median (car's default)
  slopes <- anova(fit, lm(post ~ pre * arm, data = w))
  list(
    shapiro_wilk = if (is.null(sw)) NULL else list(W = unname(sw$statistic), p = sw$p.value),
    levene = list(F = lev[1, "F value"], df1 = lev[1, "Df"], df2 = lev[2, "Df"],
                  p = lev[1, "Pr(>F)"]),
    homogeneity_of_slopes = list(F = slopes[2, "F"], df1 = slopes[2, "Df"],
                                 df2 = slopes[2, "Res.Df"], p = slopes[2, "Pr(>F)"])
  )
}

# Missing post scores imputed within each arm from post ~ pre by mice's Bayesian normal linear
# regression draw (mice.impute.norm, the "norm" method; called directly since one variable is
# incomplete, so mice()'s chained iterations would add nothing but overhead), m datasets, each
# analysed by post ~ pre + arm and pooled by Rubin's rules with the Barnard-Rubin df, as
# mice::pool does. The draws are R's, so the figures differ from the engine's (numpy's draws)
# by Monte Carlo error only.
multiple_imputation <- function(y) {
  pre <- long[long$time == "pre" & !is.na(long[[y]]), c("participant", "arm", y)]
  post <- long[long$time == "post" & !is.na(long[[y]]), c("participant", y)]
  names(pre)[3] <- "pre"
  names(post)[2] <- "post"
  d <- merge(pre, post, by = "participant", all.x = TRUE)
  d$arm <- factor(d$arm, levels = arms)
  set.seed(20250409)
  coefficient <- paste0("arm", treatment)
  estimates <- numeric(M)
  variances <- numeric(M)
  for (i in seq_len(M)) {
    data <- d
    for (a in arms) {
      rows <- which(d$arm == a)
      ry <- !is.na(d$post[rows])
      data$post[rows[!ry]] <- mice.impute.norm(d$post[rows], ry, cbind(pre = d$pre[rows]))
    }
    fit <- lm(post ~ pre + arm, data = data)
    estimates[i] <- coef(fit)[coefficient]
    variances[i] <- vcov(fit)[coefficient, coefficient]
  }
  pooled <- pool.scalar(estimates, variances, n = nrow(d), k = 3)
  se <- sqrt(pooled$t)
  q <- qt(0.975, pooled$df)
  list(estimate = pooled$qbar, se = se, ci_low = pooled$qbar - q * se,
       ci_high = pooled$qbar + q * se, p = 2 * pt(-abs(pooled$qbar / se), pooled$df),
       m = M, df = pooled$df)
}

baseline <- function(vars) {
  pre <- long[long$time == "pre", ]
  out <- list()
  for (v in vars) {
    x <- list()
    for (a in arms) {
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

ys <- setdiff(names(long), keys)
outcomes <- list()
for (y in ys) {
  w <- wide_complete(y)
  outcomes[[y]] <- list(
    n_complete = setNames(as.list(as.integer(table(w$arm)[arms])), arms),
    descriptives = descriptives(y),
    mixed_anova = mixed_anova(w),
    ancova = ancova(w),
    change_welch = change_welch(w),
    hedges_g_post = hedges(w),
    d_ppc2 = d_ppc2(w),
    lmm = lmm(y),
    missing = missing_by_arm(y),
    assumptions = assumptions(w),
    sensitivity = list(multiple_imputation = multiple_imputation(y))
  )
}
p <- sapply(ys, function(y) outcomes[[y]]$ancova$arm$p)
holm <- p.adjust(p, method = "holm")
for (y in ys) outcomes[[y]]$ancova$arm$p_holm <- unname(holm[y])

writeLines(toJSON(list(outcomes = outcomes, baseline = baseline(ys)), auto_unbox = TRUE,
                  digits = NA, pretty = TRUE, na = "null", null = "null"), args[2])
