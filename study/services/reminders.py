"""Reminders (DESIGN §3, §7): who is stalled on a step whose window is open, and emailing them.

A trainee is *stalled* when they have something to do now: consent, the baseline
questionnaires, booking a contact session, their activity (the education module, or the
session they booked), the post or the follow-up questionnaire. Each step is reminded only
while its window is open:

- consent, baseline and booking while the study is recruiting;
- the activity while the intervention period runs (until post opens, DESIGN §3);
- post and follow-up inside their windows, as :mod:`study.services.journey` computes them.

A reminder is due when the trainee has an email address on file and neither the invitation
nor a reminder went to them within the study's ``reminder_interval_days``; the invitation
starts the interval (when its email is not on record, the moment they were invited does).
Notices about a moved or cancelled session do not count: they are not nudges. A trainee who
reached a step by what they did (consenting, finishing baseline) is busy with it, not stalled,
so that step is reminded an interval after they reached it; post and follow-up open by the
clock, and the reminder is how the trainee learns it opened. A booked session is reminded
within the interval before it starts; a booking step with no session to book is listed but
not reminded (the coordinator has a session to schedule).

The list is computed for the whole study in four queries, whatever its size, by the window
rules of :mod:`study.services.journey` (the same functions ``next_step`` uses).

Sending commits once per message, unlike other services: a reminder is logged and its link
stored *before* it is handed to the mail server (and both are taken back if the server
refuses it), so that two runs at once cannot both remind a trainee, a run that stops midway
keeps every message it sent on record, and no transaction (on SQLite, the database's write
lock) is held while the mail server answers.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from study import audit, mail
from study.models import (
    Allocation,
    Arm,
    ArmKind,
    Booking,
    Cohort,
    ContactSession,
    Facilitator,
    Invitation,
    MessageKind,
    Participant,
    ParticipantContact,
    ParticipantStatus,
    SentMessage,
    SessionStatus,
    Study,
    StudyInstrument,
    StudyStatus,
    Timepoint,
)
from study.services.allocation import lock_participant
from study.services.invitations import hash_token, issue_link
from study.services.journey import followup_closing, followup_opening, post_closing, post_opening


class ReminderStep(enum.StrEnum):
    """The step a stalled trainee is on (kept as ``SentMessage.step`` of their reminder)."""

    CONSENT = "consent"
    BASELINE = "baseline"
    BOOKING = "booking"
    MODULE = "module"
    SESSION = "session"
    POST = "post"
    FOLLOWUP = "followup"


STEP_LABELS = {
    ReminderStep.CONSENT: "Consent",
    ReminderStep.BASELINE: "Baseline questionnaires",
    ReminderStep.BOOKING: "Booking a contact session",
    ReminderStep.MODULE: "Education module",
    ReminderStep.SESSION: "Attending the booked session",
    ReminderStep.POST: "Post questionnaire",
    ReminderStep.FOLLOWUP: "Follow-up questionnaire",
}

# Steps a trainee reaches by what they do: reminded an interval after they reached them.
# (Consent is reached by being invited, and the invitation starts the interval anyway.)
REACHED_BY_THE_TRAINEE = frozenset({ReminderStep.BASELINE, ReminderStep.BOOKING,
                                    ReminderStep.MODULE})
# The emails that start and continue the reminder interval (DESIGN §7).
INTERVAL_KINDS = (MessageKind.INVITATION, MessageKind.REMINDER)
# Everyone still on the journey; a trainee who finished, declined or left is never reminded.
ACTIVE_STATUSES = (ParticipantStatus.INVITED, ParticipantStatus.CONSENTED,
                   ParticipantStatus.BASELINE_DONE, ParticipantStatus.ALLOCATED,
                   ParticipantStatus.INTERVENTION_DONE, ParticipantStatus.POST_DONE)


@dataclass(frozen=True)
class LastEmail:
    kind: MessageKind
    sent_at: datetime


@dataclass(frozen=True)
class StalledTrainee:
    """A trainee with something to do now, and whether a reminder is due.

    ``until`` is when the step's window closes (None: while the study recruits, or never);
    ``due_from`` when a reminder becomes due (None: it cannot be, see ``not_due_because``).
    """

    participant_id: int
    code: str
    cohort: str
    status: ParticipantStatus
    step: ReminderStep
    since: datetime
    until: datetime | None
    email: str | None
    last_email: LastEmail | None
    due_from: datetime | None
    not_due_because: str | None
    session_location: str = ""

    @property
    def due(self) -> bool:
        return self.not_due_because is None

    @property
    def label(self) -> str:
        return STEP_LABELS[self.step]


def when(moment: datetime) -> str:
    """A moment as reminders and their reasons give it: ``3 March 2027, 14:00 UTC``."""
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


def reminding_studies(session: Session) -> list[Study]:
    """The studies that may have someone to remind: recruiting, or closed with data unlocked."""
    return list(session.scalars(
        select(Study).where(
            (Study.status == StudyStatus.RECRUITING)
            | ((Study.status == StudyStatus.CLOSED) & Study.data_locked_at.is_(None)))
        .order_by(Study.slug)))


def stalled_trainees(session: Session, study: Study, *, now: datetime) -> list[StalledTrainee]:
    """Every active trainee of ``study`` whose step's window is open at ``now``.

    Due reminders first, then the longest stalled first.
    """
    if study.status is StudyStatus.DRAFT or study.data_locked_at is not None:
        return []
    timepoints = _timepoints_with_instruments(session, study)
    has_post, has_followup = "post" in timepoints, "followup" in timepoints
    bookable = _cohorts_with_places(session, study, now)
    emails = _last_emails(session, study)
    interval = timedelta(days=study.reminder_interval_days)
    stalled = []
    for row in _active_trainees(session, study):
        found = _step_of(row, study, now, has_post=has_post, has_followup=has_followup)
        if found is None:
            continue
        step, since, until = found
        last_any, last_nudge = emails.get(row.id, (None, None))
        email = (row.email or "").strip() or None
        due_from: datetime | None
        due_from, reason = _due(step, since=since, until=until, invited_at=row.created_at,
                                last_nudge=last_nudge, interval=interval, now=now)
        if email is None:
            due_from, reason = None, "No email on file: cannot be reminded."
        elif step is ReminderStep.BOOKING and row.cohort_id not in bookable:
            due_from, reason = None, ("No session with places to book in their cohort: "
                                      "schedule one.")
        stalled.append(StalledTrainee(
            participant_id=row.id, code=row.code, cohort=row.cohort_name, status=row.status,
            step=step, since=since, until=until, email=email, last_email=last_any,
            due_from=due_from, not_due_because=reason,
            session_location=row.session_location or ""))
    stalled.sort(key=lambda t: (not t.due, t.since, t.code))
    return stalled


class _Trainee(NamedTuple):
    """What the list needs of one active trainee, read in one query for the whole study."""

    id: int
    code: str
    status: ParticipantStatus
    created_at: datetime
    status_changed_at: datetime
    intervention_done_at: datetime | None
    cohort_id: int
    cohort_name: str
    email: str | None
    allocated_at: datetime | None
    arm_kind: ArmKind | None
    session_at: datetime | None
    session_location: str | None


def _active_trainees(session: Session, study: Study) -> list[_Trainee]:
    """One row per active trainee: status, times, cohort, email, allocation, live booking."""
    return [_Trainee._make(row) for row in session.execute(
        select(Participant.id, Participant.code, Participant.status, Participant.created_at,
               Participant.status_changed_at, Participant.intervention_done_at,
               Participant.cohort_id, Cohort.name.label("cohort_name"),
               ParticipantContact.email, Allocation.allocated_at, Arm.kind.label("arm_kind"),
               ContactSession.starts_at.label("session_at"),
               ContactSession.location.label("session_location"))
        .join(Cohort, Cohort.id == Participant.cohort_id)
        .outerjoin(ParticipantContact, ParticipantContact.participant_id == Participant.id)
        .outerjoin(Allocation, Allocation.participant_id == Participant.id)
        .outerjoin(Arm, Arm.id == Allocation.arm_id)
        .outerjoin(Booking, Booking.participant_id == Participant.id)
        .outerjoin(ContactSession, (ContactSession.id == Booking.session_id)
                   & (ContactSession.status == SessionStatus.SCHEDULED))
        .where(Participant.study_id == study.id, Participant.status.in_(ACTIVE_STATUSES))
    )]


def _timepoints_with_instruments(session: Session, study: Study) -> set[str]:
    return set(session.scalars(
        select(Timepoint.name).join(StudyInstrument)
        .where(Timepoint.study_id == study.id).distinct()))


def _cohorts_with_places(session: Session, study: Study, now: datetime) -> set[int]:
    """Cohorts with an upcoming session, led by a peer certified on its day, with a place left.

    The sessions a trainee could book (``contact.bookable_sessions``), for every cohort at once.
    """
    booked = (select(Booking.session_id, func.count(Booking.id).label("booked"))
              .group_by(Booking.session_id).subquery())
    rows = session.execute(
        select(ContactSession.cohort_id, ContactSession.starts_at, ContactSession.capacity,
               func.coalesce(booked.c.booked, 0), Facilitator)
        .join(Facilitator, Facilitator.id == ContactSession.facilitator_id)
        .outerjoin(booked, booked.c.session_id == ContactSession.id)
        .where(ContactSession.study_id == study.id,
               ContactSession.status == SessionStatus.SCHEDULED,
               ContactSession.starts_at > now)
    ).all()
    return {cohort_id for cohort_id, starts_at, capacity, taken, facilitator in rows
            if taken < capacity and facilitator.is_certified_on(starts_at.date())}


def _last_emails(session: Session, study: Study
                 ) -> dict[int, tuple[LastEmail | None, datetime | None]]:
    """Participant id -> (their latest email of any kind, the latest invitation or reminder)."""
    latest: dict[int, tuple[LastEmail | None, datetime | None]] = {}
    for participant_id, kind, sent_at in session.execute(
        select(SentMessage.participant_id, SentMessage.kind, func.max(SentMessage.sent_at))
        .join(Participant, Participant.id == SentMessage.participant_id)
        .where(Participant.study_id == study.id,
               Participant.status.in_(ACTIVE_STATUSES))
        .group_by(SentMessage.participant_id, SentMessage.kind)
    ):
        last_any, last_nudge = latest.get(participant_id, (None, None))
        if last_any is None or sent_at > last_any.sent_at:
            last_any = LastEmail(kind, sent_at)
        if kind in INTERVAL_KINDS and (last_nudge is None or sent_at > last_nudge):
            last_nudge = sent_at
        latest[participant_id] = (last_any, last_nudge)
    return latest


def _step_of(row: _Trainee, study: Study, now: datetime, *, has_post: bool, has_followup: bool
             ) -> tuple[ReminderStep, datetime, datetime | None] | None:
    """(step, reached at, window closes at) for a trainee whose step's window is open, else None.

    The decisions of ``journey.next_step``, on values read in bulk (a test keeps them equal).
    """
    status = row.status
    recruiting = study.status is StudyStatus.RECRUITING
    if status is ParticipantStatus.INVITED:
        return (ReminderStep.CONSENT, row.created_at, None) if recruiting else None
    if status in (ParticipantStatus.CONSENTED, ParticipantStatus.BASELINE_DONE):
        return (ReminderStep.BASELINE, row.status_changed_at, None) if recruiting else None
    if row.allocated_at is None:
        return None
    post_opens = post_opening(study, row.allocated_at, row.intervention_done_at)
    if status is ParticipantStatus.ALLOCATED and now < post_opens:
        if row.arm_kind is ArmKind.EDUCATION:
            return ReminderStep.MODULE, row.allocated_at, post_opens
        if row.session_at is None:
            return (ReminderStep.BOOKING, row.allocated_at, post_opens) if recruiting else None
        if row.session_at > now:
            return ReminderStep.SESSION, row.allocated_at, row.session_at
        return None  # the session has taken place: attendance is the coordinator's to record
    if status is not ParticipantStatus.POST_DONE and has_post and now >= post_opens:
        closes = post_closing(study, post_opens, has_followup=has_followup)
        if closes is None or now <= closes:
            return ReminderStep.POST, post_opens, closes
    if not has_followup:
        return None
    followup_opens = followup_opening(study, post_opens)
    closes = followup_closing(study, followup_opens)
    if now < followup_opens or (closes is not None and now > closes):
        return None
    return ReminderStep.FOLLOWUP, followup_opens, closes


def _due(step: ReminderStep, *, since: datetime, until: datetime | None, invited_at: datetime,
         last_nudge: datetime | None, interval: timedelta, now: datetime
         ) -> tuple[datetime, str | None]:
    """When the reminder is due, and why not yet (None when it is due at ``now``)."""
    started = last_nudge or invited_at
    waits = [(started + interval,
              f"Emailed {when(started)}; next reminder from {when(started + interval)}."
              if last_nudge is not None else
              f"Invited {when(started)}; first reminder from {when(started + interval)}.")]
    if step in REACHED_BY_THE_TRAINEE:
        waits.append((since + interval, f"On this step since {when(since)}; reminder from "
                                        f"{when(since + interval)}."))
    if step is ReminderStep.SESSION and until is not None:
        waits.append((until - interval, f"Session on {when(until)}; reminder from "
                                        f"{when(until - interval)}."))
    due_from, reason = max(waits, key=lambda wait: wait[0])
    return due_from, (reason if due_from > now else None)


# --- sending ---------------------------------------------------------------------------------


@dataclass
class ReminderRun:
    """What one run did for one study (or would do, in a dry run): codes and steps, no address."""

    slug: str
    dry_run: bool
    via: str
    stalled: int
    no_email: int
    not_due: int
    sent: list[tuple[str, ReminderStep]] = field(default_factory=list)
    refused: list[tuple[str, ReminderStep]] = field(default_factory=list)
    # Due but not sent: the mail server failed (``error``) before their turn.
    unsent: int = 0
    error: str | None = None


def message_for(study: Study, trainee: StalledTrainee, link: str) -> tuple[str, str]:
    """The reminder's subject and body: the study, what is waiting and until when, the link."""
    until = trainee.until
    waiting = {
        ReminderStep.CONSENT: (
            f"You are invited to take part in the study \"{study.title}\". Your personal link "
            "below shows what taking part involves; there you can say whether you would like "
            "to take part."),
        ReminderStep.BASELINE: (
            f"Thank you for agreeing to take part in \"{study.title}\". The first "
            "questionnaires are waiting for you; the answers you gave are kept, and you carry "
            "on where you stopped."),
        ReminderStep.BOOKING: (
            f"In \"{study.title}\" your next step is to book a place in a contact session with "
            "a certified peer support specialist"
            + (f", before {when(until)}." if until else ".")),
        ReminderStep.MODULE: (
            f"The education module of \"{study.title}\" is waiting for you"
            + (f"; please work through it before {when(until)}." if until else ".")),
        ReminderStep.SESSION: (
            f"A reminder of the contact session you booked in \"{study.title}\": "
            + (f"{when(until)}" if until else "")
            + (f", {trainee.session_location}." if trainee.session_location else ".")),
        ReminderStep.POST: (
            f"The questionnaire after the activity of \"{study.title}\" is open for you"
            + (f" until {when(until)}." if until else ".")
            + " Your answers count whether or not you took part in the activity."),
        ReminderStep.FOLLOWUP: (
            f"The follow-up questionnaire of \"{study.title}\" is open for you"
            + (f" until {when(until)}." if until else ".")
            + " Your answers count whether or not you took part in the activity."),
    }[trainee.step]
    # Before consenting a trainee declines; afterwards they withdraw (both from their link).
    leaving = ("If you would rather not take part, you can say so there." if
               trainee.step is ReminderStep.CONSENT else
               "From the same link you can also withdraw from the study at any time, without "
               "giving a reason.")
    subject = f"Reminder: {study.title}"
    body = (
        f"Hello,\n\n{waiting}\n\n"
        f"Your personal link:\n{link}\n\n"
        f"The link is yours alone: please do not forward it. {leaving}\n\n"
        f"You receive at most one reminder every {study.reminder_interval_days} days.\n\n"
        "The study team\n"
    )
    return subject, body


def send_reminders(session: Session, study: Study, *, now: datetime, dry_run: bool,
                   link_for: Callable[[str], str], actor: str) -> ReminderRun:
    """Email every trainee of ``study`` whose reminder is due at ``now``; see the module docs.

    ``link_for`` makes the absolute trainee link from a token. A dry run sends and writes
    nothing. Otherwise each message is committed as it goes (so this commits; call it with
    nothing else pending) and the run ends with one audit event, with counts only, when it
    sent or tried to send anything. A refused address is skipped; any other mail failure
    ends the run, and ``error`` says why.
    """
    stalled = stalled_trainees(session, study, now=now)
    due = [trainee for trainee in stalled if trainee.due]
    run = ReminderRun(
        slug=study.slug, dry_run=dry_run,
        via="smtp" if mail.configured(current_app.config) else "outbox",
        stalled=len(stalled), no_email=sum(1 for t in stalled if t.email is None),
        not_due=sum(1 for t in stalled if t.email is not None and not t.due))
    if dry_run:
        run.sent = [(trainee.code, trainee.step) for trainee in due]
        return run
    session.commit()  # end the read: nothing is held while the mail server answers
    interval = timedelta(days=study.reminder_interval_days)
    try:
        with mail.mailer() as mailer:
            for trainee in due:
                claimed = _claim(session, trainee, now=now, interval=interval, via=run.via)
                if claimed is None:
                    continue
                message_id, token = claimed
                subject, body = message_for(study, trainee, link_for(token))
                try:
                    mailer.send(trainee.email or "", subject, body)
                except mail.MailError as error:
                    _take_back(session, message_id, token)
                    if not isinstance(error, mail.AddressRefused):
                        raise
                    run.refused.append((trainee.code, trainee.step))
                    continue
                run.sent.append((trainee.code, trainee.step))
    except mail.MailError as error:
        run.error = str(error)
        run.unsent = len(due) - len(run.sent) - len(run.refused)
    if run.sent or run.refused or run.error:
        audit.record(session, "reminders_sent", actor=actor, study=study, sent=len(run.sent),
                     refused=len(run.refused), unsent=run.unsent, no_email=run.no_email,
                     not_due=run.not_due, via=run.via, failed=run.error is not None,
                     as_of=now.isoformat(timespec="seconds"))
        session.commit()
    return run


def _claim(session: Session, trainee: StalledTrainee, *, now: datetime, interval: timedelta,
           via: str) -> tuple[int, str] | None:
    """Log the reminder and store its new link, committed, unless someone got there first.

    The trainee's row is locked while their latest email is read again, so of two runs at
    once only one reminds them; a trainee who moved on since the list was made is left for
    the next run (their step, and so the message, changed).
    """
    participant = lock_participant(session, trainee.participant_id)
    latest = session.scalar(
        select(func.max(SentMessage.sent_at))
        .where(SentMessage.participant_id == participant.id,
               SentMessage.kind.in_(INTERVAL_KINDS)))
    if participant.status is not trainee.status or (latest is not None
                                                    and latest + interval > now):
        session.rollback()
        return None
    token = issue_link(session, participant)
    message = SentMessage(participant_id=participant.id, kind=MessageKind.REMINDER,
                          step=trainee.step.value, via=via, sent_at=now)
    session.add(message)
    session.flush()
    message_id = message.id
    session.commit()
    return message_id, token


def _take_back(session: Session, message_id: int, token: str) -> None:
    """Undo a claim whose message did not go out: no log entry, no link nobody received."""
    message = session.get(SentMessage, message_id)
    if message is not None:
        session.delete(message)
    invitation = session.scalars(
        select(Invitation).where(Invitation.token_sha256 == hash_token(token))).first()
    if invitation is not None:
        session.delete(invitation)
    session.commit()
