"""Multiple imputation of missing post scores (DESIGN §6 "Missing outcomes") against mice::pool.

Reference values: ``data/mi_reference.json``, written by ``r/mi.R`` (mice 3.15.0 on R 4.2.2) from
the completed datasets in ``data/mi_imputed.csv``, which ``r/make_mi_datasets.py`` drew with the
engine's own :func:`analysis.imputation.impute_post`. The tests first check that the engine still
draws exactly those datasets, then that its ANCOVA per dataset and Rubin pooling give mice's
figures to 6 significant digits. The draws themselves are checked statistically.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import AnalysisInputError, analyze, load_long_csv
from analysis.ancova import ancova, fit_ancova
from analysis.data import Observed, complete_cases, observe, read_design
from analysis.errors import FigureUndefined
from analysis.imputation import (
    DEFAULT_M,
    DEFAULT_SEED,
    ancova_per_dataset,
    barnard_rubin_df,
    draw_norm,
    impute_post,
    multiple_imputation,
    pool_rubin,
)

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "mi_reference.json").read_text())
STACKED = pd.read_csv(DATA / "mi_imputed.csv", dtype={"participant": "string"})
REL = 1e-6
MI_KEYS = {"estimate", "se", "ci_low", "ci_high", "p", "m", "df", "seed"}


def parse_case(case: str) -> tuple[str, int, int]:
    outcome, m, seed = case.rsplit("_", 2)
    return outcome, int(m.removeprefix("m")), int(seed.removeprefix("seed"))


def observed(outcome: str, frame: pd.DataFrame | None = None) -> Observed:
    frame = load_long_csv(DATA / "mi_missing.csv") if frame is None else frame
    return observe(frame, read_design(frame, "education"), outcome)


def close(got: float, want: float, rel: float = REL) -> bool:
    return math.isclose(got, want, rel_tol=rel, abs_tol=1e-14)


@pytest.mark.parametrize("case", sorted(REFERENCE["cases"]))
def test_engine_draws_the_datasets_r_pooled(case: str) -> None:
    outcome, m, seed = parse_case(case)
    imputed = impute_post(observed(outcome), m, seed)
    stack = STACKED[STACKED["case"] == case]
    assert stack[".imp"].max() == m
    incomplete = stack[stack[".imp"] == 0]
    assert list(incomplete["pre"]) == list(imputed.pre)
    assert incomplete["post"].isna().to_numpy().tolist() == imputed.imputed.tolist()
    completed = stack[stack[".imp"] > 0]["post"].to_numpy().reshape(m, -1)
    # Equal to the last bit on the machine that wrote the reference; another numpy/BLAS build may
    # round the regression behind each draw differently in the last place (seen: 1 ulp).
    np.testing.assert_allclose(completed, imputed.post, rtol=1e-13, atol=0)


@pytest.mark.parametrize("case", sorted(REFERENCE["cases"]))
def test_pooling_equals_mice_pool(case: str) -> None:
    outcome, m, seed = parse_case(case)
    ref = REFERENCE["cases"][case]
    got = multiple_imputation(observed(outcome), m, seed)
    summary = ref["summary"]
    for name, want in (("estimate", "estimate"), ("se", "std.error"), ("df", "df"),
                       ("ci_low", "conf.low"), ("ci_high", "conf.high"), ("p", "p.value")):
        assert close(getattr(got, name), summary[want]), (name, getattr(got, name), summary[want])
    assert (got.m, got.seed) == (m, seed)

    estimates, variances, dfcom = ancova_per_dataset(impute_post(observed(outcome), m, seed))
    pooled = pool_rubin(estimates, variances, dfcom)
    for name, value in ref["pooled"].items():
        assert close(getattr(pooled, "lambda_" if name == "lambda" else name), value), name


def test_the_engine_reports_the_pooled_figures() -> None:
    """``analyze`` with the plan's settings gives mice's figures under the §6 keys."""
    frame = load_long_csv(DATA / "mi_missing.csv")
    outcome, m, seed = parse_case("stigma_m50_seed2025")
    result = analyze(frame, mi={"m": m, "seed": seed})
    entry = result["outcomes"][outcome]["sensitivity"]["multiple_imputation"]
    assert set(entry) == MI_KEYS
    summary = REFERENCE["cases"]["stigma_m50_seed2025"]["summary"]
    assert close(entry["estimate"], summary["estimate"])
    assert close(entry["se"], summary["std.error"])
    assert close(entry["df"], summary["df"])
    assert close(entry["p"], summary["p.value"])
    assert (entry["m"], entry["seed"]) == (m, seed)


def test_a_rerun_with_the_same_seed_gives_the_same_figures() -> None:
    frame = load_long_csv(DATA / "mi_missing.csv")
    first = analyze(frame, mi={"m": 20, "seed": 99})
    again = analyze(load_long_csv(DATA / "mi_missing.csv"), mi={"m": 20, "seed": 99})
    other = analyze(frame, mi={"m": 20, "seed": 100})
    for name in ("stigma", "anxiety"):
        mine = first["outcomes"][name]["sensitivity"]
        assert mine == again["outcomes"][name]["sensitivity"]
        assert mine != other["outcomes"][name]["sensitivity"]
    # an outcome's figures do not depend on which other outcomes are analysed
    alone = analyze(frame, outcomes="anxiety", mi={"m": 20, "seed": 99})
    assert alone["outcomes"]["anxiety"]["sensitivity"] == first["outcomes"]["anxiety"][
        "sensitivity"]


def test_a_csv_gets_m_50_and_the_documented_seed() -> None:
    result = analyze(load_long_csv(DATA / "mi_missing.csv"))
    entry = result["outcomes"]["stigma"]["sensitivity"]["multiple_imputation"]
    assert (entry["m"], entry["seed"]) == (DEFAULT_M, DEFAULT_SEED) == (50, 20250409)


def test_without_mi_the_sensitivity_key_is_absent() -> None:
    result = analyze(load_long_csv(DATA / "mi_missing.csv"), mi=None)
    assert all("sensitivity" not in entry for entry in result["outcomes"].values())
    assert all("missing" in entry for entry in result["outcomes"].values())


@pytest.mark.parametrize(
    ("mi", "message"),
    [
        ({"m": 1, "seed": 3}, "mi.m must be a whole number from 2 to 1000, not 1"),
        ({"m": 2.5, "seed": 3}, "mi.m must be a whole number from 2 to 1000, not 2.5"),
        ({"m": 5, "seed": -1}, "mi.seed must be a whole number from 0, not -1"),
        ({"m": 5, "seed": True}, "mi.seed must be a whole number from 0, not True"),
        ({"m": 5, "iterations": 3}, "mi has unknown keys iterations (allowed: m, seed)"),
        ([50, 1], 'mi must be settings such as {"m": 50, "seed": 12345}'),
    ],
)
def test_bad_settings_are_refused(mi: object, message: str) -> None:
    with pytest.raises(AnalysisInputError) as error:
        analyze(load_long_csv(DATA / "mi_missing.csv"), mi=mi)  # type: ignore[arg-type]
    assert str(error.value) == message


def test_no_missing_post_gives_the_complete_case_ancova() -> None:
    """m identical datasets: B = 0, the complete-case estimate and SE, and mice's df."""
    data = observed("empathy")
    got = multiple_imputation(data, 10, 5)
    cc = ancova(fit_ancova(complete_cases(data))).adjusted_difference
    assert got.estimate == pytest.approx(cc.estimate, rel=1e-12)
    assert got.se == pytest.approx(cc.se, rel=1e-12)
    n = sum(complete_cases(data).__getattribute__(f"n_{arm}") for arm in ("control", "treatment"))
    assert got.df == pytest.approx(barnard_rubin_df(10, 0.0, cc.se**2, n - 3), rel=1e-12)
    assert got.df < n - 3  # mice floors lambda at 1e-4, so the df stays below N - 3
    imputed = impute_post(data, 10, 5)
    assert not imputed.imputed.any() and (imputed.post == imputed.post[0]).all()


def test_an_arm_without_post_scores_is_an_error_with_its_missing_table() -> None:
    frame = load_long_csv(DATA / "mi_missing.csv")
    contact_post = (frame["arm"] == "contact") & (frame["time"] == "post")
    frame.loc[contact_post, "stigma"] = np.nan
    entry = analyze(frame, mi={"m": 5, "seed": 1})["outcomes"]["stigma"]
    assert "complete cases" in entry["error"]
    assert entry["missing"][1]["missing_post"] == entry["missing"][1]["allocated"] == 55
    assert entry["missing"][1]["baseline_mean_complete"] is None
    with pytest.raises(FigureUndefined, match="'contact' has 0 participants with pre and post"):
        multiple_imputation(observed("stigma", frame), 5, 1)


def test_an_arm_too_small_to_impute_gives_an_error_figure_only() -> None:
    """Two complete cases in an arm with missing post scores: the other figures still come."""
    frame = load_long_csv(DATA / "mi_missing.csv")
    education = frame[frame["arm"] == "education"]
    complete = education.groupby("participant")["anxiety"].count() == 2
    drop = complete[complete].index[2:]
    frame.loc[frame["participant"].isin(drop) & (frame["time"] == "post"), "anxiety"] = np.nan
    entry = analyze(frame, mi={"m": 5, "seed": 1})["outcomes"]["anxiety"]
    assert entry["n_complete"]["education"] == 2
    assert entry["sensitivity"]["multiple_imputation"] == {
        "error": "arm 'education' has 2 participants with pre and post scores of 'anxiety': at "
        "least 3 are needed to impute its 45 missing post scores"
    }
    assert "error" not in entry["ancova"]


def test_participants_without_a_pre_score_are_left_out() -> None:
    data = observed("stigma")
    imputed = impute_post(data, 3, 1)
    has_pre = ~np.isnan(data.pre_by_subject)
    assert len(imputed.subject) == int(has_pre.sum()) == 101
    assert not np.isnan(imputed.pre).any() and not np.isnan(imputed.post).any()
    # observed post scores are kept as they are in every dataset
    kept = ~imputed.imputed
    assert (imputed.post[:, kept] == data.post_by_subject[imputed.subject][kept]).all()


def test_draws_follow_the_posterior_predictive_distribution() -> None:
    """Over many imputations: mean = the OLS prediction, variance = s² ν/(ν-2) (1 + h).

    Under the normal model with a flat prior the predictive draw of a missing y at x is
    ŷ(x) + s t_ν √(1 + 1/n₁ + (x - x̄)²/S_xx), with s² = RSS/ν, ν = n₁ - 2 (van Buuren 2018,
    section 3.2.2): its mean is the OLS prediction, its variance s² ν/(ν - 2) (1 + h).
    """
    rng = np.random.default_rng(11)
    x_obs = rng.normal(3, 0.6, 25)
    y_obs = 1.0 + 0.5 * x_obs + rng.normal(0, 0.4, 25)
    x_mis = np.array([2.0, 3.0, 4.5])
    draws = draw_norm(np.random.default_rng(12), x_obs, y_obs, x_mis, 200_000)
    slope, intercept = np.polyfit(x_obs, y_obs, 1)
    predicted = intercept + slope * x_mis
    nu = len(x_obs) - 2
    s2 = np.sum((y_obs - intercept - slope * x_obs) ** 2) / nu
    centred = x_obs - x_obs.mean()
    leverage = 1 / len(x_obs) + (x_mis - x_obs.mean()) ** 2 / (centred @ centred)
    variance = s2 * nu / (nu - 2) * (1 + leverage)
    standard_error = np.sqrt(variance / len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - predicted) < 4 * standard_error)
    np.testing.assert_allclose(draws.var(axis=0), variance, rtol=0.02)
    # the residual spread: the median draw of sigma is near the residual SD
    residual = draws - (intercept + slope * x_mis)
    assert np.median(np.abs(residual[:, 1])) == pytest.approx(
        0.6745 * np.sqrt(s2), rel=0.1)


def test_pool_rubin_by_hand() -> None:
    q = np.array([1.0, 1.2, 0.9, 1.1])
    u = np.array([0.04, 0.05, 0.045, 0.055])
    pooled = pool_rubin(q, u, dfcom=60)
    b = np.var(q, ddof=1)
    t = u.mean() + 1.25 * b
    lam = 1.25 * b / t
    df_old = 3 / lam**2
    df_obs = 61 / 63 * 60 * (1 - lam)
    assert pooled.estimate == pytest.approx(1.05)
    assert pooled.t == pytest.approx(t)
    assert pooled.df == pytest.approx(df_old * df_obs / (df_old + df_obs))
    assert pooled.fmi == pytest.approx((pooled.riv + 2 / (pooled.df + 3)) / (pooled.riv + 1))
