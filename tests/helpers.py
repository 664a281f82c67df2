"""What the tests share besides fixtures: the demo study as a test sees it, staff accounts, and
helpers for driving pages through the test client."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, text
from werkzeug.test import TestResponse

from instruments import Library
from study.extensions import db
from study.models import Base, Study
from study.services.demo import DEMO_SLUG, DemoAccounts
from study.services.studies import get_study


@dataclass(frozen=True)
class Demo:
    """The demo study in a test's database: ``seed_demo``, then ``trainees`` simulated journeys."""

    app: Flask
    accounts: DemoAccounts
    trainees: int

    @property
    def library(self) -> Library:
        library: Library = self.app.extensions["allport.instruments"]
        return library

    def study(self) -> Study:
        """The demo study, in the session of the current app context."""
        return get_study(db.session, DEMO_SLUG)


@dataclass(frozen=True)
class DemoSnapshot:
    """Every row of a freshly built demo database, and the staff passwords it was built with."""

    accounts: DemoAccounts
    trainees: int
    rows: dict[str, list[dict[str, Any]]]

    def restore(self, app: Flask) -> Demo:
        """Insert the rows into ``app``'s empty database, as if the demo had been built there."""
        with app.app_context(), db.engine.begin() as connection:
            for table in Base.metadata.sorted_tables:
                if self.rows[table.name]:
                    connection.execute(table.insert(), self.rows[table.name])
            if connection.dialect.name == "postgresql":
                _advance_sequences(connection)
        return Demo(app, self.accounts, self.trainees)


def _advance_sequences(connection: Connection) -> None:
    """Move each id sequence past the copied rows (PostgreSQL does not when ids are given)."""
    for table in Base.metadata.sorted_tables:
        column = table.autoincrement_column
        if column is not None:
            connection.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                f"max({column.name})) FROM \"{table.name}\" HAVING count(*) > 0"))


StaffClient = Callable[..., FlaskClient]
"""The ``staff_client`` fixture: ``staff_client(role, study="demo")`` -> a signed-in client."""

# Every account ``staff_client`` makes signs in with this password.
STAFF_PASSWORD = "correct horse battery staple"


def staff_email(role: str, study: str = "demo") -> str:
    """The account ``staff_client(role, study)`` signs in as."""
    return f"{role}-{study}@staff.example" if role in ("coordinator", "researcher") \
        else f"{role}@staff.example"


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                     r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


INPUT_RE = re.compile(r"<input([^>]*)>")
ATTR_RE = re.compile(r'([\w-]+)="([^"]*)"')
TEXTAREA_RE = re.compile(r'<textarea[^>]*name="(q_[^"]+)"')


def questionnaire_fields(html: str) -> dict[str, list[str]]:
    """Field name -> the values a radio or checkbox group offers (empty list for a free input)."""
    fields: dict[str, list[str]] = {}
    for tag in INPUT_RE.findall(html):
        attrs = dict(ATTR_RE.findall(tag))
        name = attrs.get("name", "")
        if not name.startswith("q_"):
            continue
        if attrs.get("type") in ("radio", "checkbox"):
            fields.setdefault(name, []).append(attrs["value"])
        else:
            fields.setdefault(name, [])
    for name in TEXTAREA_RE.findall(html):
        fields.setdefault(name, [])
    return fields


Chooser = Callable[[str, list[str]], str]
"""Picks the answer to a question: (field name, the values offered) -> the value to send."""


class TraineeDriver:
    """Walks a trainee's link through the pages, exactly as a browser without JavaScript would."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token
        self.page: TestResponse | None = None

    @property
    def url(self) -> str:
        return f"/t/{self.token}"

    def open(self, path: str = "") -> TestResponse:
        self.page = self.client.get(self.url + path, follow_redirects=True)
        return self.page

    def post(self, path: str, data: dict[str, object], *, follow: bool = True) -> TestResponse:
        html = self.client.get(self.url + path, follow_redirects=True).get_data(as_text=True)
        data = {"csrf_token": csrf_from(html), **data}
        self.page = self.client.post(self.url + path, data=data, follow_redirects=follow)
        return self.page

    def consent(self, agree: bool = True) -> TestResponse:
        return self.post("/consent", {"choice": "agree" if agree else "decline"})

    def answer_page(self, choose: Chooser | None = None) -> TestResponse:
        """Answer every question on the current questionnaire page and submit it."""
        page = self.page if self.page is not None else self.open()
        html = page.get_data(as_text=True)
        path = page.request.path
        assert "/q/" in path, f"not on a questionnaire page: {path}"
        data = {"csrf_token": csrf_from(html)}
        for name, options in questionnaire_fields(html).items():
            if choose is not None:
                data[name] = choose(name, options)
            elif options:
                data[name] = options[len(options) // 2]
            else:
                data[name] = "3"
        query = page.request.query_string.decode()
        self.page = self.client.post(path + (f"?{query}" if query else ""), data=data,
                                     follow_redirects=True)
        return self.page

    def answer_until_not_questionnaire(self, choose: Chooser | None = None,
                                       limit: int = 20) -> TestResponse:
        for _ in range(limit):
            assert self.page is not None
            if "/q/" not in self.page.request.path:
                return self.page
            self.answer_page(choose)
        raise AssertionError("questionnaire never ended")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(database_url: str, folder: Path, workers: int = 4) -> Iterator[str]:
    """A real gunicorn on ``database_url``, as a subprocess; yields its root URL.

    Its log is ``folder/gunicorn.log``; a traceback or an ``[ERROR]`` line in it fails the test.
    """
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "gunicorn-test",
           "ALLPORT_ENV": "development", "ALLPORT_INSTANCE_PATH": str(folder / "instance")}
    env.pop("REDIS_URL", None)  # rate limits per process, as the per-worker warning test expects
    log_path = folder / "gunicorn.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "app:create_app()", "--workers",
             str(workers), "--bind", f"127.0.0.1:{port}", "--timeout", "120"],
            cwd=Path(__file__).resolve().parents[1], env=env, stdout=log,
            stderr=subprocess.STDOUT)
        root = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(root + "/healthz", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    process.kill()
                    pytest.fail("gunicorn did not start: " + log_path.read_text())
                time.sleep(0.2)
        try:
            yield root
        finally:
            process.terminate()
            process.wait(timeout=30)
    errors = [line for line in log_path.read_text().splitlines()
              if "Traceback" in line or "[ERROR]" in line]
    assert not errors, errors
