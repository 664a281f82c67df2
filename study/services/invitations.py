"""Invitations: unguessable personal links, stored only as hashes, and the emails that carry them.

A coordinator invites a cohort from a spreadsheet (``read_invitees``): every bad row is reported
with its line number and nothing is created until the whole file is clean. The invitations are
committed before any email goes out (``email_invitations``), so a mail server that fails midway
leaves working invitations whose emails can be sent again (``resend``).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from study import audit, mail
from study.errors import DomainError, NotAllowed
from study.models import (
    Cohort,
    Invitation,
    MessageKind,
    Participant,
    ParticipantContact,
    SentMessage,
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


class CohortClosed(NotAllowed):
    """The cohort is closed: it takes no new invitations until it is reopened."""


def invite(session: Session, study: Study, cohort: Cohort, count: int, *, actor: str,
           emails: list[str] | None = None, external_ids: list[str | None] | None = None
           ) -> list[IssuedInvitation]:
    """Create ``count`` participants with a personal link each; tokens exist only in the result.

    The first ``len(emails)`` of them get that email (and the external id at the same place in
    ``external_ids``) as their contact details.
    """
    if cohort.study_id != study.id:
        raise NotAllowed(f"Cohort {cohort.name!r} belongs to another study.")
    if cohort.closed_at is not None:
        raise CohortClosed(f"Cohort {cohort.name!r} is closed; reopen it to invite trainees to it.")
    if study.status is not StudyStatus.RECRUITING:
        raise NotAllowed(f"Study {study.slug!r} is {study.status.value}, not recruiting.")
    if count < 1:
        raise NotAllowed("The number of invitations must be at least 1.")
    emails = emails or []
    external_ids = external_ids or []
    issued = []
    for index in range(count):
        participant = _new_participant(session, study, cohort)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        session.add(Invitation(participant_id=participant.id, token_sha256=hash_token(token)))
        if index < len(emails):
            external_id = external_ids[index] if index < len(external_ids) else None
            session.add(ParticipantContact(participant_id=participant.id, email=emails[index],
                                           external_id=external_id))
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
    row = session.execute(_token_lookup(lock), {"token_sha256": hash_token(token)}).one_or_none()
    if row is None:
        return None
    if not lock:  # the study read with it becomes ``participant.study``, as loaded
        set_committed_value(row[0], "study", row[1])
    return row[0]


@functools.cache
def _token_lookup(lock: bool) -> Select[Any]:
    """The lookup behind every trainee request, built once (its SQL is cached by its key)."""
    query = (
        select(Participant)
        .join(Invitation, Invitation.participant_id == Participant.id)
        .where(Invitation.token_sha256 == bindparam("token_sha256"),
               Invitation.revoked_at.is_(None))
    )
    if lock:
        return query.with_for_update(of=Participant).execution_options(populate_existing=True)
    # Every trainee page reads the study next: in the same round trip, as a second entity of
    # the row. A joined eager load does the same and cost a tenth of a page view to set up.
    return query.add_columns(Study).join(Study, Study.id == Participant.study_id)


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


def trainee_link(base_url: str, token: str) -> str:
    """The absolute personal link: the trainee blueprint's ``/t/<token>`` on ``base_url``."""
    return f"{base_url.rstrip('/')}/t/{token}"


def copy_link(session: Session, participant: Participant, *, actor: str) -> str:
    """One more live link, for the coordinator to pass on by hand; the others keep working."""
    token = issue_link(session, participant)
    audit.record(session, "invitation_link_copied", actor=actor, participant=participant)
    return token


# --- the spreadsheet -------------------------------------------------------------------------

MAX_ROWS = 500
MAX_FILE_BYTES = 1_000_000
COLUMNS = ("email", "external_id", "cohort")
EXTERNAL_ID_LENGTH = 100


@dataclass(frozen=True)
class RowProblem:
    """Why one line of the spreadsheet cannot be imported."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}"


class InvitationFileRefused(DomainError):
    """The spreadsheet has problems (``problems``, in line order); nothing was imported."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = sorted(problems, key=lambda problem: problem.line)
        count = len(self.problems)
        super().__init__(f"The spreadsheet has {count} problem{'s' if count != 1 else ''}; "
                         "nothing was imported. Correct them and try again.")


@dataclass(frozen=True)
class Invitee:
    """A clean row of the spreadsheet."""

    line: int
    email: str
    external_id: str | None
    cohort: Cohort


def decode_spreadsheet(data: bytes) -> str:
    """An uploaded CSV file's text: UTF-8, with or without a byte order mark."""
    if len(data) > MAX_FILE_BYTES:
        raise InvitationFileRefused([RowProblem(
            1, f"the file is larger than {MAX_FILE_BYTES // 1_000_000} MB; "
               f"invite at most {MAX_ROWS} trainees per file")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise InvitationFileRefused([RowProblem(
            line, "is not UTF-8 text; save the spreadsheet as \u201cCSV UTF-8\u201d")]) from error


def read_invitees(session: Session, study: Study, text: str, *,
                  default_cohort: Cohort | None) -> list[Invitee]:
    """The spreadsheet's rows, checked; :class:`InvitationFileRefused` lists every bad row.

    The header row names the columns ``email`` and optionally ``external_id`` and ``cohort``
    (in any order, any case). A row's cohort is the one its ``cohort`` cell names, else
    ``default_cohort``. Blank rows are skipped; line numbers are the file's own.
    """
    header, rows = _rows(text.removeprefix("\ufeff"))
    cohorts = {cohort.name.casefold(): cohort for cohort in study.cohorts}
    problems: list[RowProblem] = []
    invitees: list[Invitee] = []
    first_line_of: dict[str, int] = {}
    first_line_of_id: dict[str, int] = {}
    for line, cells in rows:
        values = dict(zip(header, (cell.strip() for cell in cells), strict=False))
        if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header):]):
            problems.append(RowProblem(line, f"has {len(cells)} cells but the header names "
                                             f"{len(header)} columns"))
            continue
        row_problems: list[str] = []
        email = _email(values.get("email", ""), row_problems)
        if email is not None:
            key = email.casefold()
            if key in first_line_of:
                row_problems.append(f"{email} is on line {first_line_of[key]} already")
            else:
                first_line_of[key] = line
        external_id = values.get("external_id") or None
        if external_id is not None:
            if len(external_id) > EXTERNAL_ID_LENGTH:
                row_problems.append(f"the external id is longer than {EXTERNAL_ID_LENGTH} "
                                    "characters")
            elif external_id in first_line_of_id:
                row_problems.append(f"external id {external_id} is on line "
                                    f"{first_line_of_id[external_id]} already")
            else:
                first_line_of_id[external_id] = line
        cohort = _cohort(values.get("cohort", ""), cohorts, default_cohort, row_problems)
        problems.extend(RowProblem(line, message) for message in row_problems)
        if not row_problems and email is not None and cohort is not None:
            invitees.append(Invitee(line, email, external_id, cohort))
    problems.extend(_already_invited(session, study, first_line_of, first_line_of_id))
    if problems:
        raise InvitationFileRefused(problems)
    return invitees


def _rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header's column names and the non-blank rows below it, with their line numbers."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    header_line = 1
    rows: list[tuple[int, list[str]]] = []
    start = 1  # the line a record starts on: csv counts the line it ends on
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header, header_line = [cell.strip().casefold() for cell in cells], line
            else:
                rows.append((line, cells))
            if len(rows) > MAX_ROWS:
                raise InvitationFileRefused([RowProblem(
                    line, f"more than {MAX_ROWS} trainees in one file; split it and "
                          "import the parts one after another")])
    except csv.Error as error:
        raise InvitationFileRefused([RowProblem(reader.line_num or 1,
                                                f"cannot be read as CSV: {error}")]) from error
    if header is None:
        raise InvitationFileRefused([RowProblem(1, "the spreadsheet is empty; paste rows under "
                                                   "a header row such as: email,external_id")])
    _check_header(header, header_line)
    if not rows:
        raise InvitationFileRefused([RowProblem(header_line, "there are no trainees under the "
                                                             "header row")])
    return header, rows


def _check_header(header: list[str], line: int) -> None:
    expected = "the first row must name the columns: email, and optionally external_id and cohort"
    if "email" not in header:
        looks_like_data = any("@" in name for name in header)
        raise InvitationFileRefused([RowProblem(
            line, f"{expected} (it has no email column"
                  f"{'; it looks like a trainee, not a header' if looks_like_data else ''})")])
    unknown = [name or "(blank)" for name in header if name not in COLUMNS]
    repeated = sorted({name for name in header if header.count(name) > 1 and name})
    if unknown:
        raise InvitationFileRefused([RowProblem(
            line, f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                  f"{expected}")])
    if repeated:
        raise InvitationFileRefused([RowProblem(
            line, f"the column {', '.join(repeated)} is named twice")])


def _email(value: str, problems: list[str]) -> str | None:
    if not value:
        problems.append("has no email address")
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as error:
        problems.append(f"{value} is not a valid email address ({error})")
        return None


def _cohort(name: str, cohorts: dict[str, Cohort], default: Cohort | None,
            problems: list[str]) -> Cohort | None:
    if name:
        cohort = cohorts.get(name.casefold())
        if cohort is None:
            known = ", ".join(sorted(c.name for c in cohorts.values())) or "none yet"
            problems.append(f"the study has no cohort named {name} (its cohorts: {known})")
            return None
    elif default is None:
        problems.append("has no cohort: fill in the cohort column or choose a cohort on the form")
        return None
    else:
        cohort = default
    if cohort.closed_at is not None:
        problems.append(f"cohort {cohort.name} is closed; reopen it to invite trainees to it")
        return None
    return cohort


def _already_invited(session: Session, study: Study, emails: dict[str, int],
                     external_ids: dict[str, int]) -> list[RowProblem]:
    problems = []
    in_study = (select(ParticipantContact.email, ParticipantContact.external_id, Participant.code)
                .join(Participant, Participant.id == ParticipantContact.participant_id)
                .where(Participant.study_id == study.id))
    if emails:
        for email, _, code in session.execute(
                in_study.where(func.lower(ParticipantContact.email).in_(
                    [key.lower() for key in emails]))):
            line = emails.get((email or "").casefold())
            if line is not None:
                problems.append(RowProblem(line, f"{email} is already invited to this study "
                                                 f"({code})"))
    if external_ids:
        for _, external_id, code in session.execute(
                in_study.where(ParticipantContact.external_id.in_(list(external_ids)))):
            problems.append(RowProblem(external_ids[external_id or ""],
                                       f"external id {external_id} is already in this study "
                                       f"({code})"))
    return problems


@dataclass(frozen=True)
class InvitedTrainee:
    """A trainee invited from the spreadsheet, with the link for their email."""

    participant: Participant
    email: str
    token: str


def invite_invitees(session: Session, study: Study, invitees: list[Invitee], *,
                    actor: str) -> list[InvitedTrainee]:
    """Create a participant and a link for each clean row, cohort by cohort, in file order."""
    by_cohort: dict[int, list[Invitee]] = {}
    for invitee in invitees:
        by_cohort.setdefault(invitee.cohort.id, []).append(invitee)
    invited: dict[int, InvitedTrainee] = {}
    for group in by_cohort.values():
        issued = invite(session, study, group[0].cohort, len(group), actor=actor,
                        emails=[i.email for i in group],
                        external_ids=[i.external_id for i in group])
        for invitee, one in zip(group, issued, strict=True):
            invited[invitee.line] = InvitedTrainee(one.participant, invitee.email, one.token)
    return [invited[line] for line in sorted(invited)]


# --- the emails ------------------------------------------------------------------------------


def invitation_message(study: Study, link: str) -> tuple[str, str]:
    """The invitation email's subject and plain-text body."""
    subject = f"Invitation to take part in a study: {study.title}"
    body = f"""Hello,

You are invited to take part in the study "{study.title}".

Your personal link:
{link}

What to expect: the link first tells you what the study involves and asks for your consent.
If you agree, you answer a short questionnaire, take part in the training activity the study
assigns you (chosen at random), and answer a questionnaire again afterwards. You can stop at
any point and come back later with the same link, and you can withdraw at any time.

This link is personal: please do not share it. If you do not want to take part, you can ignore
this email or decline on the first page.

The study team
"""
    return subject, body


@dataclass
class EmailOutcome:
    """What became of a batch of invitation emails."""

    sent: list[InvitedTrainee] = field(default_factory=list)
    # (trainee, reason) for every email the mail server did not take.
    not_sent: list[tuple[InvitedTrainee, str]] = field(default_factory=list)
    via: str | None = None


def email_invitations(session: Session, study: Study, invited: list[InvitedTrainee], *,
                      base_url: str, actor: str) -> EmailOutcome:
    """Email each trainee their link, logging each email sent; failures are reported, not raised.

    Call it after the invitations are committed: a server that fails midway leaves the rest
    unsent and their invitations in place, for :func:`resend`.
    """
    outcome = EmailOutcome()
    pending = list(invited)
    try:
        with mail.mailer() as mailer:
            while pending:
                trainee = pending.pop(0)
                subject, body = invitation_message(study, trainee_link(base_url, trainee.token))
                try:
                    delivery = mailer.send(trainee.email, subject, body)
                except mail.MailError as error:
                    outcome.not_sent.append((trainee, str(error)))
                    continue
                except OSError as error:  # the outbox folder could not be written
                    outcome.not_sent.append((trainee, f"Could not write to the outbox: "
                                                      f"{error.strerror or error}."))
                    continue
                outcome.via = delivery.via
                outcome.sent.append(trainee)
                session.add(SentMessage(participant_id=trainee.participant.id,
                                        kind=MessageKind.INVITATION, via=delivery.via))
    except mail.MailError as error:  # the server could not be reached at all
        outcome.not_sent.extend((trainee, str(error)) for trainee in pending)
    session.flush()
    audit.record(session, "invitations_emailed", actor=actor, study=study,
                 sent=len(outcome.sent), not_sent=len(outcome.not_sent), via=outcome.via)
    return outcome


def resend(session: Session, participant: Participant, *, base_url: str, actor: str) -> str:
    """Email the trainee their invitation again, with a new live link; returns the address.

    This function commits, as :func:`study.services.reminders.send_reminders` does, because the
    order matters: the new link is committed *before* the email is handed over, so a trainee can
    never hold a link whose row a failed commit took back. When the server does not take the
    email, the link that nobody received is revoked in a commit of its own and
    :class:`study.mail.MailError` is raised with the server's reason.
    """
    contact = session.get(ParticipantContact, participant.id)
    if contact is None or not contact.email:
        raise NotAllowed(f"{participant.code} has no email address; copy a link and pass it on "
                         "instead.")
    token = issue_link(session, participant)
    session.commit()
    subject, body = invitation_message(participant.study, trainee_link(base_url, token))
    try:
        with mail.mailer() as mailer:
            delivery = mailer.send(contact.email, subject, body)
    except (mail.MailError, OSError) as error:
        unsent = session.scalars(
            select(Invitation).where(Invitation.token_sha256 == hash_token(token))).one()
        unsent.revoked_at = utcnow()
        session.commit()
        if isinstance(error, mail.MailError):
            raise
        # the outbox folder could not be written
        raise mail.MailError(f"Could not write to the outbox: {error.strerror or error}."
                             ) from error
    session.add(SentMessage(participant_id=participant.id, kind=MessageKind.INVITATION,
                            via=delivery.via))
    session.flush()
    audit.record(session, "invitation_resent", actor=actor, participant=participant,
                 via=delivery.via)
    return contact.email


@dataclass(frozen=True)
class ContactSummary:
    """A trainee's contact details and the emails sent to them, for the coordinator's pages."""

    email: str | None
    external_id: str | None
    emails_sent: int
    last_sent_at: datetime | None


def contact_summaries(session: Session, participants: list[Participant]
                      ) -> dict[int, ContactSummary]:
    """Per participant id: their email, external id, and how many emails went to them when."""
    ids = [participant.id for participant in participants]
    if not ids:
        return {}
    contacts = {contact.participant_id: contact for contact in session.scalars(
        select(ParticipantContact).where(ParticipantContact.participant_id.in_(ids)))}
    sent = {participant_id: (count, last) for participant_id, count, last in session.execute(
        select(SentMessage.participant_id, func.count(SentMessage.id),
               func.max(SentMessage.sent_at))
        .where(SentMessage.participant_id.in_(ids)).group_by(SentMessage.participant_id))}
    summaries = {}
    for participant_id in ids:
        contact = contacts.get(participant_id)
        count, last = sent.get(participant_id, (0, None))
        summaries[participant_id] = ContactSummary(
            contact.email if contact else None, contact.external_id if contact else None,
            count, last)
    return summaries
