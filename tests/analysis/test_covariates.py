"""Covariates in the ANCOVA: what is listed, who is left out, and bad covariates (no tracebacks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import AnalysisInputError, analyze, load_long_csv
from analysis.covariate_ancova import covariate_ancova, fit_covariate_ancova
from analysis.data import read_covariates, read_design

DATA = Path(__file__).parent / "data"


@pytest.fixture
def trial() -> pd.DataFrame:
    return load_long_csv(DATA / "covariates_balanced.csv")


def test_without_covariates_the_ancova_says_so(trial: pd.DataFrame) -> None:
    result = analyze(trial, outcomes=["stigma"])
    ancova = result["outcomes"]["stigma"]["ancova"]
    assert ancova["covariates"] == []
    assert ancova["n"] == result["outcomes"]["stigma"]["n_complete"] == {
        "education": 36, "contact": 36}


def test_every_outcome_is_adjusted_and_holm_uses_the_adjusted_p(trial: pd.DataFrame) -> None:
    plain = analyze(trial, primary="stigma")
    adjusted = analyze(trial, primary="stigma", covariates=["profession", "year"])
    assert list(adjusted["outcomes"]) == ["anxiety", "stigma"]
    for name in ("anxiety", "stigma"):
        ancova = adjusted["outcomes"][name]["ancova"]
        assert ancova["covariates"] == ["profession", "year"]
        assert ancova["arm"]["F"] != plain["outcomes"][name]["ancova"]["arm"]["F"]
        # the other figures do not depend on covariates
        assert adjusted["outcomes"][name]["change_welch"] == plain["outcomes"][name]["change_welch"]
    anxiety = adjusted["outcomes"]["anxiety"]["ancova"]["arm"]
    assert anxiety["p_holm"] == anxiety["p"]  # a family of one
    rows = [row["variable"] for row in adjusted["baseline"]["rows"]]
    assert "year" in rows and "profession" in rows  # still in the baseline table
    assert json.loads(json.dumps(adjusted, allow_nan=False)) == adjusted


def test_missing_covariate_values_leave_the_ancova_and_say_so() -> None:
    result = analyze(load_long_csv(DATA / "covariates_unbalanced.csv"), outcomes=["stigma"],
                     covariates=["profession", "year"])
    entry = result["outcomes"]["stigma"]
    assert entry["ancova"]["n"] == {"education": 25, "contact": 39}
    complete = sum(entry["n_complete"].values())
    left_out = complete - 64
    assert left_out > 0
    assert (f"ANCOVA: {left_out} participants with pre and post but a missing covariate value "
            "left out") in entry["notes"]


def test_a_covariate_must_be_constant_within_participant(trial: pd.DataFrame) -> None:
    first = trial["participant"] == trial["participant"].iloc[0]
    trial.loc[first & (trial["time"] == "post"), "year"] = 99
    with pytest.raises(AnalysisInputError,
                       match="^the covariate 'year' must be constant within each participant, "
                             "but it differs between the rows of 1 participant: 'B"):
        analyze(trial, covariates=["year"])
    # an empty cell on one row is not a second value
    trial.loc[first & (trial["time"] == "post"), "year"] = np.nan
    assert "error" not in analyze(trial, covariates=["year"])["outcomes"]["stigma"]["ancova"]


def test_infinite_numeric_covariate_is_refused(trial: pd.DataFrame) -> None:
    trial["year"] = trial["year"].astype(float)
    trial.loc[0, "year"] = np.inf
    with pytest.raises(AnalysisInputError, match="^the covariate 'year' has infinite values$"):
        analyze(trial, covariates=["year"])


def test_a_covariate_equal_to_the_arm_is_a_singular_design(trial: pd.DataFrame) -> None:
    trial["site"] = trial["arm"].map({"education": "north", "contact": "south"})
    result = analyze(trial, covariates=["profession", "site"], primary="stigma")
    entry = result["outcomes"]["stigma"]
    assert set(entry["ancova"]) == {"error"}
    assert entry["ancova"]["error"].startswith(
        "the design is singular: the covariate 'site' cannot be separated from")
    assert "error" in entry["assumptions"]["shapiro_wilk"]
    assert "error" in entry["assumptions"]["homogeneity_of_slopes"]
    assert "error" not in entry["mixed_anova"] and "error" not in entry["lmm"]
    assert result["multiplicity"]["family"] == []  # anxiety's ANCOVA failed too


def test_a_constant_covariate_cannot_enter_the_model(trial: pd.DataFrame) -> None:
    trial["country"] = "FR"
    trial["score"] = 3.0
    for name in ("country", "score"):
        ancova = analyze(trial, covariates=[name])["outcomes"]["stigma"]["ancova"]
        assert ancova == {"error": f"the covariate {name!r} has a single value among the 72 "
                                   "complete cases: it cannot enter the model"}


def test_a_level_in_one_participant_or_one_arm_is_fine(trial: pd.DataFrame) -> None:
    one = trial["participant"] == trial.loc[trial["arm"] == "contact", "participant"].iloc[0]
    trial["group"] = np.where(one, "rare", "common")
    trial["wave"] = np.where(trial["arm"] == "contact",
                             np.where(trial["year"] > 3, "late", "early"), "early")
    ancova = analyze(trial, covariates=["group", "wave"])["outcomes"]["stigma"]["ancova"]
    assert "error" not in ancova
    assert ancova["arm"]["df2"] == 72 - 5


def test_too_few_cases_left_after_missing_covariates(trial: pd.DataFrame) -> None:
    keep = trial["participant"].isin(trial["participant"].unique()[:4])
    trial.loc[~keep, "year"] = np.nan
    entry = analyze(trial, covariates=["profession", "year"])["outcomes"]["stigma"]
    assert "error" in entry["ancova"]
    assert "n_complete" in entry and "error" not in entry["change_welch"]


def test_the_model_takes_any_outcome_and_baseline_column(trial: pd.DataFrame) -> None:
    """The same function serves ``followup ~ pre + arm + covariates``: columns are arguments."""
    design = read_design(trial, "education")
    covariates = read_covariates(trial, design, ["profession", "year"])
    n = len(design.participant_ids)
    pre, post = np.full(n, np.nan), np.full(n, np.nan)
    arm = np.full(n, -1)
    for time, target in ((0, pre), (1, post)):
        rows = design.time == time
        target[design.participant[rows]] = trial["stigma"].to_numpy()[rows]
        arm[design.participant[rows]] = design.arm[rows]
    from_columns = covariate_ancova(fit_covariate_ancova(post, pre, arm, covariates))
    engine = analyze(trial, outcomes=["stigma"], covariates=["profession", "year"])
    assert from_columns.adjusted_difference.estimate == pytest.approx(
        engine["outcomes"]["stigma"]["ancova"]["adjusted_difference"]["estimate"], rel=1e-12)
