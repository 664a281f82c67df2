"""Allocations and the per-stratum state row that serialises them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from study.models.base import Base, utcnow
from study.models.participant import Participant
from study.models.study import Arm


class AllocationState(Base):
    """The next free position of one stratum's sequence.

    Allocation locks this row before anything else (DESIGN §9), so concurrent requests for one
    stratum queue here rather than racing on the allocations table.
    """

    __tablename__ = "allocation_states"
    __table_args__ = (UniqueConstraint("study_id", "stratum"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    stratum: Mapped[str] = mapped_column(String(200))
    # Sequence scheme 2 keys a stratum by an opaque id (HMAC of its label with the study's key),
    # so an allocation verifies without the baseline answers that placed the trainee in it.
    stratum_id: Mapped[str | None] = mapped_column(String(64))
    next_position: Mapped[int] = mapped_column(default=0)


class Allocation(Base):
    __tablename__ = "allocations"
    __table_args__ = (UniqueConstraint("study_id", "stratum", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), unique=True
    )
    arm_id: Mapped[int] = mapped_column(ForeignKey("arms.id"))
    stratum: Mapped[str] = mapped_column(String(200))
    stratum_id: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int]
    block_size: Mapped[int]
    allocated_at: Mapped[datetime] = mapped_column(default=utcnow)

    participant: Mapped[Participant] = relationship()
    arm: Mapped[Arm] = relationship()
