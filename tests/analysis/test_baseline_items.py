"""Background items in the baseline table (``analyze(..., baseline_items=...)``), by hand.

The frame below is small enough to count on paper; every expected figure is written out.

=========  =========  ===  ====  ==========  ====
arm        person     pre  post  profession  year
=========  =========  ===  ====  ==========  ====
education  e1         1    2     nursing     1
education  e2         2    3     medicine    3
education  e3         3    3     nursing     --
contact    c1         2    4     medicine    2
contact    c2         3    5     --          4
contact    c3         1    4     medicine    2
contact    c4         2    2     other       6
=========  =========  ===  ====  ==========  ====
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from analysis import AnalysisInputError, analyze, baseline_table

PEOPLE = {
    "e1": ("education", 1, 2, "nursing", 1),
    "e2": ("education", 2, 3, "medicine", 3),
    "e3": ("education", 3, 3, "nursing", None),
    "c1": ("contact", 2, 4, "medicine", 2),
    "c2": ("contact", 3, 5, None, 4),
    "c3": ("contact", 1, 4, "medicine", 2),
    "c4": ("contact", 2, 2, "other", 6),
}
# The instrument's order (not alphabetical), with a level nobody chose.
ITEMS: dict[str, dict[str, Any]] = {
    "profession": {
        "kind": "categorical",
        "label": "Profession",
        "levels": {"nursing": "Nursing", "medicine": "Medicine", "pharmacy": "Pharmacy",
                   "other": "Another profession"},
    },
    "year": {"kind": "numeric", "label": "Training year"},
}


def trial(repeat: bool = False) -> pd.DataFrame:
    """The frame above; answers on the pre row only, or on every row with ``repeat``."""
    rows = []
    for person, (arm, pre, post, profession, year) in PEOPLE.items():
        rows.append({"participant": person, "arm": arm, "time": "pre", "score": pre,
                     "profession": profession, "year": year})
        rows.append({"participant": person, "arm": arm, "time": "post", "score": post,
                     "profession": profession if repeat else None,
                     "year": year if repeat else None})
    return pd.DataFrame(rows)


def item_rows(result: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [row for row in result["baseline"]["rows"] if row["variable"] == name]


def test_categorical_item_counts_and_percentages_per_level_with_a_missing_row() -> None:
    result = analyze(trial(), baseline_items=ITEMS)
    assert result["baseline"]["participants"] == {"education": 3, "contact": 4}
    rows = item_rows(result, "profession")
    assert [(r["level"], r["level_label"]) for r in rows] == [
        ("nursing", "Nursing"), ("medicine", "Medicine"), ("pharmacy", "Pharmacy"),
        ("other", "Another profession"), (None, "Missing")]
    assert all(r["baseline_item"] and r["label"] == "Profession" for r in rows)
    counts = {r["level_label"]: (r["arms"]["education"]["n"], r["arms"]["contact"]["n"])
              for r in rows}
    assert counts == {"Nursing": (2, 0), "Medicine": (1, 2), "Pharmacy": (0, 0),
                      "Another profession": (0, 1), "Missing": (0, 1)}
    # Percentages of those who answered: 3 in education, 3 of the 4 in contact.
    nursing, medicine, pharmacy, other, missing = rows
    assert nursing["arms"]["education"] == {"n": 2, "total": 3, "percent": pytest.approx(200 / 3)}
    assert medicine["arms"]["contact"] == {"n": 2, "total": 3, "percent": pytest.approx(200 / 3)}
    assert other["arms"]["contact"]["percent"] == pytest.approx(100 / 3)
    assert pharmacy["arms"]["education"]["percent"] == 0
    assert missing["missing"] is True
    assert missing["arms"] == {"education": {"n": 0, "total": 3}, "contact": {"n": 1, "total": 4}}
    # Austin's d of a proportion: (2/3 - 1/3) / sqrt((2/9 + 2/9) / 2) = 1/sqrt(2).
    assert medicine["standardized_difference"] == pytest.approx(1 / math.sqrt(2))
    assert nursing["standardized_difference"] == pytest.approx(-2.0)
    assert pharmacy["standardized_difference"] is None  # no spread in either arm
    assert missing["standardized_difference"] is None


def test_numeric_item_mean_sd_n_and_missing() -> None:
    (row,) = item_rows(analyze(trial(), baseline_items=ITEMS), "year")
    assert (row["type"], row["label"], row["baseline_item"]) == ("numeric", "Training year", True)
    # education 1, 3 (one missing); contact 2, 4, 2, 6: variance 11/3.
    assert row["arms"]["education"] == {"n": 2, "mean": 2.0, "sd": pytest.approx(math.sqrt(2)),
                                        "missing": 1}
    assert row["arms"]["contact"] == {"n": 4, "mean": 3.5, "sd": pytest.approx(math.sqrt(11 / 3)),
                                      "missing": 0}
    assert row["standardized_difference"] == pytest.approx(1.5 / math.sqrt((2 + 11 / 3) / 2))


def test_items_stay_out_of_the_outcomes_and_the_models() -> None:
    plain = analyze(trial()[["participant", "arm", "time", "score"]])
    with_items = analyze(trial(), baseline_items=ITEMS)
    assert list(with_items["outcomes"]) == ["score"]
    assert with_items["outcomes"] == plain["outcomes"]
    assert with_items["multiplicity"] == plain["multiplicity"]
    assert not any(key.startswith("p") and key != "percent"
                   for row in with_items["baseline"]["rows"] for arm in row["arms"].values()
                   for key in arm)
    assert all("p" not in row for row in with_items["baseline"]["rows"])


def test_answers_repeated_on_every_row_count_once() -> None:
    once = analyze(trial(), baseline_items=ITEMS)["baseline"]
    assert analyze(trial(repeat=True), baseline_items=ITEMS)["baseline"] == once
    assert baseline_table(trial(), outcomes=["score"], baseline_items=ITEMS) == once


def test_a_participant_without_a_pre_row_counts_as_missing() -> None:
    frame = trial()
    frame = frame[~((frame["participant"] == "c4") & (frame["time"] == "pre"))]
    (row,) = item_rows(analyze(frame, baseline_items=ITEMS), "year")
    assert row["arms"]["contact"] == {"n": 3, "mean": pytest.approx(8 / 3),
                                      "sd": pytest.approx(math.sqrt(4 / 3)), "missing": 1}


def test_numbers_as_level_codes_and_a_covariate_that_is_also_an_item() -> None:
    frame = trial()
    frame["contact_level"] = frame["year"].map({1: 1, 2: 2, 3: 1, 4: 2, 6: 3})
    items = {"contact_level": {"kind": "categorical", "levels": ["1", "2", "3"]}}
    result = analyze(frame, outcomes="score", covariates=["contact_level"], baseline_items=items)
    rows = item_rows(result, "contact_level")
    assert [r["level_label"] for r in rows] == ["1", "2", "3", "Missing"]
    assert [r["arms"]["contact"]["n"] for r in rows] == [0, 3, 1, 0]
    assert [r["arms"]["education"]["n"] for r in rows] == [2, 0, 0, 1]
    assert all(r.get("baseline_item") for r in rows)  # shown once, as the item


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"profession": {"e1": "dentistry"}},
         "'profession' has a value outside its levels: 'dentistry' (levels: nursing, medicine"),
        ({"year": {"e2": "third"}},  # on both rows of e2
         "'year' has 2 non-numeric answers: 'third'"),
        ({"profession": {"e1": "medicine"}, "_post": True},
         "'profession' has different answers on the rows of participant e1"),
    ],
)
def test_bad_answers_give_a_message_in_the_item_row(change: dict, message: str) -> None:
    frame = trial(repeat=True).astype({"profession": object, "year": object})
    for column, values in change.items():
        if column.startswith("_"):
            continue
        for person, value in values.items():
            rows = frame["participant"] == person
            if change.get("_post"):
                rows &= frame["time"] == "post"
            frame.loc[rows, column] = value
    result = analyze(frame, baseline_items=ITEMS)
    (bad,) = [row for row in result["baseline"]["rows"] if "error" in row]
    assert bad["error"].startswith(message)
    assert bad["baseline_item"] is True
    assert "error" not in result["outcomes"]["score"]  # the rest is still reported


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ({"sex": {"kind": "numeric"}}, "baseline item column not in the data: 'sex'"),
        ({"year": {"kind": "ordinal"}}, "baseline item 'year' needs a kind"),
        ({"year": "numeric"}, "baseline item 'year' needs a kind"),
        ({"profession": {"kind": "categorical"}}, "categorical baseline item 'profession' needs"),
        (["profession"], "baseline_items must map each column to its kind"),
    ],
)
def test_a_bad_description_of_the_items_is_refused_up_front(items: Any, message: str) -> None:
    with pytest.raises(AnalysisInputError, match=message):
        analyze(trial(), baseline_items=items)
