"""The facilitator registry, lapsed certifications, changing and cancelling sessions with notice
to the booked trainees (through a real local SMTP server), and attendance in bulk."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from study.errors import NotAllowed
from study.extensions import db
from study.models import (
    Allocation,
    Arm,
    ArmKind,
    AuditEvent,
    Booking,
    ContactSession,
    Facilitator,
    MessageKind,
    Participant,
    ParticipantContact,
    ParticipantStatus,
    SentMessage,
    SessionStatus,
    User,
    utcnow,
)
from study.services import contact, facilitators, invitations
from study.services.studies import StudySpec, create_study
from tests.conftest import ReceivedMail
from tests.helpers import Demo, StaffClient, csrf_from, free_port

REGISTRY = "/coordinator/demo/facilitators"


@pytest.fixture
def app(make_app: Callable[..., Flask], smtp_server: tuple[dict[str, Any], ReceivedMail]
        ) -> Flask:
    """The app sends its mail to the local SMTP server of ``smtp_server``."""
    return make_app(**smtp_server[0])


@pytest.fixture
def received(smtp_server: tuple[dict[str, Any], ReceivedMail]) -> ReceivedMail:
    return smtp_server[1]


@pytest.fixture
def coordinator(demo: Demo, staff_client: StaffClient) -> FlaskClient:
    return staff_client("coordinator")


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def post(client: FlaskClient, url: str, data: Mapping[str, object], form_url: str | None = None
         ) -> TestResponse:
    html = text(client.get(form_url or url))
    return client.post(url, data={"csrf_token": csrf_from(html), **data})


def details(**changes: str) -> dict[str, str]:
    today = date.today()
    return {"display_name": "Robin Vale, CPSS", "contact": "robin@peers.example",
            "certification_body": "National Peer Board", "certification_number": "NPB-77",
            "certified_from": (today - timedelta(days=100)).isoformat(),
            "certified_until": (today + timedelta(days=400)).isoformat(),
            "clinical_supervisor": "Dr. Ann Lee", "peer_supervisor": "Kim Noor, CPSS",
            "bio": "", **changes}


def add_facilitator(app: Flask, name: str, until: date, since: date | None = None) -> int:
    with app.app_context():
        study = db.session.scalars(select(Facilitator)).first()
        assert study is not None
        facilitator = Facilitator(
            study_id=study.study_id, display_name=name, certification_body="Board",
            certification_number="X-1", certified_from=since or date(2020, 1, 1),
            certified_until=until, clinical_supervisor="C", peer_supervisor="P")
        db.session.add(facilitator)
        db.session.commit()
        return facilitator.id


def first_session(app: Flask) -> int:
    with app.app_context():
        return db.session.scalars(select(ContactSession.id)
                                  .order_by(ContactSession.starts_at)).first()


def booked_trainees(demo: Demo, session_id: int, emails: list[str | None]) -> list[str]:
    """Trainees allocated to the contact arm, each booked on the session; returns their codes."""
    codes = []
    with demo.app.app_context():
        study = demo.study()
        arm = db.session.scalars(select(Arm).where(Arm.study_id == study.id,
                                                   Arm.kind == ArmKind.CONTACT)).one()
        issued = invitations.invite(db.session, study, study.cohorts[0], len(emails), actor="t")
        for position, (invitation, email) in enumerate(zip(issued, emails, strict=True)):
            participant = invitation.participant
            participant.status = ParticipantStatus.ALLOCATED
            db.session.add(Allocation(study_id=study.id, participant_id=participant.id,
                                      arm_id=arm.id, stratum_id="test", position=position,
                                      block_size=2))
            if email is not None:
                db.session.add(ParticipantContact(participant_id=participant.id, email=email))
            db.session.flush()
            contact.book(db.session, participant, session_id)
            codes.append(participant.code)
        db.session.commit()
    return codes


def move_into_the_past(app: Flask, session_id: int) -> None:
    with app.app_context():
        db.session.get(ContactSession, session_id).starts_at = utcnow() - timedelta(hours=2)
        db.session.commit()


# --- the registry -------------------------------------------------------------------------


def test_a_coordinator_adds_edits_and_deactivates_a_facilitator(app: Flask,
                                                                coordinator: FlaskClient) -> None:
    html = text(coordinator.get(REGISTRY))
    assert "Alex Moreno, CPSS" in html and "CPSS-20417" in html and "Dr. Priya Raman" in html
    response = post(coordinator, REGISTRY, details())
    assert response.status_code == 303
    html = text(coordinator.get(REGISTRY))
    assert "Robin Vale, CPSS is added to the registry." in html
    assert "NPB-77" in html and "Dr. Ann Lee" in html and "Kim Noor, CPSS" in html
    with app.app_context():
        robin = db.session.scalars(select(Facilitator).where(
            Facilitator.display_name == "Robin Vale, CPSS")).one()
        robin_id = robin.id
        assert (robin.contact, robin.peer_supervisor) == ("robin@peers.example", "Kim Noor, CPSS")
    url = f"{REGISTRY}/{robin_id}"
    assert 'value="NPB-77"' in text(coordinator.get(url))
    renewed = (date.today() + timedelta(days=900)).isoformat()
    response = post(coordinator, url, details(certified_until=renewed,
                                              certification_number="NPB-78"))
    assert response.status_code == 303
    response = post(coordinator, f"{url}/active", {"active-submit": "1"}, form_url=REGISTRY)
    assert response.status_code == 303
    with app.app_context():
        robin = db.session.get(Facilitator, robin_id)
        assert robin.certification_number == "NPB-78" and not robin.active
        assert robin.certified_until.isoformat() == renewed
        actions = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.action.like("facilitator_%")).order_by(AuditEvent.id)).all()
    assert actions == ["facilitator_added", "facilitator_updated", "facilitator_deactivated"]
    html = text(coordinator.get(REGISTRY))
    assert "Deactivated" in html and "Reactivate" in html
    # A deactivated facilitator is not offered for a new session.
    assert f'value="{robin_id}"' not in text(coordinator.get("/coordinator/demo/sessions"))
    assert post(coordinator, f"{url}/active", {}, form_url=REGISTRY).status_code == 303
    with app.app_context():
        assert db.session.get(Facilitator, robin_id).active


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"certified_until": "2021-01-01", "certified_from": "2022-01-01"}, "certified_until",
     "must be after the certified-from date"),
    ({"certified_until": "2022-01-01", "certified_from": "2022-01-01"}, "certified_until",
     "must be after the certified-from date"),
    ({"certification_number": "  "}, "certification_number", "Enter the credential id."),
    ({"clinical_supervisor": ""}, "clinical_supervisor", "Name the clinical supervisor"),
    ({"certified_until": "next year"}, "certified_until", "Not a valid date value"),
    ({"display_name": "x" * 201}, "display_name", "200 characters"),
])
def test_a_bad_facilitator_is_refused_beside_the_field_and_the_rest_kept(
        app: Flask, coordinator: FlaskClient, changes: dict[str, str], field: str,
        message: str) -> None:
    response = post(coordinator, REGISTRY, details(**changes))
    assert response.status_code == 422
    html = text(response)
    error = re.search(rf'id="{field}-error">(.*?)</p>', html, re.S)
    assert error is not None and message in error.group(1), html
    assert 'value="National Peer Board"' in html and 'value="Kim Noor, CPSS"' in html
    with app.app_context():
        assert db.session.scalars(select(Facilitator).where(
            Facilitator.certification_body == "National Peer Board")).first() is None
    # The same checks on the edit page.
    alex = f"{REGISTRY}/{db_id(app, 'Alex Moreno, CPSS')}"
    response = post(coordinator, alex, details(**changes))
    assert response.status_code == 422 and message in text(response)


def db_id(app: Flask, name: str) -> int:
    with app.app_context():
        return db.session.scalars(select(Facilitator.id).where(
            Facilitator.display_name == name)).one()


def test_the_service_refuses_dates_in_the_wrong_order(app: Flask, demo: Demo) -> None:
    with app.app_context():
        bad = facilitators.FacilitatorDetails(
            display_name="A", contact="", certification_body="B", certification_number="1",
            certified_from=date(2025, 5, 1), certified_until=date(2025, 4, 1),
            clinical_supervisor="", peer_supervisor="")
        with pytest.raises(facilitators.CertificationDates):
            facilitators.add_facilitator(db.session, demo.study(), bad, actor="t")


def test_a_lapse_is_flagged_30_days_ahead_and_a_lapsed_certification_is_shown(
        app: Flask, coordinator: FlaskClient) -> None:
    today = date.today()
    add_facilitator(app, "Thirty Days", today + timedelta(days=30))
    add_facilitator(app, "Thirty One Days", today + timedelta(days=31))
    add_facilitator(app, "Lapsed Yesterday", today - timedelta(days=1))
    with app.app_context():
        by_name = {f.display_name: facilitators.standing(f)
                   for f in db.session.scalars(select(Facilitator))}
    assert by_name["Thirty Days"] is facilitators.Standing.LAPSING
    assert by_name["Thirty One Days"] is facilitators.Standing.CURRENT
    assert by_name["Lapsed Yesterday"] is facilitators.Standing.LAPSED
    html = text(coordinator.get(REGISTRY))
    warning = re.search(r'Certification to check.*?</ul>', html, re.S)
    assert warning is not None
    assert "Thirty Days" in warning.group(0) and "Lapsed Yesterday" in warning.group(0)
    assert "Thirty One Days" not in warning.group(0)
    assert "Lapsed</strong>" in html
    sessions = text(coordinator.get("/coordinator/demo/sessions"))
    warning = re.search(r'Facilitator certification to check.*?</ul>', sessions, re.S)
    assert warning is not None and "Thirty Days: lapses on" in warning.group(0)
    assert "Lapsed Yesterday: lapsed on" in warning.group(0)
    assert "Thirty One Days" not in warning.group(0)
    # The demo's second peer lapses in 20 days: flagged too.
    assert "Sam Okafor, CPS: lapses on" in warning.group(0)


def test_a_lapsed_facilitator_cannot_be_scheduled(app: Flask, coordinator: FlaskClient) -> None:
    lapsed = add_facilitator(app, "Lapsed", date.today() - timedelta(days=1))
    with app.app_context():
        cohort = db.session.scalars(select(ContactSession.cohort_id)).first()
    form = {"cohort_id": cohort, "facilitator_id": lapsed,
            "starts_on": (date.today() + timedelta(days=3)).isoformat(), "starts_at": "10:00",
            "duration_minutes": "90", "capacity": "5", "location": "Room 4"}
    url = "/coordinator/demo/sessions"
    response = post(coordinator, url, form)
    assert response.status_code == 422
    html = text(response)
    error = re.search(r'id="facilitator_id-error">(.*?)</p>', html, re.S)
    assert error is not None and "certification is not current" in error.group(1)
    assert 'value="Room 4"' in html
    with app.app_context():
        assert db.session.scalars(select(ContactSession).where(
            ContactSession.facilitator_id == lapsed)).first() is None


# --- changing a session -------------------------------------------------------------------


def test_editing_a_session_tells_each_booked_trainee_what_changed(
        app: Flask, demo: Demo, coordinator: FlaskClient, received: ReceivedMail) -> None:
    session_id = first_session(app)
    codes = booked_trainees(demo, session_id, ["ana@example.org", None, "ben@example.org"])
    url = f"/coordinator/demo/sessions/{session_id}/edit"
    html = text(coordinator.get(url))
    assert 'value="Teaching room 2.14, Health Sciences Building"' in html
    sam = db_id(app, "Sam Okafor, CPS")
    new_day = date.today() + timedelta(days=8)
    form = {"facilitator_id": sam, "starts_on": new_day.isoformat(), "starts_at": "09:30",
            "duration_minutes": "120", "capacity": "12", "location": "Seminar room B"}
    response = post(coordinator, url, form)
    assert response.status_code == 303
    page = text(coordinator.get("/coordinator/demo/sessions"))
    assert "2 booked trainee(s) told by email" in page
    assert f"{codes[1]} (no email on file)" in page
    assert sorted(m["To"] for m in received.messages) == ["ana@example.org", "ben@example.org"]
    message = received.to("ana@example.org")[0]
    body = message.get_content()
    assert "your contact session has changed" in message["Subject"]
    assert f"{new_day:%A %d %B %Y}, 09:30 UTC" in body
    assert "Place: Teaching room 2.14, Health Sciences Building is now Seminar room B" in body
    assert "Length: 90 minutes is now 120 minutes" in body
    assert "Peer facilitator: Alex Moreno, CPSS is now Sam Okafor, CPS" in body
    link = re.search(r"http://localhost/t/([\w-]+)", body)
    assert link is not None
    # The link opens the trainee's own page (a live personal link).
    assert app.test_client().get(f"/t/{link.group(1)}").status_code in (200, 302, 303)
    with app.app_context():
        moved = db.session.get(ContactSession, session_id)
        assert moved.starts_at == datetime.combine(new_day, time(9, 30), tzinfo=UTC).replace(
            tzinfo=moved.starts_at.tzinfo)
        assert (moved.location, moved.duration_minutes, moved.facilitator_id) == (
            "Seminar room B", 120, sam)
        logged = db.session.execute(select(Participant.code, SentMessage.kind, SentMessage.via)
                                    .join(Participant)).all()
        assert sorted(logged) == sorted([(codes[0], MessageKind.SESSION_CHANGED, "smtp"),
                                         (codes[2], MessageKind.SESSION_CHANGED, "smtp")])
        assert db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "session_edited")).one()
        # The bookings stay.
        assert len(db.session.scalars(select(Booking).where(
            Booking.session_id == session_id)).all()) == 3


def test_an_edit_is_refused_beside_the_field(app: Flask, demo: Demo, coordinator: FlaskClient,
                                             received: ReceivedMail) -> None:
    session_id = first_session(app)
    booked_trainees(demo, session_id, ["ana@example.org", "ben@example.org"])
    url = f"/coordinator/demo/sessions/{session_id}/edit"
    alex = db_id(app, "Alex Moreno, CPSS")
    form = {"facilitator_id": alex, "starts_on": (date.today() + timedelta(days=8)).isoformat(),
            "starts_at": "09:30", "duration_minutes": "90", "capacity": "12",
            "location": "Seminar room B"}
    # Sam's certification lapses in 20 days: not on a date 25 days away.
    sam = db_id(app, "Sam Okafor, CPS")
    later = (date.today() + timedelta(days=25)).isoformat()
    for changes, field, message in (
            ({"capacity": "1"}, "capacity", "2 trainee(s) have booked"),
            ({"facilitator_id": sam, "starts_on": later}, "facilitator_id",
             "certification is not current"),
            ({"starts_on": "2001-02-03"}, "starts_on", "Choose a date and time in the future."),
            ({"duration_minutes": "5"}, "duration_minutes", "from 15 to 480"),
            ({"location": ""}, "location", "Say where the session is.")):
        response = post(coordinator, url, {**form, **changes})
        assert response.status_code == 422, changes
        html = text(response)
        error = re.search(rf'id="{field}-error">(.*?)</p>', html, re.S)
        assert error is not None and message in error.group(1), (changes, html)
        if field != "location":
            assert 'value="Seminar room B"' in html
    assert received.messages == []
    with app.app_context():
        unchanged = db.session.get(ContactSession, session_id)
        assert unchanged.location == "Teaching room 2.14, Health Sciences Building"
    # A session that has started cannot be moved.
    move_into_the_past(app, session_id)
    response = post(coordinator, url, form)
    assert "has started" in text(coordinator.get("/coordinator/demo/sessions"))
    assert response.status_code == 303 and received.messages == []


def test_edit_service_refuses_a_lapsed_facilitator(app: Flask, demo: Demo) -> None:
    lapsed = add_facilitator(app, "Lapsed", date.today() + timedelta(days=2))
    session_id = first_session(app)
    with app.app_context():
        contact_session = db.session.get(ContactSession, session_id)
        plan = contact.SessionPlan(
            starts_at=contact_session.starts_at, duration_minutes=90, location="X",
            capacity=12, facilitator=db.session.get(Facilitator, lapsed))
        with pytest.raises(contact.FacilitatorNotCertified, match="not current"):
            contact.edit_session(db.session, contact_session, plan, actor="t")


def test_cancelling_releases_the_bookings_and_tells_the_trainees(
        app: Flask, demo: Demo, coordinator: FlaskClient, received: ReceivedMail) -> None:
    session_id = first_session(app)
    codes = booked_trainees(demo, session_id, ["ana@example.org", None])
    url = "/coordinator/demo/sessions"
    response = post(coordinator, f"{url}/{session_id}/cancel", {"cancel-submit": "1"}, url)
    assert response.status_code == 303
    page = text(coordinator.get(url))
    assert "2 booking(s) released" in page and "1 booked trainee(s) told by email" in page
    assert f"{codes[1]} (no email on file)" in page
    (message,) = received.messages
    assert message["To"] == "ana@example.org" and "cancelled" in message["Subject"]
    body = message.get_content()
    assert "Your place is released" in body and "http://localhost/t/" in body
    with app.app_context():
        assert db.session.get(ContactSession, session_id).status is SessionStatus.CANCELLED
        assert db.session.scalars(select(Booking)).all() == []
        (logged,) = db.session.scalars(select(SentMessage)).all()
        assert logged.kind is MessageKind.SESSION_CANCELLED and logged.via == "smtp"
        # Released: the trainee can book another session.
        participant = db.session.scalars(select(Participant).where(
            Participant.code == codes[0])).one()
        other = contact.bookable_sessions(db.session, participant)[0][0]
        assert contact.book(db.session, participant, other.id).session_id == other.id


def test_a_mail_server_out_of_reach_lists_everyone_as_not_notified(
        demo: Demo, coordinator: FlaskClient) -> None:
    app = demo.app
    session_id = first_session(app)
    codes = booked_trainees(demo, session_id, ["ana@example.org"])
    app.config["MAIL_PORT"] = free_port()  # nothing listens there
    url = "/coordinator/demo/sessions"
    response = post(coordinator, f"{url}/{session_id}/cancel", {"cancel-submit": "1"}, url)
    assert response.status_code == 303
    page = text(coordinator.get(url))
    assert f"{codes[0]} (Could not reach the mail server" in page
    with app.app_context():  # the cancellation stands; nothing is logged as sent
        assert db.session.get(ContactSession, session_id).status is SessionStatus.CANCELLED
        assert db.session.scalars(select(SentMessage)).all() == []


# --- attendance ---------------------------------------------------------------------------


def test_attendance_in_bulk_with_a_bad_row_saves_nothing_and_keeps_what_was_typed(
        app: Flask, demo: Demo, coordinator: FlaskClient) -> None:
    session_id = first_session(app)
    codes = sorted(booked_trainees(demo, session_id, [None, None, None]))  # the page's order
    move_into_the_past(app, session_id)
    url = f"/coordinator/demo/sessions/{session_id}"
    html = text(coordinator.get(url))
    ids = re.findall(r'id="b(\d+)-minutes_attended"', html)
    assert len(ids) == 3 and "no-show" in html
    a, b, c = ids
    form = {f"b{a}-attended": "yes", f"b{a}-minutes_attended": "85",
            f"b{b}-attended": "no", f"b{b}-minutes_attended": "40",
            f"b{c}-attended": "yes", f"b{c}-minutes_attended": "91"}
    response = post(coordinator, url, form)
    assert response.status_code == 422
    page = text(response)
    assert re.search(rf'id="b{b}-minutes_attended-error">.*?did not attend has no minutes',
                     page, re.S)
    assert re.search(rf'id="b{c}-minutes_attended-error">.*?from 0 to 90', page, re.S)
    assert f'id="b{a}-minutes_attended-error"' not in page
    assert re.search(rf'id="b{a}-minutes_attended"[^>]*value="85"', page)
    assert re.search(rf'id="b{a}-attended-0"[^>]*value="yes" checked|'
                     rf'checked[^>]*id="b{a}-attended-0"', page)
    with app.app_context():
        assert all(booking.attended is None for booking in db.session.scalars(select(Booking)))
    response = post(coordinator, url, {**form, f"b{b}-minutes_attended": "",
                                       f"b{c}-minutes_attended": "90"})
    assert response.status_code == 303
    assert f"Attendance saved for {', '.join(codes)}." in text(coordinator.get(url))
    with app.app_context():
        saved = {p: (bk.attended, bk.minutes_attended) for p, bk in db.session.execute(
            select(Participant.code, Booking).join(Booking.participant))}
        statuses = dict(db.session.execute(select(Participant.code, Participant.status)).all())
    assert saved == {codes[0]: (True, 85), codes[1]: (False, None), codes[2]: (True, 90)}
    assert statuses[codes[0]] is ParticipantStatus.INTERVENTION_DONE
    assert statuses[codes[1]] is ParticipantStatus.ALLOCATED
    # Nothing marked: nothing to save, explained.
    empty = {f"b{i}-attended": "" for i in ids}
    response = post(coordinator, url, empty)
    assert response.status_code == 422 and "Nothing to save" in text(response)


def test_attendance_is_refused_for_a_session_its_facilitator_was_not_certified_for(
        app: Flask, demo: Demo, coordinator: FlaskClient) -> None:
    session_id = first_session(app)
    booked_trainees(demo, session_id, [None])
    move_into_the_past(app, session_id)
    with app.app_context():
        alex = db.session.get(ContactSession, session_id).facilitator
        alex.certified_from = date.today() + timedelta(days=1)  # entered later, say
        db.session.commit()
    assert "Not certified on this date: cannot be held" in text(
        coordinator.get("/coordinator/demo/sessions"))
    url = f"/coordinator/demo/sessions/{session_id}"
    html = text(coordinator.get(url))
    assert "cannot be held" in html
    booking = re.search(r'id="b(\d+)-minutes_attended"', html).group(1)
    response = post(coordinator, url, {f"b{booking}-attended": "yes"})
    assert response.status_code == 422
    error = re.search(rf'id="b{booking}-attended-error">(.*?)</p>', text(response), re.S)
    assert error is not None and "could not be held" in error.group(1)
    with app.app_context():
        booking_row = db.session.scalars(select(Booking)).one()
        assert booking_row.attended is None
        user = db.session.scalars(select(User)).first()
        with pytest.raises(NotAllowed, match="could not be held"):
            contact.record_attendance(db.session, booking_row, True, user=user)


# --- who may -------------------------------------------------------------------------------


def test_the_new_pages_refuse_anyone_but_the_study_s_coordinators(
        app: Flask, demo: Demo, staff_client: StaffClient) -> None:
    with app.app_context():
        create_study(db.session, StudySpec(slug="other", title="Other", consent_text="x"),
                     demo.library, actor="test")
        db.session.commit()
    alex = db_id(app, "Alex Moreno, CPSS")
    session_id = first_session(app)
    gets = [REGISTRY, f"{REGISTRY}/{alex}", f"/coordinator/demo/sessions/{session_id}/edit"]
    posts = [REGISTRY, f"{REGISTRY}/{alex}", f"{REGISTRY}/{alex}/active",
             f"/coordinator/demo/sessions/{session_id}/edit",
             f"/coordinator/demo/sessions/{session_id}/cancel",
             f"/coordinator/demo/sessions/{session_id}"]
    anonymous = app.test_client()
    researcher = staff_client("researcher")
    other = staff_client("coordinator", study="other")
    coordinator = staff_client("coordinator")
    for url in gets:
        response = anonymous.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
        assert researcher.get(url).status_code == 403, url
        assert other.get(url).status_code == 404, url
        assert coordinator.get(url).status_code == 200, url
    token = csrf_from(text(other.get("/coordinator/")))
    research_token = csrf_from(text(researcher.get("/researcher/")))
    for url in posts:
        assert anonymous.post(url).status_code in (302, 400), url
        assert researcher.post(url, data={"csrf_token": research_token}).status_code == 403, url
        assert other.post(url, data={"csrf_token": token}).status_code == 404, url
    # Another study's facilitator or session is not found through this study.
    assert coordinator.get(f"{REGISTRY}/424242").status_code == 404
    # A POST without a valid CSRF token changes nothing.
    assert coordinator.post(f"{REGISTRY}/{alex}/active", data={}).status_code == 400
    assert coordinator.post(REGISTRY, data=details()).status_code == 400
    with app.app_context():
        assert db.session.get(Facilitator, alex).active
        assert db.session.scalars(select(Facilitator).where(
            Facilitator.display_name == "Robin Vale, CPSS")).first() is None
