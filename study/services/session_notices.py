"""Telling booked trainees that their contact session changed or was cancelled.

The change itself is never held back by the mail: the caller makes it, then hands the trainees
who were booked to :func:`send_notices`, which reports who was told and who was not (no email
on file, or the mail server refused). Each email carries a fresh personal link to the trainee's
page, where they can keep or change their booking (or book another after a cancellation); each
send is logged as a :class:`SentMessage` and nothing of the address or body is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from study import audit
from study.errors import DomainError
from study.mail import Mailer, MailError
from study.models import (
    ContactSession,
    MessageKind,
    Participant,
    ParticipantContact,
    SentMessage,
    Study,
)
from study.services import invitations


@dataclass
class NoticeReport:
    """Who was told by email, and who was not, with why."""

    notified: list[str] = field(default_factory=list)
    not_notified: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        told = f"{len(self.notified)} booked trainee(s) told by email."
        if not self.not_notified:
            return told
        missed = "; ".join(f"{code} ({why})" for code, why in self.not_notified)
        return f"{told} Not notified — reach them another way: {missed}."


def changed_body(study: Study, contact_session: ContactSession, changes: Sequence[str],
                 link: str | None) -> str:
    """The notice of a changed session: each change, the session as it is now, the link."""
    lines = [f"Your contact session for {study.title} has changed.", ""]
    lines += [f"- {change}" for change in changes]
    lines += ["", "The session now:", _describe(contact_session), ""]
    if link:
        lines += ["If the new arrangement does not suit you, choose another session here:", link,
                  ""]
    lines += ["This link is personal; please do not share it."] if link else []
    return "\n".join(lines).rstrip() + "\n"


def cancelled_body(study: Study, contact_session: ContactSession, link: str | None) -> str:
    """The notice of a cancelled session, with a link to book another."""
    lines = [f"Your contact session for {study.title} has been cancelled:",
             _describe(contact_session), "", "Your place is released, so you can book another "
             "session."]
    if link:
        lines += ["Choose one here:", link, "", "This link is personal; please do not share it."]
    return "\n".join(lines) + "\n"


def _describe(contact_session: ContactSession) -> str:
    return (f"{contact_session.starts_at:%A %d %B %Y, %H:%M} UTC, "
            f"{contact_session.duration_minutes} minutes, at {contact_session.location}, "
            f"led by {contact_session.facilitator.display_name}.")


def send_notices(session: Session, mailer: Mailer | None, contact_session: ContactSession,
                 participants: Sequence[Participant], kind: MessageKind, *,
                 body: Callable[[str | None], str], link_for: Callable[[str], str],
                 actor: str, mail_problem: str | None = None) -> NoticeReport:
    """Email each trainee; ``body(link)`` writes the message, ``link_for(token)`` the URL.

    ``mailer`` is None when the mail server could not be reached (``mail_problem`` says why):
    then nobody is told and everyone is listed with the reason.
    """
    report = NoticeReport()
    study = contact_session.cohort.study
    subject = (f"{study.title}: your contact session has changed"
               if kind is MessageKind.SESSION_CHANGED
               else f"{study.title}: your contact session is cancelled")
    for participant in participants:
        contact = session.get(ParticipantContact, participant.id)
        if contact is None or not contact.email:
            report.not_notified.append((participant.code, "no email on file"))
            continue
        if mailer is None:
            report.not_notified.append((participant.code, mail_problem or "mail unavailable"))
            continue
        link = None
        if participant.is_active:
            try:
                with session.begin_nested():
                    link = link_for(invitations.issue_link(session, participant))
            except DomainError:
                link = None
        try:
            delivery = mailer.send(contact.email, subject, body(link))
        except MailError as error:
            report.not_notified.append((participant.code, str(error)))
            continue
        session.add(SentMessage(participant_id=participant.id, kind=kind, via=delivery.via))
        audit.record(session, f"{kind.value}_notice", actor=actor, participant=participant,
                     session_id=contact_session.id, via=delivery.via)
        report.notified.append(participant.code)
    session.flush()
    return report
