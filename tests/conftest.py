"""Fixtures shared by the whole suite.

Every database test runs on SQLite (a fresh file per test) or, when ``TEST_DATABASE_URL`` is
set, on PostgreSQL (schema created once, tables truncated after each test). A PostgreSQL that
cannot be reached fails the run; it is never skipped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from app import create_app
from study.database import normalise_database_url
from study.extensions import db
from study.models import Base

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    from study.models import staff

    staff.PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    yield
    staff.PASSWORD_HASH_METHOD = "scrypt"


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {'PostgreSQL ' + POSTGRES_URL if POSTGRES_URL else 'SQLite (per test)'}"


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str | None]:
    if not POSTGRES_URL:
        yield None
        return
    url = normalise_database_url(POSTGRES_URL)
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001
        pytest.exit(f"TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {error}",
                    returncode=3)
    Base.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url


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


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        config = {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": "test-secret",
            "LOGIN_RATE_LIMIT": "1000 per minute",
            "SERVER_NAME": None,
        }
        config.update(overrides)
        app = create_app(config)
        if not POSTGRES_URL:
            with app.app_context():
                Base.metadata.create_all(db.engine)
        apps.append(app)
        return app

    yield factory
    for app in apps:  # PostgreSQL allows only so many connections
        dispose_engine(app)


def dispose_engine(app: Flask) -> None:
    """Close the app's pooled connections, from a helper thread.

    Leaving an app context runs flask-sqlalchemy-lite's async teardown through asgiref, which
    refuses to run in a thread where an event loop is running, as it is in the main thread
    while the browser tests' Playwright is up.
    """

    def dispose() -> None:
        with app.app_context():
            db.engine.dispose()

    worker = threading.Thread(target=dispose)
    worker.start()
    worker.join()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def simulated_demo(app: Flask) -> Iterator[tuple[Any, Any]]:
    """The demo study with 20 simulated journeys: (study, instrument library), in an app context."""
    from sqlalchemy import select

    from study.models import Study
    from study.services.demo import seed_demo, simulate_journeys

    with app.app_context():
        library = app.extensions["allport.instruments"]
        seed_demo(db.session, library)
        simulate_journeys(db.session, library, 20)
        db.session.commit()
        yield db.session.scalars(select(Study).where(Study.slug == "demo")).one(), library
