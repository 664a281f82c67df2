"""Session fidelity ratings and facilitator supervision records (DESIGN §13)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from study.models.base import Base, str_enum, utcnow
from study.models.contact import ContactSession, Facilitator

# The hybrid supervision model's thresholds (DESIGN §13): a record below one is flagged.
SUPERVISION_THRESHOLDS = {"role_fidelity": 0.80, "risk_oversight": 0.70,
                          "reflective_practice": 0.80}


class FidelityRating(Base):
    """One rater's ``session-fidelity`` checklist for one contact session.

    A rating is never edited in place: a corrected rating is a new row and the one it replaces
    keeps its answers, with ``superseded_at`` and ``superseded_by_id`` saying when and by which.
    The current rating of a session is the one not superseded.
    """

    __tablename__ = "fidelity_ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("contact_sessions.id", ondelete="CASCADE"), index=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    rated_at: Mapped[datetime] = mapped_column(default=utcnow)
    instrument_version: Mapped[str] = mapped_column(String(32))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The instrument's scales (means on 0–3), None when too few elements were rated.
    total: Mapped[float | None]
    conditions: Mapped[float | None]
    peer_practice: Mapped[float | None]
    # ``total`` as a share of the scale's range (0–1): what thresholds are compared with.
    fidelity: Mapped[float | None]
    superseded_at: Mapped[datetime | None]
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("fidelity_ratings.id"))

    session: Mapped[ContactSession] = relationship()


class SupervisorKind(enum.StrEnum):
    CLINICAL = "clinical"
    PEER = "peer"


class SupervisionRecord(Base):
    """One supervision meeting of a facilitator, with F, R and P on 0–1 where rated."""

    __tablename__ = "supervision_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    facilitator_id: Mapped[int] = mapped_column(
        ForeignKey("facilitators.id", ondelete="CASCADE"), index=True)
    held_on: Mapped[date]
    supervisor_kind: Mapped[SupervisorKind] = mapped_column(str_enum(SupervisorKind))
    supervisor: Mapped[str] = mapped_column(String(200))
    role_fidelity: Mapped[float | None]
    risk_oversight: Mapped[float | None]
    reflective_practice: Mapped[float | None]
    notes: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    facilitator: Mapped[Facilitator] = relationship()

    def flags(self) -> list[str]:
        """The measures rated below their threshold (attribute names, in F, R, P order)."""
        return [name for name, threshold in SUPERVISION_THRESHOLDS.items()
                if (value := getattr(self, name)) is not None and value < threshold]
