"""Personal API tokens: a researcher's key to ``/api/v1`` (DESIGN §1, §7)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from study.models.base import Base, utcnow
from study.models.staff import User
from study.models.study import Study


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, so the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # None: the token never expires.
    expires_at: Mapped[datetime | None]
    # None: every study the account may see. A token limited to a study goes with that study.
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), index=True)

    user: Mapped[User] = relationship()
    study: Mapped[Study | None] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.user.active

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and (now or utcnow()) >= self.expires_at

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} {self.name!r}>"
