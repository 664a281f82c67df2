"""Email over a real local SMTP server, and into the outbox when no server is configured."""

from __future__ import annotations

import stat
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from study import mail
from tests.conftest import ReceivedMail


def test_messages_reach_the_smtp_server_over_one_connection(
        make_app: Callable[..., Flask], smtp_server: tuple[dict[str, Any], ReceivedMail]) -> None:
    settings, received = smtp_server
    app = make_app(**settings)
    with app.app_context(), mail.mailer() as mailer:
        first = mailer.send("a@example.org", "Your study link", "Hello A\nhttps://x/t/1")
        mailer.send("b@example.org", "Your study link", "Hello B")
    assert first.via == "smtp" and first.path is None
    assert [m["To"] for m in received.messages] == ["a@example.org", "b@example.org"]
    message = received.to("a@example.org")[0]
    assert message["From"] == "Allport study team <study@allport.test>"
    assert message["Subject"] == "Your study link"
    assert "https://x/t/1" in message.get_content()


def test_an_unreachable_server_is_one_readable_error(make_app: Callable[..., Flask]) -> None:
    from tests.helpers import free_port

    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_USE_TLS=False)
    with app.app_context(), pytest.raises(mail.MailError, match="Could not reach the mail server"):
        with mail.mailer():
            pass


def test_without_a_server_messages_go_to_the_outbox(app: Flask) -> None:
    with app.app_context(), mail.mailer() as mailer:
        delivery = mailer.send("c@example.org", "Reminder", "Please answer\nthe questionnaire")
    assert delivery.via == "outbox" and delivery.path is not None
    assert stat.S_IMODE(delivery.path.stat().st_mode) == 0o600
    [message] = mail.outbox(app.instance_path)
    assert (message.to, message.subject) == ("c@example.org", "Reminder")
    assert message.body.strip() == "Please answer\nthe questionnaire"
