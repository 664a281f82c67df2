"""The audit trail is append-only in the database itself, whatever writes to it (DESIGN §4, §8).

Raw SQL and bulk statements skip the ORM's ``before_flush`` guard, so triggers refuse every
UPDATE and DELETE of an event, and a study with events cannot be deleted under them.
"""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from study.extensions import db
from study.models import AuditEvent
from tests.helpers import Demo


def _events(demo: Demo) -> list[tuple[object, ...]]:
    with demo.app.app_context():
        return [tuple(row) for row in db.session.execute(
            select(AuditEvent.id, AuditEvent.study_id, AuditEvent.actor, AuditEvent.details)
            .order_by(AuditEvent.id))]


@pytest.mark.parametrize("statement", [
    text("UPDATE audit_events SET actor = 'someone else'"),
    text("UPDATE audit_events SET details = '{}' WHERE action = 'recruitment_opened'"),
    text("DELETE FROM audit_events"),
    text("DELETE FROM audit_events WHERE action = 'recruitment_opened'"),
    update(AuditEvent).values(actor="someone else"),
    delete(AuditEvent).where(AuditEvent.action == "study_created"),
], ids=["raw update", "raw update of one", "raw delete all", "raw delete of one", "bulk update",
        "bulk delete"])
def test_no_statement_can_change_or_remove_an_event(demo: Demo, statement) -> None:
    before = _events(demo)
    assert before
    with demo.app.app_context():
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(statement)
        db.session.rollback()
    assert _events(demo) == before


def test_events_can_still_be_added(demo: Demo) -> None:
    with demo.app.app_context():
        count = db.session.scalar(select(func.count(AuditEvent.id)))
        db.session.execute(text(
            "INSERT INTO audit_events (at, actor, action, details) "
            "VALUES (CURRENT_TIMESTAMP, 'test', 'probe', '{}')"))
        db.session.commit()
        assert db.session.scalar(select(func.count(AuditEvent.id))) == count + 1


def test_deleting_a_study_does_not_rewrite_its_events(demo: Demo) -> None:
    """There is no study deletion in Allport; one done by hand in SQL is refused, not allowed to
    orphan the trail (it was ``ON DELETE SET NULL``)."""
    before = _events(demo)
    with demo.app.app_context():
        study_id = demo.study().id
        with pytest.raises(DBAPIError):
            db.session.execute(text("DELETE FROM studies WHERE id = :id"), {"id": study_id})
        db.session.rollback()
        assert db.session.scalar(text("SELECT count(*) FROM studies")) == 1
    assert _events(demo) == before
    assert {study for _, study, _, _ in before} >= {study_id}
