"""Engine configuration for the two supported databases (DESIGN §2, §9)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000
# During a failover the old address may swallow connection attempts without an answer; without a
# limit a request would wait for the kernel's TCP timeout (about two minutes), past gunicorn's
# worker timeout. A ``connect_timeout`` in DATABASE_URL wins.
POSTGRES_CONNECT_TIMEOUT_S = 10

# How SQLite transactions begin in this context: IMMEDIATE (take the write lock first) unless a
# read-only request asked for DEFERRED. See ``read_only_requests`` in study/web.py.
_sqlite_begin: ContextVar[str] = ContextVar("sqlite_begin", default="IMMEDIATE")


def begin_read_only() -> None:
    """Let this context's SQLite transactions begin DEFERRED: it reads, it never writes."""
    _sqlite_begin.set("DEFERRED")


def begin_for_writing() -> None:
    """Let this context's SQLite transactions take the write lock up front (``BEGIN IMMEDIATE``)."""
    _sqlite_begin.set("IMMEDIATE")


@contextmanager
def read_snapshot(session: Session) -> Iterator[None]:
    """Run the block's queries in one read-only transaction that sees one state of the data.

    The session's current transaction is committed first (a read-only one has nothing to keep;
    an API request's note of its token's use is kept), then a new one begins that cannot write
    and does not change under its reader, however long it runs and whatever others commit
    meanwhile: on SQLite ``BEGIN DEFERRED`` with ``query_only`` (in WAL mode a read transaction
    reads the snapshot of its first read, and takes no lock that keeps writers out); on
    PostgreSQL ``REPEATABLE READ, READ ONLY`` (the snapshot of its first statement). It is
    rolled back at the end, which expires the session's objects as a commit would; the
    context's next transaction begins as it would have before the block.
    """
    session.commit()
    mode = _sqlite_begin.get()
    begin_read_only()
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ",
                                                  "postgresql_readonly": True})
        yield
    finally:
        session.rollback()
        _sqlite_begin.set(mode)


def normalise_database_url(url: str) -> str:
    """Accept the plain ``postgresql://`` (and Heroku-style ``postgres://``) forms for psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def default_sqlite_url(instance_path: str) -> str:
    """The embedded database: ``allport.sqlite3`` in the instance folder."""
    return f"sqlite:///{Path(instance_path) / 'allport.sqlite3'}"


def engine_options(url: str) -> dict[str, Any]:
    """Pool settings for PostgreSQL; busy timeout and cross-thread use for SQLite."""
    options: dict[str, Any] = {"url": url}
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # pool_pre_ping: a connection that died while idle in the pool (a restart, a failover)
        # is replaced at checkout instead of failing the request (study.outage).
        options.update(pool_pre_ping=True, pool_size=5, max_overflow=10)
        if "connect_timeout" not in parsed.query:
            options["connect_args"] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
    else:
        options.update(connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                     "check_same_thread": False})
    return options


def configure_engine(engine: Engine) -> None:
    """Apply the per-backend settings that correctness depends on."""
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    # gunicorn forks workers (with --preload, after the engine exists): a child must never reuse
    # the parent's pooled connections.
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling does not BEGIN before a SELECT, so a check-then-insert
    # races (DESIGN §9). Turn it off and begin every transaction ourselves with the write lock,
    # except in read-only requests (GET): those begin DEFERRED and never queue behind writers,
    # and query_only makes any write attempted there fail loudly instead of racing.
    lock_path = _writer_lock_path(engine)
    database_path = _database_file(engine)

    @event.listens_for(engine, "do_connect")
    def _create_privately(*_args: Any) -> None:
        # The file holds password hashes and the allocation seeds: readable by its owner only.
        # SQLite gives the -wal and -shm files the mode of the database file.
        if database_path is not None:
            create_private_file(database_path)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Deleted rows (a withdrawn trainee's answers) are overwritten, not left in free pages.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()
        if lock_path is not None:
            record.info["writer_lock"] = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = _sqlite_begin.get()
        pooled = connection.connection
        query_only = mode == "DEFERRED"
        if pooled.info.get("query_only") is not query_only:  # a statement saved on most requests
            _run_directly(pooled, f"PRAGMA query_only={'ON' if query_only else 'OFF'}")
            pooled.info["query_only"] = query_only
        if mode == "IMMEDIATE":
            _queue_for_writing(pooled.info)
        _run_directly(pooled, f"BEGIN {mode}")

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection: Any) -> None:
        _done_writing(connection.connection.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _done_writing(record.info)

    @event.listens_for(engine, "close")
    def _on_close(_dbapi_connection: Any, record: Any) -> None:
        _done_writing(record.info)
        if "writer_lock" in record.info:
            os.close(record.info.pop("writer_lock"))


def _run_directly(pooled: Any, statement: str) -> None:
    """Run a statement of transaction control on the driver's connection, bypassing the engine.

    Every request begins a transaction, a questionnaire post two: through the engine, each BEGIN
    cost about as much as a query. A failure (the database locked past the busy timeout) is
    raised as SQLAlchemy's own error, as the engine would, so the outage handling sees it.
    """
    try:
        pooled.driver_connection.execute(statement)
    except sqlite3.Error as error:
        raise DBAPIError.instance(statement, None, error, sqlite3.Error) from error


# Writers queue on an flock beside the database before BEGIN IMMEDIATE. SQLite's own busy
# handler polls with sleeps of up to 100 ms, so under contention the write lock sits idle
# between holders; a blocked flock wakes the next writer as soon as the last one is done.
# The lock is released when the transaction ends (just before its COMMIT or ROLLBACK, which
# SQLite's busy handler then covers in a millisecond or two).


def _database_file(engine: Engine) -> str | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _writer_lock_path(engine: Engine) -> str | None:
    database = _database_file(engine)
    return None if database is None else f"{database}-writers.lock"


def create_private_file(path: str | Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (never widening an existing file)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _queue_for_writing(info: dict[str, Any]) -> None:
    """``info``: the pooled connection's info dict, where its lock file descriptor lives."""
    fd = info.get("writer_lock")
    if fd is not None and not info.get("writer_lock_held"):
        fcntl.flock(fd, fcntl.LOCK_EX)
        info["writer_lock_held"] = True


def _done_writing(info: dict[str, Any]) -> None:
    if info.pop("writer_lock_held", False):
        fcntl.flock(info["writer_lock"], fcntl.LOCK_UN)
