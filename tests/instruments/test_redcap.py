"""REDCap data dictionaries: import, export, round trip."""

import csv
import io
from pathlib import Path

import pytest

from instruments import DefinitionError, parse_definition
from instruments.redcap import COLUMNS, export_rows, import_redcap, redcap_csv, write_redcap

DICTIONARY = Path(__file__).parent / "data" / "redcap_dictionary.csv"


def test_import_keeps_every_field_allport_can_ask_in_order():
    result = import_redcap(DICTIONARY, form="attitudes_survey", contact_fields=["dob"])
    survey = result.instrument
    assert (survey.id, survey.version, survey.title) == (
        "attitudes-survey", "1.0", "Attitudes survey",
    )  # fmt: skip
    assert [(item.key, item.kind) for item in survey.items] == [
        ("intro", "descriptive"), ("att_1", "scale"), ("att_2", "scale"), ("site", "choice"),
        ("age", "integer"), ("dob", "date"), ("sources", "checkbox"), ("comments", "text"),
    ]  # fmt: skip
    # a section header on the first field is a heading, not the instrument's instructions
    assert survey.instructions is None
    assert survey.item("att_1").section == "Please say how much you agree with each statement."
    assert not survey.item("intro").required
    att = survey.item("att_1")
    assert att.kind == "scale" and att.required and att.matrix == "att"
    assert [(c.value, c.label) for c in att.choices] == [
        (1, "Strongly disagree"), (2, "Disagree"), (3, "Neutral"), (4, "Agree"),
        (5, "Strongly agree"),
    ]  # fmt: skip
    site = survey.item("site")
    assert (site.kind, site.widget, site.required) == ("choice", "dropdown", False)
    assert [c.value for c in site.choices] == ["north", "south", "online"]
    age = survey.item("age")
    assert (age.kind, age.min, age.max) == ("integer", 18, 99)
    dob = survey.item("dob")
    assert (dob.kind, dob.contact) == ("date", True)  # an identifier, kept as contact data
    assert not any(item.contact for item in survey.items if item.key != "dob")
    assert [c.value for c in survey.item("sources").choices] == ["1", "2"]
    comments = survey.item("comments")
    assert (comments.kind, comments.multiline, comments.section) == ("text", True, "More")
    assert comments.show_if == "[age] > '20'"
    assert survey.scales == ()


def test_import_warns_about_what_it_leaves_out():
    warnings = import_redcap(DICTIONARY, form="attitudes_survey", contact_fields=["dob"]).warnings
    assert warnings == [
        "att_2: action tags left out: @HIDDEN-PDF",
        "att_total: calc field left out",
    ]


def test_the_record_id_is_left_out():
    with pytest.raises(DefinitionError, match="form 'enrolment' has no radio, dropdown"):
        import_redcap(DICTIONARY, form="enrolment")


def test_import_needs_a_form_when_there_are_several():
    with pytest.raises(DefinitionError, match="has 2 forms \\(enrolment, attitudes_survey\\)"):
        import_redcap(DICTIONARY)
    with pytest.raises(DefinitionError, match="has no form 'baseline'"):
        import_redcap(DICTIONARY, form="baseline")


def test_import_overrides_id_version_and_title():
    survey = import_redcap(
        DICTIONARY, form="attitudes_survey", instrument_id="local-att", version="2.1",
        title="Local", contact_fields=["dob"],
    ).instrument
    assert (survey.id, survey.version, survey.title) == ("local-att", "2.1", "Local")


def test_the_api_short_header_is_understood():
    text = (
        "field_name,form_name,field_type,field_label,select_choices_or_calculations,required_field\n"
        'q1,short,radio,Q1,"0, No | 1, Yes",y\n'
    )
    survey = import_redcap(io.StringIO(text)).instrument
    assert [(c.value, c.label) for c in survey.item("q1").choices] == [(0, "No"), (1, "Yes")]


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        ("1 Strongly disagree | 2, Disagree", "choice '1 Strongly disagree' is not 'code, label'"),
        ("1, Only one", "needs at least two choices"),
        ("1, A | 1, B", "choice value 1 appears twice"),
    ],
)
def test_bad_choices_fail_on_one_line_naming_the_field(choices, message):
    header = "field_name,form_name,field_type,field_label,select_choices_or_calculations"
    text = f'{header}\nq1,f,radio,Q,"{choices}"\n'
    with pytest.raises(DefinitionError) as caught:
        import_redcap(io.StringIO(text))
    assert f"item 'q1': {message}" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_not_a_dictionary():
    with pytest.raises(DefinitionError, match="not a REDCap data dictionary: no column"):
        import_redcap(io.StringIO("key,text\na,b\n"))


def test_export_writes_the_standard_columns(library):
    rows = list(csv.reader(io.StringIO(redcap_csv(library.get("oms-hc-15")))))
    assert rows[0] == COLUMNS
    assert len(rows) == 1 + 1 + 15  # the header, the record ID, the items
    record_id = dict(zip(COLUMNS, rows[1], strict=True))
    assert (record_id["Variable / Field Name"], record_id["Field Type"]) == ("record_id", "text")
    first = dict(zip(COLUMNS, rows[2], strict=True))
    assert first["Variable / Field Name"] == "omshc_01"
    assert first["Form Name"] == "oms_hc_15"
    assert first["Field Type"] == "radio"
    assert first["Choices, Calculations, OR Slider Labels"] == (
        "1, Strongly disagree | 2, Disagree | 3, Neither agree nor disagree | 4, Agree"
        " | 5, Strongly agree"
    )
    assert first["Required Field?"] == "y"
    background = {r["Variable / Field Name"]: r for r in export_rows(library.get("background"))}
    year = background["training_year"]
    assert (year["Field Type"], year["Text Validation Type OR Show Slider Number"]) == (
        "text", "integer",
    )  # fmt: skip
    assert (year["Text Validation Min"], year["Text Validation Max"]) == ("1", "10")
    notes = export_rows(library.get("session-fidelity"))[-1]
    assert (notes["Field Type"], notes["Required Field?"]) == ("notes", "")


@pytest.mark.parametrize(
    "instrument_id",
    ["intergroup-anxiety", "allport-stigma", "background", "oms-hc-15", "ribs", "session-fidelity"],
)
def test_round_trip_keeps_the_whole_definition(library, tmp_path, instrument_id):
    instrument = library.get(instrument_id)
    path = tmp_path / "dictionary.csv"
    write_redcap(instrument, path)
    result = import_redcap(path)
    again = result.instrument
    assert result.warnings == []
    assert [item.key for item in again.items] == [item.key for item in instrument.items]
    for before, after in zip(instrument.items, again.items, strict=True):
        assert after.choices == before.choices
        assert (after.text, after.kind, after.reverse, after.subscale, after.required) == (
            before.text, before.kind, before.reverse, before.subscale, before.required,
        )  # fmt: skip
    assert again == instrument
    assert again.fingerprint == instrument.fingerprint


def test_round_trip_of_an_imported_redcap_form():
    first = import_redcap(DICTIONARY, form="attitudes_survey", contact_fields=["dob"]).instrument
    again = import_redcap(io.StringIO(redcap_csv(first))).instrument
    assert again == first


def test_a_choice_item_coded_in_digits_imports_back_as_a_choice():
    """Its codes look like a scale's; the annotation says it is a choice."""
    instrument = parse_definition({
        "schema": "allport.instrument/1", "id": "site", "version": "1.0", "title": "Site",
        "instructions": None, "completed_by": "trainee",
        "items": [{"key": "site", "text": "Your site", "kind": "choice",
                   "choices": [{"value": "1", "label": "North"},
                               {"value": "2", "label": "South"}]}],
    })  # fmt: skip
    again = import_redcap(io.StringIO(redcap_csv(instrument))).instrument
    assert again.item("site").kind == "choice"
    assert again == instrument
