"""A database that goes away: one safe retry, then 503 with Retry-After, then recovery.

The PostgreSQL here is a private throwaway cluster (``initdb`` into a temporary folder, served on
a free port by ``pg_ctl``), stopped and restarted under load; never the machine's shared server.
These tests run whatever ``TEST_DATABASE_URL`` says, and fail (never skip) without ``initdb``.
"""

from __future__ import annotations

import glob
import html as html_lib
import http.cookiejar
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text

from app import create_app
from study import outage
from study.extensions import db
from study.models import (
    Allocation,
    Answer,
    Base,
    Participant,
    ParticipantStatus,
    Response,
    ResponseStatus,
    Timepoint,
    User,
)
from study.services import api_tokens, invitations, journey
from study.services.studies import get_study
from study.trainee import views as trainee_views
from tests.conftest import create_test_app, dispose_engine
from tests.helpers import (
    Demo,
    DemoSnapshot,
    TraineeDriver,
    csrf_from,
    free_port,
    gunicorn,
    questionnaire_fields,
)

pytestmark = pytest.mark.slow

TRAINEES = 10


# --- the private cluster -------------------------------------------------------------------


def postgres_bin() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: Debian's newest, or the one on the PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parts[-3]))
    initdb = found[-1] if found else shutil.which("initdb")
    if initdb is None:
        pytest.fail("initdb is not installed: the outage tests need PostgreSQL's server "
                    "binaries (Debian: apt-get install postgresql)")
    return Path(initdb).parent


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temporary folder, on a free port."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="allport-outage-"))
        self.port = free_port()
        # initdb refuses to run as root: the cluster then belongs to the postgres account.
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")
        self.start()

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([*self.as_owner, str(self.bin / program), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-w", *args)

    def start(self) -> None:
        self._pg_ctl("-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                     "-c fsync=off -c max_connections=120", "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def restart(self) -> None:
        self._pg_ctl("-m", "fast", "restart")

    def destroy(self) -> None:
        try:
            self._pg_ctl("-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.folder, ignore_errors=True)

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    yield server
    server.destroy()


@pytest.fixture
def outage_demo(cluster: PrivatePostgres, seeded_snapshot: DemoSnapshot, tmp_path: Path,
                request: pytest.FixtureRequest) -> Iterator[Demo]:
    """The demo study in a fresh database of the private cluster, and an app on it."""
    name = re.sub(r"\W", "_", request.node.name)[:50]
    url = cluster.create_database(name)
    app = create_test_app(url, tmp_path / "instance")
    with app.app_context():
        Base.metadata.create_all(db.engine)
    yield seeded_snapshot.restore(app)
    dispose_engine(app)


def invite(demo: Demo, count: int) -> list[str]:
    with demo.app.app_context():
        study = get_study(db.session, "demo")
        issued = invitations.invite(db.session, study, study.cohorts[0], count, actor="test")
        db.session.commit()
        return [i.token for i in issued]


def assert_unavailable(status: int, headers: Any, body: str) -> None:
    assert status == 503, body
    # Flask-Limiter keeps the later of our Retry-After and its own window's reset on limited routes
    # (the API), so the header may be larger there, never smaller.
    assert int(headers["Retry-After"]) >= outage.RETRY_AFTER_SECONDS


# --- trainees answering through a restart --------------------------------------------------


@dataclass
class Trainee:
    """A cookie-keeping client that sees every redirect and presses again after a 503."""

    root: str
    token: str
    seed: int
    statuses: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # (timepoint, instrument, {item key: value}) of every page that got a success answer
    kept: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        class NoRedirects(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any) -> None:
                return None

        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirects())

    def send(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
        """One request, repeated after each 503 as a trainee told to try again would."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        for _ in range(200):
            try:
                with self.opener.open(self.root + path, data=body, timeout=60) as response:
                    status, headers, html = response.status, response.headers, \
                        response.read().decode()
            except urllib.error.HTTPError as error:
                status, headers, html = error.code, error.headers, error.read().decode()
            self.statuses.append(status)
            if status == 503 and headers.get("Retry-After") and "Back in a minute" in html:
                time.sleep(0.2)  # Retry-After says 30 s; the test cannot wait that long
                continue
            if not (200 <= status < 400):
                self.problems.append(f"{status} on {path}: {html[:200]}")
            return status, headers.get("Location", ""), html
        raise AssertionError(f"{self.token[:6]}: still 503 on {path}")

    def get(self, path: str) -> tuple[str, str]:
        """Fetch ``path``, following redirects: the page's path and its HTML."""
        for _ in range(10):
            status, location, html = self.send(path)
            if status not in (301, 302, 303):
                return path, html
            path = urllib.parse.urlsplit(location).path + (
                "?" + urllib.parse.urlsplit(location).query if "?" in location else "")
        raise AssertionError("too many redirects")

    def post(self, path: str, data: dict[str, str]) -> str:
        """Send a form; the redirect's target.

        303 is the app's "stored". 302 answers a form sent again after a 503 that came once
        the first one had been stored: the link takes the trainee on to where they are.
        """
        status, location, html = self.send(path, data)
        assert status in (302, 303), f"{status} on POST {path}: {html[:300]}"
        return location

    def walk(self) -> None:
        choose = random.Random(self.seed)
        try:
            path, html = self.get(f"/t/{self.token}/consent")
            path, html = self.get(self.post(path, {"csrf_token": csrf_from(html),
                                                   "choice": "agree"}))
            for _ in range(12):
                if "/q/" not in path:
                    break
                answers = {"csrf_token": csrf_from(html)}
                for name, options in questionnaire_fields(html).items():
                    answers[name] = choose.choice(options) if options else str(choose.randint(1, 5))
                # As a browser does: to the form's action, which names the page, so that a
                # form sent again after a 503 stores the same page again.
                action = re.search(r'<form method="post"[^>]*action="([^"]+)"', html)
                posted = html_lib.unescape(action[1]) if action else path
                path, html = self.get(self.post(posted, answers))
                timepoint, instrument = urllib.parse.urlsplit(posted).path.split("/")[4:6]
                self.kept.append((timepoint, instrument, {
                    name.removeprefix("q_"): value for name, value in answers.items()
                    if name.startswith("q_")}))
            if not path.endswith(("/education", "/sessions")):
                self.problems.append(f"ended on {path}")
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            self.problems.append(repr(error))


def stored_answers(participant: Participant, timepoint: str, instrument: str) -> dict[str, str]:
    return {answer.item_key: answer.value for answer in db.session.scalars(
        select(Answer).join(Response).join(Timepoint).where(
            Response.participant_id == participant.id, Timepoint.name == timepoint,
            Response.instrument_id == instrument))}


def test_trainees_answering_through_a_restart(cluster, outage_demo, tmp_path) -> None:
    tokens = invite(outage_demo, TRAINEES)
    with gunicorn(outage_demo.app.config["DATABASE_URL"], tmp_path) as root:
        trainees = [Trainee(root, token, seed) for seed, token in enumerate(tokens)]
        threads = [threading.Thread(target=t.walk) for t in trainees]
        for thread in threads:
            thread.start()
        # Restart once the trainees are well into their questionnaires, and again later.
        def wait_for_answers(count: int) -> None:
            while sum(len(t.kept) for t in trainees) < count:
                assert any(thread.is_alive() for thread in threads), trainees[0].problems
                time.sleep(0.05)

        wait_for_answers(TRAINEES // 2)
        cluster.restart()
        restarted_at = sum(len(t.statuses) for t in trainees)
        wait_for_answers(2 * TRAINEES)
        cluster.restart()
        for thread in threads:
            thread.join(timeout=120)
        # The app answers again without being restarted: every trainee reached the end.
        problems = [f"{t.token[:6]}: {p}" for t in trainees for p in t.problems]
        assert not problems, problems[:5]
        statuses = [status for t in trainees for status in t.statuses]
        assert not [s for s in statuses if s >= 500 and s != 503]
        assert restarted_at < len(statuses)
        print(f"\n{len(statuses)} responses, {statuses.count(503)} of them 503 "
              f"across two restarts of {TRAINEES} trainees answering")

    with outage_demo.app.app_context():
        allocations = list(db.session.scalars(select(Allocation)))
        assert sorted(a.position for a in allocations) == list(range(TRAINEES))
        for trainee in trainees:
            participant = invitations.participant_for_token(db.session, trainee.token)
            assert participant.status is ParticipantStatus.ALLOCATED
            for timepoint, instrument, answers in trainee.kept:
                stored = stored_answers(participant, timepoint, instrument)
                assert stored.items() >= answers.items(), (trainee.token[:6], instrument)


# --- the database stopped, then started ----------------------------------------------------


def sign_in(client: FlaskClient, email: str, password: str) -> None:
    html = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"csrf_token": csrf_from(html), "email": email,
                                           "password": password})
    assert response.status_code == 303


def test_while_the_database_is_stopped(cluster, outage_demo, monkeypatch) -> None:
    monkeypatch.setattr(outage, "RETRY_PAUSE_SECONDS", 0.1)
    app = outage_demo.app
    token = invite(outage_demo, 1)[0]
    trainee = app.test_client()
    consent = trainee.get(f"/t/{token}/consent")
    assert consent.status_code == 200
    coordinator = app.test_client()
    sign_in(coordinator, *outage_demo.accounts.coordinator)
    with app.app_context():
        user = db.session.scalars(select(User).where(
            User.email == outage_demo.accounts.researcher[0])).one()
        _, raw = api_tokens.issue_token(db.session, user, "outage", actor="test")
        db.session.commit()
    api = {"Authorization": f"Bearer {raw}"}

    cluster.stop()
    try:
        page = trainee.get(f"/t/{token}/consent")
        html = page.get_data(as_text=True)
        assert_unavailable(page.status_code, page.headers, html)
        assert "Every answer you already sent is kept" in html
        assert "try again" in html and 'name="viewport"' in html
        posted = trainee.post(f"/t/{token}/consent", data={
            "csrf_token": csrf_from(consent.get_data(as_text=True)), "choice": "agree"})
        assert_unavailable(posted.status_code, posted.headers, posted.get_data(as_text=True))
        assert "press it again" in posted.get_data(as_text=True)
        assert f'href="/t/{token}">Try again' in posted.get_data(as_text=True)

        staff = coordinator.get("/coordinator/demo/")
        assert_unavailable(staff.status_code, staff.headers, staff.get_data(as_text=True))
        assert "Everything saved before this page is kept" in staff.get_data(as_text=True)

        answer = app.test_client().get("/api/v1/studies", headers=api)
        assert_unavailable(answer.status_code, answer.headers, answer.get_data(as_text=True))
        assert answer.get_json()["error"] == "database_unavailable"

        health = app.test_client().get("/healthz")
        assert_unavailable(health.status_code, health.headers, health.get_data(as_text=True))
    finally:
        cluster.start()

    # Back without restarting the app.
    assert app.test_client().get("/healthz").status_code == 200
    assert trainee.post(f"/t/{token}/consent", data={
        "csrf_token": csrf_from(consent.get_data(as_text=True)), "choice": "agree"},
    ).status_code == 303
    assert coordinator.get("/coordinator/demo/").status_code == 200
    assert app.test_client().get("/api/v1/studies", headers=api).status_code == 200


# --- what is run again, and what is not ----------------------------------------------------


def cut_off_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Make ``owner.name`` end its own database connection the first time it is called.

    The server ends the connection exactly as a restart does ("terminating connection due to
    administrator command"). Returns the list of calls, one entry per call.
    """
    original: Callable[..., Any] = getattr(owner, name)
    calls: list[int] = []

    def cut_off(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            db.session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, cut_off)
    return calls


def test_an_answer_cut_off_before_commit_is_stored_once(outage_demo, monkeypatch) -> None:
    monkeypatch.setattr(outage, "RETRY_PAUSE_SECONDS", 0.1)
    token = invite(outage_demo, 1)[0]
    driver = TraineeDriver(outage_demo.app.test_client(), token)
    driver.consent()
    # The last baseline page: its answers, the allocation and the move on are one transaction,
    # after a read-only one that has committed. The connection dies in the middle.
    calls = cut_off_once(monkeypatch, journey, "allocate")
    page = driver.answer_until_not_questionnaire()
    assert page.status_code == 200, page.get_data(as_text=True)
    assert page.request.path.endswith(("/education", "/sessions"))
    assert len(calls) == 2  # cut off, then run again from the start of the request
    with outage_demo.app.app_context():
        participant = invitations.participant_for_token(db.session, token)
        assert participant.status is ParticipantStatus.ALLOCATED
        assert len(list(db.session.scalars(select(Allocation)))) == 1
        assert all(r.status is ResponseStatus.SUBMITTED for r in db.session.scalars(
            select(Response).where(Response.participant_id == participant.id)))


def test_a_read_cut_off_is_run_again(outage_demo, monkeypatch) -> None:
    monkeypatch.setattr(outage, "RETRY_PAUSE_SECONDS", 0.1)
    token = invite(outage_demo, 1)[0]
    calls = cut_off_once(monkeypatch, journey, "next_step")
    page = outage_demo.app.test_client().get(f"/t/{token}", follow_redirects=True)
    assert page.status_code == 200
    assert page.request.path.endswith("/welcome") or page.request.path.endswith("/consent")
    assert len(calls) >= 2


def test_a_request_cut_off_after_committing_a_write_is_not_run_again(outage_demo,
                                                                     monkeypatch) -> None:
    """Consent is committed, then the connection dies: running the post again would be a
    second write, so the trainee is told to try again and finds the consent kept."""
    monkeypatch.setattr(outage, "RETRY_PAUSE_SECONDS", 0.1)
    token = invite(outage_demo, 1)[0]
    client = outage_demo.app.test_client()
    html = client.get(f"/t/{token}/consent").get_data(as_text=True)
    calls = cut_off_once(monkeypatch, trainee_views, "step_url")
    posted = client.post(f"/t/{token}/consent", data={"csrf_token": csrf_from(html),
                                                      "choice": "agree"})
    assert_unavailable(posted.status_code, posted.headers, posted.get_data(as_text=True))
    assert len(calls) == 1
    with outage_demo.app.app_context():
        participant = invitations.participant_for_token(db.session, token)
        assert participant.status is ParticipantStatus.CONSENTED
    again = client.get(f"/t/{token}", follow_redirects=True)
    assert again.status_code == 200 and "/q/" in again.request.path


# --- SQLite ---------------------------------------------------------------------------------


def test_sqlite_locked_answers_503(tmp_path, seeded_snapshot, monkeypatch) -> None:
    """A write lock held past the busy timeout: 503 and Retry-After, not the 500 page."""
    monkeypatch.setattr("study.database.SQLITE_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "locked.sqlite3"
    app = create_test_app(f"sqlite:///{path}", tmp_path / "instance")
    with app.app_context():
        Base.metadata.create_all(db.engine)
    demo = seeded_snapshot.restore(app)
    token = invite(demo, 1)[0]
    client = app.test_client()
    html = client.get(f"/t/{token}/consent").get_data(as_text=True)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        posted = client.post(f"/t/{token}/consent", data={"csrf_token": csrf_from(html),
                                                          "choice": "agree"})
        assert_unavailable(posted.status_code, posted.headers, posted.get_data(as_text=True))
        assert "Every answer you already sent is kept" in posted.get_data(as_text=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    posted = client.post(f"/t/{token}/consent", data={"csrf_token": csrf_from(html),
                                                      "choice": "agree"})
    assert posted.status_code == 303
    dispose_engine(app)


# --- a server that never answers ------------------------------------------------------------


@pytest.mark.timeout(60)  # without a connect timeout, the first request never returns
def test_a_server_that_never_answers_gives_503_not_a_hang(tmp_path, monkeypatch) -> None:
    """A failover's old address can swallow connection attempts: give up, don't hang."""
    monkeypatch.setattr("study.database.POSTGRES_CONNECT_TIMEOUT_S", 2)
    monkeypatch.setattr(outage, "RETRY_PAUSE_SECONDS", 0.1)
    with socket.socket() as silent:  # accepts connections (the backlog) and never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        app = create_app({"TESTING": True, "SECRET_KEY": "test-secret",
                          "INSTANCE_PATH": str(tmp_path / "instance"),
                          "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/allport"})
        started = time.monotonic()
        health = app.test_client().get("/healthz")
        assert_unavailable(health.status_code, health.headers, health.get_data(as_text=True))
        page = app.test_client().get("/t/" + "x" * 43)
        assert_unavailable(page.status_code, page.headers, page.get_data(as_text=True))
        assert time.monotonic() - started < 15
