"""Personal API tokens: issue, authenticate, revoke. Only a token's SHA-256 is stored.

A token may expire (``expires_days``) and may be limited to one study: such a token opens that
study only, and the API answers as if no other study existed (DESIGN §7).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from study import audit
from study.errors import DomainError, NotAllowed, NotFound
from study.models import ApiToken, Role, Study, User, utcnow

TOKEN_PREFIX = "alp_"
# last_used_at is a hint for people reviewing tokens, not an access log: writing it at most once
# a minute keeps a burst of API calls from turning every GET into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_EXPIRY_DAYS = 3650


class TokenRefused(DomainError):
    """A token that opens nothing: unknown, revoked, of a deactivated account, or expired."""


def token_hash(raw: str) -> str:
    """SHA-256 of a raw token: the only form in which API tokens are stored."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, name: str, *, actor: str,
                expires_days: int | None = None, study: Study | None = None
                ) -> tuple[ApiToken, str]:
    """A new token for ``user``; the raw token is returned here and never again.

    ``expires_days``: the token stops working that many days from now (never when None).
    ``study``: the token opens that study only, where the account must be a researcher.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise NotAllowed("A token name needs 1 to 100 characters.")
    if not user.active:
        raise NotAllowed(f"The account {user.email} is deactivated.")
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        raise NotAllowed(f"A token expires after 1 to {MAX_EXPIRY_DAYS} days.")
    if study is not None and not (user.is_admin or Role.RESEARCHER in user.roles_in(study)):
        raise NotAllowed(f"{user.email} is not a researcher in study {study.slug!r}: the token "
                         "would open nothing.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(user_id=user.id, name=name, token_sha256=token_hash(raw), created_at=now,
                     expires_at=now + timedelta(days=expires_days) if expires_days else None,
                     study_id=study.id if study is not None else None)
    session.add(token)
    session.flush()
    audit.record(session, "api_token_created", actor=actor, study=study, token_id=token.id,
                 user_id=user.id, expires_at=token.expires_at.isoformat()
                 if token.expires_at else None)
    return token, raw


def authenticate(session: Session, raw: str, *, now: datetime | None = None) -> ApiToken:
    """The live token ``raw`` stands for (its use noted), or :class:`TokenRefused`."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        raise TokenRefused("The API token is not valid, or it has been revoked.")
    token = session.scalars(
        select(ApiToken).where(ApiToken.token_sha256 == token_hash(raw))
    ).first()
    if token is None or not token.is_active:
        raise TokenRefused("The API token is not valid, or it has been revoked.")
    now = now or utcnow()
    if token.expires_at is not None and now >= token.expires_at:
        raise TokenRefused(f"The API token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC; "
                           "ask for a new one.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """Every token of ``user``, revoked ones included, oldest first."""
    return list(session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
    ))


def revoke_token(session: Session, token_id: int, *, actor: str) -> ApiToken:
    """Revoke a token by id (idempotent), audited."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"No API token with id {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, "api_token_revoked", actor=actor, token_id=token.id,
                     user_id=token.user_id)
    return token
