"""Invitations: unguessable personal links, stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from study import audit
from study.errors import NotAllowed
from study.models import (
    Cohort,
    Invitation,
    Participant,
    ParticipantContact,
    Study,
    StudyStatus,
    utcnow,
)

# Crockford-style alphabet: no 0/O, 1/I/L, U; codes are read aloud and typed by people.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
CODE_LENGTH = 8
TOKEN_BYTES = 32  # 256 bits


def hash_token(token: str) -> str:
    """SHA-256 of a link token: the only form in which tokens are stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_participant_code() -> str:
    """A random pseudonymous code (``P`` and 8 unambiguous characters), never derived from data."""
    return "P" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@dataclass(frozen=True)
class IssuedInvitation:
    participant: Participant
    token: str


def invite(session: Session, study: Study, cohort: Cohort, count: int, *, actor: str,
           emails: list[str] | None = None) -> list[IssuedInvitation]:
    """Create ``count`` participants with a personal link each; tokens exist only in the result."""
    if cohort.study_id != study.id:
        raise NotAllowed(f"Cohort {cohort.name!r} belongs to another study.")
    if study.status is not StudyStatus.RECRUITING:
        raise NotAllowed(f"Study {study.slug!r} is {study.status.value}, not recruiting.")
    if count < 1:
        raise NotAllowed("The number of invitations must be at least 1.")
    emails = emails or []
    issued = []
    for index in range(count):
        participant = _new_participant(session, study, cohort)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        session.add(Invitation(participant_id=participant.id, token_sha256=hash_token(token)))
        if index < len(emails):
            session.add(ParticipantContact(participant_id=participant.id, email=emails[index]))
        issued.append(IssuedInvitation(participant, token))
    session.flush()
    audit.record(session, "invitations_created", actor=actor, study=study,
                 cohort=cohort.name, count=count)
    return issued


def _new_participant(session: Session, study: Study, cohort: Cohort) -> Participant:
    for _ in range(5):
        participant = Participant(study_id=study.id, cohort_id=cohort.id,
                                  code=new_participant_code())
        try:
            with session.begin_nested():
                session.add(participant)
                session.flush()
        except IntegrityError:  # a code collision: one in 30^8, so try again
            continue
        return participant
    raise RuntimeError("could not draw a unique participant code")  # pragma: no cover


def participant_for_token(session: Session, token: str, *, lock: bool = False
                          ) -> Participant | None:
    """The participant a link belongs to, or None for an unknown or revoked link.

    Every token, valid or not, costs one hash and one indexed lookup, so response times do not
    tell a valid link from an invalid one. With ``lock``, the participant row is locked for
    the rest of the transaction (see ``study.services.allocation.lock_participant``).
    """
    query = (
        select(Participant)
        .join(Invitation, Invitation.participant_id == Participant.id)
        .where(Invitation.token_sha256 == hash_token(token), Invitation.revoked_at.is_(None))
    )
    if lock:
        query = query.with_for_update(of=Participant).execution_options(populate_existing=True)
    return session.execute(query).scalar_one_or_none()


def revoke(session: Session, participant: Participant, *, actor: str) -> None:
    """Make every one of the participant's links stop working (idempotent), audited."""
    live = session.scalars(
        select(Invitation).where(Invitation.participant_id == participant.id,
                                 Invitation.revoked_at.is_(None))
    ).all()
    if live:
        now = utcnow()
        for invitation in live:
            invitation.revoked_at = now
        audit.record(session, "invitation_revoked", actor=actor, participant=participant)


def issue_link(session: Session, participant: Participant) -> str:
    """One more live link for ``participant``, beside the links they hold already.

    Each email (the invitation, a reminder) carries a link of its own: only hashes are
    stored, so an earlier link cannot be sent again, and replacing it would break the link in
    the trainee's earlier emails. The caller records why the link was made.
    """
    if not participant.is_active:
        raise NotAllowed(f"{participant.code} is {participant.status.value.replace('_', ' ')}; "
                         "there is nothing left for them to do.")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(Invitation(participant_id=participant.id, token_sha256=hash_token(token)))
    session.flush()
    return token


def reissue(session: Session, participant: Participant, *, actor: str) -> str:
    """A new personal link for a trainee who lost theirs; every older link stops working at once."""
    if not participant.is_active:
        raise NotAllowed(f"{participant.code} is {participant.status.value.replace('_', ' ')}; "
                         "there is nothing left for them to do.")
    now = utcnow()
    for invitation in session.scalars(
        select(Invitation).where(Invitation.participant_id == participant.id,
                                 Invitation.revoked_at.is_(None))
    ):
        invitation.revoked_at = now
    token = issue_link(session, participant)
    audit.record(session, "invitation_reissued", actor=actor, participant=participant)
    return token
