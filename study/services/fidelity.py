"""Session fidelity ratings and facilitator supervision (DESIGN §13).

A **fidelity rating** is one rater's ``session-fidelity`` checklist for a contact session that
was held: six elements rated 0–3 (Allport's four conditions, purposeful self-disclosure,
non-directive facilitation), scored with the instrument's own scales. Its ``fidelity`` is the
total's share of the scale's range (a mean of 2.4 on 0–3 is 0.80), the figure thresholds are
compared with. A rating is corrected by rating again: the earlier one is kept, marked superseded
by the new one, and both are in the audit trail, so an auditor can see what was first recorded,
what replaced it, when and by whom.

A **supervision record** is one meeting of a facilitator with their clinical or peer supervisor
(the hybrid model) giving role fidelity F, clinical risk oversight R and reflective practice P on
0–1, each where rated; a measure below its threshold (F 0.80, R 0.70, P 0.80) is flagged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from instruments import Instrument
from instruments.library import Library
from instruments.scoring import parse_answers, score
from study import audit
from study.errors import DomainError
from study.models import (
    SUPERVISION_THRESHOLDS,
    ContactSession,
    Facilitator,
    FidelityRating,
    SessionStatus,
    Study,
    SupervisionRecord,
    SupervisorKind,
    User,
    utcnow,
)

INSTRUMENT_ID = "session-fidelity"
# The share of the checklist's range a session must reach to count as delivered with fidelity
# when the analysis plan sets no threshold of its own (the same bar as role fidelity F).
DEFAULT_THRESHOLD = 0.80
MEASURE_LABELS = {"role_fidelity": "Role fidelity (F)",
                  "risk_oversight": "Clinical risk oversight (R)",
                  "reflective_practice": "Reflective practice (P)"}


class SessionNotHeld(DomainError):
    """A rating of a session that was cancelled or has not started yet."""


class InvalidSupervision(DomainError):
    """A supervision record with a measure off 0–1, none rated, or no supervisor named."""


class SupervisionInFuture(InvalidSupervision):
    """A supervision record dated after today."""


def instrument(library: Library) -> Instrument:
    """The newest version of the ``session-fidelity`` checklist in ``library``."""
    return library.get(INSTRUMENT_ID)


def is_held(contact_session: ContactSession, now: datetime | None = None) -> bool:
    """The session was not cancelled and has started by ``now``: it can be rated."""
    return (contact_session.status is SessionStatus.SCHEDULED
            and contact_session.starts_at <= (now or utcnow()))


def current_rating(session: Session, contact_session: ContactSession) -> FidelityRating | None:
    """The session's rating that no later rating superseded, or None if it was never rated."""
    return session.scalars(
        select(FidelityRating).where(FidelityRating.session_id == contact_session.id,
                                     FidelityRating.superseded_at.is_(None))
    ).first()


def rating_history(session: Session, contact_session: ContactSession) -> list[FidelityRating]:
    """Every rating of the session, newest first (the first is the current one)."""
    return list(session.scalars(
        select(FidelityRating).where(FidelityRating.session_id == contact_session.id)
        .order_by(FidelityRating.rated_at.desc(), FidelityRating.id.desc())))


def share_of_range(value: float | None, bounds: tuple[float, float]) -> float | None:
    """``value`` on its scale's range mapped to 0–1."""
    if value is None or math.isnan(value):
        return None
    low, high = bounds
    return (value - low) / (high - low)


def rate_session(session: Session, contact_session: ContactSession, texts: Mapping[str, str], *,
                 rater: User, library: Library, now: datetime | None = None) -> FidelityRating:
    """Record ``rater``'s checklist for a held session, superseding its current rating if any.

    ``texts`` are the answers as the form gives them (``{item key: text}``, blank optional
    answers left out); a wrong key or value raises :class:`instruments.errors.AnswerError`.
    """
    if not is_held(contact_session, now):
        what = ("was cancelled" if contact_session.status is SessionStatus.CANCELLED
                else "has not started yet")
        raise SessionNotHeld(f"This session {what}: only a session that was held can be rated.")
    checklist = instrument(library)
    scores = score(checklist, parse_answers(checklist, texts))
    bounds = {scale.name: scale.range for scale in checklist.scales}
    total = scores["total"].value
    rating = FidelityRating(
        session_id=contact_session.id, rater_id=rater.id, rated_at=now or utcnow(),
        instrument_version=checklist.version, answers=dict(texts), total=total,
        conditions=scores["conditions"].value, peer_practice=scores["peer_practice"].value,
        fidelity=share_of_range(total, bounds["total"]))
    previous = current_rating(session, contact_session)
    session.add(rating)
    session.flush()
    if previous is not None:
        previous.superseded_at = rating.rated_at
        previous.superseded_by_id = rating.id
    audit.record(session, "fidelity_rated", actor=audit.actor_for(user=rater),
                 study=session.get(Study, contact_session.study_id), session_id=contact_session.id,
                 rating_id=rating.id, fidelity=rating.fidelity,
                 supersedes=previous.id if previous is not None else None)
    session.flush()
    return rating


def record_supervision(session: Session, facilitator: Facilitator, *, held_on: date,
                       kind: SupervisorKind, supervisor: str, role_fidelity: float | None,
                       risk_oversight: float | None, reflective_practice: float | None,
                       notes: str, user: User, today: date | None = None) -> SupervisionRecord:
    """Record one supervision meeting; refuses values off 0–1, no measure, or a future date."""
    measures = {"role_fidelity": role_fidelity, "risk_oversight": risk_oversight,
                "reflective_practice": reflective_practice}
    for name, value in measures.items():
        if value is not None and not (math.isfinite(value) and 0 <= value <= 1):
            raise InvalidSupervision(f"{MEASURE_LABELS[name]} must be from 0 to 1, not {value}.")
    if all(value is None for value in measures.values()):
        raise InvalidSupervision("Rate at least one of F, R and P.")
    if held_on > (today or utcnow().date()):
        raise SupervisionInFuture("A supervision meeting cannot be recorded before it is held: "
                                  "enter today's date or an earlier one.")
    if not supervisor.strip():
        raise InvalidSupervision("Name the supervisor.")
    record = SupervisionRecord(
        facilitator_id=facilitator.id, held_on=held_on, supervisor_kind=kind,
        supervisor=supervisor.strip(), notes=notes, recorded_by=user.id, **measures)
    session.add(record)
    session.flush()
    audit.record(session, "supervision_recorded", actor=audit.actor_for(user=user),
                 study=session.get(Study, facilitator.study_id), facilitator_id=facilitator.id,
                 record_id=record.id, supervisor_kind=kind.value, flags=record.flags(),
                 role_fidelity=role_fidelity, risk_oversight=risk_oversight,
                 reflective_practice=reflective_practice)
    return record


@dataclass(frozen=True)
class SessionFidelity:
    """One contact session with its current rating (None: not rated) against ``threshold``."""

    session: ContactSession
    rating: FidelityRating | None
    threshold: float
    held: bool

    @property
    def met(self) -> bool | None:
        if self.rating is None or self.rating.fidelity is None:
            return None
        return self.rating.fidelity >= self.threshold


@dataclass(frozen=True)
class FacilitatorSupervision:
    """A facilitator, whether certified on ``day``, and their supervision records (newest first)."""

    facilitator: Facilitator
    certified: bool
    records: list[SupervisionRecord]

    @property
    def flagged(self) -> int:
        return sum(bool(record.flags()) for record in self.records)

    def mean(self, measure: str) -> float | None:
        values = [v for r in self.records if (v := getattr(r, measure)) is not None]
        return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class StudyFidelity:
    """Everything the fidelity page and the report's delivery section show."""

    threshold: float
    sessions: list[SessionFidelity]
    facilitators: list[FacilitatorSupervision]
    thresholds: Mapping[str, float]

    @property
    def rated(self) -> list[SessionFidelity]:
        return [s for s in self.sessions if s.rating is not None]

    @property
    def held(self) -> int:
        return sum(s.held for s in self.sessions)

    @property
    def met(self) -> int:
        return sum(s.met is True for s in self.sessions)

    def mean(self, scale: str) -> float | None:
        values = [v for s in self.rated if (v := getattr(s.rating, scale)) is not None]
        return sum(values) / len(values) if values else None

    @property
    def supervision_records(self) -> int:
        return sum(len(f.records) for f in self.facilitators)

    def supervision_mean(self, measure: str) -> float | None:
        values = [v for f in self.facilitators for r in f.records
                  if (v := getattr(r, measure)) is not None]
        return sum(values) / len(values) if values else None

    def supervision_below(self, measure: str) -> int:
        return sum(measure in r.flags() for f in self.facilitators for r in f.records)

    def supervision_rated(self, measure: str) -> int:
        return sum(getattr(r, measure) is not None for f in self.facilitators for r in f.records)


def study_fidelity(session: Session, study: Study, threshold: float | None = None,
                   now: datetime | None = None) -> StudyFidelity:
    """The study's sessions with their current ratings and its facilitators' supervision."""
    now = now or utcnow()
    bar = DEFAULT_THRESHOLD if threshold is None else threshold
    contact_sessions = list(session.scalars(
        select(ContactSession).where(ContactSession.study_id == study.id)
        .order_by(ContactSession.starts_at, ContactSession.id)))
    ratings = {r.session_id: r for r in session.scalars(
        select(FidelityRating).join(ContactSession)
        .where(ContactSession.study_id == study.id, FidelityRating.superseded_at.is_(None)))}
    records: dict[int, list[SupervisionRecord]] = {}
    for record in session.scalars(
            select(SupervisionRecord).join(Facilitator)
            .where(Facilitator.study_id == study.id)
            .order_by(SupervisionRecord.held_on.desc(), SupervisionRecord.id.desc())):
        records.setdefault(record.facilitator_id, []).append(record)
    facilitators = session.scalars(select(Facilitator).where(Facilitator.study_id == study.id)
                                   .order_by(Facilitator.display_name, Facilitator.id))
    return StudyFidelity(
        threshold=bar,
        sessions=[SessionFidelity(s, ratings.get(s.id), bar, is_held(s, now))
                  for s in contact_sessions],
        facilitators=[FacilitatorSupervision(f, f.is_certified_on(now.date()),
                                             records.get(f.id, []))
                      for f in facilitators],
        thresholds=SUPERVISION_THRESHOLDS,
    )


def plan_threshold(rule: Mapping[str, object] | None) -> float | None:
    """The per-protocol rule's session fidelity threshold, if the plan sets one."""
    value = (rule or {}).get("min_session_fidelity")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None
