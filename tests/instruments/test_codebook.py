"""The codebook describes every exported variable."""

import csv
import io

from instruments import parse_definition
from instruments.codebook import COLUMNS, codebook_csv, codebook_rows


def test_a_row_per_item_and_per_scale(library):
    rows = codebook_rows(library.get("allport-stigma"))
    assert len(rows) == 15 + 4
    assert [r["role"] for r in rows] == ["item"] * 15 + ["scale"] * 4
    assert all(list(r) == COLUMNS for r in rows)


def test_item_rows_give_values_reverse_flag_and_scale_membership(library):
    rows = {r["variable"]: r for r in codebook_rows(library.get("allport-stigma"))}
    item = rows["ats_02"]
    assert item["instrument"] == "allport-stigma" and item["version"] == "1.0"
    assert item["label"].startswith("Most people with a mental illness can recover")
    assert item["values"] == (
        "1 = Strongly disagree; 2 = Disagree; 3 = Neither agree nor disagree; 4 = Agree;"
        " 5 = Strongly agree"
    )
    assert item["reverse"] == "yes"
    assert item["scales"] == "total; beliefs"
    assert item["scoring"] == "reverse-keyed: scored as 6 - value"
    assert rows["ats_01"]["reverse"] == "no"


def test_scale_rows_give_rule_range_direction_and_missing_rule(library):
    rows = {r["variable"]: r for r in codebook_rows(library.get("oms-hc-15"))}
    total = rows["total"]
    assert total["range"] == "15-75"
    assert total["direction"] == "higher = more stigma"
    assert total["scoring"].startswith("sum of 15 items; prorated with at least 12 answered")
    assert rows["omshc_01"]["label"] == "(licensed wording not supplied)"


def test_special_codes_and_unscored_items(library):
    rows = {r["variable"]: r for r in codebook_rows(library.get("ribs"))}
    assert rows["ribs_5"]["values"].endswith("9 = Don't know")
    assert rows["ribs_5"]["scoring"] == "9 scored as 3"
    assert rows["ribs_1"]["scales"] == ""
    assert rows["total"]["scoring"].startswith("sum of 4 items; missing unless every item")
    year = {r["variable"]: r for r in codebook_rows(library.get("background"))}["training_year"]
    assert (year["kind"], year["range"]) == ("integer", "1-10")


def test_csv_of_several_instruments(library):
    text = codebook_csv(library.all())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == COLUMNS
    assert len(rows) == sum(len(i.items) + len(i.scales) for i in library.all())
    assert {r["instrument"] for r in rows} == {i.id for i in library.all()}


def test_branching_checkboxes_missing_codes_and_html_labels():
    instrument = parse_definition({
        "schema": "allport.instrument/1", "id": "contact", "version": "1.0", "title": "Contact",
        "instructions": None, "completed_by": "trainee",
        "items": [
            {"key": "met", "text": "<b>Have you</b> met a peer?", "kind": "yesno", "html": True},
            {"key": "intro", "text": "About that meeting.", "kind": "descriptive"},
            {"key": "where", "text": "Where?", "kind": "checkbox", "show_if": "[met] = '1'",
             "choices": [{"value": "1", "label": "Clinic"},
                         {"value": "99", "label": "Refused", "missing": True}]},
            {"key": "ease", "text": "How easy?", "kind": "scale",
             "choices": [{"value": 1, "label": "Hard"}, {"value": 2, "label": "Easy"},
                         {"value": -9, "label": "Refused", "missing": True}]},
        ]})
    rows = {r["variable"]: r for r in codebook_rows(instrument)}
    assert list(rows) == ["met", "where", "where___1", "where___99", "ease"]  # no descriptive
    assert rows["met"]["label"] == "Have you met a peer?" and rows["met"]["missing"] == ""
    assert rows["where"]["missing"] == (
        "empty when not applicable: shown only if [met] = '1'; "
        "99 = Refused (missing-data code)")
    assert (rows["where___1"]["label"], rows["where___1"]["values"]) == (
        "Where?: Clinic", "1 = Checked; 0 = Unchecked")
    assert rows["where___1"]["missing"] == "empty when not applicable: shown only if [met] = '1'"
    assert rows["where___99"]["missing"].endswith("1 = a missing-data code (checked), never scored")
    assert rows["ease"]["missing"] == "-9 = Refused (missing-data code)"
