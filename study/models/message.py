"""The log of emails sent to trainees: what kind, at which step, when, and how it went out.

Neither the address nor the body is kept (the address lives in ``participant_contacts``, the
body held a personal link). Reminders read this log to keep the study's reminder interval: the
invitation email starts it (DESIGN §7).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from study.models.base import Base, str_enum, utcnow


class MessageKind(enum.StrEnum):
    INVITATION = "invitation"
    REMINDER = "reminder"
    # A booked trainee told that their contact session moved or was cancelled.
    SESSION_CHANGED = "session_changed"
    SESSION_CANCELLED = "session_cancelled"


class SentMessage(Base):
    __tablename__ = "sent_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[MessageKind] = mapped_column(str_enum(MessageKind))
    # For a reminder, the step the trainee was stalled on (reminders.ReminderStep).
    step: Mapped[str | None] = mapped_column(String(32))
    # "smtp" or "outbox" (study.mail.Delivery.via).
    via: Mapped[str] = mapped_column(String(8))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
