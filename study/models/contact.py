"""Certified peer facilitators, the contact sessions they lead, and trainees' bookings."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from study.models.base import Base, str_enum, utcnow
from study.models.participant import Participant
from study.models.study import Cohort


class Facilitator(Base):
    __tablename__ = "facilitators"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # How the coordinator reaches the facilitator (an email address or a phone number).
    contact: Mapped[str] = mapped_column(String(320), default="")
    certification_body: Mapped[str] = mapped_column(String(200))
    certification_number: Mapped[str] = mapped_column(String(100))
    certified_from: Mapped[date]
    certified_until: Mapped[date]
    bio: Mapped[str] = mapped_column(Text, default="")
    # The hybrid supervision model (DESIGN §13): one clinical and one peer supervisor.
    clinical_supervisor: Mapped[str] = mapped_column(String(200), default="")
    peer_supervisor: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)

    def is_certified_on(self, day: date) -> bool:
        """May lead a session on ``day``: active in the registry and certified then."""
        return self.active and self.certification_covers(day)

    def certification_covers(self, day: date) -> bool:
        """Certified on ``day``, whatever the registry says today (a session already held)."""
        return self.certified_from <= day <= self.certified_until


class SessionStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class ContactSession(Base):
    __tablename__ = "contact_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    facilitator_id: Mapped[int] = mapped_column(ForeignKey("facilitators.id"))
    starts_at: Mapped[datetime]
    duration_minutes: Mapped[int] = mapped_column(default=90)
    location: Mapped[str] = mapped_column(String(300))
    capacity: Mapped[int]
    status: Mapped[SessionStatus] = mapped_column(
        str_enum(SessionStatus), default=SessionStatus.SCHEDULED
    )

    cohort: Mapped[Cohort] = relationship()
    facilitator: Mapped[Facilitator] = relationship()


class Booking(Base):
    """A trainee's place in a session; one live booking per trainee."""

    __tablename__ = "bookings"
    __table_args__ = (UniqueConstraint("participant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("contact_sessions.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    booked_at: Mapped[datetime] = mapped_column(default=utcnow)
    attended: Mapped[bool | None]
    # Adherence beside the outcome (DESIGN §3): how long the trainee stayed, when recorded.
    minutes_attended: Mapped[int | None]
    attendance_recorded_at: Mapped[datetime | None]
    attendance_recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    session: Mapped[ContactSession] = relationship()
    participant: Mapped[Participant] = relationship()


class ModuleProgress(Base):
    """How far an education-arm trainee has read, and when they finished."""

    __tablename__ = "module_progress"

    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True
    )
    furthest_page: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]



