"""The kinds REDCap brought: checkbox, yes/no, true/false, slider, number, date, descriptive."""

import numpy as np
import pytest

from instruments import AnswerError, DefinitionError, parse_definition
from instruments.codebook import codebook_rows
from instruments.definition import to_definition
from instruments.kinds import KINDS, check_answer, kind_of, parse_answer


def define(*items, **top):
    return parse_definition({
        "schema": "allport.instrument/1", "id": "kinds", "version": "1.0", "title": "Kinds",
        "instructions": None, "completed_by": "trainee", "items": list(items), **top,
    })  # fmt: skip


SOURCES = {"key": "sources", "text": "Where did you hear of us?", "kind": "checkbox",
           "choices": [{"value": "1", "label": "Poster"}, {"value": "2", "label": "Email"},
                       {"value": "web", "label": "Website"},
                       {"value": "99", "label": "Don't know", "missing": True}]}  # fmt: skip
KINDS_USED = define(
    SOURCES,
    {"key": "met", "text": "Have you met someone with schizophrenia?", "kind": "yesno"},
    {"key": "sure", "text": "Mental illness is treatable.", "kind": "truefalse"},
    {"key": "comfort", "text": "How comfortable?", "kind": "slider",
     "anchors": {0: "Not at all", 50: "Somewhat", 100: "Completely"}},
    {"key": "pain", "text": "Pain", "kind": "slider", "min": 1, "max": 10,
     "anchors": {1: "None", 3: "Mild", 10: "Worst"}},
    {"key": "hours", "text": "Hours of contact", "kind": "number", "min": 0, "max": 12.5},
    {"key": "started", "text": "Date you started", "kind": "date"},
    {"key": "vignette", "text": "Read the story below.", "kind": "descriptive",
     "required": False},
)  # fmt: skip


def test_the_registry_offers_text_fields_to_integer_then_number_then_date_then_text():
    text_kinds = [name for name, kind in KINDS.items() if "text" in kind.redcap_types]
    assert text_kinds == ["integer", "number", "date", "text"]
    assert list(KINDS)[:2] == ["scale", "choice"]
    assert {"checkbox", "yesno", "truefalse", "slider", "descriptive"} <= set(KINDS)


def test_checkbox_answers_are_the_ticked_codes_in_choice_order():
    item = KINDS_USED.item("sources")
    kind = kind_of(item)
    assert kind.multiple and kind.answered
    assert parse_answer(item, "web,1") == ("1", "web")
    assert check_answer(item, ["2"]) == ("2",)
    assert parse_answer(item, "") is None
    with pytest.raises(AnswerError, match="'3' is not one of 1, 2, web, 99"):
        parse_answer(item, "1,3")
    with pytest.raises(AnswerError, match="'1' is ticked twice"):
        parse_answer(item, "1,1")
    field = kind.answer_field(item)
    assert field.widget == "several"
    assert field.options == (("1", "Poster"), ("2", "Email"), ("web", "Website"),
                             ("99", "Don't know"))
    assert kind.columns(item) == ("sources___1", "sources___2", "sources___web", "sources___99")
    assert kind.cells(item, ("1", "web")) == (1, 0, 1, 0)
    assert kind.cells(item, "2") == (0, 1, 0, 0)
    assert kind.cells(item, None) == (None, None, None, None)


def test_yes_no_and_true_false_store_one_and_zero():
    for key, labels in (("met", ("Yes", "No")), ("sure", ("True", "False"))):
        item = KINDS_USED.item(key)
        assert [(c.value, c.label) for c in item.choices] == [(1, labels[0]), (0, labels[1])]
        assert parse_answer(item, "0") == 0 and parse_answer(item, "1") == 1
        with pytest.raises(AnswerError, match=f"is not 1 \\({labels[0]}\\) or 0"):
            parse_answer(item, "2")
        field = kind_of(item).answer_field(item)
        assert (field.widget, field.layout, field.options) == (
            "options", "stack", (("1", labels[0]), ("0", labels[1])))
        assert kind_of(item).statistics(item).value_labels == {1: labels[0], 0: labels[1]}


def test_a_slider_takes_any_whole_number_in_its_range_and_labels_its_anchors():
    comfort, pain = KINDS_USED.item("comfort"), KINDS_USED.item("pain")
    assert (comfort.min, comfort.max) == (0, 100)
    assert parse_answer(comfort, "37") == 37
    with pytest.raises(AnswerError, match="101 is outside 0-100"):
        parse_answer(comfort, "101")
    with pytest.raises(AnswerError, match="not a whole number"):
        parse_answer(comfort, "3.5")
    field = kind_of(pain).answer_field(pain)
    assert (field.widget, field.min, field.max) == ("slider", 1, 10)
    assert field.options == (("1", "None"), ("3", "Mild"), ("10", "Worst"))
    assert to_definition(KINDS_USED)["items"][3] == {
        "key": "comfort", "text": "How comfortable?", "kind": "slider",
        "anchors": {0: "Not at all", 50: "Somewhat", 100: "Completely"}}


def test_a_number_takes_decimals_within_its_bounds():
    item = KINDS_USED.item("hours")
    assert parse_answer(item, "2.5") == 2.5
    assert parse_answer(item, "12") == 12.0
    assert parse_answer(item, "-0") == 0.0
    with pytest.raises(AnswerError, match="12.6 is outside 0-12.5"):
        parse_answer(item, "12.6")
    with pytest.raises(AnswerError, match="write decimals with a point: 2.5"):
        parse_answer(item, "2,5")
    with pytest.raises(AnswerError, match="is not a number"):
        parse_answer(item, "nan")
    with pytest.raises(AnswerError, match="is not a number"):
        check_answer(item, float("inf"))
    field = kind_of(item).answer_field(item)
    assert (field.widget, field.min, field.max) == ("decimal", 0, 12.5)


def test_a_date_is_iso_text_of_a_real_day():
    item = KINDS_USED.item("started")
    assert parse_answer(item, "2024-02-29") == "2024-02-29"
    with pytest.raises(AnswerError, match="not a date in the calendar"):
        parse_answer(item, "2023-02-29")
    with pytest.raises(AnswerError, match="not a date written YYYY-MM-DD"):
        parse_answer(item, "29/02/2024")
    assert kind_of(item).answer_field(item).widget == "date"


def test_descriptive_text_is_never_answered_nor_exported():
    item = KINDS_USED.item("vignette")
    kind = kind_of(item)
    assert not kind.answered and kind.answer_field(item).widget == "none"
    with pytest.raises(AnswerError, match="shows text and takes no answer"):
        parse_answer(item, "x")
    assert kind.columns(item) == ()
    assert "vignette" not in [i.key for i in KINDS_USED.answered_items]
    assert "vignette" not in [row["variable"] for row in codebook_rows(KINDS_USED)]


def test_every_kind_simulates_possible_answers():
    rng = np.random.default_rng(7)
    for _ in range(30):
        for item in KINDS_USED.items:
            answer = kind_of(item).simulate(item, 0.5, rng)
            if answer is not None:
                parse_answer(item, answer)  # raises if impossible
    assert kind_of(KINDS_USED.item("vignette")).simulate(
        KINDS_USED.item("vignette"), 0, rng) is None


def test_codebook_rows_of_the_new_kinds():
    rows = {row["variable"]: row for row in codebook_rows(KINDS_USED)}
    assert rows["sources"]["values"] == "1 = Poster; 2 = Email; web = Website; 99 = Don't know"
    assert rows["sources"]["scoring"] == (
        "one variable per choice (sources___1, sources___2, sources___web, sources___99):"
        " 1 ticked, 0 not; 99 is a missing-data code, never scored")
    assert rows["met"]["values"] == "1 = Yes; 0 = No"
    assert (rows["pain"]["values"], rows["pain"]["range"]) == ("1 = None; 3 = Mild; 10 = Worst",
                                                               "1-10")
    assert rows["hours"]["range"] == "0-12.5"


@pytest.mark.parametrize(("item", "message"), [
    ({"kind": "slider", "min": 10, "max": 10}, "min 10 of a slider must be below its max 10"),
    ({"kind": "slider", "anchors": {101: "Far"}}, "anchor 101 is outside the slider's range"),
    ({"kind": "slider", "min": 0.5}, "min of a slider must be an integer, not 0.5"),
    ({"kind": "slider", "anchors": {"0": "Cold"}}, "anchor positions must be whole numbers"),
    ({"kind": "number", "min": "low"}, "min must be a number, not 'low'"),
    ({"kind": "number", "min": 3, "max": 2.5}, "min 3 is greater than max 2.5"),
    ({"kind": "yesno", "choices": []}, "unknown field 'choices' for a yesno item"),
    ({"kind": "date", "min": "2020-01-01"}, "unknown field 'min' for a date item"),
    ({"kind": "checkbox", "choices": [{"value": "1", "label": "A"}]},
     "choices must be a list of at least two"),
])  # fmt: skip
def test_bad_definitions_of_the_new_kinds_fail_on_one_line(item, message):
    with pytest.raises(DefinitionError, match=message):
        define({"key": "q", "text": "Q", **item})
