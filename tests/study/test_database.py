"""SQLite's transaction set-up (DESIGN §9): write lock first, read-only GETs, the writer queue."""

from __future__ import annotations

import fcntl
import os

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from study.database import begin_for_writing, begin_read_only
from study.extensions import db
from study.models import Cohort


@pytest.fixture
def sqlite_app(app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's transaction handling")
    return app


def writer_lock_is_free(app) -> bool:
    with app.app_context():
        path = f"{db.engine.url.database}-writers.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def test_a_write_transaction_holds_the_queue_until_it_ends(sqlite_app) -> None:
    with sqlite_app.app_context():
        db.session.execute(text("SELECT 1"))
        assert not writer_lock_is_free(sqlite_app)
        db.session.rollback()
        assert writer_lock_is_free(sqlite_app)
        db.session.execute(text("SELECT 1"))
        db.session.commit()
        assert writer_lock_is_free(sqlite_app)


def test_an_error_inside_a_transaction_releases_the_queue(sqlite_app) -> None:
    with sqlite_app.app_context():
        with pytest.raises(OperationalError):
            db.session.execute(text("SELECT * FROM no_such_table"))
    assert writer_lock_is_free(sqlite_app)


def test_read_only_transactions_do_not_queue_and_cannot_write(sqlite_app) -> None:
    with sqlite_app.app_context():
        begin_read_only()
        try:
            db.session.execute(text("SELECT 1"))
            assert writer_lock_is_free(sqlite_app)
            db.session.add(Cohort(study_id=1, name="x"))
            with pytest.raises(OperationalError, match="readonly"):
                db.session.flush()
            db.session.rollback()
        finally:
            begin_for_writing()


def test_get_pages_do_not_wait_for_a_writer(sqlite_app, client) -> None:
    """While another process holds the writers' queue, a GET still answers: it never joins it."""
    import threading

    with sqlite_app.app_context():
        path = f"{db.engine.url.database}-writers.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a writer elsewhere, mid-transaction
    answers: list[int] = []
    try:
        reader = threading.Thread(target=lambda: answers.append(client.get("/healthz").status_code))
        reader.start()
        reader.join(timeout=10)
        assert answers == [200], "the GET queued behind the writer"
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        reader.join(timeout=10)
