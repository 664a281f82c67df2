"""Email to trainees: over SMTP when a server is configured, else into the instance's outbox.

Settings (``ALLPORT_`` prefix, DESIGN §7): ``MAIL_SERVER``, ``MAIL_PORT`` (587),
``MAIL_USERNAME``, ``MAIL_PASSWORD``, ``MAIL_USE_TLS`` (STARTTLS, on by default),
``MAIL_USE_SSL`` (TLS from the first byte, port 465) and ``MAIL_FROM``. Without
``MAIL_SERVER`` every message is written as an ``.eml`` file to ``<instance>/outbox/`` (0600:
the messages carry personal links), where the coordinator's pages show it; nothing is lost
while a site has no mail server yet.

Callers send inside one connection, so a batch of reminders opens one SMTP session::

    with mail.mailer() as mailer:
        mailer.send(to, subject, body)

A message that cannot be handed over raises :class:`MailError` with a readable reason; the
messages sent before it stay sent, and the caller logs each delivery as it returns.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Literal

from flask import current_app

from study.errors import DomainError

SMTP_TIMEOUT_SECONDS = 10


class MailError(DomainError):
    """A message could not be handed to the mail server; the message says why."""


class AddressRefused(MailError):
    """The server refused one recipient; the connection still serves the next message."""


@dataclass(frozen=True)
class Delivery:
    """One message handed over: to the SMTP server, or written to the outbox at ``path``."""

    to: str
    subject: str
    via: Literal["smtp", "outbox"]
    path: Path | None = None


@dataclass(frozen=True)
class OutboxMessage:
    """A message read back from the outbox, for the coordinator's page."""

    path: Path
    to: str
    subject: str
    date: str
    body: str


def outbox_dir(instance_path: str | Path) -> Path:
    """Where messages go when no mail server is configured."""
    return Path(instance_path) / "outbox"


def _message(config: dict[str, Any], to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=_domain(config["MAIL_FROM"]))
    message.set_content(body)
    return message


def _domain(sender: str) -> str:
    address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
    return address.rpartition("@")[2] or "localhost"


class Mailer:
    """Sends messages over one SMTP connection (or into the outbox); see :func:`mailer`."""

    def __init__(self, config: dict[str, Any], instance_path: str | Path,
                 smtp: smtplib.SMTP | None) -> None:
        self._config = config
        self._outbox = outbox_dir(instance_path)
        self._smtp = smtp

    def send(self, to: str, subject: str, body: str) -> Delivery:
        message = _message(self._config, to, subject, body)
        if self._smtp is None:
            return Delivery(to, subject, "outbox", self._write_to_outbox(message))
        try:
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            raise AddressRefused(f"The mail server refused the address {to}.") from error
        except (smtplib.SMTPException, OSError) as error:
            raise MailError(f"The mail server did not take the message to {to}: "
                            f"{_reason(error)}.") from error
        if refused:
            raise AddressRefused(f"The mail server refused the address {to}.")
        return Delivery(to, subject, "smtp")

    def _write_to_outbox(self, message: EmailMessage) -> Path:
        self._outbox.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self._outbox / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(message.as_bytes(policy=policy.default))
        os.replace(temporary, path)
        return path


def _reason(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return f"{error.smtp_code} {text}"
    return str(error) or type(error).__name__


def configured(config: dict[str, Any]) -> bool:
    """True when messages go to an SMTP server, False when they go to the outbox."""
    return bool(config.get("MAIL_SERVER"))


@contextmanager
def mailer() -> Iterator[Mailer]:
    """A :class:`Mailer` for the current app: one SMTP session for the ``with`` block."""
    config = current_app.config
    if not configured(config):
        yield Mailer(config, current_app.instance_path, None)
        return
    smtp = _connect(config)
    try:
        yield Mailer(config, current_app.instance_path, smtp)
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _connect(config: dict[str, Any]) -> smtplib.SMTP:
    server, port = config["MAIL_SERVER"], int(config["MAIL_PORT"])
    try:
        smtp: smtplib.SMTP
        if config["MAIL_USE_SSL"]:
            smtp = smtplib.SMTP_SSL(server, port, timeout=SMTP_TIMEOUT_SECONDS,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(server, port, timeout=SMTP_TIMEOUT_SECONDS)
            if config["MAIL_USE_TLS"]:
                smtp.starttls(context=ssl.create_default_context())
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
    except (smtplib.SMTPException, OSError) as error:
        raise MailError(f"Could not reach the mail server {server}:{port}: "
                        f"{_reason(error)}.") from error
    return smtp


def outbox(instance_path: str | Path, *, limit: int = 50) -> list[OutboxMessage]:
    """The newest ``limit`` messages in the outbox, newest first."""
    folder = outbox_dir(instance_path)
    if not folder.is_dir():
        return []
    paths = sorted(folder.glob("*.eml"), reverse=True)[:limit]
    messages = []
    parser = BytesParser(policy=policy.default)
    for path in paths:
        parsed = parser.parsebytes(path.read_bytes())
        body = parsed.get_body(preferencelist=("plain",))
        messages.append(OutboxMessage(
            path=path, to=str(parsed["To"]), subject=str(parsed["Subject"]),
            date=str(parsed["Date"]), body=body.get_content() if body is not None else ""))
    return messages
