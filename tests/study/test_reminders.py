"""Reminders (DESIGN §3, §7): each stalled step reminded while its window is open, once per
interval, over a real local SMTP server; the CLI for cron and the coordinator's button."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from study import mail
from study.extensions import db
from study.models import (
    Allocation,
    Arm,
    ArmKind,
    AuditEvent,
    Booking,
    ContactSession,
    Invitation,
    MessageKind,
    Participant,
    ParticipantStatus,
    SentMessage,
    StudyInstrument,
    Timepoint,
    utcnow,
)
from study.services import invitations, journey, trial
from study.services.reminders import (
    ReminderStep,
    reminding_studies,
    send_reminders,
    stalled_trainees,
    when,
)
from study.services.studies import StudySpec, create_study, get_study
from tests.conftest import ReceivedMail, _staff_account
from tests.helpers import (
    STAFF_PASSWORD,
    Demo,
    DemoSnapshot,
    StaffClient,
    TraineeDriver,
    csrf_from,
    free_port,
    staff_email,
)

DAY = timedelta(days=1)
LINK_RE = re.compile(r"http://localhost/t/(\S+)")
SmtpServer = tuple[dict[str, Any], ReceivedMail]


@pytest.fixture
def mailed(make_app: Callable[..., Flask], seeded_snapshot: DemoSnapshot,
           smtp_server: SmtpServer) -> tuple[Demo, ReceivedMail]:
    """The demo study in an app whose mail goes to the local SMTP server."""
    settings, received = smtp_server
    return seeded_snapshot.restore(make_app(**settings)), received


def new_trainee(app: Flask, email: str | None, *, invited: timedelta = 10 * DAY
                ) -> tuple[int, str, str]:
    """An invited demo trainee (id, code, link token); with an email, the invitation on record."""
    with app.app_context():
        study = get_study(db.session, "demo")
        (issued,) = invitations.invite(db.session, study, study.cohorts[0], 1, actor="test",
                                       emails=[email] if email else None)
        participant = issued.participant
        participant.created_at = utcnow() - invited
        if email:
            db.session.add(SentMessage(participant_id=participant.id,
                                       kind=MessageKind.INVITATION, via="smtp",
                                       sent_at=participant.created_at))
        db.session.commit()
        return participant.id, participant.code, issued.token


def allocate_directly(app: Flask, participant_id: int, kind: ArmKind, *, ago: timedelta,
                      status: ParticipantStatus = ParticipantStatus.ALLOCATED) -> None:
    """Allocate to the arm of ``kind``, ``ago`` before now (rows written directly)."""
    with app.app_context():
        participant = db.session.get(Participant, participant_id)
        assert participant is not None
        arm = db.session.scalars(select(Arm).where(Arm.study_id == participant.study_id,
                                                   Arm.kind == kind)).one()
        position = db.session.scalar(select(func.max(Allocation.position))) or 0
        db.session.add(Allocation(study_id=participant.study_id, participant_id=participant.id,
                                  arm_id=arm.id, stratum_id="test", position=position + 1,
                                  block_size=2, allocated_at=utcnow() - ago))
        participant.status = status
        participant.status_changed_at = utcnow() - ago
        db.session.commit()


def add_followup(app: Flask) -> None:
    """Give the demo a follow-up (the post anxiety scale again): opens 28 days after post."""
    with app.app_context():
        study = get_study(db.session, "demo")
        post = study.timepoint("post")
        assert post is not None
        followup = Timepoint(study_id=study.id, name="followup", label="Follow-up", position=2)
        db.session.add(followup)
        db.session.flush()
        first = post.instruments[0]
        db.session.add(StudyInstrument(timepoint_id=followup.id,
                                       instrument_id=first.instrument_id,
                                       instrument_version=first.instrument_version,
                                       fingerprint=first.fingerprint, position=0))
        study.followup_offset_days, study.followup_window_days = 28, 14
        db.session.commit()


def first_session(app: Flask) -> tuple[int, datetime]:
    with app.app_context():
        contact_session = db.session.scalars(
            select(ContactSession).order_by(ContactSession.starts_at)).first()
        assert contact_session is not None
        return contact_session.id, contact_session.starts_at


def run(app: Flask, *, now: datetime | None = None, dry_run: bool = False) -> Any:
    with app.test_request_context(), app.app_context():
        study = get_study(db.session, "demo")
        return send_reminders(db.session, study, now=now or utcnow(), dry_run=dry_run,
                              link_for=lambda token: f"http://localhost/t/{token}",
                              actor="test")


def stalled(app: Flask, now: datetime | None = None) -> dict[str, Any]:
    with app.app_context():
        return {t.code: t for t in stalled_trainees(db.session, get_study(db.session, "demo"),
                                                    now=now or utcnow())}


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


def reminders_logged(app: Flask, participant_id: int) -> list[str | None]:
    with app.app_context():
        return list(db.session.scalars(
            select(SentMessage.step).where(SentMessage.participant_id == participant_id,
                                           SentMessage.kind == MessageKind.REMINDER)))


# --- each step, with a working link -----------------------------------------------------------

# step -> the trainee page its link leads to, and words the email must say
STEPS = {
    "consent": ("/welcome", "You are invited to take part"),
    "baseline": ("/q/baseline/", "The first questionnaires are waiting"),
    "booking": ("/sessions", "book a place in a contact session"),
    "module": ("/education", "The education module"),
    "session": ("/sessions", "A reminder of the contact session you booked"),
    "post": ("/q/post/", "The questionnaire after the activity"),
    "followup": ("/q/followup/", "The follow-up questionnaire"),
}


@pytest.mark.parametrize("step", list(STEPS))
def test_each_step_is_reminded_with_a_link_that_leads_to_it(
        mailed: tuple[Demo, ReceivedMail], step: str) -> None:
    demo, received = mailed
    app = demo.app
    email = f"{step}@example.org"
    participant_id, code, token = new_trainee(app, email)
    now = utcnow()
    until = None
    if step == "baseline":
        TraineeDriver(app.test_client(), token).consent()
        with app.app_context():
            participant = db.session.get(Participant, participant_id)
            assert participant is not None
            participant.status_changed_at -= 5 * DAY  # consented five days ago
            db.session.commit()
    elif step in ("booking", "module", "session"):
        kind = ArmKind.EDUCATION if step == "module" else ArmKind.CONTACT
        allocate_directly(app, participant_id, kind, ago=5 * DAY)
        until = now - 5 * DAY + 14 * DAY  # the intervention period ends, post opens
        if step == "session":
            session_id, until = first_session(app)
            with app.app_context():
                db.session.add(Booking(session_id=session_id, participant_id=participant_id))
                db.session.commit()
            now = until - DAY  # a booked session is reminded within the interval before it
    elif step == "post":
        allocate_directly(app, participant_id, ArmKind.CONTACT, ago=15 * DAY)
        until = now - 15 * DAY + 14 * DAY + 60 * DAY  # the demo's post window is 60 days
    elif step == "followup":
        add_followup(app)
        allocate_directly(app, participant_id, ArmKind.EDUCATION, ago=43 * DAY)
        until = now - 43 * DAY + 14 * DAY + 28 * DAY + 14 * DAY

    listed = stalled(app, now)[code]
    assert (listed.step, listed.due) == (ReminderStep(step), True)
    result = run(app, now=now)
    assert result.sent == [(code, ReminderStep(step))] and result.error is None

    (message,) = received.to(email)
    body = message.get_content()
    assert message["Subject"] == "Reminder: Meeting as equals: a demonstration contact study"
    assert "Meeting as equals" in body and STEPS[step][1] in body
    assert ("withdraw from the study" in body) == (step != "consent")  # before consent: decline
    if until is not None:  # the window's end (or the session's start), to the minute
        assert when(until) in body
    link = LINK_RE.search(body)
    assert link is not None and link[1] != token  # a new link: only hashes are kept
    page = app.test_client().get(f"/t/{link[1]}", follow_redirects=True)
    assert page.status_code == 200
    assert page.request.path.startswith(f"/t/{link[1]}{STEPS[step][0]}"), page.request.path
    assert reminders_logged(app, participant_id) == [step]
    assert app.test_client().get(f"/t/{token}").status_code in (200, 302)  # the old link works


# --- once per interval -----------------------------------------------------------------------


def test_the_interval_holds_and_a_run_after_it_reminds_again(
        mailed: tuple[Demo, ReceivedMail]) -> None:
    demo, received = mailed
    app = demo.app
    participant_id, code, _ = new_trainee(app, "once@example.org", invited=timedelta(0))
    start = utcnow()
    cli = app.test_cli_runner()

    def send(at: datetime) -> str:
        result = cli.invoke(args=["send-reminders", "--study", "demo",
                                  "--as-of", at.isoformat()])
        assert result.exit_code == 0, result.output
        return result.output

    assert "0 reminder(s) sent" in send(start + 2 * DAY)  # the invitation started the interval
    assert f"demo: {code} consent (sent)" in send(start + 3 * DAY + timedelta(minutes=5))
    assert "0 reminder(s) sent" in send(start + 5 * DAY)  # within the interval: nothing
    assert len(received.to("once@example.org")) == 1
    listed = stalled(app, start + 5 * DAY)[code]
    assert not listed.due and listed.not_due_because.startswith("Emailed ")
    assert listed.last_email.kind is MessageKind.REMINDER
    assert f"{code} consent (sent)" in send(start + 6 * DAY + timedelta(minutes=10))
    assert len(received.to("once@example.org")) == 2
    assert reminders_logged(app, participant_id) == ["consent", "consent"]


def test_a_trainee_busy_with_a_step_they_just_reached_is_not_reminded_yet(
        mailed: tuple[Demo, ReceivedMail]) -> None:
    demo, received = mailed
    participant_id, code, _ = new_trainee(demo.app, "busy@example.org")
    allocate_directly(demo.app, participant_id, ArmKind.EDUCATION, ago=timedelta(hours=2))
    listed = stalled(demo.app)[code]
    assert listed.step is ReminderStep.MODULE and not listed.due
    assert listed.not_due_because.startswith("On this step since")
    assert run(demo.app).sent == [] and received.messages == []
    assert run(demo.app, now=utcnow() + 3 * DAY).sent == [(code, ReminderStep.MODULE)]


# --- closed windows ----------------------------------------------------------------------------


def test_a_closed_post_window_sends_nothing(mailed: tuple[Demo, ReceivedMail]) -> None:
    demo, received = mailed
    participant_id, code, _ = new_trainee(demo.app, "late@example.org", invited=90 * DAY)
    allocate_directly(demo.app, participant_id, ArmKind.CONTACT, ago=80 * DAY)  # 14 + 60 < 80
    assert code not in stalled(demo.app)
    assert run(demo.app).sent == [] and received.messages == []
    # An hour before it closed, it was open, and reminded.
    closes = utcnow() - 80 * DAY + 74 * DAY
    assert stalled(demo.app, closes - timedelta(hours=1))[code].step is ReminderStep.POST
    assert code not in stalled(demo.app, closes + timedelta(minutes=1))


def test_closing_recruitment_ends_consent_baseline_and_booking_reminders_not_post(
        mailed: tuple[Demo, ReceivedMail]) -> None:
    demo, received = mailed
    app = demo.app
    _, invited, _ = new_trainee(app, "invited@example.org")
    consented_id, consented, token = new_trainee(app, "consented@example.org")
    TraineeDriver(app.test_client(), token).consent()
    booking_id, booking, _ = new_trainee(app, "booking@example.org")
    allocate_directly(app, booking_id, ArmKind.CONTACT, ago=5 * DAY)
    post_id, post, _ = new_trainee(app, "post@example.org", invited=20 * DAY)
    allocate_directly(app, post_id, ArmKind.EDUCATION, ago=15 * DAY)
    later = utcnow() + 4 * DAY
    assert {invited, consented, booking, post} <= set(stalled(app, later))

    with app.app_context():
        trial.close_recruitment(db.session, get_study(db.session, "demo"), actor="test")
        db.session.commit()
        assert [s.slug for s in reminding_studies(db.session)] == ["demo"]  # still running
    assert set(stalled(app, later)) == {post}
    assert run(app, now=later).sent == [(post, ReminderStep.POST)]
    assert [m["To"] for m in received.messages] == ["post@example.org"]

    with app.app_context():
        trial.lock_data(db.session, get_study(db.session, "demo"), actor="test")
        db.session.commit()
        assert reminding_studies(db.session) == []
    assert stalled(app, later + 10 * DAY) == {}


def test_booking_is_not_reminded_when_there_is_no_session_to_book(
        mailed: tuple[Demo, ReceivedMail]) -> None:
    demo, received = mailed
    participant_id, code, _ = new_trainee(demo.app, "nosession@example.org")
    allocate_directly(demo.app, participant_id, ArmKind.CONTACT, ago=5 * DAY)
    with demo.app.app_context():
        for contact_session in db.session.scalars(select(ContactSession)):
            contact_session.capacity = 0
        db.session.commit()
    listed = stalled(demo.app)[code]
    assert listed.step is ReminderStep.BOOKING and not listed.due
    assert "schedule one" in (listed.not_due_because or "")
    assert run(demo.app).sent == [] and received.messages == []


def test_a_trainee_without_email_is_listed_but_never_reminded(
        mailed: tuple[Demo, ReceivedMail]) -> None:
    demo, received = mailed
    _, code, _ = new_trainee(demo.app, None)
    listed = stalled(demo.app)[code]
    assert listed.step is ReminderStep.CONSENT and not listed.due
    assert listed.not_due_because == "No email on file: cannot be reminded."
    result = run(demo.app, now=utcnow() + 30 * DAY)
    assert (result.sent, result.no_email) == ([], 1) and received.messages == []


def test_a_dry_run_sends_and_writes_nothing(mailed: tuple[Demo, ReceivedMail]) -> None:
    demo, received = mailed
    _, code, _ = new_trainee(demo.app, "dry@example.org")
    before = {model: count(demo.app, model) for model in (SentMessage, Invitation, AuditEvent)}
    result = demo.app.test_cli_runner().invoke(args=["send-reminders", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"demo: {code} consent (would be sent)" in result.output
    assert "demo: 1 reminder(s) would be sent" in result.output
    assert received.messages == []
    assert {model: count(demo.app, model) for model in before} == before


# --- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--as-of", "yesterday"], "is not an ISO 8601 date and time"),
    (["--as-of", "2027-02-30T10:00"], "is not an ISO 8601 date and time"),
    (["--study", "nosuch"], "No study with the slug 'nosuch'"),
])
def test_send_reminders_misuse_is_one_line(demo: Demo, args: list[str], message: str) -> None:
    result = demo.app.test_cli_runner().invoke(args=["send-reminders", *args])
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_as_of_with_an_offset_is_read_as_that_moment(mailed: tuple[Demo, ReceivedMail]) -> None:
    demo, received = mailed
    participant_id, code, _ = new_trainee(demo.app, "offset@example.org", invited=timedelta(0))
    moment = (utcnow() + 4 * DAY).replace(microsecond=0)
    local = moment.astimezone(__import__("datetime").timezone(timedelta(hours=-5)))
    result = demo.app.test_cli_runner().invoke(
        args=["send-reminders", "--as-of", local.isoformat()])
    assert result.exit_code == 0 and f"{code} consent (sent)" in result.output
    with demo.app.app_context():
        logged = db.session.scalars(select(SentMessage.sent_at).where(
            SentMessage.participant_id == participant_id,
            SentMessage.kind == MessageKind.REMINDER)).one()
    assert logged == moment  # the run acts, and records, as at that moment


def test_without_a_study_every_recruiting_or_running_study_is_reminded(
        mailed: tuple[Demo, ReceivedMail]) -> None:
    demo, received = mailed
    with demo.app.app_context():  # a draft has nobody to remind and is not mentioned
        create_study(db.session, StudySpec(slug="draft", title="Draft", consent_text="x"),
                     demo.library, actor="test")
        db.session.commit()
    new_trainee(demo.app, "all@example.org")
    result = demo.app.test_cli_runner().invoke(args=["send-reminders"])
    assert result.exit_code == 0
    assert "demo: 1 reminder(s) sent" in result.output and "draft" not in result.output
    assert len(received.to("all@example.org")) == 1


# --- the mail server failing ------------------------------------------------------------------


class FlakyServer:
    """Accepts ``accept`` messages, then answers 451; refuses recipients named ``refused@…``."""

    def __init__(self, accept: int) -> None:
        self.accept = accept
        self.received: list[str] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          options: Any) -> str:
        if address.startswith("refused@"):
            return "550 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if len(self.received) >= self.accept:
            return "451 Local error in processing, try again later"
        self.received.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


def test_a_refused_address_is_skipped_and_a_failure_midway_keeps_what_was_sent(
        make_app: Callable[..., Flask], seeded_snapshot: DemoSnapshot) -> None:
    handler = FlakyServer(accept=2)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False,
                       MAIL_FROM="study@allport.test")
        seeded_snapshot.restore(app)
        # Invited 10, 9, 8, 7 days ago: reminded longest stalled first.
        trainees = [new_trainee(app, email, invited=days * DAY) for email, days in (
            ("first@example.org", 10), ("refused@example.org", 9), ("second@example.org", 8),
            ("third@example.org", 7))]
        links_before = count(app, Invitation)
        result = run(app)
        assert [code for code, _ in result.sent] == [trainees[0][1], trainees[2][1]]
        assert result.refused == [(trainees[1][1], ReminderStep.CONSENT)]
        assert result.error is not None and "451" in result.error and result.unsent == 1
        assert handler.received == ["first@example.org", "second@example.org"]
        # The two sent are logged, each with its link; the refused and the failed left no trace.
        assert [len(reminders_logged(app, t[0])) for t in trainees] == [1, 0, 1, 0]
        assert count(app, Invitation) == links_before + 2
        with app.app_context():
            event = db.session.scalars(select(AuditEvent).where(
                AuditEvent.action == "reminders_sent")).one()
            assert event.details["sent"] == 2 and event.details["refused"] == 1
            assert event.details["failed"] is True and event.details["unsent"] == 1
            assert "example.org" not in str(event.details)
        # The next run reminds the one that failed, not the two already reminded, and tries
        # the refused address again (nothing reached that trainee).
        handler.accept = 10
        again = run(app)
        assert [code for code, _ in again.sent] == [trainees[3][1]]
        assert again.refused == [(trainees[1][1], ReminderStep.CONSENT)]
        cli = app.test_cli_runner().invoke(args=["send-reminders"])
        assert cli.exit_code == 0
        assert f"demo: {trainees[1][1]} consent (address refused)" in cli.output
        assert "0 reminder(s) sent" in cli.output and "1 address(es) refused" in cli.output
    finally:
        controller.stop()


def test_an_unreachable_mail_server_sends_nothing_and_the_command_fails(
        make_app: Callable[..., Flask], seeded_snapshot: DemoSnapshot) -> None:
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_USE_TLS=False)
    seeded_snapshot.restore(app)
    participant_id, code, _ = new_trainee(app, "away@example.org")
    links = count(app, Invitation)
    result = app.test_cli_runner().invoke(args=["send-reminders"])
    assert result.exit_code == 1
    assert "Could not reach the mail server" in result.output and "1 reminder(s) not sent" \
        in result.output
    assert reminders_logged(app, participant_id) == [] and count(app, Invitation) == links
    assert stalled(app)[code].due  # still due for the next run


# --- the coordinator's page and button --------------------------------------------------------


def signed_in(app: Flask, role: str = "coordinator", study: str = "demo") -> FlaskClient:
    """A client of ``app`` signed in as ``staff_client`` would (that fixture serves ``app``)."""
    email = staff_email(role, study)
    with app.app_context():
        _staff_account(email, role, study)
        db.session.commit()
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    assert client.post("/login", data={"csrf_token": csrf_from(html), "email": email,
                                       "password": STAFF_PASSWORD}).status_code == 303
    return client


def reminders_url(slug: str = "demo") -> str:
    return f"/coordinator/{slug}/reminders"


def press_send(client: FlaskClient) -> Any:
    html = client.get(reminders_url()).get_data(as_text=True)
    return client.post(reminders_url() + "/send", data={"send-csrf_token": csrf_from(html)},
                       follow_redirects=True)


def test_the_page_lists_stalled_trainees_and_the_button_reminds_the_due_ones(
        mailed: tuple[Demo, ReceivedMail]) -> None:
    demo, received = mailed
    _, due, _ = new_trainee(demo.app, "due@example.org")
    _, no_email, _ = new_trainee(demo.app, None)
    booked_id, booked, _ = new_trainee(demo.app, "booked@example.org")
    allocate_directly(demo.app, booked_id, ArmKind.CONTACT, ago=5 * DAY)
    coordinator = signed_in(demo.app)
    html = coordinator.get(reminders_url()).get_data(as_text=True)
    assert "3 trainee(s) have something waiting" in html and "due for 2 of them" in html
    assert f'/coordinator/demo/participants/{due}"' in html
    assert "No email on file: cannot be reminded." in html
    assert "Booking a contact session" in html and "Due now" in html
    assert "Autumn 2026" in html and "invitation," in html  # cohort; last email
    # Totals only: no count per step, which would tally the arms while recruiting (§4).
    assert not re.search(r"\d+\s+(trainee\(s\)\s+)?(booking|education module)", html, re.I)
    assert "Stalled trainees and reminders" in coordinator.get(
        "/coordinator/demo/").get_data(as_text=True)

    without_token = coordinator.post(reminders_url() + "/send")
    assert without_token.status_code == 400 and received.messages == []

    page = press_send(coordinator)
    assert page.status_code == 200 and page.request.path == reminders_url()
    text = page.get_data(as_text=True)
    assert "2 reminder(s) sent." in text, re.findall(r"flash[^>]*>([^<]*)", text)
    assert "No reminder is due now." in text
    assert sorted(m["To"] for m in received.messages) == ["booked@example.org",
                                                          "due@example.org"]
    assert no_email in text and booked in text  # still listed, now with their last email
    assert "No reminder was due" in press_send(coordinator).get_data(as_text=True)
    assert len(received.messages) == 2


def test_without_a_mail_server_the_button_says_the_reminders_went_to_the_outbox(
        demo: Demo, staff_client: StaffClient) -> None:
    new_trainee(demo.app, "outbox@example.org")
    coordinator = staff_client("coordinator")
    assert "reminders go to the outbox folder" in coordinator.get(reminders_url()).get_data(
        as_text=True)
    text = press_send(coordinator).get_data(as_text=True)
    assert "1 reminder(s) went to the outbox" in text
    (message,) = mail.outbox(demo.app.instance_path)
    assert message.to == "outbox@example.org" and "/t/" in message.body


def test_a_mail_failure_is_told_on_the_page(make_app: Callable[..., Flask],
                                            seeded_snapshot: DemoSnapshot) -> None:
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_USE_TLS=False)
    seeded_snapshot.restore(app)
    new_trainee(app, "away@example.org")
    text = press_send(signed_in(app)).get_data(as_text=True)
    assert "Could not reach the mail server" in text and "1 reminder(s) were not sent" in text


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_only_the_study_coordinators_reach_the_reminders(
        demo: Demo, staff_client: StaffClient, method: str) -> None:
    url = reminders_url() + ("/send" if method == "POST" else "")
    anonymous = demo.app.test_client().open(url, method=method)
    assert anonymous.status_code in ((302,) if method == "GET" else (302, 400))
    if method == "GET":
        assert "/login" in anonymous.headers["Location"]
    researcher = staff_client("researcher")
    token = csrf_from(researcher.get("/researcher/demo/").get_data(as_text=True))
    assert researcher.open(url, method=method, data={"send-csrf_token": token}
                           ).status_code == 403
    with demo.app.app_context():
        create_study(db.session, StudySpec(slug="other", title="Other study", consent_text="x"),
                     demo.library, actor="test")
        db.session.commit()
    other = staff_client("coordinator", study="other")
    token = csrf_from(other.get("/coordinator/").get_data(as_text=True))
    assert other.open(url, method=method, data={"send-csrf_token": token}).status_code == 404
    assert other.get(reminders_url("other")).status_code == 200


# --- the bulk list agrees with the journey ----------------------------------------------------

JOURNEY_STEPS: dict[ReminderStep, set[tuple[journey.StepName, str | None]]] = {
    ReminderStep.CONSENT: {(journey.StepName.WELCOME, None)},
    ReminderStep.BASELINE: {(journey.StepName.QUESTIONNAIRE, "baseline"),
                            (journey.StepName.ALLOCATION, None)},
    ReminderStep.BOOKING: {(journey.StepName.CONTACT, None)},
    ReminderStep.SESSION: {(journey.StepName.CONTACT, None)},
    ReminderStep.MODULE: {(journey.StepName.EDUCATION, None)},
    ReminderStep.POST: {(journey.StepName.QUESTIONNAIRE, "post")},
    ReminderStep.FOLLOWUP: {(journey.StepName.QUESTIONNAIRE, "followup")},
}


def test_the_list_agrees_with_next_step_for_every_trainee_at_every_moment(
        simulated_demo: Demo) -> None:
    """Twenty simulated journeys (and a few stalled early), with a follow-up, over 90 days."""
    app = simulated_demo.app
    add_followup(app)
    new_trainee(app, "a@example.org")
    consented = new_trainee(app, "b@example.org")
    TraineeDriver(app.test_client(), consented[2]).consent()
    for kind in (ArmKind.EDUCATION, ArmKind.CONTACT, ArmKind.CONTACT):
        allocate_directly(app, new_trainee(app, None)[0], kind, ago=2 * DAY)
    session_id, _ = first_session(app)  # the last one books the first session (in 7 days)
    with app.app_context():
        booked = db.session.scalar(select(func.max(Participant.id)))
        db.session.add(Booking(session_id=session_id, participant_id=booked))
        db.session.commit()
    seen = set()
    with app.app_context():
        study = get_study(db.session, "demo")
        participants = list(db.session.scalars(select(Participant)))
        for offset in (0, 5, 13, 20, 45, 60, 90):
            now = utcnow() + offset * DAY
            listed = {t.code: t.step for t in stalled_trainees(db.session, study, now=now)}
            seen |= set(listed.values())
            for participant in participants:
                step = journey.next_step(db.session, participant, now=now)
                if participant.code in listed:
                    assert (step.name, step.timepoint) in JOURNEY_STEPS[listed[participant.code]]
                else:
                    assert step.name not in (journey.StepName.QUESTIONNAIRE,
                                             journey.StepName.WELCOME,
                                             journey.StepName.EDUCATION), (offset, step)
    assert seen == set(ReminderStep)


def test_a_trainee_reminded_by_another_run_meanwhile_is_not_reminded_twice(
        mailed: tuple[Demo, ReceivedMail], monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs at once (cron and the button): the one that claims the trainee second skips them.

    The other run's reminder is logged between this run's list and its claim (in the same
    session here: on SQLite a second writer would wait for this run's read to end).
    """
    from study.services import reminders

    demo, received = mailed
    participant_id, code, _ = new_trainee(demo.app, "race@example.org")
    listed = reminders.stalled_trainees

    def list_then_other_run_reminds(session: Any, *args: Any, **kwargs: Any) -> Any:
        stalled_now = listed(session, *args, **kwargs)
        session.add(SentMessage(participant_id=participant_id, kind=MessageKind.REMINDER,
                                step="consent", via="smtp", sent_at=utcnow()))
        session.flush()
        return stalled_now

    monkeypatch.setattr(reminders, "stalled_trainees", list_then_other_run_reminds)
    assert stalled(demo.app)[code].due
    result = run(demo.app)
    assert result.sent == [] and received.messages == []
    assert reminders_logged(demo.app, participant_id) == ["consent"]  # the other run's only


@pytest.mark.parametrize("page", ["abc", "-5", "0", str(10**30), "2"])
def test_any_page_number_shows_a_page(demo: Demo, staff_client: StaffClient, page: str) -> None:
    new_trainee(demo.app, "page@example.org")
    response = staff_client("coordinator").get(reminders_url() + f"?page={page}")
    assert response.status_code == 200
    assert "page@example.org" not in response.get_data(as_text=True)  # nor the address
