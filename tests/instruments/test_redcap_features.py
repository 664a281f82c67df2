"""REDCap dictionaries as labs write them: every field type, branching logic, sections, HTML,
matrix groups, missing-data codes, capitals, line endings and several forms.

``data/redcap_clinical.csv`` is written from REDCap's documented data dictionary format (its
columns, field types, validation names and branching syntax), not copied from a project.
"""

import io
from pathlib import Path

import pytest

from instruments import DefinitionError, parse_definition, score
from instruments.definition import to_definition
from instruments.errors import AnswerError
from instruments.kinds import KINDS
from instruments.redcap import (
    COLUMNS,
    export_rows,
    import_redcap,
    import_redcap_forms,
    import_rows,
    redcap_csv,
)

CLINICAL = Path(__file__).parent / "data" / "redcap_clinical.csv"


def screening(**options):
    return import_redcap(CLINICAL, form="screening", **options)


def rows(*fields):
    """Data dictionary rows of form ``f``: each field a dict of the columns it sets."""
    return [dict(dict.fromkeys(COLUMNS, ""), **{"Form Name": "f", **f}) for f in fields]


def field(name, field_type="text", label="Q", **columns):
    names = {"choices": "Choices, Calculations, OR Slider Labels",
             "logic": "Branching Logic (Show field only if...)",
             "validation": "Text Validation Type OR Show Slider Number",
             "section": "Section Header", "form": "Form Name"}  # fmt: skip
    return {"Variable / Field Name": name, "Field Type": field_type, "Field Label": label,
            **{names.get(k, k): v for k, v in columns.items()}}


YES_NO = "1, Yes | 0, No"


def test_every_field_type_becomes_its_kind():
    result = screening()
    kinds = {item.key: item.kind for item in result.instrument.items}
    assert kinds == {
        "intro": "descriptive", "consent_given": "yesno", "smoker": "truefalse",
        "age": "integer", "weight": "number", "height": "number", "visit_date": "date",
        "visit_time": "text", "symptoms": "checkbox", "fever_days": "integer",
        "mood_1": "scale", "mood_2": "scale", "pain": "slider", "site": "choice",
        "comments": "text",
    }  # fmt: skip
    survey = result.instrument
    assert (survey.item("weight").min, survey.item("weight").max) == (30, 250.5)
    pain = survey.item("pain")
    assert (pain.min, pain.max) == (0, 100)
    assert [(c.value, c.label) for c in pain.choices] == [
        (0, "No pain"), (50, "Moderate"), (100, "Worst pain")]
    assert [c.value for c in survey.item("symptoms").choices] == ["1", "2", "3", "99"]
    assert survey.item("comments").multiline
    assert survey.item("age").note == "In whole years"
    assert [i.key for i in survey.items if i.required] == [
        "consent_given", "age", "mood_1", "mood_2"]


def test_what_is_left_out_is_said_one_line_each():
    assert screening().warnings == [
        "record_id: the record ID (the dictionary's first field) left out: REDCap fills it in"
        " itself and Allport identifies trainees on its own",
        "Consent_Given: variable name lowercased to consent_given",
        "visit_time: time validation left out: the answer is free text",
        "pain: action tags left out: @DEFAULT @HIDDEN-PDF",
        "mood_total: calc field left out",
        "scan: file field left out",
    ]


def test_decimal_places_are_kept_and_a_decimal_comma_is_said():
    result = import_rows(rows(
        field("agreed", "yesno"),  # first: a text field there would be the record ID
        field("lab", validation="number_2dp", **{"Text Validation Min": "0"}),
        field("dose", validation="number_1dp_comma_decimal"),
        field("level", validation="number_comma_decimal")))
    _, lab, dose, level = result.instrument.items
    assert (lab.kind, lab.decimals, lab.min) == ("number", 2, 0)
    assert (dose.decimals, level.decimals) == (1, None)
    assert result.warnings == [
        "dose: number_1dp_comma_decimal validation imported with a point as the decimal mark",
        "level: number_comma_decimal validation imported with a point as the decimal mark"]
    kind = KINDS["number"]
    assert kind.parse(lab, "37.50") == 37.5
    for text in ("37.5", "37.500", "37"):  # as REDCap: exactly two places
        with pytest.raises(AnswerError, match="does not have 2 decimal places"):
            kind.parse(lab, text)
    exported = {row["Variable / Field Name"]: row for row in export_rows(result.instrument)}
    assert exported["lab"]["Text Validation Type OR Show Slider Number"] == "number_2dp"
    assert exported["level"]["Text Validation Type OR Show Slider Number"] == "number"
    assert KINDS["number"].codebook(lab).values == "a number with 2 decimal places"


def test_date_bounds_are_kept_as_iso_dates():
    result = import_rows(rows(
        field("agreed", "yesno"),
        field("seen", validation="date_ymd", **{"Text Validation Min": "2020-01-01",
                                                "Text Validation Max": "2026-12-31"}),
        field("born", validation="date_dmy", **{"Text Validation Max": "31-12-2007"}),
        field("due", validation="date_mdy", **{"Text Validation Min": "today",
                                               "Text Validation Max": "12-31-2030"})))
    _, seen, born, due = result.instrument.items
    assert (seen.earliest, seen.latest) == ("2020-01-01", "2026-12-31")
    assert (born.earliest, born.latest) == (None, "2007-12-31")  # read in the field's order
    assert (due.earliest, due.latest) == (None, "2030-12-31")
    assert result.warnings == ["due: min 'today' left out: not a date"]
    kind = KINDS["date"]
    assert kind.parse(seen, "2026-12-31") == "2026-12-31"
    with pytest.raises(AnswerError, match="2019-12-31 is outside 2020-01-01 to 2026-12-31"):
        kind.parse(seen, "2019-12-31")
    exported = {row["Variable / Field Name"]: row for row in export_rows(result.instrument)}
    assert (exported["born"]["Text Validation Min"], exported["born"]["Text Validation Max"]
            ) == ("", "2007-12-31")  # REDCap's bounds are year-month-day, whatever the display
    assert kind.codebook(seen).range == "2020-01-01 to 2026-12-31"


@pytest.mark.parametrize(("entry", "message"), [
    ({"kind": "number", "decimals": 5}, "decimals must be a whole number from 1 to 4, not 5"),
    ({"kind": "number", "decimals": True}, "decimals must be a whole number from 1 to 4"),
    ({"kind": "date", "earliest": "2020-02-30"},
     "earliest must be a date written YYYY-MM-DD, not '2020-02-30'"),
    ({"kind": "date", "latest": 20201231}, "latest must be a date written YYYY-MM-DD"),
    ({"kind": "date", "earliest": "2021-01-01", "latest": "2020-12-31"},
     "earliest 2021-01-01 is after latest 2020-12-31"),
])
def test_wrong_decimals_and_date_bounds_are_refused_with_the_reason(entry, message):
    with pytest.raises(DefinitionError, match=message):
        parse_definition({
            "schema": "allport.instrument/1", "id": "bad", "version": "1", "title": "Bad",
            "instructions": None, "completed_by": "trainee",
            "items": [{"key": "q", "text": "Q", **entry}]})


def test_branching_logic_of_every_operator_is_kept_in_canonical_text():
    survey = screening().instrument
    show_if = {item.key: item.show_if for item in survey.items if item.show_if}
    assert show_if == {
        "smoker": "[consent_given] = '1'",
        "age": "[consent_given] = '1'",  # written [Consent_Given] = 1: renamed and quoted
        "symptoms": "[age] >= '18' and [age] < '65'",
        "fever_days": "[symptoms(2)] = '1'",
        "mood_2": "[smoker] <> '' or [age] <= '30' and not([weight] > '100')",
        "comments": "[visit_date] <> ''",
    }


def test_nested_parentheses_keep_their_meaning():
    survey = import_rows(rows(
        field("a", "yesno"), field("b", "yesno"), field("c", "yesno"),
        field("d", logic="(([a] = '1' or [b] = '1') and ([c] = '0' or not([a] = '0')))"),
        field("e", logic="[a] = '1' or ([b] = '1' and [c] = '1')"),
    )).instrument
    assert survey.item("d").show_if == "([a] = '1' or [b] = '1') and ([c] = '0' or not([a] = '0'))"
    assert survey.item("e").show_if == "[a] = '1' or [b] = '1' and [c] = '1'"


def test_logic_written_over_several_lines_is_read_as_written():
    survey = import_rows(rows(field("a", "yesno"),
                              field("b", logic="[a] = '1'\r\n  and\n[a] <> '0'"))).instrument
    assert survey.item("b").show_if == "[a] = '1' and [a] <> '0'"


def test_an_expression_the_parser_refuses_names_the_field_and_the_character():
    with pytest.raises(DefinitionError) as refused:
        import_rows(rows(field("a", "yesno"),
                         field("b", logic="[a] = '1' and datediff([a], 'today', 'd') > 3")))
    message = str(refused.value)
    assert message.startswith("<data dictionary>: item 'b': branching logic at character 15: ")
    assert "\n" not in message


@pytest.mark.parametrize(("logic", "message"), [
    ("[total] > 2", "branching logic refers to [total], a calc field that was left out"),
    ("[record_id] <> ''", "branching logic refers to [record_id], a record ID that was left out"),
    ("[elsewhere] = '1'", "branching logic refers to [elsewhere], a field of form 'other'"),
    ("[nowhere] = '1'",
     "branching logic refers to [nowhere], which is not a field of the dictionary"),
])  # fmt: skip
def test_a_reference_to_a_field_that_is_not_asked_is_refused_naming_both(logic, message):
    dictionary = [field("record_id"), field("total", "calc", choices="[a]"), field("a", "yesno"),
                  field("b", logic=logic), field("elsewhere", "yesno", form="other")]
    with pytest.raises(DefinitionError) as refused:
        import_rows(rows(*dictionary), form="f")
    assert f"item 'b': {message}" in str(refused.value)


def test_section_headers_are_headings_and_may_start_pages():
    survey = screening().instrument
    sections = {item.key: item.section for item in survey.items if item.section}
    assert sections == {"intro": "<b>Part A</b>: about you", "mood_1": "Mood over the past week",
                        "comments": "Last words"}
    assert survey.instructions is None
    assert not any(item.new_page for item in survey.items)
    paged = screening(page_per_section=True).instrument
    assert [item.key for item in paged.items if item.new_page] == ["intro", "mood_1", "comments"]


def test_html_labels_are_cleaned_of_scripts_styles_and_handlers_and_keep_emphasis():
    survey = screening().instrument
    intro, mood, site = survey.item("intro"), survey.item("mood_1"), survey.item("site")
    assert intro.html and intro.text == "Please answer <i>every</i> question."
    assert "<script" not in intro.text and "alert" not in intro.text
    assert mood.html and mood.text == "<div>Felt <b>sad</b></div>"
    assert "onclick" not in mood.text and "style" not in mood.text
    assert site.html and site.note == (
        'See the <a href="https://example.org/sites" rel="noopener noreferrer">list of sites</a>')
    assert not survey.item("mood_2").html  # plain text stays plain


def test_a_matrix_group_shares_its_name_and_choices():
    survey = screening().instrument
    assert [i.key for i in survey.items if i.matrix == "mood"] == ["mood_1", "mood_2"]
    assert survey.item("mood_1").choices == survey.item("mood_2").choices


def test_the_section_header_of_a_field_left_out_heads_the_next_one():
    result = import_rows(rows(
        field("a", "yesno"), field("total", "calc", choices="[a]", section="Scores"),
        field("b", "yesno"), field("scan", "file", section="Files"),
        field("c", "yesno", section="Own"), field("pic", "file", section="Last"),
    ))
    assert [(i.key, i.section) for i in result.instrument.items] == [
        ("a", None), ("b", "Scores"), ("c", "Own")]
    assert result.warnings == [
        "total: calc field left out", "total: its section header now heads b",
        "scan: file field left out", "scan: section header left out",
        "pic: file field left out", "pic: section header left out"]


def test_matrix_ranking_is_left_out_with_a_warning_and_alignment_ignored():
    grid = {"choices": "1, Low | 2, High", "Matrix Group Name": "Grid"}
    result = import_rows(rows(field("a", "radio", **grid, **{"Matrix Ranking?": "y"}),
                              field("b", "radio", **grid, **{"Custom Alignment": "LH"})))
    assert result.warnings == ["a: matrix ranking left out"]
    assert [item.matrix for item in result.instrument.items] == ["grid", "grid"]


def test_missing_codes_are_marked_and_never_scored():
    survey = screening(missing_codes=["99", "-9"]).instrument
    mood = survey.item("mood_1")
    assert mood.kind == "scale" and (mood.min, mood.max) == (0, 2)  # 99 does not stretch it
    assert [(c.value, c.missing) for c in mood.choices] == [
        (0, False), (1, False), (2, False), (99, True)]
    assert [c.value for c in survey.item("symptoms").choices if c.missing] == ["99"]
    definition = to_definition(survey)
    definition["scales"] = [{"name": "total", "label": "Mood", "rule": "sum",
                             "min_answered": 0.5, "direction": "higher = worse"}]
    scored = parse_definition(definition)
    assert scored.scale("total").range == (0, 4)
    both = score(scored, {"mood_1": 2, "mood_2": 1})["total"]
    assert (both.value, both.n_answered) == (3, 2)
    one = score(scored, {"mood_1": 99, "mood_2": 1})["total"]
    assert (one.value, one.n_answered, one.prorated) == (2, 1, True)  # 99 is not 99 points
    none = score(scored, {"mood_1": 99, "mood_2": 99})["total"]
    assert none.value is None and none.reason == "no items answered"
    without = screening().instrument.item("mood_1")
    assert not any(c.missing for c in without.choices)
    assert (without.min, without.max) == (0, 99)  # why a lab needs --missing-codes


def test_capitals_are_lowercased_and_a_collision_is_refused():
    survey = import_rows(rows(field("Q_One", "yesno"), field("q_two", logic="[Q_One] = '1'")))
    assert [item.key for item in survey.instrument.items] == ["q_one", "q_two"]
    assert survey.instrument.item("q_two").show_if == "[q_one] = '1'"
    assert survey.warnings == ["Q_One: variable name lowercased to q_one"]
    with pytest.raises(DefinitionError, match="fields 'age' and 'AGE' of form 'f' are the same"
                                              " name once lowercased; rename one"):
        import_rows(rows(field("age", "yesno"), field("AGE", "yesno")))


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"])
@pytest.mark.parametrize("bom", ["", "\ufeff"])
def test_line_endings_and_a_byte_order_mark_are_read_alike(tmp_path, ending, bom):
    text = bom + ending.join(CLINICAL.read_text(encoding="utf-8").splitlines()) + ending
    expected = screening().instrument
    assert import_redcap(io.StringIO(text), form="screening").instrument == expected
    path = tmp_path / "dictionary.csv"
    path.write_bytes(text.encode("utf-8"))
    assert import_redcap(path, form="screening").instrument == expected


def test_every_form_becomes_an_instrument():
    results = import_redcap_forms(CLINICAL, missing_codes=["99"])
    assert [r.instrument.id for r in results] == ["screening", "follow-up"]
    follow_up = results[1].instrument
    assert [(i.key, i.kind) for i in follow_up.items] == [("fu_better", "scale"),
                                                          ("fu_date", "date")]
    assert follow_up.item("fu_date").show_if == "[fu_better] = '1'"
    assert results[1].warnings == []
    assert results[0].instrument == screening(missing_codes=["99"]).instrument
    assert import_redcap(CLINICAL, form="follow_up").instrument == follow_up


def test_a_form_of_several_picks_one_and_others_may_not_be_referred_to():
    with pytest.raises(DefinitionError, match=r"has 2 forms \(screening, follow_up\); choose one"):
        import_redcap(CLINICAL)


def test_the_round_trip_keeps_everything():
    for options in ({}, {"missing_codes": ["99"], "page_per_section": True}):
        first = screening(**options).instrument
        text = redcap_csv(first)
        again = import_redcap(io.StringIO(text))
        assert again.warnings == []
        assert again.instrument == first
        assert again.instrument.fingerprint == first.fingerprint


def test_an_export_starts_with_a_record_id_that_its_import_leaves_out_silently():
    survey = screening().instrument
    exported = export_rows(survey)
    first = exported[0]
    assert (first["Variable / Field Name"], first["Field Type"], first["Field Label"]) == (
        "record_id", "text", "Record ID")  # REDCap takes the dictionary as it is
    assert first["Field Annotation"].startswith('allport:{"record_id":true}\nallport-instrument:')
    assert [row["Variable / Field Name"] for row in exported[1:]] == [i.key for i in survey.items]
    assert "allport-instrument:" not in exported[1]["Field Annotation"]
    again = import_redcap(io.StringIO(redcap_csv(survey)))
    assert again.warnings == [] and again.instrument == survey


def test_an_item_named_record_id_keeps_its_name():
    instrument = parse_definition({
        "schema": "allport.instrument/1", "id": "ids", "version": "1", "title": "Ids",
        "instructions": None, "completed_by": "trainee",
        "items": [{"key": "record_id", "text": "Your own record number", "kind": "integer"}]})
    exported = export_rows(instrument)
    assert [row["Variable / Field Name"] for row in exported] == ["record_id_2", "record_id"]
    again = import_redcap(io.StringIO(redcap_csv(instrument)))
    assert again.warnings == [] and again.instrument == instrument


def test_a_dictionary_exported_before_the_record_id_still_imports():
    # Its first item carries the instrument's annotation: a text item there is no record ID.
    survey = parse_definition({
        "schema": "allport.instrument/1", "id": "notes", "version": "1", "title": "Notes",
        "instructions": "Say it.", "completed_by": "trainee",
        "items": [{"key": "remark", "text": "Anything to say?", "kind": "text"},
                  {"key": "agree", "text": "Agree?", "kind": "yesno"}]})
    record_id, *items = export_rows(survey)
    header = record_id["Field Annotation"].splitlines()[1]  # the instrument's annotation
    items[0]["Field Annotation"] = "\n".join(
        line for line in (items[0]["Field Annotation"], header) if line)
    again = import_rows(items)
    assert again.warnings == [] and again.instrument == survey


def test_export_writes_redcap_columns_for_every_feature():
    survey = screening(missing_codes=["99"], page_per_section=True).instrument
    exported = {row["Variable / Field Name"]: row for row in export_rows(survey)}
    mood, pain = exported["mood_1"], exported["pain"]
    assert (mood["Section Header"], mood["Matrix Group Name"]) == ("Mood over the past week",
                                                                   "mood")
    assert mood["Field Label"] == "<div>Felt <b>sad</b></div>"
    assert 'allport:{"missing":["99"],"new_page":true}' in mood["Field Annotation"]
    assert (pain["Field Type"], pain["Choices, Calculations, OR Slider Labels"]) == (
        "slider", "No pain | Moderate | Worst pain")
    assert pain["Text Validation Type OR Show Slider Number"] == "number"
    assert exported["symptoms"]["Field Type"] == "checkbox"
    assert exported["symptoms"]["Branching Logic (Show field only if...)"] == (
        "[age] >= '18' and [age] < '65'")
    assert exported["weight"]["Text Validation Type OR Show Slider Number"] == "number"
    assert (exported["weight"]["Text Validation Min"], exported["weight"]["Text Validation Max"]
            ) == ("30", "250.5")
    assert exported["visit_date"]["Text Validation Type OR Show Slider Number"] == "date_ymd"
    assert exported["consent_given"]["Field Type"] == "yesno"
    assert exported["smoker"]["Field Type"] == "truefalse"
    assert exported["age"]["Field Note"] == "In whole years"
    assert exported["intro"]["Field Type"] == "descriptive"
    assert exported["intro"]["Required Field?"] == ""


def test_a_definition_using_everything_comes_back_the_same():
    instrument = parse_definition({
        "schema": "allport.instrument/1", "id": "everything", "version": "2.1",
        "title": "Everything", "instructions": "Answer what you can.",
        "completed_by": "rater", "citation": "Us (2026)", "licence": "CC BY 4.0",
        "note": "not validated", "page_size": 5,
        "items": [
            {"key": "intro", "text": "Read <b>this</b>.", "kind": "descriptive", "html": True,
             "section": "Start"},
            {"key": "plain", "text": "Use <b> for bold", "kind": "text"},  # plain, looks like HTML
            {"key": "marked", "text": "Plain words", "kind": "text", "html": True},
            {"key": "agree", "text": "Agree?", "choices": [
                {"value": 1, "label": "No"}, {"value": 2, "label": "Yes"},
                {"value": 9, "label": "Don't know", "scored_as": 1},
                {"value": -9, "label": "Refused", "missing": True}],
             "reverse": True, "subscale": "part", "matrix": "grid", "new_page": True,
             "section": "Part two", "note": "Pick one"},
            {"key": "agree_2", "text": "Again?", "choices": [
                {"value": 1, "label": "No"}, {"value": 2, "label": "Yes"},
                {"value": 9, "label": "Don't know", "scored_as": 1},
                {"value": -9, "label": "Refused", "missing": True}],
             "subscale": "part", "matrix": "grid"},
            {"key": "coded", "text": "Coded", "kind": "choice", "widget": "dropdown",
             "choices": [{"value": "1", "label": "One"}, {"value": "2", "label": "Two"},
                         {"value": "88", "label": "Not asked", "missing": True}]},
            {"key": "ticks", "text": "Tick", "kind": "checkbox", "required": False,
             "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"},
                         {"value": "x", "label": "None known", "missing": True}]},
            {"key": "yn", "text": "Yes?", "kind": "yesno", "show_if": "[ticks(b)] = '1'"},
            {"key": "tf", "text": "True?", "kind": "truefalse",
             "show_if": "not([yn] = '1') or [agree] >= 2"},
            {"key": "vas", "text": "Slide", "kind": "slider", "min": -5, "max": 5,
             "anchors": {-5: "Cold", -2: "Cool", 5: "Hot"}},
            {"key": "vas_plain", "text": "Slide", "kind": "slider"},
            {"key": "n", "text": "N", "kind": "number", "min": 0.5, "max": 3.0},
            {"key": "n2", "text": "N2", "kind": "number", "decimals": 2},
            {"key": "i", "text": "I", "kind": "integer", "min": -1},
            {"key": "d", "text": "D", "kind": "date", "contact": True},
            {"key": "when", "text": "When", "kind": "date", "earliest": "2020-02-29",
             "latest": "2030-12-31"},
            {"key": "after", "text": "After", "kind": "date", "earliest": "2021-01-01"},
            {"key": "licensed", "text": None, "kind": "text", "multiline": True,
             "required": False},
            {"key": "ask", "text": "Shown?", "kind": "descriptive"},
        ],
        "scales": [{"name": "part", "label": "Part", "rule": "mean", "min_answered": 0.5,
                    "direction": "higher = more"}],
    })  # fmt: skip
    again = import_redcap(io.StringIO(redcap_csv(instrument)))
    assert again.warnings == []
    assert to_definition(again.instrument) == to_definition(instrument)
    assert again.instrument == instrument
    assert again.instrument.fingerprint == instrument.fingerprint
