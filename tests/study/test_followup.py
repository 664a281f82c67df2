"""Follow-up for everyone allocated (DESIGN §3): post and follow-up by the clock; adherence."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from instruments import Library
from study.errors import InvalidTransition, NotAllowed
from study.extensions import db
from study.models import (
    Allocation,
    Arm,
    ArmKind,
    Booking,
    ContactSession,
    Participant,
    ParticipantStatus,
    StudyInstrument,
    Timepoint,
    User,
    utcnow,
)
from study.services import adherence, analysis_service, contact, invitations, journey
from study.services.allocation import existing_allocation, lock_participant
from study.services.demo import simulate_answers, simulate_journeys
from study.services.journey import StepName
from tests.helpers import Demo, TraineeDriver, csrf_from

MINUTE = timedelta(minutes=1)


def make_allocated(demo: Demo, kind: ArmKind) -> Participant:
    """A new demo trainee allocated to the arm of ``kind`` just now (rows written directly)."""
    study = demo.study()
    arm = db.session.scalars(select(Arm).where(Arm.study_id == study.id, Arm.kind == kind)).one()
    (invitation,) = invitations.invite(db.session, study, study.cohorts[0], 1, actor="test")
    participant = invitation.participant
    participant.status = ParticipantStatus.ALLOCATED
    position = db.session.scalar(select(Allocation.id).order_by(Allocation.id.desc())) or 0
    db.session.add(Allocation(study_id=study.id, participant_id=participant.id, arm_id=arm.id,
                              stratum_id="test", position=position + 1, block_size=2))
    db.session.commit()
    return lock_participant(db.session, participant.id)


@pytest.fixture
def allocated(demo: Demo, app_context: None) -> Callable[[ArmKind], Participant]:
    """``allocated(kind)``: a new demo trainee allocated to the arm of ``kind`` just now."""
    return lambda kind: make_allocated(demo, kind)


def allocated_at(participant: Participant) -> datetime:
    allocation = existing_allocation(db.session, participant)
    assert allocation is not None
    return allocation.allocated_at


def move_allocation_back(participant: Participant, days: int) -> None:
    """Let time pass: the allocation happened ``days`` days ago."""
    allocation = existing_allocation(db.session, participant)
    assert allocation is not None
    allocation.allocated_at -= timedelta(days=days)
    db.session.flush()


def answer(participant: Participant, library: Library, timepoint: str) -> None:
    point = participant.study.timepoint(timepoint)
    assert point is not None
    for pinned in point.instruments:
        instrument = library.get(pinned.instrument_id, pinned.instrument_version)
        journey.save_answers(db.session, participant, point, instrument,
                             simulate_answers(instrument, 0.0, np.random.default_rng(1)),
                             final=True)


def finish_module(participant: Participant) -> None:
    for position in range(len(participant.study.module_pages)):
        journey.read_module_page(db.session, participant, position)
    journey.complete_module(db.session, participant)


@pytest.fixture
def with_followup(demo: Demo, app_context: None) -> Iterator[None]:
    """The demo study with a follow-up time point (the post anxiety scale again)."""
    study = demo.study()
    post = study.timepoint("post")
    assert post is not None
    followup = Timepoint(study_id=study.id, name="followup", label="Follow-up", position=2)
    db.session.add(followup)
    db.session.flush()
    first = post.instruments[0]
    db.session.add(StudyInstrument(timepoint_id=followup.id, instrument_id=first.instrument_id,
                                   instrument_version=first.instrument_version,
                                   fingerprint=first.fingerprint, position=0))
    study.followup_offset_days = 28
    study.followup_window_days = 14
    study.post_window_days = 7
    db.session.commit()
    db.session.info.pop("instruments_at", None)
    yield


# --- post opens when the intervention is done or the period has passed -----------------------

def test_a_trainee_who_skipped_the_module_gets_post_after_the_period_not_before(
        allocated, demo: Demo) -> None:
    participant = allocated(ArmKind.EDUCATION)
    start = allocated_at(participant)
    period = timedelta(days=participant.study.intervention_period_days)
    assert journey.next_step(db.session, participant).name is StepName.EDUCATION
    assert journey.next_step(db.session, participant, now=start + period - MINUTE).name \
        is StepName.EDUCATION
    step = journey.next_step(db.session, participant, now=start + period + MINUTE)
    assert (step.name, step.timepoint) == (StepName.QUESTIONNAIRE, "post")
    with pytest.raises(NotAllowed, match="not open for you"):
        answer(participant, demo.library, "post")  # today is still within the period

    move_allocation_back(participant, participant.study.intervention_period_days + 1)
    answer(participant, demo.library, "post")
    assert participant.status is ParticipantStatus.POST_DONE
    assert journey.next_step(db.session, participant).name is StepName.DONE
    # Answered post: the module is no longer offered (it would come after the outcome).
    assert journey.open_arm(db.session, participant, ArmKind.EDUCATION) is None


def test_a_trainee_who_finished_early_gets_post_at_once(allocated) -> None:
    participant = allocated(ArmKind.EDUCATION)
    finish_module(participant)
    step = journey.next_step(db.session, participant)
    assert (step.name, step.timepoint) == (StepName.QUESTIONNAIRE, "post")
    assert journey.post_opens_at(db.session, participant) == participant.intervention_done_at


def test_a_non_adherent_trainee_can_still_do_the_activity_before_answering_post(
        allocated) -> None:
    participant = allocated(ArmKind.EDUCATION)
    move_allocation_back(participant, 20)
    assert journey.next_step(db.session, participant).timepoint == "post"
    finish_module(participant)  # late, but before answering: adherence is recorded
    assert participant.status is ParticipantStatus.INTERVENTION_DONE
    # Post opened when the period passed, not when the module was finished late.
    assert journey.post_opens_at(db.session, participant) == allocated_at(participant) + timedelta(
        days=participant.study.intervention_period_days)


def test_the_post_window_is_counted_from_when_post_opened(allocated) -> None:
    skipped, finished = allocated(ArmKind.EDUCATION), allocated(ArmKind.EDUCATION)
    finish_module(finished)
    window = timedelta(days=60)  # the demo's post window
    for participant in (skipped, finished):
        opens = journey.post_opens_at(db.session, participant)
        assert opens is not None
        assert journey.next_step(db.session, participant, now=opens + window - MINUTE).timepoint \
            == "post"
        assert journey.next_step(db.session, participant, now=opens + window + MINUTE).name \
            is StepName.POST_CLOSED
        assert journey.post_window_closes_at(db.session, participant) == opens + window


def test_data_lock_closes_the_post_window(allocated) -> None:
    participant = allocated(ArmKind.EDUCATION)
    finish_module(participant)
    participant.study.data_locked_at = utcnow() - MINUTE
    assert journey.next_step(db.session, participant).name is StepName.POST_CLOSED


def test_the_post_page_asks_a_non_adherent_trainee_without_blame(
        app: Flask, client: FlaskClient, demo: Demo) -> None:
    with app.app_context():
        study = demo.study()
        (invitation,) = invitations.invite(db.session, study, study.cohorts[0], 1, actor="test")
        db.session.commit()
    trainee = TraineeDriver(client, invitation.token)
    trainee.consent()
    page = trainee.answer_until_not_questionnaire()
    html = page.get_data(as_text=True)
    assert "/q/" not in page.request.path
    assert "The final questions open on" in html
    with app.app_context():
        participant = invitations.participant_for_token(db.session, invitation.token)
        assert participant is not None
        move_allocation_back(participant, 15)
        db.session.commit()
    page = trainee.open()
    assert "/q/post/" in page.request.path
    assert "Whether or not you took part in the" in page.get_data(as_text=True)
    trainee.answer_until_not_questionnaire()
    with app.app_context():
        participant = invitations.participant_for_token(db.session, invitation.token)
        assert participant is not None and participant.status is ParticipantStatus.POST_DONE


# --- the follow-up time point -------------------------------------------------------------------

def test_followup_opens_offset_days_after_post_opened_for_a_trainee_who_never_answered_post(
        allocated, with_followup, demo: Demo) -> None:
    participant = allocated(ArmKind.CONTACT)
    post_opens = allocated_at(participant) + timedelta(days=14)
    followup_opens = post_opens + timedelta(days=28)
    assert journey.followup_opens_at(db.session, participant) == followup_opens
    assert journey.next_step(db.session, participant, now=post_opens + timedelta(days=6)
                             ).timepoint == "post"
    waiting = journey.next_step(db.session, participant, now=post_opens + timedelta(days=8))
    assert (waiting.name, waiting.opens_at) == (StepName.FOLLOWUP_WAIT, followup_opens)
    step = journey.next_step(db.session, participant, now=followup_opens + MINUTE)
    assert (step.name, step.timepoint) == (StepName.QUESTIONNAIRE, "followup")
    closed = followup_opens + timedelta(days=14) + MINUTE
    assert journey.next_step(db.session, participant, now=closed).name is StepName.FOLLOWUP_CLOSED

    move_allocation_back(participant, 14 + 28 + 1)
    answer(participant, demo.library, "followup")
    assert participant.status is ParticipantStatus.FOLLOWUP_DONE
    assert journey.next_step(db.session, participant).name is StepName.DONE


def test_followup_counts_from_when_post_opened_not_when_it_was_answered(
        allocated, with_followup, demo: Demo) -> None:
    participant = allocated(ArmKind.EDUCATION)
    finish_module(participant)
    done = participant.intervention_done_at
    assert done is not None
    answer(participant, demo.library, "post")
    participant.status_changed_at = done + timedelta(days=6)  # answered post late in its window
    step = journey.next_step(db.session, participant, now=done + timedelta(days=28) + MINUTE)
    assert (step.name, step.timepoint) == (StepName.QUESTIONNAIRE, "followup")


def test_post_closes_when_followup_opens_if_its_window_is_open_ended(
        allocated, with_followup) -> None:
    participant = allocated(ArmKind.EDUCATION)
    participant.study.post_window_days = None
    followup_opens = journey.followup_opens_at(db.session, participant)
    assert followup_opens is not None
    assert journey.post_window_closes_at(db.session, participant) == followup_opens
    assert journey.next_step(db.session, participant, now=followup_opens + MINUTE
                             ).timepoint == "followup"


def test_intervention_done_trainee_who_missed_post_answers_followup(
        allocated, with_followup, demo: Demo) -> None:
    participant = allocated(ArmKind.EDUCATION)
    move_allocation_back(participant, 14 + 28 + 1)
    finish_module(participant)  # late, after every window: adherence is still recorded
    assert participant.status is ParticipantStatus.INTERVENTION_DONE
    answer(participant, demo.library, "followup")
    assert participant.status is ParticipantStatus.FOLLOWUP_DONE


def test_the_status_machine_allows_only_the_moves_follow_up_needs(allocated) -> None:
    for path in ([ParticipantStatus.POST_DONE],
                 [ParticipantStatus.FOLLOWUP_DONE],
                 [ParticipantStatus.INTERVENTION_DONE, ParticipantStatus.FOLLOWUP_DONE]):
        participant = allocated(ArmKind.EDUCATION)
        for status in path:
            participant.move_to(status)
        assert participant.status is path[-1]
    participant = allocated(ArmKind.EDUCATION)
    participant.move_to(ParticipantStatus.POST_DONE)
    for backwards in (ParticipantStatus.ALLOCATED, ParticipantStatus.INTERVENTION_DONE):
        with pytest.raises(InvalidTransition):
            participant.move_to(backwards)
    participant.move_to(ParticipantStatus.FOLLOWUP_DONE)
    with pytest.raises(InvalidTransition):
        participant.move_to(ParticipantStatus.POST_DONE)


# --- adherence: attendance and minutes ----------------------------------------------------------

@pytest.fixture
def staff(app_context: None) -> User:
    user = User(email="coordinator-test@example.org", password_hash="x")
    db.session.add(user)
    db.session.flush()
    return user


def booked(participant: Participant) -> Booking:
    """Book the trainee's place in the demo's first session."""
    first = db.session.scalars(select(ContactSession).order_by(ContactSession.starts_at)).first()
    assert first is not None
    return contact.book(db.session, participant, first.id)


def start_sessions() -> None:
    """Move every session into the past, so that attendance can be recorded."""
    for contact_session in db.session.scalars(select(ContactSession)):
        contact_session.starts_at = utcnow() - timedelta(hours=2)


def test_attendance_after_post_is_recorded_without_moving_the_status_back(
        allocated, staff: User, demo: Demo) -> None:
    participant = allocated(ArmKind.CONTACT)
    booking = booked(participant)
    start_sessions()
    move_allocation_back(participant, 15)
    answer(participant, demo.library, "post")
    assert participant.status is ParticipantStatus.POST_DONE
    study = participant.study
    assert participant.code not in adherence.per_protocol_codes(db.session, study,
                                                                adherence.DEFAULT_RULE)

    contact.record_attendance(db.session, booking, True, user=staff, minutes=80)
    assert participant.status is ParticipantStatus.POST_DONE
    assert (booking.attended, booking.minutes_attended) == (True, 80)
    assert participant.code in adherence.per_protocol_codes(db.session, study,
                                                            adherence.DEFAULT_RULE)
    contact.record_attendance(db.session, booking, False, user=staff)  # a correction
    assert participant.status is ParticipantStatus.POST_DONE
    assert booking.attended is False and booking.minutes_attended is None


def test_minutes_must_lie_within_the_session(allocated, staff: User) -> None:
    participant = allocated(ArmKind.CONTACT)
    booking = booked(participant)
    start_sessions()
    for attended, minutes in ((True, 91), (True, -1), (False, 30)):
        with pytest.raises(contact.MinutesOutOfRange):
            contact.record_attendance(db.session, booking, attended, user=staff, minutes=minutes)
    assert participant.status is ParticipantStatus.ALLOCATED
    contact.record_attendance(db.session, booking, True, user=staff, minutes=90)
    assert participant.status is ParticipantStatus.INTERVENTION_DONE
    assert booking.minutes_attended == 90


def test_the_attendance_form_takes_minutes_and_explains_bad_ones(
        app: Flask, demo: Demo, staff_client) -> None:
    with app.app_context():
        booking = booked(make_allocated(demo, ArmKind.CONTACT))
        start_sessions()
        db.session.commit()
        booking_id, session_id = booking.id, booking.session_id
    coordinator = staff_client("coordinator")
    url = f"/coordinator/demo/sessions/{session_id}"
    html = coordinator.get(url).get_data(as_text=True)
    assert f'id="b{booking_id}-minutes_attended"' in html
    field = f"b{booking_id}-minutes_attended"
    for value, message in (("120", "Enter minutes from 0 to 90"),
                           ("ninety", "Not a valid integer value"),
                           ("-5", "Enter minutes from 0 to 90")):
        response = coordinator.post(url, data={"csrf_token": csrf_from(html),
                                               "booking_id": booking_id,
                                               f"b{booking_id}-attended": "yes", field: value})
        assert response.status_code == 422, value
        page = response.get_data(as_text=True)
        error = re.search(rf'id="{field}-error">(.*?)</p>', page, re.S)
        assert error is not None and message in error.group(1), page
    response = coordinator.post(url, data={"csrf_token": csrf_from(html), "booking_id": booking_id,
                                           f"b{booking_id}-attended": "no", field: "30"})
    assert response.status_code == 422
    assert "did not attend has no minutes" in response.get_data(as_text=True)
    response = coordinator.post(url, data={"csrf_token": csrf_from(html), "booking_id": booking_id,
                                           f"b{booking_id}-attended": "yes", field: "75"},
                                follow_redirects=True)
    assert "Attendance saved" in response.get_data(as_text=True)
    with app.app_context():
        saved = db.session.get(Booking, booking_id)
        assert saved is not None and (saved.attended, saved.minutes_attended) == (True, 75)
    assert "75 min" in response.get_data(as_text=True)


# --- per protocol and intention to treat ---------------------------------------------------------

def test_per_protocol_follows_the_rule_on_a_small_seeded_case(allocated, staff: User) -> None:
    edu_done, edu_skipped = allocated(ArmKind.EDUCATION), allocated(ArmKind.EDUCATION)
    long_stay, short_stay, absent, no_minutes = (allocated(ArmKind.CONTACT) for _ in range(4))
    finish_module(edu_done)
    journey.read_module_page(db.session, edu_skipped, 0)
    bookings = {p.code: booked(p) for p in (long_stay, short_stay, absent, no_minutes)}
    start_sessions()
    for participant, attended, minutes in ((long_stay, True, 90), (short_stay, True, 20),
                                           (absent, False, None), (no_minutes, True, None)):
        contact.record_attendance(db.session, bookings[participant.code], attended, user=staff,
                                  minutes=minutes)
    study = edu_done.study
    codes = adherence.per_protocol_codes(db.session, study, adherence.DEFAULT_RULE)
    assert codes == {p.code for p in (edu_done, long_stay, short_stay, no_minutes)}
    strict = adherence.per_protocol_codes(db.session, study,
                                          {**adherence.DEFAULT_RULE, "min_minutes_attended": 60})
    assert strict == {edu_done.code, long_stay.code}

    by_arm = {row.arm: row for row in adherence.adherence_summary(db.session, study)}
    rows = sorted(by_arm.values(), key=lambda row: row.module_completed)
    contact_row, education_row = rows
    assert (education_row.allocated, education_row.adhered, education_row.module_completed) \
        == (2, 1, 1)
    assert (contact_row.allocated, contact_row.adhered, contact_row.session_attended,
            contact_row.minutes_recorded) == (4, 3, 3, 2)
    assert contact_row.mean_minutes_attended == pytest.approx(55.0)


@pytest.mark.parametrize("rule, message", [
    ({"contact": "booked"}, "'contact' must be one of session_attended"),
    ({"education": "module_completed", "extra": 1}, "Unknown key"),
    ({"min_minutes_attended": -3}, "whole number of minutes"),
    ({"min_minutes_attended": True}, "whole number of minutes"),
])
def test_a_bad_per_protocol_rule_is_refused(rule, message) -> None:
    with pytest.raises(adherence.InvalidPerProtocolRule, match=message):
        adherence.check_rule(rule)


def test_simulated_non_adherers_give_itt_more_complete_cases(demo: Demo, app_context) -> None:
    answered = simulate_journeys(db.session, demo.library, 30, seed=11)
    db.session.commit()
    study = demo.study()
    statuses = list(db.session.scalars(select(Participant.status)
                                       .where(Participant.study_id == study.id)))
    assert statuses.count(ParticipantStatus.POST_DONE) == answered
    assert statuses.count(ParticipantStatus.ALLOCATED) == 30 - answered  # the silent ones
    total = "allport-stigma.total"
    itt = analysis_service.run_analysis(db.session, study, demo.library).result
    pp = analysis_service.run_analysis(db.session, study, demo.library,
                                       population="per_protocol").result
    itt_n = sum(itt["outcomes"][total]["n_complete"].values())
    pp_n = sum(pp["outcomes"][total]["n_complete"].values())
    assert itt_n == answered
    assert pp_n < itt_n
