"""Where and when an item is asked: branching logic, section headers, notes, matrix groups, HTML
labels; and missing-data codes, which are answers that never score."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from instruments import DefinitionError, parse_definition, score
from instruments.definition import to_definition
from instruments.labels import clean_label, plain_label

AGREE = [{"value": 1, "label": "Disagree"}, {"value": 2, "label": "Neutral"},
         {"value": 3, "label": "Agree"}]


def definition(*items: dict[str, Any], scales: list[dict[str, Any]] | None = None
               ) -> dict[str, Any]:
    return {
        "schema": "allport.instrument/1", "id": "placed", "version": "1.0", "title": "Placed",
        "completed_by": "trainee", "items": list(items), "scales": scales or [],
    }


def scale_item(key: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "text": f"Question {key}", "kind": "scale", "choices": AGREE, **extra}


def test_placement_fields_load_and_write_back_unchanged() -> None:
    raw = definition(
        scale_item("q1", section="Past month", note="Think of the last four weeks", new_page=True),
        scale_item("q2", show_if="[q1] = '3' AND ( [q1] <> '' or not [q1] >= 2 )",
                   matrix="grid"),
        scale_item("q3", matrix="grid"),
    )
    instrument = parse_definition(raw)
    q1, q2, q3 = instrument.items
    assert (q1.section, q1.note, q1.new_page) == ("Past month", "Think of the last four weeks",
                                                  True)
    assert (q2.matrix, q3.matrix) == ("grid", "grid")
    # branching logic is kept in its canonical text, so that equal conditions compare equal
    assert q2.show_if is not None and q2.show_if != raw["items"][1]["show_if"]
    again = parse_definition(to_definition(instrument))
    assert again == instrument and again.fingerprint == instrument.fingerprint


def test_items_without_placement_keep_their_fingerprint(library: Any) -> None:
    """The new fields are written only when set: every bundled version fingerprints as before."""
    for instrument in library.all():
        written = to_definition(instrument)
        assert not any({"show_if", "section", "note", "matrix", "new_page", "html"} & set(item)
                       for item in written["items"])


@pytest.mark.parametrize(("show_if", "message"), [
    ("[nope] = '1'", r"item 'q2': show_if refers to \[nope\], which is not an item"),
    ("[q2] = '1'", "item 'q2': show_if refers to the item itself"),
    ("[q1(2)] = '1'", r"show_if refers to \[q1\(2\)\], but q1 is not a checkbox item"),
    ("[q1] = '1' and", "item 'q2': show_if .*character"),
    ("datediff([q1], 'today', 'y') > 1", "item 'q2': show_if .*not supported"),
])
def test_a_condition_that_cannot_be_followed_is_refused_naming_the_item(
        show_if: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        parse_definition(definition(scale_item("q1"), scale_item("q2", show_if=show_if)))


def test_matrix_groups_are_consecutive_items_sharing_their_choices() -> None:
    other = [{"value": 1, "label": "No"}, {"value": 2, "label": "Yes"}]
    with pytest.raises(DefinitionError, match="'q2': the items of matrix group 'grid' must"):
        parse_definition(definition(scale_item("q1", matrix="grid"),
                                    {**scale_item("q2", matrix="grid"), "choices": other}))
    with pytest.raises(DefinitionError, match="item 'q3': matrix group 'grid' is split"):
        parse_definition(definition(scale_item("q1", matrix="grid"), scale_item("q2"),
                                    scale_item("q3", matrix="grid")))
    with pytest.raises(DefinitionError, match="matrix must be a group name"):
        parse_definition(definition(scale_item("q1", matrix="Grid 1")))


def test_html_labels_are_cleaned_on_load_and_plain_ones_left_alone() -> None:
    label = ('<div style="margin-left: 5em;">In the <b>past month</b>'
             '<script>alert(1)</script> <a href="javascript:go()" onclick="go()">help</a></div>')
    instrument = parse_definition(definition(
        {**scale_item("q1", html=True, section="<i>Part 1</i><img src=x onerror=y>"),
         "text": label},
        {**scale_item("q2"), "text": "a < b & <b>c</b>"},
    ))
    q1, q2 = instrument.items
    assert q1.text == '<div>In the <b>past month</b> <a rel="noopener noreferrer">help</a></div>'
    assert q1.section == "<i>Part 1</i>"
    for unsafe in ("script", "style", "onclick", "javascript", "onerror", "img"):
        assert unsafe not in (q1.text or "") + (q1.section or "")
    assert q2.text == "a < b & <b>c</b>" and not q2.html  # plain text is shown escaped
    assert plain_label(q1.text) == "In the past month help"
    assert clean_label(q1.text or "") == q1.text  # cleaning is idempotent: one fingerprint
    with pytest.raises(DefinitionError, match="text is empty once its markup is cleaned"):
        parse_definition(definition({**scale_item("q1", html=True),
                                     "text": "<script>x</script>"}))


def test_missing_data_codes_are_answers_that_never_score() -> None:
    choices = [*AGREE, {"value": 99, "label": "Inadequate information", "missing": True}]
    raw = definition(
        {**scale_item("q1"), "choices": choices},
        {**scale_item("q2"), "choices": choices},
        {**scale_item("q3"), "choices": choices, "reverse": True},
        scales=[{"name": "total", "label": "Total", "rule": "sum", "min_answered": 0.6,
                 "direction": "higher = more", "range": [3, 9]}],
    )
    instrument = parse_definition(raw)
    q1 = instrument.item("q1")
    assert (q1.min, q1.max) == (1, 3)  # the code is outside the scored range
    assert q1.choice(99).missing
    # 99 on q2 counts as unanswered: the sum is prorated from q1 and q3 (3 -> reverse 1)
    result = score(instrument, {"q1": 3, "q2": 99, "q3": 3})["total"]
    assert (result.value, result.n_answered) == (pytest.approx(6.0), 2)
    assert score(instrument, {"q1": 99, "q2": 99, "q3": 1})["total"].value is None
    broken = copy.deepcopy(raw)
    broken["items"][0]["choices"][3]["scored_as"] = 2
    with pytest.raises(DefinitionError, match="missing-data code and cannot be scored_as"):
        parse_definition(broken)
    assert parse_definition(to_definition(instrument)) == instrument
