"""Trainees as research data sees them: a pseudonymous code, a status, consent, invitation."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from study.errors import InvalidTransition
from study.models.base import Base, str_enum, utcnow
from study.models.study import Cohort, Study


class ParticipantStatus(enum.StrEnum):
    INVITED = "invited"
    CONSENTED = "consented"
    DECLINED = "declined"
    INELIGIBLE = "ineligible"
    BASELINE_DONE = "baseline_done"
    ALLOCATED = "allocated"
    INTERVENTION_DONE = "intervention_done"
    POST_DONE = "post_done"
    FOLLOWUP_DONE = "followup_done"
    WITHDRAWN = "withdrawn"
    LOST = "lost_to_follow_up"


# DESIGN §3: the journey, and the exits open at each step.
PARTICIPANT_TRANSITIONS: dict[ParticipantStatus, frozenset[ParticipantStatus]] = {
    ParticipantStatus.INVITED: frozenset({
        ParticipantStatus.CONSENTED, ParticipantStatus.DECLINED}),
    ParticipantStatus.CONSENTED: frozenset({
        ParticipantStatus.BASELINE_DONE, ParticipantStatus.INELIGIBLE,
        ParticipantStatus.WITHDRAWN}),
    ParticipantStatus.BASELINE_DONE: frozenset({
        ParticipantStatus.ALLOCATED, ParticipantStatus.WITHDRAWN}),
    # Every allocated trainee is followed up (intention to treat): post can be answered without
    # the intervention done once the intervention period has passed, and follow-up without
    # post once the post window has closed. Adherence is recorded apart from the status.
    ParticipantStatus.ALLOCATED: frozenset({
        ParticipantStatus.INTERVENTION_DONE, ParticipantStatus.POST_DONE,
        ParticipantStatus.FOLLOWUP_DONE, ParticipantStatus.WITHDRAWN, ParticipantStatus.LOST}),
    # Back to ALLOCATED only when a coordinator corrects attendance recorded by mistake.
    ParticipantStatus.INTERVENTION_DONE: frozenset({
        ParticipantStatus.POST_DONE, ParticipantStatus.FOLLOWUP_DONE, ParticipantStatus.ALLOCATED,
        ParticipantStatus.WITHDRAWN, ParticipantStatus.LOST}),
    ParticipantStatus.POST_DONE: frozenset({
        ParticipantStatus.FOLLOWUP_DONE, ParticipantStatus.WITHDRAWN, ParticipantStatus.LOST}),
    ParticipantStatus.FOLLOWUP_DONE: frozenset(),
    ParticipantStatus.DECLINED: frozenset(),
    ParticipantStatus.INELIGIBLE: frozenset(),
    ParticipantStatus.WITHDRAWN: frozenset(),
    ParticipantStatus.LOST: frozenset(),
}

# The order of the journey, used for "reached at least this step" counts.
JOURNEY_ORDER = [
    ParticipantStatus.INVITED, ParticipantStatus.CONSENTED, ParticipantStatus.BASELINE_DONE,
    ParticipantStatus.ALLOCATED, ParticipantStatus.INTERVENTION_DONE,
    ParticipantStatus.POST_DONE, ParticipantStatus.FOLLOWUP_DONE,
]


class Participant(Base):
    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    # Random, never derived from personal data; the only identifier research data carries.
    code: Mapped[str] = mapped_column(String(16), unique=True)
    status: Mapped[ParticipantStatus] = mapped_column(
        str_enum(ParticipantStatus), default=ParticipantStatus.INVITED, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    intervention_done_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    # Whether the answers given before withdrawal stay in the analysis (per the consent given).
    data_withdrawn: Mapped[bool] = mapped_column(default=False)
    # Why the trainee left the journey, as a CONSORT category (DESIGN §6): excluded
    # ``ineligible|declined|other``, lost ``no_response|unreachable|other``, discontinued
    # ``withdrew|other``. A category only: free text never goes here.
    exit_reason: Mapped[str | None] = mapped_column(String(32))

    study: Mapped[Study] = relationship()
    cohort: Mapped[Cohort] = relationship()

    def move_to(self, status: ParticipantStatus, *, at: datetime | None = None) -> None:
        if status not in PARTICIPANT_TRANSITIONS[self.status]:
            raise InvalidTransition(
                f"Participant {self.code} is {self.status.value} and cannot become {status.value}."
            )
        self.status = status
        self.status_changed_at = at or utcnow()

    @property
    def is_active(self) -> bool:
        return bool(PARTICIPANT_TRANSITIONS[self.status])

    def __repr__(self) -> str:
        return f"<Participant {self.code} {self.status.value}>"


class ParticipantContact(Base):
    """Direct identifiers, kept apart from research data and never exported."""

    __tablename__ = "participant_contacts"

    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str | None] = mapped_column(String(320))
    # The site's own identifier for the trainee (from the invitation spreadsheet), if given.
    external_id: Mapped[str | None] = mapped_column(String(100))


class WithdrawalReason(Base):
    """What a trainee (or the coordinator for them) wrote when withdrawing (DESIGN §8).

    Free text can hold anything (a name, an email, a health statement), so it lives here, where
    it can be deleted, and never in the append-only audit trail, which records the withdrawal as
    a category. A withdrawal that deletes the trainee's data keeps no reason at all.
    """

    __tablename__ = "withdrawal_reasons"

    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitation(Base):
    """A personal link. Only the SHA-256 of its token is stored.

    A trainee may hold several live links: each email (the invitation, a reminder) carries a
    new one, since a stored hash cannot be turned back into the link it came from. Revoking
    revokes them all (``study.services.invitations``).
    """

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    participant: Mapped[Participant] = relationship()


class ConsentChoice(enum.StrEnum):
    AGREE = "agree"
    DECLINE = "decline"


class Consent(Base):
    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("participant_id", "consent_document_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    consent_document_id: Mapped[int] = mapped_column(ForeignKey("consent_documents.id"))
    version: Mapped[int]
    text_sha256: Mapped[str] = mapped_column(String(64))
    choice: Mapped[ConsentChoice] = mapped_column(str_enum(ConsentChoice))
    at: Mapped[datetime] = mapped_column(default=utcnow)
