"""Questionnaire responses and their item answers, each tied to the instrument version answered."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from study.models.base import Base, str_enum, utcnow


class ResponseStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"


class AnswerStatus(enum.StrEnum):
    """Whether an item was asked: an answer, or "not applicable" when its branching logic was false.

    An item that was asked but left blank has no row at all (missing). A missing-data code
    (99 "inadequate information") is an answer: its status is ``answered`` and the instrument
    says the code is never scored.
    """

    ANSWERED = "answered"
    NOT_APPLICABLE = "not_applicable"


class Response(Base):
    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("participant_id", "timepoint_id", "instrument_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    timepoint_id: Mapped[int] = mapped_column(ForeignKey("timepoints.id"))
    instrument_id: Mapped[str] = mapped_column(String(64))
    instrument_version: Mapped[str] = mapped_column(String(32))
    status: Mapped[ResponseStatus] = mapped_column(
        str_enum(ResponseStatus), default=ResponseStatus.IN_PROGRESS
    )
    # The page a trainee returns to on a paginated instrument.
    current_page: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]

    answers: WriteOnlyMapped[Answer] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("response_id", "item_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)  # "" when not applicable
    status: Mapped[AnswerStatus] = mapped_column(
        str_enum(AnswerStatus), default=AnswerStatus.ANSWERED,
        server_default=AnswerStatus.ANSWERED.value,
    )
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)
