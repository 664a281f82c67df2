"""The registry of certified peer facilitators (DESIGN §13).

Add, edit, deactivate and reactivate, all audited; and whether a certification is current,
about to lapse (within :data:`LAPSE_WARNING_DAYS`), or lapsed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from study import audit
from study.errors import NotAllowed
from study.models import ContactSession, Facilitator, SessionStatus, Study, utcnow

# A certification that lapses within this many days is flagged on the registry and sessions pages.
LAPSE_WARNING_DAYS = 30


class CertificationDates(NotAllowed):
    """The certified-until date is not after the certified-from date."""


class Standing(enum.StrEnum):
    CURRENT = "current"
    LAPSING = "lapsing"          # current today, lapses within LAPSE_WARNING_DAYS
    NOT_YET = "not yet certified"
    LAPSED = "lapsed"
    INACTIVE = "inactive"


def standing(facilitator: Facilitator, today: date | None = None) -> Standing:
    """Where the facilitator stands today; deactivation wins over the dates."""
    today = today or utcnow().date()
    if not facilitator.active:
        return Standing.INACTIVE
    if facilitator.certified_until < today:
        return Standing.LAPSED
    if facilitator.certified_from > today:
        return Standing.NOT_YET
    if (facilitator.certified_until - today).days <= LAPSE_WARNING_DAYS:
        return Standing.LAPSING
    return Standing.CURRENT


@dataclass(frozen=True)
class FacilitatorDetails:
    """What a coordinator types about a facilitator."""

    display_name: str
    contact: str
    certification_body: str
    certification_number: str
    certified_from: date
    certified_until: date
    clinical_supervisor: str
    peer_supervisor: str
    bio: str = ""


def _check(details: FacilitatorDetails) -> None:
    if details.certified_until <= details.certified_from:
        raise CertificationDates("The certified-until date must be after the certified-from "
                                 "date.")
    for label, value in (("name", details.display_name),
                         ("certifying body", details.certification_body),
                         ("credential id", details.certification_number)):
        if not value.strip():
            raise NotAllowed(f"Enter the facilitator's {label}.")


def add_facilitator(session: Session, study: Study, details: FacilitatorDetails, *,
                    actor: str) -> Facilitator:
    """Register a certified peer facilitator for the study; audited."""
    _check(details)
    facilitator = Facilitator(study_id=study.id, **_columns(details))
    session.add(facilitator)
    session.flush()
    audit.record(session, "facilitator_added", actor=actor, study=study,
                 facilitator_id=facilitator.id, certified_until=details.certified_until.isoformat())
    return facilitator


def update_facilitator(session: Session, facilitator: Facilitator, details: FacilitatorDetails,
                       *, actor: str) -> list[str]:
    """Change a facilitator's details; returns the names of the fields that changed (audited).

    The sessions they already lead are not touched: a session whose date falls outside the new
    certification shows as unable to be held until it is moved to another facilitator.
    """
    _check(details)
    columns = _columns(details)
    changed = [name for name, value in columns.items() if getattr(facilitator, name) != value]
    for name in changed:
        setattr(facilitator, name, columns[name])
    if changed:
        session.flush()
        audit.record(session, "facilitator_updated", actor=actor, study=facilitator_study(
            session, facilitator), facilitator_id=facilitator.id, fields=changed)
    return changed


def set_active(session: Session, facilitator: Facilitator, active: bool, *, actor: str) -> int:
    """Deactivate or reactivate; returns how many upcoming scheduled sessions they lead."""
    if facilitator.active is not active:
        facilitator.active = active
        session.flush()
        audit.record(session, "facilitator_reactivated" if active else "facilitator_deactivated",
                     actor=actor, study=facilitator_study(session, facilitator),
                     facilitator_id=facilitator.id)
    return len(upcoming_sessions(session, facilitator))


def upcoming_sessions(session: Session, facilitator: Facilitator) -> list[ContactSession]:
    """The scheduled sessions the facilitator leads that have not started, soonest first."""
    return list(session.scalars(
        select(ContactSession).where(ContactSession.facilitator_id == facilitator.id,
                                     ContactSession.status == SessionStatus.SCHEDULED,
                                     ContactSession.starts_at > utcnow())
        .order_by(ContactSession.starts_at)))


def facilitator_study(session: Session, facilitator: Facilitator) -> Study:
    """The study the facilitator belongs to (for the audit trail)."""
    study = session.get(Study, facilitator.study_id)
    assert study is not None  # a foreign key
    return study


def _columns(details: FacilitatorDetails) -> dict[str, object]:
    return {
        "display_name": details.display_name.strip(),
        "contact": details.contact.strip(),
        "certification_body": details.certification_body.strip(),
        "certification_number": details.certification_number.strip(),
        "certified_from": details.certified_from,
        "certified_until": details.certified_until,
        "clinical_supervisor": details.clinical_supervisor.strip(),
        "peer_supervisor": details.peer_supervisor.strip(),
        "bio": details.bio.strip(),
    }
