"""Baseline for ``bench/analysis.py``: a minimal hand-written pandas/statsmodels/scipy analysis.

Computes the figures of DESIGN.md section 6 (and the assumption checks, Holm and the baseline
table) for every outcome of a long CSV, the way an analyst would write it with the standard
libraries, and writes them as JSON. Usage: ``python bench/analysis_baseline.py CSV OUT.json
[CONTROL]``.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import optimize, stats
from statsmodels.stats.multitest import multipletests

KEYS = ["participant", "arm", "time"]


def hedges_g(x: np.ndarray, y: np.ndarray) -> dict:
    n1, n2 = len(x), len(y)
    df = n1 + n2 - 2
    s = np.sqrt(((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / df)
    d = (x.mean() - y.mean()) / s
    h = 1 / n1 + 1 / n2
    t = d / np.sqrt(h)
    j = math.exp(math.lgamma(df / 2) - 0.5 * math.log(df / 2) - math.lgamma((df - 1) / 2))

    def ncp(p: float) -> float:
        return optimize.brentq(lambda nc: stats.nct.cdf(t, df, nc) - p, t - 10, t + 10)

    return {
        "estimate": j * d,
        "ci_low": j * ncp(0.975) * np.sqrt(h),
        "ci_high": j * ncp(0.025) * np.sqrt(h),
    }


def d_ppc2(w: pd.DataFrame) -> dict:
    t, c = w[w.treat == 1], w[w.treat == 0]
    nt, nc = len(t), len(c)
    n = nt + nc
    sd_pre = np.sqrt(((nt - 1) * t.pre.var() + (nc - 1) * c.pre.var()) / (n - 2))
    cp = 1 - 3 / (4 * (n - 2) - 1)
    d = cp * ((t.post.mean() - t.pre.mean()) - (c.post.mean() - c.pre.mean())) / sd_pre
    dev = w[["pre", "post"]] - w.groupby("treat")[["pre", "post"]].transform("mean")
    rho = (dev.pre * dev.post).sum() / np.sqrt((dev.pre**2).sum() * (dev.post**2).sum())
    k = n / (nt * nc)
    v = 2 * cp**2 * (1 - rho) * k * (n - 2) / (n - 4) * (1 + d**2 / (2 * (1 - rho) * k)) - d**2
    z = stats.norm.ppf(0.975)
    return {"estimate": d, "ci_low": d - z * np.sqrt(v), "ci_high": d + z * np.sqrt(v)}


def mixed_anova(w: pd.DataFrame) -> dict:
    w = w.assign(s=w.pre + w.post, d=w.post - w.pre, arm_sum=np.where(w.treat == 1, -1.0, 1.0))
    between = smf.ols("s ~ arm_sum", w).fit()
    within = smf.ols("d ~ arm_sum", w).fit()
    sse_b, sse_w = between.ssr, within.ssr
    out = {}
    for name, fit, term in (
        ("arm", between, "arm_sum"),
        ("time", within, "Intercept"),
        ("interaction", within, "arm_sum"),
    ):
        f = fit.tvalues[term] ** 2
        df2 = fit.df_resid
        ss = f * fit.ssr / df2
        out[name] = {
            "F": f,
            "df1": 1,
            "df2": df2,
            "p": fit.pvalues[term],
            "np2": ss / (ss + fit.ssr),
            "ges": ss / (ss + sse_b + sse_w),
        }
    return out


def lmm(long: pd.DataFrame) -> dict:
    fit = smf.mixedlm("y ~ treat * post", long, groups=long["participant"]).fit(reml=True)
    # lme4's SE: (X' V^-1 X)^-1 at the REML variance estimates.
    sigma2, tau2 = fit.scale, float(fit.cov_re.iloc[0, 0])
    x = np.column_stack([np.ones(len(long)), long.treat, long.post, long.treat * long.post])
    size = long.groupby("participant")["y"].transform("size").to_numpy()
    a = 1 - np.sqrt(sigma2 / (sigma2 + size * tau2))
    xm = pd.DataFrame(x).groupby(long["participant"].to_numpy()).transform("mean").to_numpy()
    xs = x - a[:, None] * xm
    cov = sigma2 * np.linalg.inv(xs.T @ xs)
    est = fit.fe_params["treat:post"]
    se = np.sqrt(cov[3, 3])
    z = stats.norm.ppf(0.975)
    return {
        "interaction": {
            "estimate": est,
            "se": se,
            "ci_low": est - z * se,
            "ci_high": est + z * se,
            "p": 2 * stats.norm.sf(abs(est / se)),
        },
        "n_participants": long.participant.nunique(),
        "n_observations": len(long),
    }


def analyse_outcome(frame: pd.DataFrame, y: str, control: str) -> dict:
    long = frame.dropna(subset=[y])[KEYS + [y]].rename(columns={y: "y"})
    long = long.assign(treat=(long.arm != control).astype(float), post=(long.time == "post") * 1.0)
    w = long.pivot(index="participant", columns="time", values="y").dropna()
    w = w.join(long.groupby("participant")["treat"].first())
    t, c = w[w.treat == 1], w[w.treat == 0]
    desc = long.groupby(["arm", "time"])["y"].agg(["count", "mean", "std"]).reset_index()

    ancova = smf.ols("post ~ pre + treat", w).fit()
    separate = smf.ols("post ~ pre * treat", w).fit()
    est, se = ancova.params["treat"], ancova.bse["treat"]
    ci = ancova.conf_int().loc["treat"]
    f = ancova.tvalues["treat"] ** 2
    welch = stats.ttest_ind(t.post - t.pre, c.post - c.pre, equal_var=False)
    welch_ci = welch.confidence_interval()
    f_slopes, p_slopes, _ = separate.compare_f_test(ancova)
    shapiro = stats.shapiro(ancova.resid) if len(w) <= 5000 else None
    levene = stats.levene(t.post, c.post, center="median")
    return {
        "n_complete": {"education": len(c), "contact": len(t)},
        "descriptives": desc.to_dict("records"),
        "mixed_anova": mixed_anova(w),
        "ancova": {
            "arm": {
                "F": f,
                "df1": 1,
                "df2": ancova.df_resid,
                "p": ancova.pvalues["treat"],
                "np2": f / (f + ancova.df_resid),
            },
            "adjusted_difference": {"estimate": est, "se": se, "ci_low": ci[0], "ci_high": ci[1]},
        },
        "change_welch": {
            "t": welch.statistic,
            "df": welch.df,
            "p": welch.pvalue,
            "mean_difference": (t.post - t.pre).mean() - (c.post - c.pre).mean(),
            "ci_low": welch_ci.low,
            "ci_high": welch_ci.high,
        },
        "hedges_g_post": hedges_g(t.post.to_numpy(), c.post.to_numpy()),
        "d_ppc2": d_ppc2(w),
        "lmm": lmm(long),
        "assumptions": {
            "shapiro_wilk": None if shapiro is None else {"W": shapiro[0], "p": shapiro[1]},
            "levene": {"F": levene.statistic, "p": levene.pvalue},
            "homogeneity_of_slopes": {"F": f_slopes, "p": p_slopes},
        },
    }


def main(path: str, out: str, control: str = "education") -> None:
    frame = pd.read_csv(path, dtype={"participant": str})
    outcomes = [c for c in frame.columns if c not in KEYS]
    result = {y: analyse_outcome(frame, y, control) for y in outcomes}
    p = [result[y]["ancova"]["arm"]["p"] for y in outcomes]
    for y, adjusted in zip(outcomes, multipletests(p, method="holm")[1], strict=True):
        result[y]["ancova"]["arm"]["p_holm"] = adjusted
    pre = frame[frame.time == "pre"]
    baseline = pre.groupby("arm")[outcomes].agg(["mean", "std"])
    with open(out, "w") as handle:
        json.dump(
            {"outcomes": result, "baseline": json.loads(baseline.to_json())},
            handle,
            indent=2,
            default=float,
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
