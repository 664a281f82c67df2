"""A new item kind is one class in instruments/kinds.py: everything else asks the kind.

The test puts a throw-away ``yesno`` kind (REDCap's yes/no field, stored as 1 or 0), written
here, in the place of the real one for its duration, and follows an item of that kind through
the definition loader, the trainee form, the codebook, the REDCap data dictionary (export and
import), the SPSS file and the demo's simulated answers, with no edit anywhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

from instruments import AnswerError, Choice, Instrument, Item, parse_answers, parse_definition
from instruments.codebook import codebook_rows
from instruments.definition import to_definition
from instruments.kinds import (
    KINDS,
    AnswerField,
    CodebookCells,
    Kind,
    RedcapField,
    StatType,
)
from instruments.redcap import export_rows, import_rows
from study.models import Study
from study.services import statistical_exports
from study.services.demo import simulate_answers
from study.trainee.forms import answers_from, field_name, questionnaire_form

YES_NO = (Choice(1, "Yes"), Choice(0, "No"))


class YesNoKind(Kind):
    """Yes or no, stored as 1 or 0 as REDCap stores its yesno fields."""

    name = "yesno"
    redcap_types = ("yesno",)

    def build(self, raw: Any, spot: Any, responses: Any) -> dict[str, Any]:
        return {"choices": YES_NO}

    def check(self, item: Item, value: Any) -> int:
        if value in (0, 1, "0", "1"):
            return int(value)
        raise AnswerError(item.key, f"{value!r} is not yes (1) or no (0)")

    def answer_field(self, item: Item) -> AnswerField:
        return AnswerField("options", options=(("1", "Yes"), ("0", "No")))

    def simulate(self, item: Item, latent: float, rng: np.random.Generator) -> str:
        return str(int(rng.random() < 0.5))

    def codebook(self, item: Item) -> CodebookCells:
        return CodebookCells(values="1 = Yes; 0 = No")

    def statistics(self, item: Item) -> StatType:
        return StatType(measure="nominal", value_labels={1: "Yes", 0: "No"})

    def to_redcap(self, item: Item) -> RedcapField:
        return RedcapField("yesno")


@pytest.fixture
def instrument(monkeypatch: pytest.MonkeyPatch) -> Instrument:
    monkeypatch.setitem(KINDS, "yesno", YesNoKind())
    return parse_definition({
        "schema": "allport.instrument/1", "id": "contact-history", "version": "1.0",
        "title": "Contact history", "instructions": None, "completed_by": "trainee",
        "items": [
            {"key": "knows_someone", "text": "Do you know someone who lives with mental illness?",
             "kind": "yesno"},
            {"key": "comfort", "text": "How comfortable are you talking about it?",
             "choices": {"range": [1, 5]}},
        ],
    })


def test_the_loader_builds_and_writes_back_an_item_of_the_new_kind(instrument: Instrument) -> None:
    item = instrument.item("knows_someone")
    assert (item.kind, item.choices) == ("yesno", YES_NO)
    assert parse_definition(to_definition(instrument)) == instrument
    assert parse_answers(instrument, {"knows_someone": "1"}) == {"knows_someone": 1}


def test_the_trainee_form_offers_and_accepts_the_new_kind(instrument: Instrument) -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test", WTF_CSRF_ENABLED=False)  # this test is about the field
    item = instrument.item("knows_someone")
    with app.test_request_context(method="POST"):
        form = questionnaire_form(list(instrument.items),
                                  formdata=MultiDict({field_name(item): "0", "q_comfort": "4"}))
        field = form[field_name(item)]
        assert [(c.value, c.label) for c in field.iter_choices()] == [("1", "Yes"), ("0", "No")]
        assert form.layouts == {"knows_someone": "stack", "comfort": "scale"}
        assert form.validate(), form.errors
        assert answers_from(form, instrument.items) == {"knows_someone": "0", "comfort": "4"}


def test_the_codebook_describes_the_new_kind(instrument: Instrument) -> None:
    row = codebook_rows(instrument)[0]
    assert (row["variable"], row["kind"], row["values"]) == ("knows_someone", "yesno",
                                                             "1 = Yes; 0 = No")


def test_redcap_exports_and_imports_the_new_kind(instrument: Instrument) -> None:
    rows = export_rows(instrument)
    assert rows[0]["Field Type"] == "text" and rows[1]["Field Type"] == "yesno"  # record ID first
    back = import_rows(rows)
    assert back.warnings == []
    assert back.instrument == instrument


def test_spss_holds_the_new_kind_with_its_value_labels(instrument: Instrument,
                                                       tmp_path: Path) -> None:
    variables = statistical_exports._instrument_variables(instrument)
    for variable in variables:
        variable.stat_name = variable.source
    frame = pd.DataFrame({"contact-history.knows_someone": [1, 0, ""],
                          "contact-history.comfort": [4, "", 2]}).astype(object)
    dataset = statistical_exports.Dataset("long", frame, variables)
    path = tmp_path / "data.sav"
    path.write_bytes(statistical_exports.spss(dataset, Study(slug="kinds")))
    data, meta = pyreadstat.read_sav(str(path))
    assert meta.variable_value_labels["knows_someone"] == {0.0: "No", 1.0: "Yes"}
    assert meta.variable_measure["knows_someone"] == "nominal"
    assert data["knows_someone"].tolist()[:2] == [1.0, 0.0]


def test_the_demo_simulates_answers_of_the_new_kind(instrument: Instrument) -> None:
    answers = [simulate_answers(instrument, 0.0, np.random.default_rng(seed))["knows_someone"]
               for seed in range(20)]
    assert set(answers) == {"0", "1"}
    assert parse_answers(instrument, {"knows_someone": answers[0]})["knows_someone"] in (0, 1)
