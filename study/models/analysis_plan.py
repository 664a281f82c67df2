"""The statistical analysis plan (DESIGN §6): versioned, frozen when recruitment opens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from study.models.base import Base, utcnow
from study.models.study import Study


class AnalysisPlan(Base):
    """One version of a study's plan.

    Version 1 is a draft (``frozen_at`` None) until recruitment opens, and can be edited until
    then; every later version is frozen when it is made, with the reason for the change. A
    frozen version is never edited: ``sha256`` is the hash of ``plan`` as it was frozen.
    """

    __tablename__ = "analysis_plans"
    __table_args__ = (UniqueConstraint("study_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    frozen_at: Mapped[datetime | None]

    study: Mapped[Study] = relationship()
