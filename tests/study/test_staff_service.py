"""Staff accounts as use cases, without HTTP: create, authenticate, session versions, sign-out."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from study.errors import NotAllowed, NotFound
from study.extensions import db
from study.models import AuditEvent, Role, Study, User
from study.services import staff

PASSWORD = "correct horse battery"


@pytest.fixture
def session(app) -> Iterator[Session]:
    with app.app_context():
        db.session.add(Study(slug="trial", title="A trial"))
        db.session.flush()
        yield db.session


@pytest.fixture
def study(session: Session) -> Study:
    return session.scalars(select(Study).where(Study.slug == "trial")).one()


def create(session: Session, email: str = "Sam@Example.org", password: str | None = PASSWORD,
           role: str = "researcher", study: Study | None = None) -> staff.AccountChange:
    if study is None and role != staff.ADMIN:
        study = session.scalars(select(Study)).one()
    return staff.create_account(session, email, password, role=role, study=study, actor="test")


def events(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_a_new_account_holds_its_role_in_the_study(session: Session, study: Study) -> None:
    change = create(session)
    assert change.created
    user = change.user
    assert user.email == "sam@example.org"
    assert user.check_password(PASSWORD) and not user.is_admin
    assert user.roles_in(study) == {Role.RESEARCHER}
    [event] = events(session, "staff_account")
    assert event.study_id == study.id
    assert event.details == {"email_domain": "example.org", "role": "researcher",
                             "created": True}


def test_the_service_flushes_and_leaves_the_commit_to_its_caller(session: Session) -> None:
    create(session)
    session.rollback()
    assert staff.find_account(session, "sam@example.org") is None


def test_an_existing_account_gains_a_role_without_a_password(session: Session,
                                                             study: Study) -> None:
    first = create(session).user
    change = create(session, "sam@example.org", None, role="coordinator")
    assert not change.created and change.user is first
    assert first.check_password(PASSWORD)
    create(session, "sam@example.org", None, role="coordinator")  # a second time: no duplicate
    assert sorted(m.role for m in first.memberships) == [Role.COORDINATOR, Role.RESEARCHER]
    assert [e.details["created"] for e in events(session, "staff_account")] == [True, False, False]


def test_an_admin_is_a_flag_not_a_study_role(session: Session) -> None:
    user = create(session, role=staff.ADMIN).user
    assert user.is_admin and user.memberships == []


@pytest.mark.parametrize("password, role, with_study, message", [
    ("short", "researcher", True, "The password must be at least 10 characters long."),
    (None, "researcher", True, "A new account (sam@example.org) needs a password."),
    (PASSWORD, "coordinator", False, "A coordinator works on a study"),
    (PASSWORD, "owner", True, "There is no staff role 'owner'."),
])
def test_account_rules(session: Session, study: Study, password: str | None, role: str,
                       with_study: bool, message: str) -> None:
    with pytest.raises(NotAllowed, match=re.escape(message)):
        staff.create_account(session, "sam@example.org", password, role=role,
                             study=study if with_study else None, actor="test")
    assert staff.find_account(session, "sam@example.org") is None


def test_an_email_address_is_validated_and_stored_in_lower_case() -> None:
    assert staff.normalise_email("Sam@Example.ORG") == "sam@example.org"
    with pytest.raises(NotAllowed, match="Not a valid email address"):
        staff.normalise_email("not-an-email")


def test_get_account_names_the_address_it_did_not_find(session: Session) -> None:
    with pytest.raises(NotFound, match="No staff account 'nobody@example.org'."):
        staff.get_account(session, "nobody@example.org")


def test_authenticate_records_the_sign_in(session: Session) -> None:
    created = create(session).user
    user = staff.authenticate(session, "  SAM@example.org ", PASSWORD)
    assert user is created and user.last_login_at is not None
    [event] = events(session, "login")
    assert event.actor == f"user:{user.id}"


@pytest.mark.parametrize("email, password", [
    ("sam@example.org", "wrong password"),
    ("nobody@example.org", PASSWORD),
])
def test_authenticate_refuses_with_one_message(session: Session, email: str,
                                               password: str) -> None:
    create(session)
    with pytest.raises(staff.LoginFailed,
                       match="That email and password do not match an active account."):
        staff.authenticate(session, email, password)
    assert events(session, "login") == []


def test_a_deactivated_account_cannot_sign_in_nor_keep_its_sessions(session: Session) -> None:
    user = create(session).user
    session_id = user.get_id()
    user.active = False
    with pytest.raises(staff.LoginFailed):
        staff.authenticate(session, "sam@example.org", PASSWORD)
    assert staff.user_for_session(session, session_id) is None


def test_every_refused_sign_in_costs_one_password_hash(session: Session,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown and deactivated accounts are hashed against a dummy: timing tells nothing."""
    import hashlib

    create(session)
    create(session, email="gone@example.org").user.active = False
    hashes: list[str] = []

    def counted(name: str) -> Callable[..., bytes]:
        real = getattr(hashlib, name)

        def hash_and_count(*args: Any, **kwargs: Any) -> bytes:
            hashes.append(name)
            return real(*args, **kwargs)

        return hash_and_count

    for name in ("pbkdf2_hmac", "scrypt"):  # werkzeug's methods (the suite uses pbkdf2)
        monkeypatch.setattr(hashlib, name, counted(name))

    def hashes_for(email: str, password: str) -> int:
        hashes.clear()
        with pytest.raises(staff.LoginFailed):
            staff.authenticate(session, email, password)
        return len(hashes)

    hashes_for("nobody@example.org", PASSWORD)  # the dummy hash is made on first use
    assert hashes_for("sam@example.org", "wrong password") == 1
    assert hashes_for("nobody@example.org", PASSWORD) == 1
    assert hashes_for("gone@example.org", PASSWORD) == 1


def test_sign_out_ends_every_session_of_the_account(session: Session) -> None:
    user = create(session).user
    session_id = user.get_id()
    assert staff.user_for_session(session, session_id) is user
    staff.sign_out(session, user.id)
    assert staff.user_for_session(session, session_id) is None
    assert staff.user_for_session(session, user.get_id()) is user
    [event] = events(session, "logout")
    assert event.actor == f"user:{user.id}"


def test_a_new_password_ends_every_session_of_the_account(session: Session) -> None:
    user = create(session).user
    session_id = user.get_id()
    user.set_password("a brand new password")
    assert staff.user_for_session(session, session_id) is None


@pytest.mark.parametrize("session_id", ["", "1", "x:1", "1:x", "999:1", "-1:1"])
def test_a_malformed_or_unknown_session_id_stands_for_nobody(session: Session,
                                                             session_id: str) -> None:
    create(session)
    assert staff.user_for_session(session, session_id) is None


def test_signing_out_a_deleted_account_does_nothing(session: Session) -> None:
    staff.sign_out(session, 999)
    assert events(session, "logout") == []
    assert session.scalars(select(User)).all() == []
