"""A withdrawal that deletes data, tested as an attacker would (DESIGN §8).

A study stratifies on the baseline "profession"; one trainee (medicine) withdraws under a consent
that deletes data, writing a reason with a name, an email and a health statement. Afterwards every
export (the CLI's tables, the researcher's downloads, the API's, the bundle), the coordinator's
pages with the audit history and the audit trail itself are searched for the trainee's stratum
label and their words. Only the minimal trial record may remain: code, arm, "data withdrawn".
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, text

from study.extensions import db
from study.models import (
    Allocation,
    AuditEvent,
    ConsentDocument,
    Participant,
    Response,
    User,
    WithdrawalReason,
)
from study.services import api_tokens, invitations, journey, statistical_exports
from study.services.exports import TABLES
from study.services.sequence import stratum_id
from tests.helpers import Demo, StaffClient, TraineeDriver, csrf_from

REASON = "Jane Roe jane@example.org depression"
SECRETS = ("Jane Roe", "jane@example.org", "depression", "profession=medicine")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _profession(value: str) -> Callable[[str, list[str]], str]:
    def choose(name: str, options: list[str]) -> str:
        if name.endswith("profession"):
            return value
        return options[len(options) // 2] if options else "3"
    return choose


def _allocated_trainee(client: FlaskClient, demo: Demo, profession: str) -> tuple[str, str]:
    """A new trainee through consent and the whole baseline: (token, participant code)."""
    with demo.app.app_context():
        study = demo.study()
        (issued,) = invitations.invite(db.session, study, study.cohorts[0], 1, actor="test")
        db.session.commit()
        token, code = issued.token, issued.participant.code
    trainee = TraineeDriver(client, token)
    trainee.open()
    trainee.consent()
    trainee.answer_until_not_questionnaire(_profession(profession))
    with demo.app.app_context():
        participant = db.session.scalars(select(Participant).where(Participant.code == code)).one()
        assert db.session.scalars(select(Allocation).where(
            Allocation.participant_id == participant.id)).one_or_none() is not None
    return token, code


@pytest.fixture
def withdrawn(simulated_demo: Demo, client: FlaskClient) -> dict[str, str]:
    """The demo stratified by profession under a deleting consent; a medicine trainee withdrew
    with ``REASON``, a nursing trainee stays."""
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        study.strata_factors = "background.profession"
        for document in db.session.scalars(select(ConsentDocument).where(
                ConsentDocument.study_id == study.id)):
            document.data_kept_on_withdrawal = False
        cohort = study.cohorts[0].name
        db.session.commit()
    token, code = _allocated_trainee(client, simulated_demo, "medicine")
    _, live = _allocated_trainee(client, simulated_demo, "nursing")
    page = TraineeDriver(client, token).post("/withdraw", {"confirm": "y", "reason": REASON})
    assert "You have withdrawn" in page.get_data(as_text=True)
    return {"code": code, "live": live, "cohort": cohort}


def _assert_clean(name: str, body: bytes, code: str) -> None:
    for secret in SECRETS:
        assert secret.encode() not in body, f"{secret!r} in {name}"
    if name.endswith(("allocations.csv", "participants.csv")):
        rows = [row for row in csv.DictReader(io.StringIO(body.decode()))
                if row["participant"] == code]
        assert len(rows) == 1, name
        row = rows[0]
        assert row["data_withdrawn"] == "1" and row["arm"] in ("arm_a", "arm_b")
        left = {k: v for k, v in row.items()
                if v and k not in ("participant", "arm", "data_withdrawn")}
        # The withdrawal as a category (status "withdrawn") is all the participants table adds.
        assert left in ({}, {"status": "withdrawn", "withdrawn": "1"}), (name, row)
    else:
        assert code.encode() not in body, f"the withdrawn trainee's code in {name}"


def test_nothing_of_a_deleted_trainee_but_the_minimal_record_remains(
        simulated_demo: Demo, withdrawn: dict[str, str], staff_client: StaffClient,
        runner: FlaskCliRunner, tmp_path: Path) -> None:
    code = withdrawn["code"]
    app = simulated_demo.app
    with app.app_context():
        participant = db.session.scalars(select(Participant).where(Participant.code == code)).one()
        assert participant.data_withdrawn
        assert db.session.scalars(select(Response).where(
            Response.participant_id == participant.id)).all() == []
        assert db.session.get(WithdrawalReason, participant.id) is None
        # The tables that outlive the withdrawal, read raw: no label, no words.
        for table in ("allocations", "audit_events", "participants"):
            dump = repr(db.session.execute(text(f"SELECT * FROM {table}")).all())
            for secret in SECRETS:
                assert secret not in dump, f"{secret!r} in {table}"
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.participant_code == code, AuditEvent.action == "withdrawal")).one()
        assert event.details == {"data_kept": False, "category": "withdrew"}
        researcher = db.session.scalars(select(User).where(
            User.email == "researcher@allport.example")).one()
        _, token = api_tokens.issue_token(db.session, researcher, "probe", actor="test")
        db.session.commit()

    outputs: dict[str, bytes] = {}
    for table in TABLES:  # the CLI
        out = tmp_path / f"{table}.csv"
        result = runner.invoke(args=["export", "demo", "--table", table, "--out", str(out)])
        assert result.exit_code == 0, result.output
        outputs[f"cli {table}.csv"] = out.read_bytes()
    api = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    for name in statistical_exports.EXPORTS:  # the API
        response = api.get(f"/api/v1/studies/demo/exports/{name}", headers=auth)
        assert response.status_code == 200, name
        outputs[f"api {name}"] = response.get_data()
    response = api.get("/api/v1/studies/demo/bundle.zip", headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as bundle:
        for member in bundle.namelist():
            outputs[f"bundle {member}"] = bundle.read(member)
    for path in ("", "/consort", "/analysis"):
        response = api.get(f"/api/v1/studies/demo{path}", headers=auth)
        assert response.status_code == 200, path
        outputs[f"api study{path}"] = response.get_data()
    researcher_client = staff_client("researcher")  # the researcher's pages and downloads
    html = researcher_client.get("/researcher/demo/").get_data(as_text=True)
    for name in statistical_exports.EXPORTS:
        response = researcher_client.post(f"/researcher/demo/export/{name}",
                                          data={"csrf_token": csrf_from(html)})
        assert response.status_code == 200, name
        outputs[f"web {name}"] = response.get_data()
    coordinator = staff_client("coordinator")  # the audit history and the trainee lists
    for path in (f"/coordinator/demo/participants/{code}", "/coordinator/demo/"):
        response = coordinator.get(path)
        assert response.status_code == 200, path
        outputs[f"page {path}"] = response.get_data()

    for name, body in outputs.items():
        if name.startswith("page"):  # staff pages name the trainee; never their stratum or words
            for secret in SECRETS:
                assert secret.encode() not in body, f"{secret!r} in {name}"
        else:
            _assert_clean(name, body, code)


def test_the_allocations_export_names_a_live_trainees_stratum_and_dates_only(
        simulated_demo: Demo, withdrawn: dict[str, str], runner: FlaskCliRunner,
        tmp_path: Path) -> None:
    out = tmp_path / "allocations.csv"
    assert runner.invoke(args=["export", "demo", "--table", "allocations",
                               "--out", str(out)]).exit_code == 0
    rows = {row["participant"]: row for row in csv.DictReader(io.StringIO(out.read_text()))}
    live = rows[withdrawn["live"]]
    assert live["stratum"] == f"cohort={withdrawn['cohort']}|profession=nursing"
    assert live["data_withdrawn"] == "0"
    assert all(DATE.match(row["allocated_at"]) for row in rows.values()
               if row["data_withdrawn"] == "0")
    assert list(rows) == sorted(rows)  # code order: a row's place tells nothing of its time
    participants = tmp_path / "participants.csv"
    assert runner.invoke(args=["export", "demo", "--table", "participants",
                               "--out", str(participants)]).exit_code == 0
    changed = [row["status_changed_on"] for row in csv.DictReader(
        io.StringIO(participants.read_text())) if row["data_withdrawn"] == "0"]
    assert changed and all(DATE.match(day) for day in changed)


def test_allocation_rows_and_events_carry_the_opaque_id_only(
        simulated_demo: Demo, withdrawn: dict[str, str]) -> None:
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        expected = stratum_id(study.allocation_seed,
                              f"cohort={withdrawn['cohort']}|profession=nursing")
        live = db.session.scalars(select(Participant).where(
            Participant.code == withdrawn["live"])).one()
        allocation = db.session.scalars(select(Allocation).where(
            Allocation.participant_id == live.id)).one()
        assert allocation.stratum_id == expected
        assert not hasattr(allocation, "stratum")
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.participant_code == live.code, AuditEvent.action == "allocation")).one()
        assert set(event.details) == {"arm", "stratum_id", "position", "block_size"}
        assert event.details["stratum_id"] == expected


def test_a_reason_is_kept_apart_from_the_audit_trail_when_data_are_kept(demo: Demo) -> None:
    with demo.app.app_context():
        study = demo.study()
        (issued,) = invitations.invite(db.session, study, study.cohorts[0], 1, actor="test")
        participant = issued.participant
        participant.status = participant.status.CONSENTED
        consent_document = db.session.scalars(select(ConsentDocument).where(
            ConsentDocument.study_id == study.id)).first()
        assert consent_document is not None and consent_document.data_kept_on_withdrawal
        from study.models import Consent, ConsentChoice

        db.session.add(Consent(participant_id=participant.id,
                               consent_document_id=consent_document.id,
                               version=consent_document.version, text_sha256="0" * 64,
                               choice=ConsentChoice.AGREE))
        db.session.flush()
        journey.withdraw(db.session, participant, actor="test", reason=REASON)
        db.session.commit()
        assert db.session.get(WithdrawalReason, participant.id).text == REASON
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "withdrawal")).one()
        assert event.details == {"data_kept": True, "category": "withdrew"}
        assert REASON not in json.dumps(event.details)
