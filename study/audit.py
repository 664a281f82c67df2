"""Writing to the append-only audit trail (DESIGN §4, §8)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from study.models import AuditEvent, Participant, Study, User


def actor_for(user: User | None = None, participant: Participant | None = None) -> str:
    """Who did it, as the audit trail names them: a staff account, a trainee's code, the system."""
    if user is not None:
        return f"user:{user.id}"
    if participant is not None:
        return f"participant:{participant.code}"
    return "system"


def record(
    session: Session,
    action: str,
    *,
    actor: str,
    study: Study | None = None,
    participant: Participant | None = None,
    **details: Any,
) -> AuditEvent:
    """Append an event to the audit trail (flushed with the caller's transaction, never alone)."""
    event = AuditEvent(
        action=action,
        actor=actor,
        study_id=study.id if study is not None else (
            participant.study_id if participant is not None else None
        ),
        participant_code=participant.code if participant is not None else None,
        details=details,
    )
    session.add(event)
    return event


def forbid_audit_changes(session: Session, _context: object, _instances: object) -> None:
    """``before_flush`` guard: audit events are inserted, never updated or deleted."""
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise RuntimeError("the audit trail is append-only")
