"""Scores equal hand-computed ones: reverse keys, proration, subscales, RIBS."""

import math
from typing import Any

import pytest

from instruments import AnswerError, parse_answers, score


def test_intergroup_anxiety_reverse_keys_on_ten_points(library):
    ia = library.get("intergroup-anxiety")
    # anxiety-keyed at 8, positive adjectives at 2 -> reversed to 11 - 2 = 9
    answers = {item.key: (2 if item.reverse else 8) for item in ia.items}
    result = score(ia, answers)["total"]
    assert result.value == pytest.approx((6 * 8 + 6 * 9) / 12)
    assert (result.n_answered, result.n_items, result.reason) == (12, 12, None)
    reversed_keys = [item.key for item in ia.items if item.reverse]
    assert reversed_keys == [
        "ia_comfortable", "ia_trusting", "ia_friendly", "ia_confident", "ia_safe", "ia_at_ease",
    ]  # fmt: skip


def test_mean_is_prorated_at_the_threshold_and_missing_below(library):
    ia = library.get("intergroup-anxiety")
    keys = [item.key for item in ia.items]
    # 80% of 12 is 9.6, so 10 answered are needed
    ten = {key: 10 for key in keys[:6]} | {key: 1 for key in keys[6:10]}
    result = score(ia, ten)["total"]
    assert result.value == pytest.approx(10.0)  # 1 on a reverse item is 10
    assert result.prorated and result.n_answered == 10
    nine = {key: ten[key] for key in keys[:9]}
    result = score(ia, nine)["total"]
    assert result.value is None
    assert result.reason == "9 of 12 items answered; at least 10 needed"


def test_stigma_scale_total_and_subscales(library):
    ats = library.get("allport-stigma")
    answers = {f"ats_{n:02d}": 4 for n in range(1, 16)}
    scores = score(ats, answers)
    # reverse-keyed: 2, 5, 7, 9, 11, 14 -> 4 becomes 2
    assert scores["beliefs"].value == 4 + 2 + 4 + 4 + 2
    assert scores["social_distance"].value == 4 + 2 + 4 + 2 + 4
    assert scores["professional"].value == 2 + 4 + 4 + 2 + 4
    assert scores["total"].value == 16 + 16 + 16
    assert list(scores) == ["total", "beliefs", "social_distance", "professional"]


def test_sum_is_prorated_from_the_answered_mean(library):
    ats = library.get("allport-stigma")
    answers = {f"ats_{n:02d}": 5 for n in range(1, 16) if n not in (2, 3, 4)}
    scores = score(ats, answers)
    # 12 of 15 answered = exactly 80%: total prorated; beliefs has 2 of 5 (< 4): missing
    # answered reverse-keyed items 5, 7, 9, 11, 14 count 1, the other seven 5
    assert scores["total"].value == pytest.approx((5 * 7 + 1 * 5) / 12 * 15)
    assert scores["total"].n_answered == 12
    assert scores["beliefs"].value is None
    assert scores["beliefs"].reason == "2 of 5 items answered; at least 4 needed"
    assert scores["social_distance"].value == 5 + 1 + 5 + 1 + 5
    del answers["ats_06"]
    assert score(ats, answers)["total"].value is None


def test_nothing_answered_says_so(library):
    result = score(library.get("allport-stigma"), {})["total"]
    assert (result.value, result.reason) == (None, "no items answered")


def test_ribs_ignores_reported_behaviour_and_scores_dont_know_as_midpoint(library):
    ribs = library.get("ribs")
    answers: dict[str, Any] = {"ribs_1": "yes", "ribs_2": "no", "ribs_3": "dont_know",
                               "ribs_4": "yes"}
    answers |= {"ribs_5": 5, "ribs_6": 9, "ribs_7": 1, "ribs_8": 4}
    result = score(ribs, answers)["total"]
    assert result.value == 5 + 3 + 1 + 4
    assert result.n_items == 4
    # unscored items answered or not, the score is the same
    only_intended = {k: v for k, v in answers.items() if k >= "ribs_5"}
    assert score(ribs, only_intended)["total"].value == 13
    # published RIBS needs all four intended-behaviour items
    del answers["ribs_8"]
    assert score(ribs, answers)["total"].value is None


def test_ribs_range(library):
    ribs = library.get("ribs")
    assert ribs.scale("total").range == (4, 20)
    assert score(ribs, {f"ribs_{n}": 9 for n in range(5, 9)})["total"].value == 12


def test_fidelity_checklist_means(library):
    fid = library.get("session-fidelity")
    assert fid.completed_by == "rater"
    answers = {
        "fid_equal_status": 3, "fid_common_goals": 2, "fid_cooperation": 3,
        "fid_institutional_support": 0, "fid_self_disclosure": 3, "fid_nondirective": 2,
        "fid_notes": "Started ten minutes late.",
    }  # fmt: skip
    scores = score(fid, answers)
    assert scores["conditions"].value == pytest.approx(2.0)
    assert scores["peer_practice"].value == pytest.approx(2.5)
    assert scores["total"].value == pytest.approx(13 / 6)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"ats_01": 6}, "item 'ats_01': 6 is not one of 1, 2, 3, 4, 5"),
        ({"ats_01": "4"}, "item 'ats_01': '4' is not one of 1, 2, 3, 4, 5"),
        ({"ats_01": True}, "item 'ats_01': True is not one of"),
        ({"ats_99": 3}, "item 'ats_99': is not an item of allport-stigma 1.0"),
    ],
)
def test_impossible_answers_raise(library, answers, message):
    with pytest.raises(AnswerError, match=message.replace("(", r"\(")):
        score(library.get("allport-stigma"), answers)


def test_missing_values_from_pandas_count_as_unanswered(library):
    ats = library.get("allport-stigma")
    answers = {f"ats_{n:02d}": 3.0 for n in range(1, 16)} | {"ats_15": math.nan}
    result = score(ats, answers)["total"]
    assert result.n_answered == 14
    assert result.value == pytest.approx(45.0)


def test_answers_kept_as_text_are_parsed_to_their_types(library):
    ribs = library.get("ribs")
    texts = {"ribs_1": "yes", "ribs_5": "4", "ribs_6": " 9 ", "ribs_7": "", "ribs_8": "2"}
    answers = parse_answers(ribs, texts)
    assert answers == {"ribs_1": "yes", "ribs_5": 4, "ribs_6": 9, "ribs_7": None, "ribs_8": 2}
    assert score(ribs, answers)["total"].value is None  # RIBS needs all four
    background = library.get("background")
    assert parse_answers(background, {"training_year": "3"}) == {"training_year": 3}
    with pytest.raises(AnswerError, match="item 'training_year': 11 is outside 1-10"):
        parse_answers(background, {"training_year": "11"})
    with pytest.raises(AnswerError, match="item 'ribs_5': '4.5' is not a whole number"):
        parse_answers(ribs, {"ribs_5": "4.5"})
    with pytest.raises(AnswerError, match="item 'ribs_1': 'maybe' is not one of"):
        parse_answers(ribs, {"ribs_1": "maybe"})
