"""The coordinator's trainee page: a new link, a withdrawal on their behalf, lost to follow-up."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from study.extensions import db
from study.models import AuditEvent, ParticipantStatus
from study.services import invitations
from study.services.studies import get_study
from tests.helpers import Demo, StaffClient, TraineeDriver, csrf_from


@pytest.fixture
def coordinator(demo: Demo, staff_client: StaffClient) -> FlaskClient:
    """A coordinator of the demo study, signed in."""
    return staff_client("coordinator")


def new_trainee(app: Flask) -> tuple[str, str]:
    with app.app_context():
        study = get_study(db.session, "demo")
        issued = invitations.invite(db.session, study, study.cohorts[0], 1, actor="test")[0]
        db.session.commit()
        return issued.token, issued.participant.code


def post(client: FlaskClient, url: str, form_url: str, data: dict[str, object]) -> TestResponse:
    html = client.get(form_url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_from(html), **data})


def status_of(app: Flask, code: str) -> ParticipantStatus:
    from study.models import Participant

    with app.app_context():
        return db.session.scalars(select(Participant.status).where(Participant.code == code)).one()


def test_the_study_page_links_each_trainee(app: Flask, coordinator: FlaskClient) -> None:
    _, code = new_trainee(app)
    html = coordinator.get("/coordinator/demo/").get_data(as_text=True)
    assert f'/coordinator/demo/participants/{code}"' in html
    page = coordinator.get(f"/coordinator/demo/participants/{code}").get_data(as_text=True)
    assert code in page and "invited" in page


def test_a_new_link_replaces_the_lost_one(app: Flask, coordinator: FlaskClient) -> None:
    token, code = new_trainee(app)
    page_url = f"/coordinator/demo/participants/{code}"
    response = post(coordinator, f"{page_url}/link", page_url, {})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    new_link = re.search(r'<textarea id="new-link"[^>]*>([^<]+)</textarea>', html).group(1)
    new_token = new_link.strip().rsplit("/t/", 1)[1]
    trainee = app.test_client()
    assert trainee.get(f"/t/{token}").status_code == 404
    assert trainee.get(f"/t/{new_token}", follow_redirects=True).request.path.endswith("/welcome")
    with app.app_context():
        actions = list(db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.participant_code == code)))
    assert "invitation_reissued" in actions


def test_withdrawing_for_a_trainee_needs_a_reason(app: Flask, coordinator: FlaskClient) -> None:
    token, code = new_trainee(app)
    TraineeDriver(app.test_client(), token).consent()
    page_url = f"/coordinator/demo/participants/{code}"
    response = post(coordinator, f"{page_url}/withdraw", page_url, {})
    assert response.status_code == 422
    assert "Say how the trainee asked to withdraw." in response.get_data(as_text=True)
    response = post(coordinator, f"{page_url}/withdraw", page_url,
                    {"withdraw-reason": "Emailed the study team on Monday"})
    assert response.status_code == 303
    assert status_of(app, code) is ParticipantStatus.WITHDRAWN
    page = coordinator.get(page_url).get_data(as_text=True)
    assert "nothing to change" in page and "withdrawal" in page
    # The demo's consent keeps data, so the words are kept, in their own table (DESIGN §8).
    assert "Emailed the study team on Monday" in page


def test_lost_to_follow_up_only_after_allocation(app: Flask, coordinator: FlaskClient) -> None:
    token, code = new_trainee(app)
    page_url = f"/coordinator/demo/participants/{code}"
    assert "Record as lost" not in coordinator.get(page_url).get_data(as_text=True)
    response = post(coordinator, f"{page_url}/lost", page_url, {"lost-category": "no_response"})
    assert response.status_code == 303
    assert status_of(app, code) is ParticipantStatus.INVITED  # refused, with a message
    trainee = TraineeDriver(app.test_client(), token)
    trainee.consent()
    trainee.answer_until_not_questionnaire()
    assert "Record as lost" in coordinator.get(page_url).get_data(as_text=True)
    post(coordinator, f"{page_url}/lost", page_url, {"lost-category": "no_response"})
    assert status_of(app, code) is ParticipantStatus.LOST


def test_an_unknown_code_is_404(coordinator: FlaskClient) -> None:
    assert coordinator.get("/coordinator/demo/participants/PNOSUCH00").status_code == 404


def test_scheduling_a_session_needs_a_certified_peer(app: Flask, coordinator: FlaskClient) -> None:
    from datetime import date, timedelta

    from study.models import ContactSession, Facilitator

    with app.app_context():
        study = get_study(db.session, "demo")
        lapsed = Facilitator(study_id=study.id, display_name="Sam Lapsed",
                             certification_body="Board", certification_number="9",
                             certified_from=date(2020, 1, 1),
                             certified_until=date.today() + timedelta(days=3))
        db.session.add(lapsed)
        db.session.commit()
        lapsed_id, cohort_id = lapsed.id, study.cohorts[0].id
    later = (date.today() + timedelta(days=30)).isoformat()
    form = {"cohort_id": cohort_id, "facilitator_id": lapsed_id, "starts_on": later,
            "starts_at": "14:00", "duration_minutes": "90", "capacity": "8",
            "location": "Room 1"}
    url = "/coordinator/demo/sessions"
    response = post(coordinator, url, url, form)
    assert response.status_code == 422
    assert "certification is not current" in response.get_data(as_text=True)
    response = post(coordinator, url, url, {**form, "starts_on": "2001-01-01"})
    assert "Choose a date and time in the future." in response.get_data(as_text=True)
    soon = (date.today() + timedelta(days=2)).isoformat()
    response = post(coordinator, url, url, {**form, "starts_on": soon})
    assert response.status_code == 303
    with app.app_context():
        starts = [s.starts_at.date().isoformat() for s in db.session.scalars(
            select(ContactSession).where(ContactSession.facilitator_id == lapsed_id))]
    assert starts == [soon]


def test_cancelling_a_session_sends_its_trainees_back_to_booking(app: Flask,
                                                                 coordinator: FlaskClient) -> None:
    from study.models import Booking, ContactSession, SessionStatus

    while True:  # a trainee in the contact arm, with a booking
        token, code = new_trainee(app)
        trainee = TraineeDriver(app.test_client(), token)
        trainee.consent()
        page = trainee.answer_until_not_questionnaire()
        if page.request.path.endswith("/sessions"):
            break
    html = page.get_data(as_text=True)
    session_id = int(re.search(r'id="session_id-0" value="(\d+)"', html).group(1))
    trainee.post("/sessions", {"session_id": session_id})
    url = "/coordinator/demo/sessions"
    response = post(coordinator, f"{url}/{session_id}/cancel", url, {})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(ContactSession, session_id).status is SessionStatus.CANCELLED
        assert db.session.scalars(select(Booking)).all() == []
    html = trainee.open().get_data(as_text=True)
    assert "Book a session" in html and f'value="{session_id}"' not in html


def test_a_session_in_the_past_is_refused_beside_its_date(app: Flask, coordinator: FlaskClient
                                                           ) -> None:
    from study.models import Facilitator

    with app.app_context():
        study = get_study(db.session, "demo")
        facilitator_id = db.session.scalars(
            select(Facilitator.id).where(Facilitator.study_id == study.id)).first()
        form = {"cohort_id": study.cohorts[0].id, "facilitator_id": facilitator_id,
                "starts_on": "2001-01-01", "starts_at": "14:00", "duration_minutes": "90",
                "capacity": "8", "location": "Room 1"}
    url = "/coordinator/demo/sessions"
    response = post(coordinator, url, url, form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="starts_on-error">.*Choose a date and time in the future\.', html)
    assert 'id="facilitator_id-error"' not in html


def test_a_number_too_long_for_a_float_gets_its_message_not_an_error_page(
        app: Flask, coordinator: FlaskClient) -> None:
    # WTForms' own NumberRange turned some 310 digits into an OverflowError (a 500).
    from study.models import Facilitator

    with app.app_context():
        study = get_study(db.session, "demo")
        facilitator_id = db.session.scalars(
            select(Facilitator.id).where(Facilitator.study_id == study.id)).first()
        form = {"cohort_id": study.cohorts[0].id, "facilitator_id": facilitator_id,
                "starts_on": "2099-01-01", "starts_at": "14:00", "duration_minutes": "9" * 400,
                "capacity": "9" * 400, "location": "Room 1"}
    url = "/coordinator/demo/sessions"
    response = post(coordinator, url, url, form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter a length from 15 to 480 minutes." in html
    assert "Enter a number of places from 1 to 200." in html
    assert 'value="Room 1"' in html  # the rest kept
