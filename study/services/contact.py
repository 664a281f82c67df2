"""Contact sessions: scheduling with a certified peer, booking within capacity, attendance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from study import audit
from study.errors import NotAllowed
from study.models import (
    ArmKind,
    Booking,
    Cohort,
    ContactSession,
    Facilitator,
    Participant,
    ParticipantStatus,
    SessionStatus,
    User,
    utcnow,
)
from study.services.journey import mark_intervention_done, open_arm


class SessionInThePast(NotAllowed):
    """A session was to be scheduled at a time that has passed."""


class FacilitatorNotCertified(NotAllowed):
    """The facilitator is inactive or their certification does not cover the session's date."""


def require_certified(facilitator: Facilitator, day: date) -> None:
    """Refuse a facilitator who may not lead a session on ``day`` (DESIGN §3, §13)."""
    if not facilitator.active:
        raise FacilitatorNotCertified(f"{facilitator.display_name} is deactivated in the "
                                      "facilitator registry.")
    if not facilitator.certification_covers(day):
        raise FacilitatorNotCertified(
            f"{facilitator.display_name}'s certification is not current on "
            f"{day.isoformat()} (certified {facilitator.certified_from.isoformat()} to "
            f"{facilitator.certified_until.isoformat()}).")


def schedule_session(session: Session, *, cohort: Cohort, facilitator: Facilitator,
                     starts_at: datetime, capacity: int, location: str,
                     duration_minutes: int = 90, actor: str) -> ContactSession:
    """Schedule a session in the future, led by a peer whose certification is current then."""
    if starts_at <= utcnow():
        raise SessionInThePast("Choose a date and time in the future.")
    if facilitator.study_id != cohort.study_id:
        raise NotAllowed("The facilitator belongs to another study.")
    require_certified(facilitator, starts_at.date())
    if capacity < 1:
        raise NotAllowed("A session needs room for at least one trainee.")
    contact_session = ContactSession(
        study_id=cohort.study_id, cohort_id=cohort.id, facilitator_id=facilitator.id,
        starts_at=starts_at, capacity=capacity, location=location,
        duration_minutes=duration_minutes,
    )
    session.add(contact_session)
    session.flush()
    audit.record(session, "session_scheduled", actor=actor, study=cohort.study,
                 session_id=contact_session.id, facilitator_id=facilitator.id,
                 starts_at=starts_at.isoformat())
    return contact_session


def cancel_session(session: Session, contact_session: ContactSession, *, actor: str) -> int:
    """Cancel a session; its trainees go back to choosing another. Returns how many were booked.

    Refused once attendance has been recorded for anyone: then the session took place.
    """
    bookings = list(session.scalars(
        select(Booking).where(Booking.session_id == contact_session.id)))
    if any(booking.attended is not None for booking in bookings):
        raise NotAllowed("Attendance has been recorded for this session, so it took place and "
                         "cannot be cancelled.")
    if contact_session.status is SessionStatus.CANCELLED:
        return 0
    for booking in bookings:
        session.delete(booking)
    contact_session.status = SessionStatus.CANCELLED
    audit.record(session, "session_cancelled_by_staff", actor=actor,
                 study=contact_session.cohort.study, session_id=contact_session.id,
                 bookings_released=len(bookings))
    return len(bookings)


class CapacityBelowBookings(NotAllowed):
    """Fewer places than the trainees already booked."""


@dataclass(frozen=True)
class SessionPlan:
    """What a coordinator can change about a scheduled session."""

    starts_at: datetime
    duration_minutes: int
    location: str
    capacity: int
    facilitator: Facilitator


def edit_session(session: Session, contact_session: ContactSession, plan: SessionPlan, *,
                 actor: str) -> list[str]:
    """Move or change a session that has not started; returns what changed, in words.

    The same rules as scheduling hold for the new date and facilitator; the places cannot
    fall below the trainees already booked. Audited; the caller tells the booked trainees.
    """
    if contact_session.status is not SessionStatus.SCHEDULED:
        raise NotAllowed("The session is cancelled; schedule a new one instead.")
    if contact_session.starts_at <= utcnow():
        raise NotAllowed("The session has started, so it can no longer be changed.")
    if plan.starts_at != contact_session.starts_at and plan.starts_at <= utcnow():
        raise SessionInThePast("Choose a date and time in the future.")
    if plan.facilitator.study_id != contact_session.study_id:
        raise NotAllowed("The facilitator belongs to another study.")
    require_certified(plan.facilitator, plan.starts_at.date())
    booked = booked_count(session, contact_session)
    if plan.capacity < max(booked, 1):
        raise CapacityBelowBookings(f"{booked} trainee(s) have booked; the session needs at "
                                    f"least {max(booked, 1)} place(s).")
    changes = []
    if plan.starts_at != contact_session.starts_at:
        changes.append(f"Time: {_when(contact_session.starts_at)} is now {_when(plan.starts_at)}")
    if plan.duration_minutes != contact_session.duration_minutes:
        changes.append(f"Length: {contact_session.duration_minutes} minutes is now "
                       f"{plan.duration_minutes} minutes")
    if plan.location != contact_session.location:
        changes.append(f"Place: {contact_session.location} is now {plan.location}")
    if plan.facilitator.id != contact_session.facilitator_id:
        changes.append(f"Peer facilitator: {contact_session.facilitator.display_name} is now "
                       f"{plan.facilitator.display_name}")
    capacity_changed = plan.capacity != contact_session.capacity
    if not changes and not capacity_changed:
        return []
    contact_session.starts_at = plan.starts_at
    contact_session.duration_minutes = plan.duration_minutes
    contact_session.location = plan.location
    contact_session.capacity = plan.capacity
    contact_session.facilitator_id = plan.facilitator.id
    contact_session.facilitator = plan.facilitator
    session.flush()
    audit.record(session, "session_edited", actor=actor, study=contact_session.cohort.study,
                 session_id=contact_session.id, starts_at=plan.starts_at.isoformat(),
                 facilitator_id=plan.facilitator.id, capacity=plan.capacity,
                 duration_minutes=plan.duration_minutes, changes=len(changes))
    return changes


def _when(moment: datetime) -> str:
    return f"{moment:%A %d %B %Y, %H:%M} UTC"


def booked_participants(session: Session, contact_session: ContactSession) -> list[Participant]:
    """The trainees booked on the session, by code."""
    return list(session.scalars(
        select(Participant).join(Booking, Booking.participant_id == Participant.id)
        .where(Booking.session_id == contact_session.id).order_by(Participant.code)))


def booked_count(session: Session, contact_session: ContactSession) -> int:
    """How many places of the session are booked."""
    return session.scalar(
        select(func.count(Booking.id)).where(Booking.session_id == contact_session.id)
    ) or 0


def bookable_sessions(session: Session, participant: Participant,
                      now: datetime | None = None) -> list[tuple[ContactSession, int]]:
    """Upcoming sessions of the trainee's cohort, led by a certified peer, with places left."""
    now = now or utcnow()
    booked = (select(func.count(Booking.id)).where(Booking.session_id == ContactSession.id)
              .correlate(ContactSession).scalar_subquery())
    rows = []
    for contact_session, places_booked in session.execute(  # one query, not one per session
        select(ContactSession, booked)
        .where(ContactSession.cohort_id == participant.cohort_id,
               ContactSession.status == SessionStatus.SCHEDULED,
               ContactSession.starts_at > now)
        .order_by(ContactSession.starts_at, ContactSession.id)
    ):
        if contact_session.facilitator.is_certified_on(contact_session.starts_at.date()):
            rows.append((contact_session, contact_session.capacity - places_booked))
    return rows


def booking_of(session: Session, participant: Participant) -> Booking | None:
    """The trainee's live booking, if any."""
    return session.scalars(select(Booking).where(Booking.participant_id == participant.id)).first()


def book(session: Session, participant: Participant, session_id: int,
         now: datetime | None = None) -> Booking:
    """Book (or move) the trainee's place; the session row is locked while places are counted."""
    now = now or utcnow()
    if open_arm(session, participant, ArmKind.CONTACT) is None:
        raise NotAllowed("Booking a contact session is not open for you.")
    contact_session = session.execute(
        select(ContactSession).where(ContactSession.id == session_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if (contact_session is None or contact_session.cohort_id != participant.cohort_id
            or contact_session.status is not SessionStatus.SCHEDULED):
        raise NotAllowed("That session is not available.")
    if contact_session.starts_at <= now:
        raise NotAllowed("That session has already started.")
    if not contact_session.facilitator.is_certified_on(contact_session.starts_at.date()):
        raise NotAllowed("That session is not available.")
    existing = booking_of(session, participant)
    if existing is not None and existing.session_id == contact_session.id:
        return existing
    if booked_count(session, contact_session) >= contact_session.capacity:
        raise NotAllowed("Sorry, that session is full. Please choose another.")
    if existing is not None:
        session.delete(existing)
        session.flush()
    booking = Booking(session_id=contact_session.id, participant_id=participant.id)
    session.add(booking)
    session.flush()
    audit.record(session, "session_booked", actor=audit.actor_for(participant=participant),
                 participant=participant, session_id=contact_session.id,
                 moved_from=existing.session_id if existing is not None else None)
    return booking


def cancel_booking(session: Session, participant: Participant) -> None:
    """Give the trainee's place back (refused once attendance is recorded); audited."""
    booking = booking_of(session, participant)
    if booking is None:
        return
    if booking.attended is not None:
        raise NotAllowed("Attendance has already been recorded for this booking.")
    session.delete(booking)
    audit.record(session, "session_cancelled", actor=audit.actor_for(participant=participant),
                 participant=participant, session_id=booking.session_id)


class MinutesOutOfRange(NotAllowed):
    """The minutes attended are not between 0 and the session's length, or given for an absence."""


# Statuses past the activity: attendance recorded now is adherence only, the status stays.
_PAST_THE_ACTIVITY = {ParticipantStatus.POST_DONE, ParticipantStatus.FOLLOWUP_DONE}


def _check_minutes(booking: Booking, attended: bool, minutes: int | None) -> None:
    if minutes is None:
        return
    duration = booking.session.duration_minutes
    if not attended and minutes != 0:
        raise MinutesOutOfRange("A trainee who did not attend has no minutes attended; "
                                "leave the minutes empty.")
    if not 0 <= minutes <= duration:
        raise MinutesOutOfRange(f"Enter minutes from 0 to {duration} (the session's length).")


def record_attendance(session: Session, booking: Booking, attended: bool, *, user: User,
                      minutes: int | None = None) -> None:
    """Mark attendance and, optionally, the minutes attended (0 to the session's length).

    Attendance is adherence, recorded apart from the outcome (DESIGN §3): it moves an
    allocated trainee to "intervention done", which opens the post questionnaire at once,
    but it never moves a trainee back from post or follow-up answered; a mistaken "attended"
    is corrected on the booking, and only a trainee still before post goes back to allocated.
    """
    participant = booking.participant
    _check_minutes(booking, attended, minutes)
    if booking.attended is attended and booking.minutes_attended == minutes:
        return
    if booking.session.starts_at > utcnow():
        raise NotAllowed("Attendance can be recorded once the session has started.")
    facilitator = booking.session.facilitator
    if not facilitator.certification_covers(booking.session.starts_at.date()):
        raise FacilitatorNotCertified(
            f"{facilitator.display_name}'s certification was not current on "
            f"{booking.session.starts_at.date().isoformat()}, so the session could not be held; "
            "correct the certification dates in the facilitator registry if they are wrong.")
    actor = audit.actor_for(user=user)
    allowed = {ParticipantStatus.ALLOCATED, ParticipantStatus.INTERVENTION_DONE,
               *_PAST_THE_ACTIVITY}
    if participant.status not in allowed:
        raise NotAllowed(f"{participant.code} is {participant.status.value}; "
                         "attendance cannot be recorded.")
    if attended and participant.status is ParticipantStatus.ALLOCATED:
        mark_intervention_done(session, participant, actor=actor, how="session_attended")
    elif (not attended and booking.attended
          and participant.status is ParticipantStatus.INTERVENTION_DONE):
        participant.move_to(ParticipantStatus.ALLOCATED)
        participant.intervention_done_at = None
    booking.attended = attended
    booking.minutes_attended = minutes
    booking.attendance_recorded_at = utcnow()
    booking.attendance_recorded_by = user.id
    audit.record(session, "attendance", actor=actor, participant=participant,
                 session_id=booking.session_id, attended=attended, minutes=minutes)
