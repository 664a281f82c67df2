"""The ``missing`` list of every outcome (DESIGN §6 "Missing outcomes"), against R (``r/mi.R``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import analyze, load_long_csv

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "mi_reference.json").read_text())["missing"]
KEYS = {"arm", "allocated", "missing_post", "missing_followup", "baseline_mean_complete",
        "baseline_mean_missing"}


@pytest.fixture(scope="module")
def result() -> dict:
    return analyze(load_long_csv(DATA / "mi_missing.csv"), mi=None)


@pytest.mark.parametrize("outcome", sorted(REFERENCE))
def test_missing_table_equals_r(result: dict, outcome: str) -> None:
    got = result["outcomes"][outcome]["missing"]
    assert [row["arm"] for row in got] == ["education", "contact"]
    for mine, ref in zip(got, REFERENCE[outcome], strict=True):
        assert set(mine) == KEYS
        assert mine["missing_followup"] is None  # no follow-up rows in these data
        for key in ("allocated", "missing_post"):
            assert mine[key] == ref[key], key
        for key in ("baseline_mean_complete", "baseline_mean_missing"):
            if ref.get(key) is None:
                assert mine[key] is None, key
            else:
                assert math.isclose(mine[key], ref[key], rel_tol=1e-6), key


def test_participants_without_a_post_row_or_a_post_score_both_count(result: dict) -> None:
    """Missing post = no post row at all, or a post row with the score empty."""
    frame = load_long_csv(DATA / "mi_missing.csv")
    post = frame[(frame["time"] == "post") & frame["stigma"].notna()]
    education = frame[frame["arm"] == "education"]["participant"].nunique()
    scored = post[post["arm"] == "education"]["participant"].nunique()
    assert result["outcomes"]["stigma"]["missing"][0]["missing_post"] == education - scored


def tiny() -> pd.DataFrame:
    """Two participants per arm, one of them without a post score."""
    rows = [
        ("a1", "education", "pre", 3.0), ("a1", "education", "post", 2.5),
        ("a2", "education", "pre", 4.0), ("a2", "education", "post", 3.0),
        ("a3", "education", "pre", 5.0),
        ("b1", "contact", "pre", 3.5), ("b1", "contact", "post", 2.0),
        ("b2", "contact", "pre", 2.5), ("b2", "contact", "post", 1.5),
        ("b3", "contact", "pre", 1.0), ("b3", "contact", "post", np.nan),
        ("b4", "contact", "post", 1.8),
    ]
    return pd.DataFrame(rows, columns=["participant", "arm", "time", "stigma"])


def test_baseline_means_of_those_with_and_without_a_post_score() -> None:
    missing = analyze(tiny(), mi=None)["outcomes"]["stigma"]["missing"]
    assert missing == [
        {"arm": "education", "allocated": 3, "missing_post": 1, "missing_followup": None,
         "baseline_mean_complete": 3.5, "baseline_mean_missing": 5.0},
        # b4 has no pre score: counted as allocated, in neither baseline mean
        {"arm": "contact", "allocated": 4, "missing_post": 1, "missing_followup": None,
         "baseline_mean_complete": 3.0, "baseline_mean_missing": 1.0},
    ]


def test_missing_followup_is_counted_when_the_data_have_followup_rows() -> None:
    """Follow-up rows whose scores are empty: every participant lacks a follow-up score."""
    frame = tiny()
    followup = pd.DataFrame({"participant": ["a1", "b1"], "arm": ["education", "contact"],
                             "time": "followup", "stigma": [np.nan, np.nan]})
    entry = analyze(pd.concat([frame, followup]), mi=None)["outcomes"]["stigma"]
    assert [row["missing_followup"] for row in entry["missing"]] == [3, 4]


def test_missing_is_reported_beside_an_outcome_error() -> None:
    frame = tiny()
    frame.loc[frame["arm"] == "contact", "stigma"] = np.nan
    entry = analyze(frame, mi=None)["outcomes"]["stigma"]
    assert entry["error"] == "arm 'contact' has no values of 'stigma'"
    assert entry["missing"][1] == {
        "arm": "contact", "allocated": 4, "missing_post": 4, "missing_followup": None,
        "baseline_mean_complete": None, "baseline_mean_missing": None}
