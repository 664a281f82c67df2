"""The follow-up time point (DESIGN.md section 6, "Follow-up") against R, and its bad data.

Reference values: ``data/followup_reference.json``, written by ``r/followup.R`` (afex 1.2.1 with
``correction = "GG"`` and without, car, lme4 1.1.31 on R 4.2.2) from ``data/followup_*.csv``
(``r/followup_datasets.py``, seeded). In both datasets sphericity fails on purpose: the
Greenhouse-Geisser epsilon is 0.60-0.73. ``followup_balanced`` has 29 + 29 participants with all
three scores (everyone at pre and post; one per arm without a follow-up row);
``followup_unbalanced`` 27 + 41 allocated, with missing post, missing follow-up (no row, or a row
with empty scores) and a missing pre score, so the three analysis sets differ.

Tolerance: 6 significant digits (relative 1e-6) for every figure, including the mixed model (DESIGN
asks 4 digits there; the REML fit agrees with lme4 run at ``rhoend = 1e-12`` to about 3e-7).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis import analyze, load_long_csv

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "followup_reference.json").read_text())
REL = 1e-6

_results: dict[str, dict] = {}


def result(name: str) -> dict:
    """``analyze`` of a committed follow-up dataset (cached: the engine is pure)."""
    if name not in _results:
        _results[name] = analyze(load_long_csv(DATA / f"{name}.csv"), primary="stigma")
    return _results[name]


def leaves(tree: object, path: tuple = ()) -> Iterator[tuple[tuple, object]]:
    """(path, value) for every leaf of a JSON tree."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, (*path, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from leaves(value, (*path, i))
    else:
        yield path, tree


def lookup(tree: Any, path: tuple) -> Any:
    for key in path:
        tree = tree[key]
    return tree


CASES = [
    (name, outcome, section)
    for name, ref in REFERENCE.items()
    for outcome in ref["outcomes"]
    for section in ("descriptives", "followup")
]


@pytest.mark.parametrize(("name", "outcome", "section"), CASES)
def test_followup_figures_match_r(name: str, outcome: str, section: str) -> None:
    expected = REFERENCE[name]["outcomes"][outcome][section]
    got = result(name)["outcomes"][outcome]
    checked = 0
    for path, value in leaves(expected):
        actual = lookup(got, (section, *path))
        if isinstance(value, str):
            assert actual == value, path
            continue
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), (path, actual)
        assert actual == pytest.approx(value, rel=REL, abs=0), f"{name}/{outcome} {path}"
        checked += 1
    assert checked == (18 if section == "descriptives" else 49)


def test_the_reference_data_fail_sphericity() -> None:
    """The point of the datasets: epsilon well below 1, so the correction matters."""
    for ref in REFERENCE.values():
        for entry in ref["outcomes"].values():
            anova = entry["followup"]["mixed_anova"]
            assert 0.55 < anova["time"]["gg_epsilon"] < 0.75
            assert anova["time"]["gg_epsilon"] == anova["interaction"]["gg_epsilon"]
            assert abs(anova["interaction"]["p_gg"] - anova["interaction"]["p"]) > 1e-4


def test_followup_keys_are_exactly_the_design_keys() -> None:
    entry = result("followup_unbalanced")["outcomes"]["stigma"]["followup"]
    assert list(entry) == ["n_complete", "mixed_anova", "ancova", "lmm"]
    effect = ["F", "df1", "df2", "p", "np2", "ges"]
    assert list(entry["mixed_anova"]["arm"]) == effect
    for term in ("time", "interaction"):
        assert list(entry["mixed_anova"][term]) == [*effect, "gg_epsilon", "p_gg"]
    assert list(entry["ancova"]) == ["n", "arm", "adjusted_difference", "covariates"]
    assert list(entry["ancova"]["arm"]) == ["F", "df1", "df2", "p", "np2"]
    assert list(entry["ancova"]["adjusted_difference"]) == ["estimate", "se", "ci_low", "ci_high"]
    wald = ["estimate", "se", "ci_low", "ci_high", "p"]
    assert list(entry["lmm"]["interaction_post"]) == wald
    assert list(entry["lmm"]["interaction_followup"]) == wald
    assert {"n_participants", "n_observations"} <= set(entry["lmm"])


def test_the_pre_post_figures_ignore_the_followup_rows() -> None:
    """Top-level figures stay pre/post: the same as on the data without the follow-up rows."""
    frame = load_long_csv(DATA / "followup_unbalanced.csv")
    with_followup = analyze(frame, primary="stigma")
    without = analyze(frame[frame["time"] != "followup"], primary="stigma")
    assert with_followup["schema"] == without["schema"] == "allport.analysis/1"
    for name, entry in with_followup["outcomes"].items():
        plain = without["outcomes"][name]
        assert "followup" not in plain
        assert [row["time"] for row in entry["descriptives"]] == [
            "pre", "post", "followup", "pre", "post", "followup"]
        assert [r for r in entry["descriptives"] if r["time"] != "followup"] == (
            plain["descriptives"])
        # the same up to rounding: participants are coded in another order, so sums run in another
        # order
        # The missing table counts follow-up too, and the imputation's draws follow the order in
        # which participants are coded: compare the one without its follow-up column, leave the
        # other to tests/analysis/test_imputation.py.
        for row, plain_row in zip(entry["missing"], plain["missing"], strict=True):
            for key, value in plain_row.items():
                if key != "missing_followup":
                    assert row[key] == (pytest.approx(value, rel=1e-12)
                                        if isinstance(value, float) else value), (name, key)
        assert all(row["missing_followup"] is None for row in plain["missing"])
        compared = {k: v for k, v in plain.items()
                    if k not in ("descriptives", "missing", "sensitivity")}
        for path, value in leaves(compared):
            got = lookup(entry, path)
            if isinstance(value, float):
                # the REML optimizer's path depends on the order too
                rel = 1e-7 if path[0] == "lmm" else 1e-9
                assert got == pytest.approx(value, rel=rel, abs=1e-15), (name, path)
            else:
                assert got == value, (name, path)
    assert with_followup["baseline"] == without["baseline"]
    assert with_followup["multiplicity"]["family"] == without["multiplicity"]["family"]


# --- bad data -------------------------------------------------------------------------------------


@pytest.fixture
def trial() -> pd.DataFrame:
    return load_long_csv(DATA / "followup_balanced.csv")


def run(frame: pd.DataFrame) -> dict:
    """analyze(), also checking that even a broken result is strict JSON."""
    got = analyze(frame)
    json.dumps(got, allow_nan=False)
    return got


def followup_rows(frame: pd.DataFrame, arm: str | None = None) -> pd.Series:
    rows = frame["time"] == "followup"
    return rows & (frame["arm"] == arm) if arm is not None else rows


def test_followup_for_too_few_participants(trial: pd.DataFrame) -> None:
    keep = trial[followup_rows(trial, "education")].index[:1]
    frame = trial.drop(index=trial[followup_rows(trial, "education")].index.difference(keep))
    entry = run(frame)["outcomes"]["stigma"]
    assert "error" not in entry["mixed_anova"]  # the pre/post figures are untouched
    followup = entry["followup"]
    assert followup["n_complete"] == {"education": 1, "contact": 29}
    assert followup["mixed_anova"] == {"error": (
        "at least 2 participants per arm with pre, post and follow-up values of 'stigma' are "
        "needed; 'education' has 1")}
    assert followup["ancova"] == {"error": (
        "at least 2 participants per arm with pre and follow-up values of 'stigma' are needed; "
        "'education' has 1")}
    assert followup["lmm"]["interaction_followup"]["se"] > 0  # one follow-up value is enough


def test_no_followup_in_one_arm(trial: pd.DataFrame) -> None:
    frame = trial.drop(index=trial[followup_rows(trial, "contact")].index)
    followup = run(frame)["outcomes"]["anxiety"]["followup"]
    assert followup["n_complete"] == {"education": 29, "contact": 0}
    assert "'contact' has 0" in followup["mixed_anova"]["error"]
    assert "'contact' has 0" in followup["ancova"]["error"]
    assert followup["lmm"] == {"error": (
        "every arm needs observations at pre, post and follow-up for the mixed model")}


def test_an_outcome_without_followup_values(trial: pd.DataFrame) -> None:
    trial.loc[followup_rows(trial), "anxiety"] = np.nan
    got = run(trial)["outcomes"]
    assert got["anxiety"]["followup"] == {"error": "'anxiety' has no follow-up values"}
    assert [r["n"] for r in got["anxiety"]["descriptives"] if r["time"] == "followup"] == [0, 0]
    assert "error" not in got["stigma"]["followup"]["ancova"]


def test_a_constant_followup_score(trial: pd.DataFrame) -> None:
    trial.loc[followup_rows(trial), "stigma"] = 3.0
    followup = run(trial)["outcomes"]["stigma"]["followup"]
    assert followup["ancova"] == {"error": (
        "the follow-up score of 'stigma' is constant (every value is 3): the ANCOVA is undefined")}
    assert "error" not in followup["mixed_anova"]  # pre and post still vary


def test_no_change_over_time_within_arms(trial: pd.DataFrame) -> None:
    """Every participant's three scores shifted alike: the within error is zero."""
    wide = trial.pivot(index="participant", columns="time", values="stigma")
    arm = trial.drop_duplicates("participant").set_index("participant")["arm"]
    shift = {"pre": 0.0, "post": -0.5, "followup": -0.25}
    base = wide["pre"]
    for time, delta in shift.items():
        rows = trial["time"] == time
        trial.loc[rows, "stigma"] = (
            trial.loc[rows, "participant"].map(base).to_numpy()
            + delta * (trial.loc[rows, "participant"].map(arm) == "contact").to_numpy()
        )
    followup = run(trial)["outcomes"]["stigma"]["followup"]
    assert followup["mixed_anova"] == {"error": (
        "the changes over time do not vary within arms: the time and interaction F are "
        "undefined")}
    assert "error" in followup["lmm"]


def test_duplicate_followup_rows(trial: pd.DataFrame) -> None:
    row = trial[followup_rows(trial)].iloc[[0]]
    got = run(pd.concat([trial, row]))["outcomes"]["stigma"]
    assert got["error"] == (
        "'stigma' has more than one row per participant and time for 1 participant x time pair: "
        f"{row['participant'].iloc[0]} at followup (2 rows)")


def test_a_participant_in_the_other_arm_at_followup(trial: pd.DataFrame) -> None:
    row = trial[followup_rows(trial, "education")].index[0]
    who = trial.loc[row, "participant"]
    trial.loc[row, "arm"] = "contact"
    assert run(trial)["outcomes"]["stigma"]["error"] == (
        f"1 participant is recorded in both arms: {who!r}")


def test_followup_label_ignores_case_and_spaces(trial: pd.DataFrame) -> None:
    expected = run(trial)
    trial["time"] = trial["time"].map({"pre": "pre", "post": "post", "followup": " FollowUp "})
    assert run(trial) == expected


def test_without_followup_rows_there_is_no_followup_key(trial: pd.DataFrame) -> None:
    got = run(trial[~followup_rows(trial)])
    for entry in got["outcomes"].values():
        assert "followup" not in entry
        assert {row["time"] for row in entry["descriptives"]} == {"pre", "post"}


def test_the_followup_ancova_carries_the_covariates() -> None:
    """``followup ~ pre + arm + covariates`` is the covariate ANCOVA with follow-up as outcome.

    The covariate ANCOVA itself is checked against R (test_covariates_reference.py); here the
    same data with the follow-up scores relabelled ``post`` must give the same figures.
    """
    frame = load_long_csv(DATA / "followup_unbalanced.csv")
    codes = sorted(frame["participant"].unique())
    site = {code: "abc"[i % 3] for i, code in enumerate(codes)}
    frame["site"] = frame["participant"].map(site)
    adjusted = analyze(frame, primary="stigma", covariates="site", mi=None)
    as_post = frame[frame["time"] != "post"].replace({"time": {"followup": "post"}})
    reference = analyze(as_post, primary="stigma", covariates="site", mi=None)
    for name, entry in adjusted["outcomes"].items():
        followup = entry["followup"]["ancova"]
        expected = reference["outcomes"][name]["ancova"]
        assert followup["covariates"] == expected["covariates"] == ["site"]
        assert followup["n"] == expected["n"]
        for part in ("arm", "adjusted_difference"):
            figures = {k: v for k, v in expected[part].items() if k != "p_holm"}
            assert followup[part] == pytest.approx(figures, rel=1e-12)
        unadjusted = analyze(frame, primary="stigma", mi=None)["outcomes"][name]
        assert unadjusted["followup"]["ancova"]["covariates"] == []
        assert followup["arm"]["F"] != unadjusted["followup"]["ancova"]["arm"]["F"]


def test_a_followup_primary_time_adjusts_the_followup_ancovas() -> None:
    from analysis.multiplicity import holm

    frame = load_long_csv(DATA / "followup_unbalanced.csv")
    done = analyze(frame, primary="stigma", primary_time="followup", mi=None)
    assert done["primary_time"] == "followup"
    multiplicity = done["multiplicity"]
    assert multiplicity["adjusted"] == "followup.ancova.arm.p"
    family = multiplicity["family"]
    assert family == [n for n in done["outcomes"] if n != "stigma"]
    ps = [done["outcomes"][n]["followup"]["ancova"]["arm"]["p"] for n in family]
    assert [done["outcomes"][n]["followup"]["ancova"]["arm"]["p_holm"] for n in family] == (
        pytest.approx(holm(ps), rel=1e-12))
    for entry in done["outcomes"].values():
        assert "p_holm" not in entry["ancova"]["arm"]
    assert analyze(frame, primary="stigma", mi=None)["primary_time"] == "post"


def test_a_followup_primary_time_needs_followup_rows_and_a_known_name() -> None:
    from analysis import AnalysisInputError

    frame = load_long_csv(DATA / "followup_unbalanced.csv")
    with pytest.raises(AnalysisInputError, match="no followup rows"):
        analyze(frame[frame["time"] != "followup"], primary_time="followup", mi=None)
    with pytest.raises(AnalysisInputError, match="primary_time must be"):
        analyze(frame, primary_time="later", mi=None)
