"""Staff accounts: create, sign in, sign out (DESIGN §1, §7, §9).

Every use case of a staff account is a function here; the login view and the CLI only translate.
A session cookie carries the account's session version (``User.get_id``); bumping it ends every
session of the account at once. Logout bumps it, so does a password change (``User.set_password``),
and so will the life-cycle commands of DESIGN §7 (deactivate-user, set-password, remove-role).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cache

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from study import audit
from study.errors import DomainError, NotAllowed, NotFound
from study.models import Membership, Role, Study, User, utcnow
from study.models import staff as staff_model

MIN_PASSWORD_LENGTH = 10
ADMIN = "admin"
# What create-user offers: admin is a flag on the account, the others are roles in one study.
ROLE_NAMES = (ADMIN, *(role.value for role in Role))


class LoginFailed(DomainError):
    """Wrong email, wrong password or a deactivated account: one message, so none is revealed."""

    def __init__(self) -> None:
        super().__init__("That email and password do not match an active account.")


@dataclass(frozen=True)
class AccountChange:
    user: User
    created: bool


def normalise_email(email: str) -> str:
    """The address as accounts store it: validated (without a DNS lookup) and lower-case."""
    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise NotAllowed(f"Not a valid email address: {error}") from None


def check_password_rule(password: str) -> None:
    """Refuse a password shorter than the rule allows."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise NotAllowed(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")


def find_account(session: Session, email: str) -> User | None:
    """The account signed in as ``email``, whatever its case and surrounding spaces."""
    return session.scalars(
        select(User).where(func.lower(User.email) == email.strip().lower())
    ).first()


def get_account(session: Session, email: str) -> User:
    """The account signed in as ``email``, or NotFound."""
    user = find_account(session, email)
    if user is None:
        raise NotFound(f"No staff account {email!r}.")
    return user


def create_account(session: Session, email: str, password: str | None, *, role: str,
                   study: Study | None, actor: str) -> AccountChange:
    """Create the account for ``email`` with ``role``, or give an existing account that role.

    ``password`` is needed only for a new account (the caller asks for it only then). A
    coordinator or researcher holds the role in ``study``; an admin is an admin everywhere.
    """
    if role not in ROLE_NAMES:
        raise NotAllowed(f"There is no staff role {role!r}.")
    if role != ADMIN and study is None:
        raise NotAllowed(f"A {role} works on a study: name it.")
    email = normalise_email(email)
    user = find_account(session, email)
    created = user is None
    if user is None:
        if password is None:
            raise NotAllowed(f"A new account ({email}) needs a password.")
        check_password_rule(password)
        user = User(email=email, password_hash="", is_admin=False)
        user.set_password(password)
        session.add(user)
        session.flush()
    if role == ADMIN:
        user.is_admin = True
    elif study is not None and Role(role) not in user.roles_in(study):
        user.memberships.append(Membership(study=study, role=Role(role)))
    audit.record(session, "staff_account", actor=actor, study=study,
                 email_domain=email.split("@")[1], role=role, created=created)
    session.flush()
    return AccountChange(user, created)


def authenticate(session: Session, email: str, password: str) -> User:
    """The active account ``email`` and ``password`` open, with the sign-in recorded.

    Raises :class:`LoginFailed`. The password hash is compared in constant time by werkzeug,
    and an unknown or deactivated account costs one hash too, so the time taken does not tell
    which addresses have accounts.
    """
    user = find_account(session, email)
    if user is None or not user.active:
        check_password_hash(_dummy_hash(staff_model.PASSWORD_HASH_METHOD), password)
        raise LoginFailed()
    if not user.check_password(password):
        raise LoginFailed()
    user.last_login_at = utcnow()
    audit.record(session, "login", actor=audit.actor_for(user=user))
    return user


@cache
def _dummy_hash(method: str) -> str:
    """A hash of no one's password, made as account passwords are, to compare against."""
    return generate_password_hash(secrets.token_hex(16), method=method)


def user_for_session(session: Session, session_id: str) -> User | None:
    """The account a session cookie's id (``User.get_id``) still stands for, or None.

    A cookie from before the account's last logout or password change, or of a deactivated
    account, stands for nobody.
    """
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def sign_out(session: Session, user_id: int) -> None:
    """End this and every other session of the account (DESIGN §9)."""
    user = session.get(User, user_id)
    if user is None:
        return
    user.end_sessions()
    audit.record(session, "logout", actor=audit.actor_for(user=user))
