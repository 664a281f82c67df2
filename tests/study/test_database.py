"""SQLite's transaction set-up (DESIGN §9): write lock first, read-only GETs, the writer queue."""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

from study.database import begin_for_writing, begin_read_only, configure_engine
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


def test_signed_in_staff_pages_do_not_wait_for_a_writer(sqlite_app, demo, staff_client) -> None:
    """A staff GET is read-only too: the hook choosing that runs before the staff session's
    own hook (which loads the account, and so begins the transaction)."""
    import threading

    researcher = staff_client("researcher")
    with sqlite_app.app_context():
        path = f"{db.engine.url.database}-writers.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a writer elsewhere, mid-transaction
    answers: list[int] = []
    try:
        reader = threading.Thread(target=lambda: answers.append(
            researcher.get("/researcher/demo/").status_code))
        reader.start()
        reader.join(timeout=10)
        assert answers == [200], "the staff GET queued behind the writer"
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        reader.join(timeout=10)


# --- what the file holds stays private (DESIGN §8) ----------------------------------------------


def test_the_database_file_is_created_readable_by_its_owner_only(make_app, database_url,
                                                                 tmp_path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's file")
    database = tmp_path / "private.sqlite3"
    old = os.umask(0o022)  # the usual umask, under which files come out -rw-r--r--
    try:
        app = make_app(DATABASE_URL=f"sqlite:///{database}")
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("CREATE TABLE probe (x INTEGER)"))
    finally:
        os.umask(old)
    for path in (database, tmp_path / "private.sqlite3-wal"):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_deleted_rows_are_overwritten(tmp_path) -> None:
    """``secure_delete`` on every connection, whatever the SQLite build's default."""
    path = tmp_path / "secure.sqlite3"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, check_same_thread=False)
        connection.execute("PRAGMA secure_delete=OFF")  # as a build whose default is off
        return connection

    engine = create_engine(f"sqlite:///{path}", creator=connect)
    configure_engine(engine)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA secure_delete")).scalar() == 1
    finally:
        engine.dispose()


def test_make_writes_the_secret_key_into_a_private_file(tmp_path) -> None:
    """The key is written into a file already 0600, never into one narrowed afterwards."""
    shutil.copy(Path(__file__).resolve().parents[2] / "Makefile", tmp_path / "Makefile")
    fake = tmp_path / "bin"
    fake.mkdir()
    seen = tmp_path / "mode-while-writing"
    (fake / "python").write_text(
        "#!/bin/sh\n"
        f"stat -L -c %a /dev/stdout > {seen}\n"
        "echo 0123456789abcdef\n")
    (fake / "python").chmod(0o755)
    result = subprocess.run(["make", "-s", "-C", str(tmp_path), "instance/secret_key",
                             f"BIN={fake}"], capture_output=True, text=True, check=False,
                            preexec_fn=lambda: os.umask(0o022))
    assert result.returncode == 0, result.stderr
    assert seen.read_text().strip() == "600"
    key = tmp_path / "instance" / "secret_key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.read_text().strip() == "0123456789abcdef"


def test_a_forked_worker_opens_its_own_connections(app) -> None:
    """gunicorn forks its workers from the app built in the master (``preload_app``): a worker
    must never use a connection the master had pooled, on either database."""
    with app.app_context():
        engine = db.engine
        pool = engine.pool
        assert isinstance(pool, QueuePool)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert pool.checkedin() >= 1
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: report, then leave at once (no pytest teardown here)
            try:
                fresh = engine.pool  # dispose(close=False) gave the engine a new pool
                assert isinstance(fresh, QueuePool)
                inherited = fresh.checkedin()
                with engine.connect() as connection:
                    works = connection.execute(text("SELECT 1")).scalar() == 1
                os.write(write, f"{inherited} {works}".encode())
            finally:
                os._exit(0)
        os.close(write)
        report = os.read(read, 100).decode()
        os.waitpid(pid, 0)
        os.close(read)
        assert pool.checkedin() >= 1  # the master's pool is left as it was
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
    assert report == "0 True"
