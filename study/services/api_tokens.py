"""Personal API tokens: issue, authenticate, revoke. Only a token's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from study import audit
from study.errors import NotAllowed, NotFound
from study.models import ApiToken, User, utcnow

TOKEN_PREFIX = "alp_"
# last_used_at is a hint for people reviewing tokens, not an access log: writing it at most once
# a minute keeps a burst of API calls from turning every GET into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(raw: str) -> str:
    """SHA-256 of a raw token: the only form in which API tokens are stored."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, name: str, *, actor: str) -> tuple[ApiToken, str]:
    """A new token for ``user``; the raw token is returned here and never again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise NotAllowed("A token name needs 1 to 100 characters.")
    if not user.active:
        raise NotAllowed(f"The account {user.email} is deactivated.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_sha256=token_hash(raw))
    session.add(token)
    session.flush()
    audit.record(session, "api_token_created", actor=actor, token_id=token.id, user_id=user.id)
    return token, raw


def authenticate(session: Session, raw: str, *, now: datetime | None = None) -> ApiToken | None:
    """The live token ``raw`` stands for (its use noted), or None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = session.scalars(
        select(ApiToken).where(ApiToken.token_sha256 == token_hash(raw))
    ).first()
    if token is None or not token.is_active:
        return None
    now = now or utcnow()
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
