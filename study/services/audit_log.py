"""Reading the audit trail: filtered, paginated, and redacted for the role that reads it.

Admins read every event of every study as written. A coordinator reads their own study's
events, but while recruitment is open an allocation event loses its arm and its place in the
sequence: in order, those would be the running tallies per arm that let someone guess the next
allocation (DESIGN §4). The trail itself is never changed; only what a page shows is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from study.models import AuditEvent, Study, StudyStatus, User

PER_PAGE = 50
# The most events one CSV download holds (newest first).
EXPORT_LIMIT = 100_000
# What an event tells about the arms; never shown to coordinators while the study is
# recruiting. An allocation's details are the sequence itself; how a trainee finished the
# activity ("module_completed" or "session_attended") names their arm, and listed together those
# are running tallies per arm.
CONCEALED_WHILE_RECRUITING = {"allocation": ("arm", "stratum_id", "position", "block_size"),
                              "intervention_done": ("how",)}


@dataclass(frozen=True)
class AuditFilter:
    """What to show: every field optional; ``until`` includes the whole of its day (UTC)."""

    study_id: int | None = None
    participant_code: str | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.study_id is not None:
            conditions.append(AuditEvent.study_id == self.study_id)
        if self.participant_code:
            conditions.append(AuditEvent.participant_code == self.participant_code)
        if self.action:
            conditions.append(AuditEvent.action == self.action)
        if self.since is not None:
            conditions.append(AuditEvent.at >= datetime.combine(self.since, time(), UTC))
        if self.until is not None:
            conditions.append(AuditEvent.at < datetime.combine(self.until + timedelta(days=1),
                                                              time(), UTC))
        return conditions


@dataclass(frozen=True)
class ShownEvent:
    """An event as a page shows it: who by name, and the details it may show."""

    id: int
    at: datetime
    study_slug: str | None
    actor: str
    action: str
    participant_code: str | None
    details: dict[str, Any]
    redacted: bool


@dataclass(frozen=True)
class AuditPage:
    events: list[ShownEvent]
    page: int
    last_page: int
    total: int


def actions(session: Session, study_id: int | None = None) -> list[str]:
    """The kinds of event in the trail (of one study), for the filter's choices."""
    query = select(AuditEvent.action).distinct().order_by(AuditEvent.action)
    if study_id is not None:
        query = query.where(AuditEvent.study_id == study_id)
    return list(session.scalars(query))


def read(session: Session, wanted: AuditFilter, *, page: int = 1, conceal: bool = False,
         per_page: int = PER_PAGE) -> AuditPage:
    """One page of the events ``wanted`` selects, newest first.

    With ``conceal`` (a coordinator's view), allocation details are hidden for every study that
    is still recruiting or in draft.
    """
    conditions = wanted.conditions()
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    last_page = max(1, -(-total // per_page))
    page = min(max(page, 1), last_page)
    rows = list(session.scalars(
        select(AuditEvent).where(*conditions).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .offset((page - 1) * per_page).limit(per_page)))
    studies = {s.id: s for s in session.scalars(
        select(Study).where(Study.id.in_({e.study_id for e in rows if e.study_id is not None})))}
    names = _actor_names(session, rows)
    events = []
    for event in rows:
        study = studies.get(event.study_id) if event.study_id is not None else None
        details = dict(event.details or {})
        hidden = CONCEALED_WHILE_RECRUITING.get(event.action, ())
        redacted = conceal and (study is None or study.status is not StudyStatus.CLOSED) \
            and any(key in details for key in hidden)
        if redacted:
            details = {key: value for key, value in details.items() if key not in hidden}
        events.append(ShownEvent(
            id=event.id, at=event.at, study_slug=study.slug if study is not None else None,
            actor=names.get(event.actor, event.actor), action=event.action,
            participant_code=event.participant_code, details=details, redacted=redacted))
    return AuditPage(events=events, page=page, last_page=last_page, total=total)


def _actor_names(session: Session, events: Sequence[AuditEvent]) -> dict[str, str]:
    """``user:<id>`` -> the account's email; trainees, the CLI and the system stay as written."""
    ids = {int(e.actor.split(":", 1)[1]) for e in events
           if e.actor.startswith("user:") and e.actor.split(":", 1)[1].isdigit()}
    if not ids:
        return {}
    return {f"user:{user_id}": email for user_id, email in session.execute(
        select(User.id, User.email).where(User.id.in_(ids)))}


def rows_for_csv(page: AuditPage) -> list[dict[str, Any]]:
    """The events as CSV rows (details as ``key=value`` pairs joined by ``; ``)."""
    return [{"at": event.at.isoformat(), "study": event.study_slug or "", "actor": event.actor,
             "action": event.action, "participant": event.participant_code or "",
             "details": "; ".join(f"{key}={value}" for key, value in event.details.items())}
            for event in page.events]


CSV_COLUMNS = ("at", "study", "actor", "action", "participant", "details")
