"""Bad data: a readable message per outcome (or one line for the whole input), never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis import AnalysisInputError, analyze, load_long_csv

Loader = Callable[[str], pd.DataFrame]


@pytest.fixture
def trial(dataset: Loader) -> pd.DataFrame:
    """The balanced dataset without its covariates: three outcomes, 40 + 40 participants."""
    return dataset("balanced").drop(columns=["age", "profession"])


def errors(result: dict) -> dict[str, str | None]:
    return {name: entry.get("error") for name, entry in result["outcomes"].items()}


def run(frame: pd.DataFrame, **kwargs: Any) -> dict:
    """analyze(), also checking that even a broken result is strict JSON."""
    result = analyze(frame, **kwargs)
    json.dumps(result, allow_nan=False)
    return result


def test_empty_arm_is_reported_for_that_outcome_only(trial: pd.DataFrame) -> None:
    trial.loc[trial["arm"] == "contact", "stigma"] = np.nan
    got = errors(run(trial))
    assert got["stigma"] == "arm 'contact' has no values of 'stigma'"
    assert got["anxiety"] is None and got["social_distance"] is None


def test_data_from_the_control_arm_only(trial: pd.DataFrame) -> None:
    got = run(trial[trial["arm"] == "education"])
    assert got["treatment_arm"] is None
    assert set(errors(got).values()) == {
        "there is no treatment arm: every row is in the control arm 'education'"
    }


def test_data_without_the_control_arm(trial: pd.DataFrame) -> None:
    got = errors(run(trial[trial["arm"] == "contact"]))
    assert got["stigma"] == "arm 'education' has no values of 'stigma'"


def test_constant_outcome(trial: pd.DataFrame) -> None:
    trial["stigma"] = 3.0
    got = errors(run(trial))
    assert got["stigma"] == "'stigma' is constant (every value is 3): there is nothing to compare"
    assert got["anxiety"] is None


def test_fewer_than_two_complete_cases_in_an_arm(dataset: Loader) -> None:
    small = dataset("small")
    education_post = small[(small["arm"] == "education") & (small["time"] == "post")]
    frame = small.drop(index=education_post.index[1:])
    got = errors(run(frame))
    assert got["stigma"] == (
        "at least 2 complete cases (pre and post) per arm are needed for 'stigma'; "
        "'education' has 1"
    )


def test_unknown_time_labels(trial: pd.DataFrame) -> None:
    trial["time"] = trial["time"].astype(object)
    trial.loc[trial.index[:3], "time"] = "follow-up"
    trial.loc[trial.index[3], "time"] = None
    got = errors(run(trial))
    assert got["stigma"] == (
        "time must be 'pre', 'post' or 'followup', but 4 rows with a value of 'stigma' have "
        "'follow-up' and an empty time"
    )


def test_rows_with_other_time_labels_but_no_value_are_ignored(trial: pd.DataFrame) -> None:
    follow_up = trial[trial["time"] == "post"].assign(time="follow-up", stigma=np.nan)
    got = run(pd.concat([trial, follow_up]), outcomes=["stigma"])
    assert "error" not in got["outcomes"]["stigma"]


def test_time_labels_ignore_case_and_spaces(trial: pd.DataFrame) -> None:
    expected = run(trial)
    trial["time"] = trial["time"].map({"pre": " Pre", "post": "POST "})
    assert run(trial) == expected


def test_duplicate_participant_time_rows(trial: pd.DataFrame) -> None:
    frame = pd.concat([trial, trial.iloc[[0, 1]]])
    first, second = trial.iloc[0], trial.iloc[1]
    got = errors(run(frame))
    assert got["anxiety"] == (
        "'anxiety' has more than one row per participant and time for 2 participant x time "
        f"pairs: {first['participant']} at {first['time']} (2 rows), "
        f"{second['participant']} at {second['time']} (2 rows)"
    )


def test_participant_in_both_arms(trial: pd.DataFrame) -> None:
    who = trial["participant"].iloc[0]
    arm = trial["arm"].iloc[0]
    other = "contact" if arm == "education" else "education"
    trial.loc[(trial["participant"] == who) & (trial["time"] == "post"), "arm"] = other
    trial.loc[(trial["participant"] == who) & (trial["time"] == "pre"), "arm"] = arm
    got = errors(run(trial))
    assert got["stigma"] == f"1 participant is recorded in both arms: '{who}'"


def test_non_numeric_values(trial: pd.DataFrame) -> None:
    trial["stigma"] = trial["stigma"].astype(object)
    trial.loc[5, "stigma"] = "3,5"
    trial.loc[9, "stigma"] = "abc"
    got = errors(run(trial))
    where = [f"participant {trial.loc[i, 'participant']}, {trial.loc[i, 'time']}" for i in (5, 9)]
    assert got["stigma"] == (
        f"'stigma' has 2 non-numeric values: '3,5' ({where[0]}), 'abc' ({where[1]})"
    )
    assert got["anxiety"] is None


def test_numbers_stored_as_text_are_accepted(trial: pd.DataFrame) -> None:
    expected = run(trial)["outcomes"]["stigma"]
    trial["stigma"] = trial["stigma"].map(lambda v: f" {v!r} ").astype(object)
    assert run(trial)["outcomes"]["stigma"] == expected


def test_infinite_and_boolean_values(trial: pd.DataFrame) -> None:
    trial.loc[5, "stigma"] = np.inf
    trial["anxiety"] = trial["anxiety"] > 3
    got = errors(run(trial))
    assert got["stigma"].startswith("'stigma' has infinite values (participant ")
    assert got["anxiety"] == "'anxiety' holds true/false values, not scores"


def test_missing_outcome_column(trial: pd.DataFrame) -> None:
    got = errors(run(trial, outcomes=["stigma", "ribs"]))
    assert got == {"stigma": None, "ribs": "there is no column 'ribs' in the data"}


def test_rows_without_an_arm_are_left_out_with_a_note(trial: pd.DataFrame) -> None:
    trial["arm"] = trial["arm"].astype(object)
    trial.loc[trial.index[:4], "arm"] = None
    entry = run(trial)["outcomes"]["stigma"]
    assert entry["notes"] == ["4 rows without an arm left out"]
    assert sum(d["n"] for d in entry["descriptives"]) == 156


def test_rows_without_participant_code(trial: pd.DataFrame) -> None:
    trial["participant"] = trial["participant"].astype(object)
    trial.loc[0, "participant"] = None
    got = errors(run(trial))
    assert got["stigma"] == "1 row with a value of 'stigma' lacks a participant code"


def test_undefined_figures_are_reported_one_by_one(trial: pd.DataFrame) -> None:
    """Pre constant within arms: ANCOVA and d_ppc2 are undefined, the rest is computed."""
    pre = trial["time"] == "pre"
    trial.loc[pre, "stigma"] = np.where(trial.loc[pre, "arm"] == "contact", 2.0, 3.0)
    entry = run(trial)["outcomes"]["stigma"]
    undefined = "the pre score does not vary within arms: the ANCOVA is undefined"
    assert entry["ancova"] == {"error": undefined}
    assert entry["d_ppc2"] == {
        "error": "the pre score does not vary within arms: d_ppc2 is undefined"
    }
    assert entry["assumptions"]["homogeneity_of_slopes"]["error"] == undefined
    assert entry["assumptions"]["shapiro_wilk"]["error"] == undefined
    for key in ("mixed_anova", "change_welch", "hedges_g_post", "lmm"):
        assert "error" not in entry[key], key
    # an outcome whose ANCOVA failed is left out of the Holm family
    assert "stigma" in run(trial)["multiplicity"]["not_adjusted"]


def test_change_identical_within_arms(trial: pd.DataFrame) -> None:
    post = trial["time"] == "post"
    shift = np.where(trial["arm"] == "contact", -0.5, 0.0)
    pre_values = trial[~post].set_index("participant")["stigma"]
    trial.loc[post, "stigma"] = trial.loc[post, "participant"].map(pre_values) + shift[post]
    entry = run(trial)["outcomes"]["stigma"]
    assert entry["change_welch"] == {
        "error": "the pre-post change does not vary within arms: the t-test is undefined"
    }
    assert entry["mixed_anova"]["error"].startswith("the pre-post change does not vary")
    assert entry["lmm"]["error"] == (
        "the mixed model leaves no residual variance (the change is the same for everyone in an "
        "arm): it is undefined for these data"
    )


def test_four_complete_cases_give_no_d_ppc2_interval(dataset: Loader) -> None:
    small = dataset("small")
    keep = small["participant"].isin(
        small.groupby("arm")["participant"].apply(lambda p: sorted(set(p))[:2]).explode()
    )
    entry = run(small[keep])["outcomes"]["stigma"]
    assert entry["n_complete"] == {"education": 2, "contact": 2}
    assert entry["d_ppc2"] == {
        "error": "d_ppc2's variance (Morris 2008, eq. 25) needs more than 4 complete cases"
    }
    assert entry["assumptions"]["homogeneity_of_slopes"]["error"].startswith(
        "separate slopes need at least 5 complete cases"
    )


def test_shapiro_wilk_follows_rs_5000_limit() -> None:
    rng = np.random.default_rng(7)
    n = 2600
    pre = rng.normal(3, 0.5, 2 * n)
    frame = pd.DataFrame(
        {
            "participant": np.tile(np.arange(2 * n), 2),
            "arm": np.tile(np.repeat(["education", "contact"], n), 2),
            "time": np.repeat(["pre", "post"], 2 * n),
            "stigma": np.concatenate([pre, pre * 0.6 + rng.normal(1, 0.4, 2 * n)]),
        }
    )
    entry = run(frame)["outcomes"]["stigma"]
    assert entry["assumptions"]["shapiro_wilk"]["error"] == (
        "Shapiro-Wilk needs 3 to 5000 residuals (as R's shapiro.test), there are 5200; "
        "inspect a Q-Q plot of the ANCOVA residuals instead"
    )
    assert "error" not in entry["ancova"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda f: f.drop(columns="time"),
            "the data lacks the column 'time'; expected participant, arm, time and one column per "
            "outcome",
        ),
        (
            lambda f: f.drop(columns=["arm", "participant"]),
            "the data lacks the columns 'participant' and 'arm'; expected participant, arm, time "
            "and one column per outcome",
        ),
        (lambda f: f.iloc[:0], "the data has no rows"),
        (
            lambda f: f.assign(arm=np.where(f.index < 2, "waitlist", f["arm"])),
            "expected two arms, found 3: 'contact', 'education' and 'waitlist'",
        ),
        (lambda f: f.assign(arm=np.nan), "the arm column is empty"),
    ],
)
def test_whole_input_problems_raise_one_line(
    trial: pd.DataFrame, change: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    with pytest.raises(AnalysisInputError) as raised:
        analyze(change(trial))
    assert str(raised.value) == message


def test_control_arm_must_be_one_of_two_arms(trial: pd.DataFrame) -> None:
    with pytest.raises(AnalysisInputError, match="^the control arm 'Education' is not one of"):
        analyze(trial, control_arm="Education")


def test_not_a_frame_unknown_primary_covariate_population(trial: pd.DataFrame) -> None:
    with pytest.raises(AnalysisInputError, match="^expected a pandas DataFrame, got dict$"):
        analyze({"participant": []})
    with pytest.raises(AnalysisInputError, match="primary outcome 'ribs' is not among"):
        analyze(trial, primary="ribs")
    with pytest.raises(AnalysisInputError, match="^covariate column not in the data: 'age'$"):
        analyze(trial, covariates=["age"])
    with pytest.raises(AnalysisInputError, match="population must be a non-empty label"):
        analyze(trial, population=" ")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "the file is empty"),
        (
            b"participant;arm;time;stigma\nP1;education;pre;3\n",
            "lacks the columns 'participant', 'arm' and 'time' (the file seems to be separated by "
            "';', expected ',')",
        ),
        (b"participant,arm,stigma\nP1,education,3\n", "lacks the column 'time'"),
        (b"\xff\xfe\x00\x00garbage\x00\x81", "it is not UTF-8 text (save it as CSV UTF-8)"),
        (b"participant,arm,time,job\nP1,education,pre,M\xe9decine\n", "it is not UTF-8 text"),
        (b'participant,arm,time,stigma\n"P1,education,pre,3\n', "as a CSV file"),
    ],
)
def test_load_long_csv_errors_are_one_line(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "scores.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AnalysisInputError) as raised:
        load_long_csv(path)
    text = str(raised.value)
    assert message in text
    assert "\n" not in text
    assert text.startswith(f"cannot read {str(path)!r}") or "lacks" in text


def test_load_long_csv_keeps_participant_codes_as_text(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text("participant,arm,time,stigma\n007,education,pre,3\n007,education,post,2.5\n")
    frame = load_long_csv(path)
    assert list(frame["participant"]) == ["007", "007"]
    assert frame["stigma"].tolist() == [3.0, 2.5]


def test_load_long_csv_reads_excel_utf8_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_bytes(b"\xef\xbb\xbfparticipant,arm,time,stigma\nP1,education,pre,3\n")
    assert list(load_long_csv(path).columns) == ["participant", "arm", "time", "stigma"]
