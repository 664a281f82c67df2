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

    The row keeps the stratum's label (e.g. ``cohort=Cohort 1|profession=medicine``): it describes
    a stratum, not a person, scheme-1 sequences are keyed by it, and the allocations export names
    the stratum of trainees whose data are kept from it. Joining a withdrawn trainee's
    ``Allocation.stratum_id`` to this row does name their stratum; no page or export makes that
    join for a trainee whose data were deleted, and whoever holds the database holds the study's
    seed too, with which the few possible labels (cohorts × factor levels) could be hashed and
    matched anyway (DESIGN §8).
    """

    __tablename__ = "allocation_states"
    __table_args__ = (UniqueConstraint("study_id", "stratum"),
                      UniqueConstraint("study_id", "stratum_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    stratum: Mapped[str] = mapped_column(String(200))
    # The stratum's opaque id (HMAC of its label with the study's key, ``sequence.stratum_id``),
    # under every sequence scheme: what allocations and their audit events record.
    stratum_id: Mapped[str] = mapped_column(String(64))
    next_position: Mapped[int] = mapped_column(default=0)


class Allocation(Base):
    """A trainee's place in the sequence: part of the minimal trial record (DESIGN §8).

    It outlives a withdrawal that deletes the trainee's data, so it holds nothing that came from
    their answers: the stratum is its opaque id, never its label.
    """

    __tablename__ = "allocations"
    __table_args__ = (UniqueConstraint("study_id", "stratum_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), unique=True
    )
    arm_id: Mapped[int] = mapped_column(ForeignKey("arms.id"))
    stratum_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int]
    block_size: Mapped[int]
    allocated_at: Mapped[datetime] = mapped_column(default=utcnow)

    participant: Mapped[Participant] = relationship()
    arm: Mapped[Arm] = relationship()
