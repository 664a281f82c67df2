"""Contact sessions: certified peers only, capacity under concurrency, attendance and its undo."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from study.errors import NotAllowed
from study.extensions import db
from study.models import (
    Allocation,
    Arm,
    ArmKind,
    Booking,
    ContactSession,
    Facilitator,
    ParticipantStatus,
    User,
)
from study.services import contact, invitations, journey
from study.services.allocation import lock_participant
from tests.helpers import Demo


def contact_arm_trainees(demo: Demo, count: int) -> list[int]:
    """Trainees allocated to the contact arm (allocation rows written directly for speed)."""
    with demo.app.app_context():
        study = demo.study()
        arm = db.session.scalars(select(Arm).where(Arm.study_id == study.id,
                                                   Arm.kind == ArmKind.CONTACT)).one()
        ids = []
        for position, invitation in enumerate(invitations.invite(
                db.session, study, study.cohorts[0], count, actor="test")):
            participant = invitation.participant
            participant.status = ParticipantStatus.ALLOCATED
            db.session.add(Allocation(study_id=study.id, participant_id=participant.id,
                                      arm_id=arm.id, stratum_id="test", position=position,
                                      block_size=2))
            ids.append(participant.id)
        db.session.commit()
        return ids


def test_a_session_needs_a_peer_certified_on_its_date(app: Flask, demo: Demo) -> None:
    with app.app_context():
        study = demo.study()
        lapsed = Facilitator(study_id=study.id, display_name="Lapsed", certification_body="B",
                             certification_number="1", certified_from=date(2020, 1, 1),
                             certified_until=date.today() + timedelta(days=5))
        db.session.add(lapsed)
        db.session.flush()
        later = datetime.combine(date.today() + timedelta(days=30), time(10), tzinfo=UTC)
        with pytest.raises(NotAllowed, match="certification is not current"):
            contact.schedule_session(db.session, cohort=study.cohorts[0], facilitator=lapsed,
                                     starts_at=later, capacity=5, location="Room", actor="t")
        soon = datetime.combine(date.today() + timedelta(days=2), time(10), tzinfo=UTC)
        contact.schedule_session(db.session, cohort=study.cohorts[0], facilitator=lapsed,
                                 starts_at=soon, capacity=5, location="Room", actor="t")


def test_booking_is_refused_outside_the_contact_arm(app: Flask, demo: Demo) -> None:
    with app.app_context():
        study = demo.study()
        participant = invitations.invite(db.session, study, study.cohorts[0], 1,
                                         actor="t")[0].participant
        session_id = db.session.scalars(select(ContactSession.id)).first()
        with pytest.raises(NotAllowed, match="not open for you"):
            contact.book(db.session, participant, session_id)


def test_capacity_holds_under_concurrent_booking(app: Flask, demo: Demo) -> None:
    trainees = contact_arm_trainees(demo, 30)
    with app.app_context():
        target = db.session.scalars(select(ContactSession).order_by(ContactSession.id)).first()
        target.capacity = 7
        db.session.commit()
        session_id = target.id
    barrier = threading.Barrier(len(trainees))
    outcomes: list[str] = []

    def book(pid: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                contact.book(db.session, lock_participant(db.session, pid), session_id)
                db.session.commit()
                outcomes.append("booked")
            except NotAllowed as error:
                db.session.rollback()
                outcomes.append(str(error))

    threads = [threading.Thread(target=book, args=(pid,)) for pid in trainees]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes.count("booked") == 7
    assert outcomes.count("Sorry, that session is full. Please choose another.") == 23
    with app.app_context():
        assert db.session.scalar(select(func.count(Booking.id))) == 7


def test_moving_a_booking_keeps_one_place(app: Flask, demo: Demo) -> None:
    (pid,) = contact_arm_trainees(demo, 1)
    with app.app_context():
        first, second = db.session.scalars(select(ContactSession.id)
                                           .order_by(ContactSession.id)).all()[:2]
        participant = lock_participant(db.session, pid)
        contact.book(db.session, participant, first)
        contact.book(db.session, participant, second)
        contact.book(db.session, participant, second)  # a replayed form changes nothing
        bookings = db.session.scalars(select(Booking)).all()
        assert [b.session_id for b in bookings] == [second]


def test_attendance_moves_the_trainee_on_and_can_be_undone(app: Flask, demo: Demo) -> None:
    (pid,) = contact_arm_trainees(demo, 1)
    with app.app_context():
        staff = User(email="c@example.org", password_hash="x")
        db.session.add(staff)
        participant = lock_participant(db.session, pid)
        booking = contact.book(db.session, participant,
                               db.session.scalars(select(ContactSession.id)).first())
        with pytest.raises(NotAllowed, match="once the session has started"):
            contact.record_attendance(db.session, booking, True, user=staff)
        booking.session.starts_at = datetime.now(UTC) - timedelta(hours=1)
        contact.record_attendance(db.session, booking, True, user=staff)
        assert participant.status is ParticipantStatus.INTERVENTION_DONE
        assert journey.next_step(db.session, participant).name == "questionnaire"
        # A coordinator clicked the wrong trainee: undo.
        contact.record_attendance(db.session, booking, False, user=staff)
        assert participant.status is ParticipantStatus.ALLOCATED
        assert participant.intervention_done_at is None
        assert journey.next_step(db.session, participant).name == "contact"


def test_post_questionnaire_closes_after_the_window(app: Flask, demo: Demo) -> None:
    (pid,) = contact_arm_trainees(demo, 1)
    with app.app_context():
        participant = lock_participant(db.session, pid)
        journey.mark_intervention_done(db.session, participant, actor="t", how="test")
        assert journey.next_step(db.session, participant).timepoint == "post"
        later = datetime.now(UTC) + timedelta(days=61)  # the demo's window is 60 days
        assert journey.next_step(db.session, participant, now=later).name == "post_closed"


def test_a_session_cannot_be_scheduled_in_the_past(app: Flask, demo: Demo) -> None:
    with app.app_context():
        study = demo.study()
        facilitator = db.session.scalars(select(Facilitator)).first()
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        with pytest.raises(contact.SessionInThePast, match="in the future"):
            contact.schedule_session(db.session, cohort=study.cohorts[0],
                                     facilitator=facilitator, starts_at=an_hour_ago,
                                     capacity=5, location="Room", actor="t")


def test_an_arms_activity_is_open_only_to_trainees_allocated_to_it(app: Flask, demo: Demo
                                                                   ) -> None:
    (pid,) = contact_arm_trainees(demo, 1)
    with app.app_context():
        participant = lock_participant(db.session, pid)
        arm = journey.open_arm(db.session, participant, ArmKind.CONTACT)
        assert arm is not None and arm.kind is ArmKind.CONTACT
        assert journey.open_arm(db.session, participant, ArmKind.EDUCATION) is None
        with pytest.raises(NotAllowed, match="not open for you"):
            journey.read_module_page(db.session, participant, 0)
        journey.mark_intervention_done(db.session, participant, actor="t", how="test")
        assert journey.open_arm(db.session, participant, ArmKind.CONTACT) is None


def test_bookable_sessions_count_each_sessions_places(app: Flask, demo: Demo) -> None:
    """Places left per session, counted in one query: bookings of one session never count
    against another, and a session's own bookings (however many) all do."""
    ids = contact_arm_trainees(demo, 4)
    with app.app_context():
        study = demo.study()
        sessions = list(db.session.scalars(select(ContactSession).where(
            ContactSession.study_id == study.id).order_by(ContactSession.starts_at)))
        first, second = sessions[0], sessions[1]
        for participant_id, target in zip(ids, (first, first, first, second), strict=True):
            contact.book(db.session, lock_participant(db.session, participant_id), target.id)
        participant = lock_participant(db.session, ids[0])
        left = {s.id: places for s, places in contact.bookable_sessions(db.session, participant)}
        assert left == {s.id: s.capacity - {first.id: 3, second.id: 1}.get(s.id, 0)
                        for s in sessions}
        assert [s.id for s, _ in contact.bookable_sessions(db.session, participant)] == \
            [s.id for s in sessions]
