"""Migration 0006 on a database with data, on SQLite and PostgreSQL (DESIGN §8).

The demo is built at the head revision, stratified by profession, with two trainees withdrawn
(one keeping their data, one not); the database goes down to 0005, where the audit trail gets
events written as 0005's code wrote them (stratum labels and free-text reasons in their payloads),
and back up. Afterwards no label or reason is left in allocations or the audit trail, the kept
trainee's reason is in ``withdrawal_reasons``, every allocation still verifies against the seed
under its scheme, and the trail refuses changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from flask import Flask
from sqlalchemy import JSON, Integer, String, column, create_engine, inspect, select, table, text
from sqlalchemy.exc import DBAPIError

from app import create_app
from study.cli_sequence import verify_sequence
from study.extensions import db
from study.migrate import alembic_config, upgrade
from study.models import (
    Allocation,
    AllocationState,
    AuditEvent,
    ConsentDocument,
    Participant,
    ParticipantStatus,
    WithdrawalReason,
    utcnow,
)
from study.models.base import UTCDateTime
from study.services import journey
from study.services.demo import DEMO_SLUG, seed_demo, simulate_journeys
from study.services.sequence import stratum_id
from study.services.studies import get_study

SCHEMA = "migration_0006"
KEPT_REASON = "moving abroad, ask Jane Roe"
DELETED_REASON = "Jane Roe jane@example.org depression"

old_events = table("audit_events", column("at", UTCDateTime()), column("study_id", Integer),
                   column("actor", String), column("action", String),
                   column("participant_code", String), column("details", JSON))


@pytest.fixture
def migrating_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """An app on an empty database of its own (a schema of its own on PostgreSQL)."""
    postgres = database_url.startswith("postgresql")
    if postgres:
        admin = create_engine(database_url)
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        url = f"{database_url}?options=-csearch_path%3D{SCHEMA}"
    else:
        url = f"sqlite:///{tmp_path / 'migrating.sqlite3'}"
    app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "test-secret",
                      "INSTANCE_PATH": str(tmp_path / "instance"), "SERVER_NAME": None})
    yield app
    with app.app_context():
        db.engine.dispose()
    if postgres:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))
        admin.dispose()


def _withdraw(code: str, *, keep: bool, reason: str) -> None:
    participant = db.session.scalars(select(Participant).where(Participant.code == code)).one()
    for document in db.session.scalars(select(ConsentDocument)):
        document.data_kept_on_withdrawal = keep
    journey.withdraw(db.session, participant, actor="test", reason=reason)


@pytest.mark.parametrize("scheme", [1, 2])
def test_0006_scrubs_labels_and_reasons_and_keeps_the_sequence_verifiable(
        migrating_app: Flask, scheme: int) -> None:
    app = migrating_app
    upgrade(app)
    with app.app_context():
        library = app.extensions["allport.instruments"]
        seed_demo(db.session, library)
        study = get_study(db.session, DEMO_SLUG)
        study.strata_factors = "background.profession"
        study.sequence_scheme = scheme
        simulate_journeys(db.session, library, 8)
        allocated = list(db.session.scalars(
            select(Participant.code).join(Allocation, Allocation.participant_id == Participant.id)
            .where(Participant.status != ParticipantStatus.WITHDRAWN)
            .order_by(Participant.code)))
        assert len(allocated) >= 3
        kept, deleted = allocated[0], allocated[1]
        _withdraw(kept, keep=True, reason=KEPT_REASON)
        _withdraw(deleted, keep=False, reason=DELETED_REASON)
        db.session.commit()
        seed = study.allocation_seed
        study_id = study.id
        labels = {state.stratum_id: state.stratum
                  for state in db.session.scalars(select(AllocationState))}
        assert any("profession=" in label for label in labels.values())

    command.downgrade(alembic_config(app), "0005")
    with app.app_context(), db.engine.begin() as connection:
        assert "stratum" in {c["name"] for c in inspect(connection).get_columns("allocations")}
        # The trail as 0005 wrote it: labels in allocation events, reasons in withdrawals.
        rows = connection.execute(text(
            "SELECT participants.code, allocations.stratum, allocations.stratum_id, "
            "allocations.position, allocations.block_size FROM allocations "
            "JOIN participants ON participants.id = allocations.participant_id")).all()
        assert all((sid is None) == (scheme == 1) for _, _, sid, _, _ in rows)
        connection.execute(old_events.insert(), [
            {"at": utcnow(), "study_id": study_id, "actor": "system", "action": "allocation",
             "participant_code": code,
             "details": {"arm": "contact", "stratum": label, "stratum_id": sid,
                         "position": position, "block_size": size}}
            for code, label, sid, position, size in rows] + [
            {"at": utcnow(), "study_id": study_id, "actor": "system", "action": "withdrawal",
             "participant_code": code, "details": {"data_kept": keep, "reason": reason}}
            for code, keep, reason in ((kept, True, KEPT_REASON),
                                       (deleted, False, DELETED_REASON))])

    upgrade(app)
    with app.app_context():
        assert "stratum" not in {c["name"] for c in inspect(db.engine).get_columns("allocations")}
        for allocation in db.session.scalars(select(Allocation)):
            assert allocation.stratum_id in labels
            assert allocation.stratum_id == stratum_id(seed, labels[allocation.stratum_id])
        check = verify_sequence(db.session, get_study(db.session, DEMO_SLUG))
        assert check.mismatches == [] and check.allocations == len(rows)
        assert check.scheme == scheme

        events = list(db.session.scalars(select(AuditEvent)))
        dump = repr([event.details for event in events])
        for secret in ("profession=", "cohort=", "Jane Roe", "jane@example.org", "depression",
                       "moving abroad"):
            assert secret not in dump, secret
        for event in events:
            if event.action == "allocation":
                assert event.details["stratum_id"] in labels
            if event.action == "withdrawal":
                assert event.details["category"] == "withdrew"
        reasons = {reason.participant_id: reason.text
                   for reason in db.session.scalars(select(WithdrawalReason))}
        kept_id = db.session.scalars(select(Participant.id).where(Participant.code == kept)).one()
        assert reasons == {kept_id: KEPT_REASON}

        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("UPDATE audit_events SET details = '{}'"))
        db.session.rollback()
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("DELETE FROM audit_events"))
        db.session.rollback()
        with pytest.raises(DBAPIError):
            db.session.execute(text("DELETE FROM studies"))
        db.session.rollback()
