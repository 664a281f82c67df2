"""Staff accounts and their per-study roles."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from study.models.base import Base, str_enum, utcnow
from study.models.study import Study

# werkzeug's default (scrypt). The test suite swaps in a cheap method, as Django's test runner
# does, because hashing cost is not what it tests.
PASSWORD_HASH_METHOD = "scrypt"


class Role(enum.StrEnum):
    COORDINATOR = "coordinator"
    RESEARCHER = "researcher"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    is_admin: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    # Part of every session cookie (get_id): bumping it ends every session of the account.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    def set_password(self, password: str) -> None:
        """Whoever knew the old password may be signed in: a new one ends every session."""
        self.password_hash = generate_password_hash(password, method=PASSWORD_HASH_METHOD)
        self.end_sessions()

    def end_sessions(self) -> None:
        """Every cookie issued so far stops matching (see ``services.staff.user_for_session``)."""
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def roles_in(self, study: Study) -> set[Role]:
        return {m.role for m in self.memberships if m.study_id == study.id}

    # Flask-Login's protocol. The id carries the session version, so old cookies stop matching.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "study_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(str_enum(Role))

    user: Mapped[User] = relationship(back_populates="memberships")
    study: Mapped[Study] = relationship()
