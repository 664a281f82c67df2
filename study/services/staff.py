"""Staff accounts: create, sign in, sign out (DESIGN §1, §7, §9).

Every use case of a staff account is a function here; the login view and the CLI only translate.
A session cookie carries the account's session version (``User.get_id``); bumping it ends every
session of the account at once. Logout bumps it, and so does every change of the account's life
cycle (DESIGN §7): deactivation and a new password also revoke the account's API tokens, taking
away a role ends its sessions. Administration never locks itself out: an administrator cannot
deactivate their own account or take away their own admin role, and the last active
administrator stays one. Every change is in the audit trail, never with the password.
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
from study.models import ApiToken, Membership, Role, Study, User, utcnow
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
    # False when the account held the role already: nothing was written.
    changed: bool = True


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

    ``password`` is for a new account only: an existing account keeps its password, and one
    given for it is refused rather than ignored (``set_password`` changes a password, and ends
    the account's sessions and API tokens in doing so). A coordinator or researcher holds the
    role in ``study``; an admin is an admin everywhere.
    """
    check_role(role, study)
    email = normalise_email(email)
    user = find_account(session, email)
    if user is not None:
        if password is not None:
            raise NotAllowed(f"{email} has an account already; its password is not changed "
                             "here: use set-password, or leave the password out to add a role.")
        return AccountChange(user, created=False,
                             changed=grant_role(session, user, role, study, actor=actor))
    if password is None:
        raise NotAllowed(f"A new account ({email}) needs a password.")
    check_password_rule(password)
    user = User(email=email, password_hash="", is_admin=False)
    user.set_password(password)
    session.add(user)
    session.flush()
    _give_role(user, role, study)
    audit.record(session, "staff_account", actor=actor, study=study, user_id=user.id,
                 email_domain=email.split("@")[1], role=role, created=True)
    session.flush()
    return AccountChange(user, created=True)


def check_role(role: str, study: Study | None) -> None:
    """Refuse a role that does not exist, or a study role without its study."""
    if role not in ROLE_NAMES:
        raise NotAllowed(f"There is no staff role {role!r}.")
    if role != ADMIN and study is None:
        raise NotAllowed(f"A {role} works on a study: name it.")


def holds_role(user: User, role: str, study: Study | None) -> bool:
    """Whether ``user`` holds ``role`` itself (in ``study`` for a study role), not through admin."""
    if role == ADMIN:
        return user.is_admin
    return study is not None and Role(role) in user.roles_in(study)


def _give_role(user: User, role: str, study: Study | None) -> None:
    if role == ADMIN:
        user.is_admin = True
    elif study is not None:
        user.memberships.append(Membership(study=study, role=Role(role)))


def grant_role(session: Session, user: User, role: str, study: Study | None, *,
               actor: str) -> bool:
    """Give ``user`` ``role`` (in ``study``); False, and nothing written, if they hold it."""
    check_role(role, study)
    if holds_role(user, role, study):
        return False
    _give_role(user, role, study)
    audit.record(session, "staff_account", actor=actor, study=study, user_id=user.id,
                 email_domain=user.email.split("@")[1], role=role, created=False)
    session.flush()
    return True


def remove_role(session: Session, user: User, role: str | None, study: Study | None, *,
                actor: str) -> list[str]:
    """Take ``role`` (every role in ``study`` when None) away from ``user``; end their sessions.

    Returns the roles removed. The admin role is taken away only from someone else, and never
    from the last active administrator.
    """
    if role is None:
        if study is None:
            raise NotAllowed("Name the study whose roles are taken away, or the admin role.")
        roles = sorted(r.value for r in user.roles_in(study))
        if not roles:
            raise NotAllowed(f"{user.email} has no role in study {study.slug!r}.")
    else:
        check_role(role, study)
        if not holds_role(user, role, study):
            where = f" in study {study.slug!r}" if study is not None and role != ADMIN else ""
            raise NotAllowed(f"{user.email} is not {_a(role)}{where}.")
        roles = [role]
    if ADMIN in roles:
        _refuse_to_lock_out(session, user, actor, "take away the admin role of")
        user.is_admin = False
    for membership in [m for m in user.memberships
                       if study is not None and m.study_id == study.id
                       and m.role.value in roles]:
        user.memberships.remove(membership)
    user.end_sessions()
    audit.record(session, "staff_role_removed", actor=actor,
                 study=None if ADMIN in roles else study, user_id=user.id, roles=roles)
    session.flush()
    return roles


def deactivate_account(session: Session, user: User, *, actor: str) -> int:
    """Close ``user``'s account: no sign-in, every session ended, every API token revoked.

    Returns how many live tokens were revoked. The account and its roles stay, so that
    ``reactivate_account`` can undo a mistake.
    """
    if not user.active:
        raise NotAllowed(f"{user.email} is deactivated already.")
    _refuse_to_lock_out(session, user, actor, "deactivate")
    user.active = False
    user.end_sessions()
    revoked = revoke_api_tokens(session, user)
    audit.record(session, "staff_account_deactivated", actor=actor, user_id=user.id,
                 api_tokens_revoked=revoked)
    session.flush()
    return revoked


def reactivate_account(session: Session, user: User, *, actor: str) -> None:
    """Open a deactivated account again, with its password and roles; its tokens stay revoked."""
    if user.active:
        raise NotAllowed(f"{user.email} is active already.")
    user.active = True
    audit.record(session, "staff_account_reactivated", actor=actor, user_id=user.id)
    session.flush()


def set_password(session: Session, user: User, password: str, *, actor: str) -> int:
    """Give ``user`` a new password: every session ends and every API token is revoked.

    Whoever knew the old password may hold a session or have made a token with it. Returns how
    many live tokens were revoked. The audit event says that the password changed, never what
    it is.
    """
    check_password_rule(password)
    user.set_password(password)
    revoked = revoke_api_tokens(session, user)
    audit.record(session, "staff_password_changed", actor=actor, user_id=user.id,
                 api_tokens_revoked=revoked)
    session.flush()
    return revoked


def revoke_api_tokens(session: Session, user: User) -> int:
    """Revoke every live API token of ``user``; how many there were."""
    live = list(session.scalars(select(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))))
    now = utcnow()
    for token in live:
        token.revoked_at = now
    return len(live)


def _refuse_to_lock_out(session: Session, user: User, actor: str, what: str) -> None:
    """An administrator keeps their own account; the last active administrator stays one."""
    if actor == audit.actor_for(user=user):
        raise NotAllowed(f"You cannot {what} your own account: ask another administrator.")
    if user.is_admin and user.active:
        # Every active administrator's row is locked (PostgreSQL), so two administrators
        # deactivating each other at once cannot both succeed.
        admins = session.scalars(select(User.id).where(
            User.is_admin.is_(True), User.active.is_(True)).with_for_update()).all()
        if not set(admins) - {user.id}:
            raise NotAllowed(f"{user.email} is the last active administrator: make another "
                             f"account admin first, or nobody could manage the accounts.")


def _a(role: str) -> str:
    return f"{'an' if role[0] in 'aeiou' else 'a'} {role}"


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
