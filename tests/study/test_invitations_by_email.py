"""Invitations from a spreadsheet: checked row by row, created, and emailed over SMTP."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from study.extensions import db
from study.models import (
    AuditEvent,
    MessageKind,
    Participant,
    ParticipantContact,
    SentMessage,
)
from study.services import cohorts, invitations, journey
from study.services.studies import get_study
from tests.conftest import ReceivedMail
from tests.helpers import Demo, StaffClient, csrf_from, free_port, staff_email

PAGE = "/coordinator/demo/invitations/emails"
LINK_RE = re.compile(r"(https?://\S+/t/[\w-]+)")


def submit(client: FlaskClient, data: dict[str, Any]) -> TestResponse:
    html = client.get(PAGE).get_data(as_text=True)
    return client.post(PAGE, data={"csrf_token": csrf_from(html), "cohort_id": "", **data},
                       content_type="multipart/form-data")


def participants(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Participant.id))) or 0


def contact_of(app: Flask, email: str) -> tuple[str, str | None]:
    with app.app_context():
        code, external_id = db.session.execute(
            select(Participant.code, ParticipantContact.external_id)
            .join(ParticipantContact, ParticipantContact.participant_id == Participant.id)
            .where(ParticipantContact.email == email)).one()
        return code, external_id


def sent_messages(app: Flask) -> list[tuple[MessageKind, str]]:
    with app.app_context():
        return [(m.kind, m.via) for m in db.session.scalars(select(SentMessage))]


@pytest.fixture
def mailed(make_app: Callable[..., Flask], smtp_server: tuple[dict[str, Any], ReceivedMail],
           seeded_snapshot: Any) -> tuple[Flask, ReceivedMail]:
    """The demo study in an app that sends email to a real local SMTP server."""
    settings, received = smtp_server
    app = make_app(**settings)
    seeded_snapshot.restore(app)
    return app, received


def coordinator_of(app: Flask) -> FlaskClient:
    from tests.conftest import _staff_account
    from tests.helpers import STAFF_PASSWORD

    with app.app_context():
        _staff_account(staff_email("coordinator"), "coordinator", "demo")
        db.session.commit()
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"csrf_token": csrf_from(html), "email": staff_email("coordinator"),
                                "password": STAFF_PASSWORD})
    return client


def test_a_pasted_spreadsheet_is_emailed_over_smtp_with_links_that_work(
        mailed: tuple[Flask, ReceivedMail]) -> None:
    app, received = mailed
    client = coordinator_of(app)
    with app.app_context():
        cohort_id = get_study(db.session, "demo").cohorts[0].id
    response = submit(client, {"cohort_id": str(cohort_id), "emails": "email,external_id,cohort\n"
                                         "ana@example.org,S-1041,Autumn 2026\n"
                                         "Ben@Example.ORG,,\n"})
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    assert "2 trainees invited" in html and "handed to the mail server" in html
    assert sorted(m["To"] for m in received.messages) == ["Ben@example.org", "ana@example.org"]
    message = received.to("ana@example.org")[0]
    assert "Meeting as equals" in message["Subject"]
    body = message.get_content()
    assert "What to expect" in body
    link = LINK_RE.search(body)
    assert link is not None and link[1].startswith("http://localhost/t/")
    trainee = app.test_client()
    welcome = trainee.get(link[1].removeprefix("http://localhost"), follow_redirects=True)
    assert welcome.request.path.endswith("/welcome")
    assert contact_of(app, "ana@example.org")[1] == "S-1041"
    assert contact_of(app, "Ben@example.org")[1] is None
    assert sent_messages(app) == [(MessageKind.INVITATION, "smtp")] * 2
    with app.app_context():
        emailed = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "invitations_emailed")).one()
        assert emailed.details["sent"] == 2 and "ana" not in str(emailed.details)


def test_every_bad_row_is_reported_by_line_and_nothing_is_imported(
        app: Flask, demo: Demo, staff_client: StaffClient) -> None:
    with app.app_context():
        study = get_study(db.session, "demo")
        invitations.invite(db.session, study, study.cohorts[0], 1, actor="test",
                           emails=["old@example.org"], external_ids=["S-9"])
        closed = cohorts.create_cohort(db.session, study, name="Closed one", actor="test")
        cohorts.close_cohort(db.session, closed, actor="test")
        db.session.commit()
    before = participants(app)
    client = staff_client("coordinator")
    spreadsheet = ("email,external_id,cohort\n"
                   "good@example.org,S-1,Autumn 2026\n"     # 2: fine
                   "not-an-email,S-2,Autumn 2026\n"         # 3: invalid
                   "GOOD@example.org,S-3,Autumn 2026\n"     # 4: duplicate of line 2
                   "old@example.org,S-4,Autumn 2026\n"      # 5: already invited
                   "new@example.org,S-5,Winter\n"           # 6: unknown cohort
                   "late@example.org,S-6,Closed one\n"      # 7: closed cohort
                   "\n"                                     # 8: blank, skipped
                   "nocohort@example.org,S-7,\n"            # 9: no cohort, none chosen
                   "extra@example.org,S-8,Autumn 2026,x\n"  # 10: too many cells
                   "other@example.org,S-9,Autumn 2026\n"    # 11: external id in the study
                   ",S-10,Autumn 2026\n")                   # 12: no email
    response = submit(client, {"emails": spreadsheet})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    problems = re.findall(r"<li>(Line \d+: [^<]*)</li>", html)
    assert [p.split(":")[0] for p in problems] == [
        "Line 3", "Line 4", "Line 5", "Line 6", "Line 7", "Line 9", "Line 10", "Line 11",
        "Line 12"]
    text = " ".join(problems)
    for expected in ("not-an-email is not a valid email address",
                     "GOOD@example.org is on line 2 already",
                     "old@example.org is already invited to this study",
                     "no cohort named Winter", "cohort Closed one is closed",
                     "has no cohort", "has 4 cells", "external id S-9 is already in this study",
                     "has no email address"):
        assert expected in text, expected
    assert "9 problems; nothing was imported" in html
    assert "good@example.org,S-1,Autumn 2026" in html  # the pasted text is kept
    assert participants(app) == before


@pytest.mark.parametrize(("spreadsheet", "message"), [
    ("ana@example.org\nben@example.org\n", "Line 1: the first row must name the columns"),
    ("mail,id\nana@example.org,1\n", "Line 1: the first row must name the columns"),
    ("email,name\nana@example.org,Ana\n", "Line 1: unknown column name"),
    ("email\n", "Line 1: there are no trainees under the header row"),
    ("email\n" + "".join(f"t{i}@example.org\n" for i in range(501)), "Line 502: more than 500"),
])
def test_a_spreadsheet_without_a_usable_header_or_too_long_is_refused(
        app: Flask, demo: Demo, staff_client: StaffClient, spreadsheet: str,
        message: str) -> None:
    before = participants(app)
    response = submit(staff_client("coordinator"), {"emails": spreadsheet})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert participants(app) == before


def test_an_uploaded_file_with_a_bom_and_crlf_is_read_and_written_to_the_outbox(
        app: Flask, demo: Demo, staff_client: StaffClient) -> None:
    client = staff_client("coordinator")
    data = "\ufeffEmail,Cohort\r\ncarla@example.org,autumn 2026\r\n\r\ndan@example.org,\r\n"
    with app.app_context():
        cohort_id = get_study(db.session, "demo").cohorts[0].id
    response = submit(client, {"cohort_id": str(cohort_id),
                               "upload": (io.BytesIO(data.encode("utf-8")), "trainees.csv")})
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    assert "2 trainees invited" in html and "written to the outbox" in html
    # the outbox is shown on the page: to, subject and the body with its link
    outbox = html.split('id="outbox-title"')[1]
    assert "To carla@example.org" in outbox and "To dan@example.org" in outbox
    assert "Invitation to take part in a study" in outbox and "/t/" in outbox
    assert sent_messages(app) == [(MessageKind.INVITATION, "outbox")] * 2
    assert contact_of(app, "dan@example.org")[0].startswith("P")


def test_a_file_that_is_not_utf8_is_one_readable_problem(app: Flask, demo: Demo,
                                                         staff_client: StaffClient) -> None:
    data = "email\nzoë@example.org\n".encode("latin-1")
    response = submit(staff_client("coordinator"),
                      {"upload": (io.BytesIO(data), "trainees.csv")})
    assert response.status_code == 422
    assert "Line 2: is not UTF-8 text" in response.get_data(as_text=True)


def test_the_outbox_shows_only_this_studys_trainees(app: Flask, demo: Demo,
                                                     staff_client: StaffClient) -> None:
    from study import mail

    with app.app_context(), mail.mailer() as mailer:
        mailer.send("someone-else@example.org", "Another study's link", "secret link")
    html = staff_client("coordinator").get(PAGE).get_data(as_text=True)
    assert "The outbox is empty." in html and "someone-else" not in html


@pytest.mark.parametrize("data", [
    {},
    {"emails": "   "},
    {"cohort_id": "not-a-cohort", "emails": "email\na@example.org\n"},
    {"emails": "email\na@example.org\n", "upload": (io.BytesIO(b"email\n"), "x.csv")},
])
def test_an_empty_or_odd_form_is_422_with_a_message(app: Flask, demo: Demo,
                                                    staff_client: StaffClient,
                                                    data: dict[str, Any]) -> None:
    response = submit(staff_client("coordinator"), data)
    assert response.status_code == 422
    assert 'class="field-error"' in response.get_data(as_text=True)
    assert participants(app) == 0


class Refusing(ReceivedMail):
    """An SMTP server that refuses addresses at bounce.example (until told otherwise)."""

    refuse = True

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          address: str, options: list[str]) -> str:
        if self.refuse and address.endswith("@bounce.example"):
            return "550 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_failing_smtp_server_leaves_the_invitations_and_names_the_unsent(
        make_app: Callable[..., Flask], seeded_snapshot: Any) -> None:
    received = Refusing()
    port = free_port()
    controller = Controller(received, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False,
                       MAIL_FROM="Study <study@allport.test>")
        seeded_snapshot.restore(app)
        client = coordinator_of(app)
        response = submit(client, {"emails": "email,cohort\na@example.org,Autumn 2026\n"
                                             "gone@bounce.example,Autumn 2026\n"
                                             "c@example.org,Autumn 2026\n"})
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "3 trainees invited" in html and "1 email was not sent" in html
        assert "gone@bounce.example: The mail server refused the address" in html
        assert sorted(m["To"] for m in received.messages) == ["a@example.org", "c@example.org"]
        assert participants(app) == 3 and len(sent_messages(app)) == 2
        # once the server takes it, the invitation is resent from the trainee's page
        code = contact_of(app, "gone@bounce.example")[0]
        page = f"/coordinator/demo/participants/{code}"
        token = csrf_from(client.get(page).get_data(as_text=True))
        refused = client.post(f"{page}/resend", data={"csrf_token": token},
                              follow_redirects=True)
        assert "refused the address gone@bounce.example" in refused.get_data(as_text=True)
        assert len(sent_messages(app)) == 2
        received.refuse = False
        resent = client.post(f"{page}/resend", data={"csrf_token": token},
                             follow_redirects=True)
        assert "sent again to gone@bounce.example" in resent.get_data(as_text=True)
        [message] = received.to("gone@bounce.example")
        link = LINK_RE.search(message.get_content())
        assert link is not None
        assert app.test_client().get(link[1].removeprefix("http://localhost"),
                                     follow_redirects=True).request.path.endswith("/welcome")
        assert len(sent_messages(app)) == 3
    finally:
        controller.stop()


def test_an_unreachable_server_sends_nothing_but_invites(make_app: Callable[..., Flask],
                                                         seeded_snapshot: Any) -> None:
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_USE_TLS=False)
    seeded_snapshot.restore(app)
    response = submit(coordinator_of(app), {"emails": "email,cohort\na@example.org,Autumn 2026\n"
                                                      "b@example.org,Autumn 2026\n"})
    html = response.get_data(as_text=True)
    assert "2 emails were not sent" in html and "Could not reach the mail server" in html
    assert participants(app) == 2 and sent_messages(app) == []


def test_resend_copy_and_revoke_on_the_trainees_page(
        mailed: tuple[Flask, ReceivedMail]) -> None:
    app, received = mailed
    client = coordinator_of(app)
    submit(client, {"emails": "email,cohort\nana@example.org,Autumn 2026\n"})
    first = LINK_RE.search(received.to("ana@example.org")[0].get_content())
    assert first is not None
    code = contact_of(app, "ana@example.org")[0]
    page = f"/coordinator/demo/participants/{code}"
    html = client.get(page).get_data(as_text=True)
    assert "ana@example.org" in html and "Emails sent</th><td>1" in html
    token = csrf_from(html)

    resent = client.post(f"{page}/resend", data={"csrf_token": token}, follow_redirects=True)
    assert "sent again to ana@example.org" in resent.get_data(as_text=True)
    second = LINK_RE.search(received.to("ana@example.org")[1].get_content())
    assert second is not None and second[1] != first[1]

    copied = client.post(f"{page}/copy-link", data={"csrf_token": token})
    assert copied.status_code == 200
    shown = re.search(r'<textarea id="copied-link"[^>]*>([^<]+)</textarea>',
                      copied.get_data(as_text=True))
    assert shown is not None and "cannot be shown again" in copied.get_data(as_text=True)
    trainee = app.test_client()
    for link in (first[1], second[1], shown[1].strip()):  # every link works
        path = link.removeprefix("http://localhost")
        assert trainee.get(path, follow_redirects=True).request.path.endswith("/welcome")

    revoked = client.post(f"{page}/revoke", data={"csrf_token": token}, follow_redirects=True)
    assert "has stopped working" in revoked.get_data(as_text=True)
    for link in (first[1], second[1], shown[1].strip()):
        assert app.test_client().get(link.removeprefix("http://localhost")).status_code == 404
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.participant_code == code)))
    assert {"invitation_resent", "invitation_link_copied", "invitation_revoked"} <= actions
    listing = client.get("/coordinator/demo/invited").get_data(as_text=True)
    assert code in listing and "ana@example.org" in listing


def test_link_actions_need_the_csrf_token_and_a_coordinator(
        app: Flask, demo: Demo, staff_client: StaffClient) -> None:
    with app.app_context():
        study = get_study(db.session, "demo")
        issued = invitations.invite(db.session, study, study.cohorts[0], 1, actor="t",
                                    emails=["x@example.org"])[0]
        code, link_token = issued.participant.code, issued.token
        db.session.commit()
    page = f"/coordinator/demo/participants/{code}"
    coordinator = staff_client("coordinator")
    for action in ("resend", "copy-link", "revoke"):
        assert coordinator.post(f"{page}/{action}").status_code == 400
        assert app.test_client().post(f"{page}/{action}").status_code in (302, 400)
    assert app.test_client().get(f"/t/{link_token}", follow_redirects=True
                                 ).request.path.endswith("/welcome")
    researcher = staff_client("researcher")
    token = csrf_from(researcher.get("/researcher/").get_data(as_text=True))
    for action in ("resend", "copy-link", "revoke"):
        assert researcher.post(f"{page}/{action}", data={"csrf_token": token}
                               ).status_code == 403
    for url in (PAGE, "/coordinator/demo/invited"):
        assert researcher.get(url).status_code == 403
        assert staff_client("outsider").get(url).status_code == 404
        assert "/login" in app.test_client().get(url).headers["Location"]


def test_a_trainee_without_an_email_cannot_be_resent_but_gets_a_copied_link(
        app: Flask, demo: Demo, staff_client: StaffClient) -> None:
    with app.app_context():
        study = get_study(db.session, "demo")
        code = invitations.invite(db.session, study, study.cohorts[0], 1,
                                  actor="t")[0].participant.code
        db.session.commit()
    client = staff_client("coordinator")
    page = f"/coordinator/demo/participants/{code}"
    html = client.get(page).get_data(as_text=True)
    assert "Resend the invitation" not in html
    response = client.post(f"{page}/resend", data={"csrf_token": csrf_from(html)},
                           follow_redirects=True)
    assert "has no email address" in response.get_data(as_text=True)


def test_the_invited_list_is_paginated(app: Flask, demo: Demo,
                                       staff_client: StaffClient) -> None:
    with app.app_context():
        study = get_study(db.session, "demo")
        invitations.invite(db.session, study, study.cohorts[0], 55, actor="t")
        db.session.commit()
    client = staff_client("coordinator")
    first = client.get("/coordinator/demo/invited").get_data(as_text=True)
    assert "Page 1 of 2" in first and first.count("/participants/P") == 50
    last = client.get("/coordinator/demo/invited?page=99").get_data(as_text=True)
    assert "Page 2 of 2" in last and last.count("/participants/P") == 5


def test_a_deleting_withdrawal_deletes_the_email_and_external_id(app: Flask,
                                                                  demo: Demo) -> None:
    with app.app_context():
        study = get_study(db.session, "demo")
        participant = invitations.invite(db.session, study, study.cohorts[0], 1, actor="t",
                                         emails=["w@example.org"], external_ids=["S-7"])[0]
        journey.delete_withdrawn_data(db.session, participant.participant)
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(ParticipantContact)) == 0


def test_exports_never_carry_emails_or_external_ids(app: Flask, demo: Demo) -> None:
    from study.services import exports

    with app.app_context():
        study = get_study(db.session, "demo")
        invitations.invite(db.session, study, study.cohorts[0], 2, actor="t",
                           emails=["e1@example.org", "e2@example.org"],
                           external_ids=["EXT-1", "EXT-2"])
        db.session.commit()
        for table in ("participants", "allocations", "scores", "responses"):
            body = exports.export_csv(db.session, study, table, demo.library, actor="t")
            assert "example.org" not in body and "EXT-" not in body, table


# --- the command line ------------------------------------------------------------------------


def run_invite(app: Flask, *args: str) -> Any:
    runner: FlaskCliRunner = app.test_cli_runner()
    return runner.invoke(args=["invite", "demo", *args])


def test_the_cli_invites_and_emails_a_spreadsheet(mailed: tuple[Flask, ReceivedMail],
                                                  tmp_path: Path) -> None:
    app, received = mailed
    sheet = tmp_path / "trainees.csv"
    sheet.write_bytes(b"\xef\xbb\xbfemail,external_id\r\nana@example.org,A1\r\n"
                      b"ben@example.org,A2\r\n")
    result = run_invite(app, "--emails", str(sheet), "--base-url", "https://allport.test/")
    assert result.exit_code == 0, result.output
    assert "Invited 2 trainee(s)" in result.output
    assert "2 invitation email(s) sent to the mail server" in result.output
    link = LINK_RE.search(received.to("ben@example.org")[0].get_content())
    assert link is not None and link[1].startswith("https://allport.test/t/")
    assert app.test_client().get(link[1].removeprefix("https://allport.test"),
                                 follow_redirects=True).request.path.endswith("/welcome")
    assert contact_of(app, "ana@example.org")[1] == "A1"


def test_the_cli_reports_each_bad_row_and_imports_nothing(app: Flask, demo: Demo,
                                                          tmp_path: Path) -> None:
    sheet = tmp_path / "trainees.csv"
    sheet.write_text("email,cohort\nok@example.org,\nbroken,\nok@example.org,Nowhere\n")
    result = run_invite(app, "--emails", str(sheet))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.endswith("Line 3: broken is not a valid email address (An email address "
                             "must have an @-sign.)") for line in lines), result.output
    assert any("Line 4: ok@example.org is on line 2 already" in line for line in lines)
    assert any("Line 4: the study has no cohort named Nowhere" in line for line in lines)
    assert "nothing was imported" in result.output and "Traceback" not in result.output
    assert participants(app) == 0


@pytest.mark.parametrize(("args", "message"), [
    ([], "Give exactly one of --count N and --emails FILE.csv."),
    (["--count", "2", "--emails", "x.csv"], "Give exactly one of --count N and --emails"),
    (["--emails", "/nonexistent/x.csv"], "Cannot read /nonexistent/x.csv"),
])
def test_cli_misuse_is_one_line(app: Flask, demo: Demo, args: list[str], message: str) -> None:
    result = run_invite(app, *args)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_migration_0010_adds_the_external_id_and_goes_back(make_app: Callable[..., Flask],
                                                           database_url: str) -> None:
    """Downgrade drops only the new column (SQLite: no table rebuild); upgrade adds it again."""
    if database_url.startswith("postgresql"):
        pytest.skip("the PostgreSQL schema is created once per session by the fixtures")
    from alembic import command
    from sqlalchemy import inspect

    from study.migrate import alembic_config, upgrade
    from study.models import Base

    app = make_app()
    with app.app_context():
        Base.metadata.drop_all(db.engine)
        upgrade(app)
        command.downgrade(alembic_config(app), "0008")
        columns = {c["name"] for c in inspect(db.engine).get_columns("participant_contacts")}
        assert columns == {"participant_id", "email"}
        upgrade(app)
        columns = {c["name"] for c in inspect(db.engine).get_columns("participant_contacts")}
        assert columns == {"participant_id", "email", "external_id"}


def test_an_outbox_that_cannot_be_written_is_reported_not_a_500(
        app: Flask, demo: Demo, staff_client: StaffClient) -> None:
    from study import mail

    mail.outbox_dir(app.instance_path).parent.mkdir(parents=True, exist_ok=True)
    mail.outbox_dir(app.instance_path).write_text("a file where the folder should be")
    client = staff_client("coordinator")
    response = submit(client, {"emails": "email,cohort\na@example.org,Autumn 2026\n"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "1 email was not sent" in html and "Could not write to the outbox" in html
    code = contact_of(app, "a@example.org")[0]
    page = f"/coordinator/demo/participants/{code}"
    resent = client.post(f"{page}/resend", data={"csrf_token": csrf_from(
        client.get(page).get_data(as_text=True))}, follow_redirects=True)
    assert resent.status_code == 200
    assert "Could not write to the outbox" in resent.get_data(as_text=True)


class Witness(Refusing):
    """Refuses bounce.example and, for every message it takes, looks up its link's row from a
    connection of its own: a link must be committed before its email is handed over."""

    def __init__(self, database_url: str) -> None:
        super().__init__()
        from sqlalchemy import create_engine

        self.engine = create_engine(database_url)
        self.committed: list[bool] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        reply = await super().handle_DATA(server, session, envelope)
        link = LINK_RE.search(self.messages[-1].get_content())
        assert link is not None
        digest = invitations.hash_token(link[1].rsplit("/", 1)[1])
        from study.models import Invitation

        with self.engine.connect() as connection:
            self.committed.append(connection.scalar(select(func.count(Invitation.id)).where(
                Invitation.token_sha256 == digest, Invitation.revoked_at.is_(None))) == 1)
        return reply


def test_a_resent_link_is_committed_before_its_email_and_revoked_when_refused(
        make_app: Callable[..., Flask], seeded_snapshot: Any) -> None:
    from study.models import Invitation

    port = free_port()
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False,
                   MAIL_FROM="Study <study@allport.test>")
    seeded_snapshot.restore(app)
    with app.app_context():
        received = Witness(db.engine.url.render_as_string(hide_password=False))
    controller = Controller(received, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with app.app_context():
            study = get_study(db.session, "demo")
            codes = [invited.participant.code for invited in invitations.invite(
                db.session, study, study.cohorts[0], 2, actor="t",
                emails=["ana@example.org", "gone@bounce.example"])]
            db.session.commit()

        def live_links(code: str) -> int:
            with app.app_context():
                return db.session.scalar(select(func.count(Invitation.id)).join(Participant).where(
                    Participant.code == code, Invitation.revoked_at.is_(None))) or 0

        client = coordinator_of(app)
        for code in codes:
            page = f"/coordinator/demo/participants/{code}"
            client.post(f"{page}/resend", data={"csrf_token": csrf_from(
                client.get(page).get_data(as_text=True))})
        assert received.committed == [True]  # the one email taken found its link committed
        assert live_links(codes[0]) == 2  # the first link and the resent one
        assert live_links(codes[1]) == 1  # the refused email's link was revoked again
        assert len(sent_messages(app)) == 1
    finally:
        controller.stop()
        received.engine.dispose()
