"""Fixtures shared by the whole suite.

Every database test runs on SQLite (a fresh file per test) or, when ``TEST_DATABASE_URL`` is
set, on PostgreSQL (schema created once, tables truncated after each test). A PostgreSQL that
cannot be reached fails the run; it is never skipped. Under pytest-xdist (``make test`` runs a
worker per core) each worker has a database of its own beside the named one (``_gw0``, ...).

The demo study is built once per session, plain and with simulated journeys, and its rows are
copied into the database of each test that asks for ``demo`` or ``simulated_demo``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, make_url, select, text

from app import create_app
from study.database import normalise_database_url
from study.extensions import db
from study.models import Base, Membership, Role, User
from study.services.demo import DEMO_SLUG, seed_demo, simulate_journeys
from study.services.studies import get_study
from tests.helpers import (
    STAFF_PASSWORD,
    Demo,
    DemoSnapshot,
    StaffClient,
    csrf_from,
    free_port,
    staff_email,
)

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
# The demo's contact sessions hold 36 trainees; 20 keeps every simulated journey bookable.
SIMULATED_TRAINEES = 20

T = TypeVar("T")


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    from study.models import staff

    staff.PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    yield
    staff.PASSWORD_HASH_METHOD = "scrypt"


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {'PostgreSQL ' + POSTGRES_URL if POSTGRES_URL else 'SQLite (per test)'}"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop the run at once, in one line, when ``TEST_DATABASE_URL`` cannot be reached.

    Checked in the process that starts the xdist workers (or runs the tests without them),
    before any worker exists: an exit inside a worker is reported as a crash, not its reason.
    """
    if not POSTGRES_URL or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    engine = create_engine(normalise_database_url(POSTGRES_URL))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001
        pytest.exit(f"TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {error}",
                    returncode=3)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str | None]:
    if not POSTGRES_URL:
        yield None
        return
    url = _worker_database(normalise_database_url(POSTGRES_URL))
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url


def _worker_database(url: str) -> str:
    """This xdist worker's own database beside ``url``'s, created when missing; else ``url``."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    engine = create_engine(parsed, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first()
            if exists is None:
                quoted = connection.dialect.identifier_preparer.quote_identifier(name)
                connection.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        engine.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path, postgres_schema: str | None) -> Iterator[str]:
    if postgres_schema:
        yield postgres_schema
        _truncate_all(postgres_schema)
    else:
        yield f"sqlite:///{tmp_path / 'allport.sqlite3'}"


def create_test_app(database_url: str, instance_path: Path, **overrides: Any) -> Flask:
    """The app on ``database_url``, its tables created on SQLite (PostgreSQL has them already)."""
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance_path),
        "SECRET_KEY": "test-secret",
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "API_RATE_LIMIT": "1000 per minute",
        "ANALYSIS_RATE_LIMIT": "1000 per minute",
        "SERVER_NAME": None,
        **overrides,
    }
    app = create_app(config)
    if not POSTGRES_URL:
        with app.app_context():
            Base.metadata.create_all(db.engine)
    return app


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        app = create_test_app(database_url, tmp_path / "instance", **overrides)
        apps.append(app)
        return app

    yield factory
    for app in apps:  # PostgreSQL allows only so many connections
        dispose_engine(app)


def in_thread(work: Callable[[], T]) -> T:
    """Run ``work`` on a helper thread and return its result.

    Leaving an app context runs flask-sqlalchemy-lite's async teardown through asgiref, which
    refuses to run in a thread where an event loop is running, as it is in the main thread
    while the browser tests' Playwright is up.
    """
    with ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(work).result()


def dispose_engine(app: Flask) -> None:
    """Close the app's pooled connections (from a helper thread: see ``in_thread``)."""

    def dispose() -> None:
        with app.app_context():
            db.engine.dispose()

    in_thread(dispose)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def app_context(app: Flask) -> Iterator[None]:
    """Run the test in an app context: for tests of services, which use ``db.session``."""
    with app.app_context():
        yield


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


# --- the demo study -----------------------------------------------------------------------


def build_demo_snapshot(database_url: str, instance_path: Path, trainees: int) -> DemoSnapshot:
    """Seed the demo (and simulate ``trainees`` journeys) in an empty database and copy its rows.

    The copy carries the study's secret allocation seed, so every test gets the same arms.
    """

    def build() -> DemoSnapshot:
        app = create_test_app(database_url, instance_path)
        with app.app_context():
            library = app.extensions["allport.instruments"]
            accounts = seed_demo(db.session, library)
            if trainees:
                simulate_journeys(db.session, library, trainees)
            db.session.commit()
            with db.engine.connect() as connection:
                rows = {table.name: [dict(row._mapping) for row in connection.execute(
                    select(table))] for table in Base.metadata.sorted_tables}
            db.engine.dispose()
        return DemoSnapshot(accounts, trainees, rows)

    snapshot = in_thread(build)
    if POSTGRES_URL:
        _truncate_all(database_url)
    return snapshot


@pytest.fixture(scope="session")
def seeded_snapshot(postgres_schema: str | None,
                    tmp_path_factory: pytest.TempPathFactory) -> DemoSnapshot:
    folder = tmp_path_factory.mktemp("seeded-demo")
    return build_demo_snapshot(postgres_schema or f"sqlite:///{folder / 'demo.sqlite3'}",
                               folder / "instance", trainees=0)


@pytest.fixture(scope="session")
def simulated_snapshot(postgres_schema: str | None,
                       tmp_path_factory: pytest.TempPathFactory) -> DemoSnapshot:
    folder = tmp_path_factory.mktemp("simulated-demo")
    return build_demo_snapshot(postgres_schema or f"sqlite:///{folder / 'demo.sqlite3'}",
                               folder / "instance", trainees=SIMULATED_TRAINEES)


@pytest.fixture
def demo(app: Flask, seeded_snapshot: DemoSnapshot) -> Demo:
    """The demo study as ``flask demo`` leaves it: recruiting, three sessions, no trainees."""
    return seeded_snapshot.restore(app)


@pytest.fixture
def simulated_demo(app: Flask, simulated_snapshot: DemoSnapshot) -> Demo:
    """The demo study after 20 simulated journeys (``flask demo --simulate --trainees 20``)."""
    return simulated_snapshot.restore(app)


# --- staff ---------------------------------------------------------------------------------


@pytest.fixture
def staff_client(app: Flask) -> StaffClient:
    """``staff_client("coordinator", study="demo")``: a test client signed in through the form.

    The account (``staff_email(role, study)``) is made on first use: ``"coordinator"`` and
    ``"researcher"`` with that role in ``study`` (which must exist), ``"admin"`` an
    administrator, ``"outsider"`` an account with no role anywhere. Later calls sign the same
    account in again, so two clients of one role are two live sessions.
    """

    def sign_in(role: str, study: str = DEMO_SLUG) -> FlaskClient:
        email = staff_email(role, study)
        with app.app_context():
            _staff_account(email, role, study)
            db.session.commit()
        client = app.test_client()
        html = client.get("/login").get_data(as_text=True)
        response = client.post("/login", data={"csrf_token": csrf_from(html), "email": email,
                                               "password": STAFF_PASSWORD})
        assert response.status_code == 303, response.get_data(as_text=True)
        return client

    return sign_in


def _staff_account(email: str, role: str, study: str) -> None:
    if db.session.scalars(select(User).where(User.email == email)).first() is not None:
        return
    user = User(email=email, is_admin=role == "admin", password_hash="")
    user.set_password(STAFF_PASSWORD)
    db.session.add(user)
    db.session.flush()
    if role in (Role.COORDINATOR, Role.RESEARCHER):
        db.session.add(Membership(user_id=user.id, study_id=get_study(db.session, study).id,
                                  role=Role(role)))
    else:
        assert role in ("admin", "outsider"), f"no such staff role: {role}"


class ReceivedMail:
    """What a real local SMTP server (aiosmtpd) received: parsed messages, in arrival order."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(
            envelope.original_content or envelope.content)))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == address]


@pytest.fixture
def smtp_server() -> Iterator[tuple[dict[str, Any], ReceivedMail]]:
    """A local SMTP server, and the app settings that send to it (no TLS, no login)."""
    from aiosmtpd.controller import Controller

    received = ReceivedMail()
    port = free_port()
    controller = Controller(received, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield ({"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_USE_TLS": False,
                "MAIL_FROM": "Allport study team <study@allport.test>"}, received)
    finally:
        controller.stop()
