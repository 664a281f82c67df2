"""Alpha, its Feldt interval and omega_total agree with R's psych (reliability_reference.R)."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from instruments.reliability import cronbach_alpha, keyed_frame, omega_total, reliability_table

DATA = Path(__file__).parent / "data"
REFERENCE = pd.read_csv(DATA / "reliability_reference.csv", dtype={"dataset": str}).set_index(
    "dataset"
)


def same_digits(actual: float, expected: float, digits: int) -> bool:
    """Equal to ``digits`` significant digits."""
    return math.isclose(actual, expected, rel_tol=0.5 * 10 ** (1 - digits), abs_tol=0)


@pytest.mark.parametrize("dataset", ["agree6", "ten12", "mixed5"])
def test_alpha_and_feldt_interval_match_psych_to_6_digits(dataset):
    items = pd.read_csv(DATA / f"reliability_{dataset}.csv")
    expected = REFERENCE.loc[dataset]
    result = cronbach_alpha(items)
    assert (result.n, result.k) == (expected["n"], expected["k"])
    assert same_digits(result.alpha, expected["alpha"], 6)
    assert same_digits(result.ci_low, expected["alpha_ci_low"], 6)
    assert same_digits(result.ci_high, expected["alpha_ci_high"], 6)


@pytest.mark.parametrize("dataset", ["agree6", "ten12", "mixed5"])
def test_omega_total_matches_psych_to_3_digits(dataset):
    items = pd.read_csv(DATA / f"reliability_{dataset}.csv")
    result = omega_total(items)
    assert same_digits(result.omega_total, REFERENCE.loc[dataset, "omega_total"], 3)


def test_omega_reflects_a_negatively_loading_item():
    items = pd.read_csv(DATA / "reliability_mixed5.csv")
    loadings = omega_total(items).loadings
    assert loadings[2] < 0 and all(x > 0 for i, x in enumerate(loadings) if i != 2)


def test_missing_answers_are_dropped_listwise():
    items = pd.read_csv(DATA / "reliability_agree6.csv")
    assert items.isna().any(axis=1).sum() == 150 - 136
    assert cronbach_alpha(items).n == 136
    assert cronbach_alpha(items).alpha == cronbach_alpha(items.dropna()).alpha


@pytest.mark.parametrize(
    ("frame", "call", "message"),
    [
        (pd.DataFrame({"a": [1, 2, 3, 4]}), cronbach_alpha, "at least 2 items"),
        (pd.DataFrame({"a": [1, 2, 3], "b": [2, 3, 4]}), omega_total, "at least 3 items"),
        (pd.DataFrame({"a": [1, 2], "b": [2, 3]}), cronbach_alpha, "at least 3 respondents"),
        (pd.DataFrame({"a": [1, 2, 3], "b": [2, 2, 2]}), cronbach_alpha, "item b has the same"),
    ],
)
def test_impossible_coefficients_raise_a_clear_error(frame, call, message):
    with pytest.raises(ValueError, match=message):
        call(frame)


def test_keyed_frame_reverses_and_scores_options_like_the_scoring_engine(library):
    ribs = library.get("ribs")
    responses = pd.DataFrame(
        {"ribs_5": [5, 9, None], "ribs_6": [1, 2, 3], "ribs_7": [9, 9, 4], "ribs_8": [4, 4, 4]}
    )
    keyed = keyed_frame(ribs, "total", responses)
    assert keyed["ribs_5"].tolist()[:2] == [5.0, 3.0] and np.isnan(keyed["ribs_5"].iloc[2])
    stigma = library.get("allport-stigma")
    wide = pd.DataFrame({f"ats_{n:02d}": [1, 5] for n in range(1, 16)})
    keyed = keyed_frame(stigma, "beliefs", wide)
    assert keyed["ats_02"].tolist() == [5.0, 1.0]  # reverse-keyed
    assert keyed["ats_01"].tolist() == [1.0, 5.0]


def test_reliability_table_per_scale_and_time_point(library):
    stigma = library.get("allport-stigma")
    rng = np.random.default_rng(3)
    trait = rng.normal(size=120)
    wide = {}
    for number in range(1, 16):
        item = stigma.item(f"ats_{number:02d}")
        raw = np.clip(np.rint(3 + trait + rng.normal(scale=0.8, size=120)), 1, 5)
        wide[item.key] = (6 - raw) if item.reverse else raw
    responses = pd.DataFrame(wide).astype(int)
    responses["time"] = ["pre", "post"] * 60
    table = reliability_table(stigma, responses, by="time")
    assert list(table.columns) == [
        "time", "scale", "k", "n", "alpha", "alpha_ci_low", "alpha_ci_high", "omega_total", "note",
    ]  # fmt: skip
    assert len(table) == 2 * 4
    post_total = table[(table.time == "post") & (table.scale == "total")].iloc[0]
    assert post_total.k == 15 and post_total.n == 60
    assert post_total.alpha > 0.8  # reverse keying applied, items agree
    subset = responses[responses.time == "post"]
    expected = cronbach_alpha(keyed_frame(stigma, "total", subset))
    assert post_total.alpha == expected.alpha


def test_reliability_table_explains_what_cannot_be_computed(library):
    fidelity = library.get("session-fidelity")
    answers = pd.DataFrame(
        {
            "fid_equal_status": [3, 2, 3, 1],
            "fid_common_goals": [3, 2, 2, 1],
            "fid_cooperation": [2, 2, 3, 0],
            "fid_institutional_support": [3, 3, 2, 1],
            "fid_self_disclosure": [3, 1, 2, 0],
            "fid_nondirective": [2, 1, 3, 1],
        }
    )
    table = reliability_table(fidelity, answers).set_index("scale")
    assert not np.isnan(table.loc["peer_practice", "alpha"])
    assert np.isnan(table.loc["peer_practice", "omega_total"])
    assert table.loc["peer_practice", "note"] == "omega: needs at least 3 items, got 2"
