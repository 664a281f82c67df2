"""The trainee journey end to end through the test client, with CSRF on (DESIGN §3)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select, update

from study.database import begin_for_writing, begin_read_only
from study.extensions import db
from study.models import (
    Allocation,
    Answer,
    AuditEvent,
    Booking,
    ContactSession,
    Participant,
    ParticipantStatus,
    Response,
    Study,
    utcnow,
)
from study.services import invitations, journey
from study.trainee import views as trainee_views
from tests.helpers import Demo, TraineeDriver, csrf_from, questionnaire_fields


@pytest.fixture
def invite(demo: Demo) -> Callable[..., list[str]]:
    """``invite(count=1)``: new trainee links to the demo study."""

    def make(count: int = 1) -> list[str]:
        with demo.app.app_context():
            study = demo.study()
            issued = invitations.invite(db.session, study, study.cohorts[0], count, actor="test")
            db.session.commit()
            return [i.token for i in issued]
    return make


def participant_of(app, token: str) -> Participant:
    with app.app_context():
        participant = invitations.participant_for_token(db.session, token)
        assert participant is not None
        db.session.expunge(participant)
        return participant


def arm_of(app, token: str) -> str | None:
    with app.app_context():
        participant = invitations.participant_for_token(db.session, token)
        allocation = db.session.scalars(
            select(Allocation).where(Allocation.participant_id == participant.id)).first()
        return allocation.arm.key if allocation else None


def test_welcome_then_consent_then_baseline(client, invite):
    trainee = TraineeDriver(client, invite()[0])
    page = trainee.open()
    assert page.request.path.endswith("/welcome")
    assert "Read the study information" in page.get_data(as_text=True)
    page = trainee.consent(agree=True)
    assert "/q/baseline/background" in page.request.path
    assert "About you" in page.get_data(as_text=True)


def test_consent_without_choice_rerenders_with_message(client, invite):
    trainee = TraineeDriver(client, invite()[0])
    page = trainee.post("/consent", {}, follow=False)
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "Please choose whether you agree to take part." in html
    assert 'class="error-summary"' in html


def test_decline_is_recorded_and_ends_politely(app, client, invite):
    token = invite()[0]
    trainee = TraineeDriver(client, token)
    page = trainee.consent(agree=False)
    assert "You have chosen not to take part" in page.get_data(as_text=True)
    assert participant_of(app, token).status is ParticipantStatus.DECLINED
    # The link keeps leading to the same polite page, and no questionnaire opens.
    assert client.get(f"/t/{token}/q/baseline/background",
                      follow_redirects=True).request.path.endswith("/status")


def complete_baseline(client, token: str) -> TraineeDriver:
    trainee = TraineeDriver(client, token)
    trainee.consent(agree=True)
    trainee.answer_until_not_questionnaire()
    return trainee


def test_allocation_happens_with_the_last_baseline_answer(app, client, invite):
    token = invite()[0]
    trainee = TraineeDriver(client, token)
    trainee.consent()
    trainee.answer_page()  # background
    trainee.answer_page()  # intergroup anxiety
    page = trainee.answer_page()  # stigma, page 1 of 2
    assert "Page 2 of 2" in page.get_data(as_text=True)
    assert arm_of(app, token) is None, "allocated before the baseline was complete"
    page = trainee.answer_page()  # stigma, the last page
    arm = arm_of(app, token)
    assert arm in ("education", "contact")
    expected = "/education" if arm == "education" else "/sessions"
    assert page.request.path.endswith(expected)


def test_full_journey_both_arms(app, client, invite, staff_client):
    coordinator = staff_client("coordinator")
    seen_arms = set()
    for token in invite(8):
        trainee = complete_baseline(client, token)
        arm = arm_of(app, token)
        seen_arms.add(arm)
        if arm == "education":
            page = trainee.open()
            assert "Education module" in page.get_data(as_text=True)
            for position in range(5):
                page = trainee.post(f"/education/{position}", {})
            assert "/q/post/" in page.request.path
        else:
            page = trainee.open()
            html = page.get_data(as_text=True)
            assert "Book a session" in html
            match = re.search(r'name="session_id" id="session_id-0" value="(\d+)"', html)
            assert match, html[html.find("<main"):]
            session_id = int(match.group(1))
            page = trainee.post("/sessions", {"session_id": session_id})
            assert "Your place is booked" in page.get_data(as_text=True)
            # The post questionnaire is refused before attendance is recorded.
            page = client.get(f"/t/{token}/q/post/intergroup-anxiety", follow_redirects=True)
            assert page.request.path.endswith("/sessions")
            record_attendance(app, coordinator, token)
            page = trainee.open()
            assert "/q/post/" in page.request.path
        trainee.page = page
        page = trainee.answer_until_not_questionnaire()
        assert "You have completed the study" in page.get_data(as_text=True)
        assert participant_of(app, token).status is ParticipantStatus.POST_DONE
    assert seen_arms == {"education", "contact"}


def record_attendance(app: Flask, coordinator: FlaskClient, token: str) -> None:
    """Move the session into the past and mark attendance through the coordinator page."""
    with app.app_context():
        participant = invitations.participant_for_token(db.session, token)
        booking = db.session.scalars(
            select(Booking).where(Booking.participant_id == participant.id)).one()
        contact_session = db.session.get(ContactSession, booking.session_id)
        original_start = contact_session.starts_at
        contact_session.starts_at = utcnow() - timedelta(hours=2)
        db.session.commit()
        booking_id, session_id = booking.id, contact_session.id
    url = f"/coordinator/demo/sessions/{session_id}"
    html = coordinator.get(url).get_data(as_text=True)
    response = coordinator.post(url, data={"csrf_token": csrf_from(html), "booking_id": booking_id,
                                     f"b{booking_id}-attended": "yes"}, follow_redirects=True)
    assert "Attendance saved" in response.get_data(as_text=True)
    with app.app_context():  # time runs on: later trainees book the same session
        db.session.get(ContactSession, session_id).starts_at = original_start
        db.session.commit()


def test_resume_returns_to_the_open_page(app, client, invite):
    token = invite()[0]
    trainee = TraineeDriver(client, token)
    trainee.consent()
    trainee.answer_page()  # background done
    # A new device (no cookies) with the same link lands on the next open questionnaire.
    fresh = app.test_client()
    page = fresh.get(f"/t/{token}", follow_redirects=True)
    assert page.request.path.endswith("/q/baseline/intergroup-anxiety")


def test_invalid_answers_keep_the_others(client, invite):
    trainee = TraineeDriver(client, invite()[0])
    page = trainee.consent()
    html = page.get_data(as_text=True)
    data = {"csrf_token": csrf_from(html), "q_profession": "nursing", "q_training_year": "42"}
    response = client.post(page.request.path, data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Please enter a whole number from 1 to 10." in html
    assert "Please answer this question." in html  # prior_contact left out
    assert 'value="nursing" checked' in html
    assert 'value="42"' in html


def test_expired_csrf_rerenders_with_answers_kept(client, invite):
    trainee = TraineeDriver(client, invite()[0])
    page = trainee.consent()
    data = {"csrf_token": "expired-or-forged", "q_profession": "pharmacy",
            "q_training_year": "2", "q_prior_contact": "none"}
    response = client.post(page.request.path, data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "send it again" in html
    assert 'value="pharmacy" checked' in html
    # Sending again with the fresh token goes through.
    data["csrf_token"] = csrf_from(html)
    response = client.post(page.request.path, data=data, follow_redirects=True)
    assert response.request.path.endswith("/q/baseline/intergroup-anxiety")


def test_double_submit_stores_one_response(app, client, invite):
    token = invite()[0]
    trainee = TraineeDriver(client, token)
    page = trainee.consent()
    html = page.get_data(as_text=True)
    data = {"csrf_token": csrf_from(html), "q_profession": "medicine",
            "q_training_year": "3", "q_prior_contact": "close"}
    first = client.post(page.request.path, data=data)
    second = client.post(page.request.path, data=data)
    assert first.status_code == 303 and second.status_code in (302, 303)
    with app.app_context():
        participant = invitations.participant_for_token(db.session, token)
        count = len(db.session.scalars(
            select(Response).where(Response.participant_id == participant.id)).all())
    assert count == 1


def test_unknown_and_malformed_tokens_get_the_friendly_404(client):
    for token in ("nope", "x" * 43, "%00", "a" * 500):
        response = client.get(f"/t/{token}")
        assert response.status_code == 404
        assert "This link is not valid" in response.get_data(as_text=True)


def test_revoked_link_is_404(app, client, invite):
    token = invite()[0]
    with app.app_context():
        participant = invitations.participant_for_token(db.session, token)
        invitations.revoke(db.session, participant, actor="test")
        db.session.commit()
    assert client.get(f"/t/{token}").status_code == 404


def test_withdraw_keeps_data_per_consent(app, client, invite):
    token = invite()[0]
    trainee = TraineeDriver(client, token)
    trainee.consent()
    trainee.answer_page()
    page = trainee.post("/withdraw", {}, follow=False)
    assert page.status_code == 422
    assert "Tick the box to confirm" in page.get_data(as_text=True)
    page = trainee.post("/withdraw", {"confirm": "y", "reason": "no time"})
    assert "You have withdrawn" in page.get_data(as_text=True)
    with app.app_context():
        participant = invitations.participant_for_token(db.session, token)
        assert participant.status is ParticipantStatus.WITHDRAWN
        assert not participant.data_withdrawn
        responses = db.session.scalars(
            select(Response).where(Response.participant_id == participant.id)).all()
        assert len(responses) == 1
        actions = set(db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.participant_code == participant.code)))
    assert {"consent", "questionnaire_submitted", "withdrawal"} <= actions


def test_numbered_scales_label_their_ends_with_numbers(client, invite):
    trainee = TraineeDriver(client, invite()[0])
    trainee.consent()
    html = trainee.answer_page().get_data(as_text=True)  # now on intergroup anxiety, 1–10
    assert "1 – Not at all" in html and "10 – Extremely" in html


def test_attendance_without_a_choice_is_shown_beside_the_trainee(app, client, invite,
                                                                 staff_client):
    token = invite()[0]
    trainee = complete_baseline(client, token)
    while arm_of(app, token) != "contact":
        token = invite()[0]
        trainee = complete_baseline(client, token)
    html = trainee.open().get_data(as_text=True)
    session_id = int(re.search(r'id="session_id-0" value="(\d+)"', html).group(1))
    trainee.post("/sessions", {"session_id": session_id})
    staff = staff_client("coordinator")
    url = f"/coordinator/demo/sessions/{session_id}"
    page = staff.get(url).get_data(as_text=True)
    booking_id = re.search(r'id="b(\d+)-minutes_attended"', page).group(1)
    response = staff.post(url, data={"csrf_token": csrf_from(page), "booking_id": booking_id})
    assert response.status_code == 422
    assert "Choose attended or did not attend." in response.get_data(as_text=True)


def test_an_expired_token_on_consent_keeps_the_choice(client, invite):
    token = invite()[0]
    response = client.post(f"/t/{token}/consent", data={"csrf_token": "expired",
                                                        "choice": "agree"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "send it again" in html and 'value="agree" checked' in html
    response = client.post(f"/t/{token}/consent", data={"csrf_token": csrf_from(html),
                                                        "choice": "agree"})
    assert response.status_code == 303


def test_an_expired_token_on_withdrawal_keeps_the_reason(client, invite):
    token = invite()[0]
    TraineeDriver(client, token).consent()
    response = client.post(f"/t/{token}/withdraw", data={"csrf_token": "expired",
                                                         "confirm": "y", "reason": "exams"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "send it again" in html and "exams</textarea>" in html


def test_nonsense_answers_get_messages_a_trainee_can_act_on(client, invite):
    page = TraineeDriver(client, invite()[0]).consent()
    html = page.get_data(as_text=True)
    response = client.post(page.request.path, data={
        "csrf_token": csrf_from(html), "q_profession": "nursing",
        "q_training_year": "9" * 5000, "q_prior_contact": "astronaut"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Please enter a whole number from 1 to 10." in html
    assert "Please choose one of the answers shown." in html
    assert "Not a valid" not in html
    assert 'value="nursing" checked' in html


def test_the_write_reads_the_study_again_under_the_lock(app, client, invite, monkeypatch):
    """A post is validated before the participant is locked; what the study allows is decided
    after: data locked in between, the answers are refused and nothing is stored."""
    token = invite()[0]
    page = TraineeDriver(client, token).consent()
    start_writing = trainee_views.start_writing
    held = []

    def lock_data_meanwhile(participant):
        # The study as the read phase saw it stays referenced (a view may keep it in a
        # variable), so only reading it again under the lock can show the lock.
        held.append(participant.study)
        begin_for_writing()  # this request's read phase made its transactions read-only
        with db.engine.begin() as connection:  # another request, committed meanwhile
            connection.execute(update(Study).values(data_locked_at=utcnow()))
        return start_writing(participant)

    monkeypatch.setattr(trainee_views, "start_writing", lock_data_meanwhile)
    response = client.post(page.request.path, follow_redirects=True, data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "q_profession": "nursing",
        "q_training_year": "2", "q_prior_contact": "none"})
    assert held and "no more answers can be stored" in response.get_data(as_text=True)
    assert participant_of(app, token).status is ParticipantStatus.CONSENTED
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Answer)) == 0


def test_a_withdrawal_between_reading_and_writing_stores_nothing(app, client, invite,
                                                                  monkeypatch):
    """The write phase goes on with what the read phase read only when nothing changed: a
    trainee withdrawn meanwhile (by a coordinator) has the page refused, nothing stored."""
    token = invite()[0]
    page = TraineeDriver(client, token).consent()
    start_writing = trainee_views.start_writing

    def withdraw_meanwhile(participant):
        begin_for_writing()
        with db.engine.begin() as connection:
            connection.execute(update(Participant).values(status=ParticipantStatus.WITHDRAWN))
        return start_writing(participant)

    monkeypatch.setattr(trainee_views, "start_writing", withdraw_meanwhile)
    response = client.post(page.request.path, data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "q_profession": "nursing",
        "q_training_year": "2", "q_prior_contact": "none"})
    assert response.status_code == 303 and response.location.endswith("/status")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Answer)) == 0


UNCHANGED = {
    "nothing": None,
    "an answer": update(Answer).values(value="1"),
    "a draft's page": update(Response).values(current_page=3),
}
CHANGED = {
    "the participant's status": update(Participant).values(
        status=ParticipantStatus.WITHDRAWN),
    "any column of the participant": update(Participant).values(
        status_changed_at=utcnow() - timedelta(days=1)),
    "the study's data lock": update(Study).values(data_locked_at=utcnow()),
    "any column of the study": update(Study).values(title="Renamed meanwhile"),
    "a questionnaire reopened": update(Response).where(Response.instrument_id == "background")
    .values(status="in_progress", submitted_at=None),
    "a questionnaire submitted": update(Response).where(Response.instrument_id != "background")
    .values(status="submitted", submitted_at=utcnow()),
}


@pytest.mark.parametrize("meanwhile", [*UNCHANGED, *CHANGED])
def test_the_write_phase_keeps_its_reading_only_when_the_rows_are_unchanged(
        app, client, invite, meanwhile):
    """``lock_if_unchanged``: true only when the participant's row, the study's and the
    submitted questionnaires the read phase saw are still what they were; then ``next_step``
    answers from the reading, without a query."""
    token = invite()[0]
    trainee = TraineeDriver(client, token)
    trainee.consent()
    trainee.answer_page()  # background submitted; the anxiety scale is open
    with app.app_context():
        session = db.session
        participant = invitations.participant_for_token(session, token)
        anxiety = journey.instruments_at(session, participant, "baseline")[1]
        session.add(Response(participant_id=participant.id, instrument_id=anxiety.instrument_id,
                             instrument_version=anxiety.instrument_version,
                             timepoint_id=journey.timepoint_named(session, participant,
                                                                  "baseline").id))
        session.commit()  # the anxiety draft, begun earlier
        begin_read_only()
        step = journey.next_step(session, participant)
        assert step.instrument_id == anxiety.instrument_id
        reading = journey.take_reading(session)
        session.expire_on_commit = False
        session.commit()
        session.expire_on_commit = True
        begin_for_writing()
        change = {**UNCHANGED, **CHANGED}[meanwhile]
        if change is not None:
            with db.engine.begin() as connection:
                connection.execute(change)
        with selects_counted(app) as selects:
            unchanged = journey.lock_if_unchanged(session, participant, reading)
            again = journey.next_step(session, participant)
        assert unchanged is (meanwhile in UNCHANGED)
        if unchanged:
            assert again == step and len(selects) == 1, selects
        session.rollback()


@contextmanager
def selects_counted(app) -> Iterator[list[str]]:
    """The SELECT statements the app's engine runs inside the block."""
    seen: list[str] = []

    def note(connection, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_a_questionnaire_page_reads_in_three_selects_and_a_stored_page_in_five(
        app, client, invite):
    """Issue 14's per-request budget: the token with its study, the time point with its
    questionnaires, the saved progress; a post reads those, then under the lock the participant
    with its study and submissions (found unchanged) and the response with its answers."""
    trainee = TraineeDriver(client, invite()[0])
    trainee.consent()
    trainee.answer_page()  # background
    page = trainee.answer_page()  # intergroup anxiety: on to page 1 of the stigma scale
    assert "page 1 of" in page.get_data(as_text=True)
    url = page.request.path + "?page=0"
    with selects_counted(app) as selects:
        html = client.get(url).get_data(as_text=True)
    assert len(selects) == 3, selects
    answers = {name: options[0] for name, options in questionnaire_fields(html).items()}
    with selects_counted(app) as selects:
        response = client.post(url, data={"csrf_token": csrf_from(html), **answers})
    assert response.status_code == 303
    assert len(selects) == 5, selects
