"""Contact sessions: scheduling with a certified peer, booking within capacity, attendance."""

from __future__ import annotations

from datetime import datetime

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


def schedule_session(session: Session, *, cohort: Cohort, facilitator: Facilitator,
                     starts_at: datetime, capacity: int, location: str,
                     duration_minutes: int = 90, actor: str) -> ContactSession:
    """Schedule a session in the future, led by a peer whose certification is current then."""
    if starts_at <= utcnow():
        raise SessionInThePast("Choose a date and time in the future.")
    if facilitator.study_id != cohort.study_id:
        raise NotAllowed("The facilitator belongs to another study.")
    if not facilitator.is_certified_on(starts_at.date()):
        raise NotAllowed(
            f"{facilitator.display_name}'s certification is not current on "
            f"{starts_at.date().isoformat()}."
        )
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
