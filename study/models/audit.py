"""The append-only audit trail, enforced by the database itself (DESIGN §4, §8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DDL, JSON, ForeignKey, String, event
from sqlalchemy.orm import Mapped, mapped_column

from study.models.base import Base, utcnow


class AuditEvent(Base):
    """Who did what, when. Rows are only ever inserted (see ``study.audit``).

    Triggers refuse every UPDATE and DELETE, whatever issues it (the ORM, a bulk ``update()``,
    raw SQL). A study with events cannot be deleted (``RESTRICT``): there is no study deletion
    in Allport, and its trail must outlive anything done to the study.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id", ondelete="RESTRICT"))
    # "user:<id>", "participant:<code>", "cli", "system"
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64), index=True)
    participant_code: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


APPEND_ONLY_MESSAGE = "the audit trail is append-only"

# The same triggers are created by migration 0006 (migrations are frozen, so it spells them out
# again); these make ``Base.metadata.create_all`` (the tests) build them too.
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
    for verb in ("UPDATE", "DELETE")
]
POSTGRESQL_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$",
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
]
for _statement in SQLITE_TRIGGERS:
    event.listen(AuditEvent.__table__, "after_create",
                 DDL(_statement).execute_if(dialect="sqlite"))
for _statement in POSTGRESQL_TRIGGERS:
    event.listen(AuditEvent.__table__, "after_create",
                 DDL(_statement).execute_if(dialect="postgresql"))
event.listen(AuditEvent.__table__, "after_drop",
             DDL("DROP FUNCTION IF EXISTS audit_events_append_only()")
             .execute_if(dialect="postgresql"))
