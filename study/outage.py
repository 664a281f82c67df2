"""When the database goes away: one safe retry, then 503 with ``Retry-After`` (DESIGN §9).

A PostgreSQL restart or a managed failover (about half a minute) cuts every open connection:
the next statement on each fails with ``terminating connection due to administrator command``
or ``server closed the connection unexpectedly``, and new connections are refused until the
server is back. SQLite has no server to lose, but a write lock held past the busy timeout, or a
database file that cannot be opened, fails the same way (``OperationalError``).

What the app does, in order:

1. **A connection that died while idle in the pool** is noticed at checkout and replaced
   (``pool_pre_ping``, ``study.database.engine_options``): most requests after a restart
   never see the restart.
2. **A request cut off by a disconnect** (or unable to connect at all) is run once more, from
   its first ``before_request`` hook, after a short pause, but only when nothing it did can have
   been kept. That holds when no transaction of the request that wrote anything has reached
   COMMIT: PostgreSQL rolls back the transaction of a connection it ends, so the request's writes
   are gone with it and running it again is running it for the first time. A disconnect *during*
   the COMMIT of a transaction that wrote is never retried (it may or may not have been kept),
   nor is a request whose earlier transaction committed writes. Transactions that only read
   (the first half of a questionnaire post, ``start_writing`` in ``study.trainee.views``) do not
   count. The trainee answer post keeps its guarantees because the retry is the same request
   from the start: the participant row is locked again before the stratum (the lock order of
   ``study.services.allocation``), the allocation happens inside the same transaction as the last
   baseline answers, and a post whose first attempt did commit (a double submit, in effect) finds
   the work done, as every trainee write does (``study.trainee.views``).
   Running the hooks again counts a rate-limited request twice, in an outage only.
3. **Otherwise** (the database still away after the pause, a write whose fate is unknown, a
   locked SQLite database, a pool with no free connection) the answer is 503 with
   ``Retry-After``: a page telling trainees that what they already sent is kept, JSON under
   ``/api``. ``/healthz`` answers 503 on its own (``study.health``).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, current_app, g, has_request_context, jsonify, request, url_for
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from study.extensions import db

# A managed PostgreSQL fails over in about half a minute.
RETRY_AFTER_SECONDS = 30
# A restart (``pg_ctl restart -m fast``) is back within a second or so: wait that long before
# running a cut-off request again. A worker waits this long at most once per request.
RETRY_PAUSE_SECONDS = 1.0

# What a database that is away or busy raises: OperationalError (psycopg 3's "terminating
# connection", "connection refused", "the database system is starting up", "the connection is
# closed"; SQLite's "database is locked", "unable to open database file") and the pool's
# TimeoutError (no connection free). Other database errors are bugs, and stay 500s.
OUTAGES = (OperationalError, PoolTimeoutError)

_WROTE = "allport_wrote"  # on a pooled connection's info: its open transaction has written


def register(app: Flask) -> None:
    """Turn database outages into one retry and then a 503, for every request of the app."""
    with app.app_context():
        watch_writes(db.engine)
    for outage in OUTAGES:
        app.register_error_handler(outage, database_unavailable)
    # Registered after Flask-SQLAlchemy-Lite's own teardown, so it runs before it (Flask runs
    # them in reverse order) and leaves it nothing to close.
    app.teardown_appcontext(end_transaction)


def watch_writes(engine: Engine) -> None:
    """Note in ``g`` when a transaction that wrote is committed, so its request is never re-run."""
    if event.contains(engine, "before_cursor_execute", _note_write):
        return
    event.listen(engine, "before_cursor_execute", _note_write)
    event.listen(engine, "commit", _note_commit)
    event.listen(engine, "rollback", _forget_writes)


def _note_write(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    # Anything but a SELECT counts as a write (SELECT … FOR UPDATE only locks): a SAVEPOINT or
    # a PRAGMA errs on the side of not retrying.
    if not statement.lstrip()[:6].upper() == "SELECT":
        connection.info[_WROTE] = True


def _note_commit(connection: Any) -> None:
    # Fired before COMMIT is sent: a disconnect during the COMMIT itself is already covered.
    if connection.info.pop(_WROTE, False) and has_request_context():
        g.database_writes_committed = True


def _forget_writes(connection: Any) -> None:
    if not connection.invalidated:  # a connection cut off has no info left to clear
        connection.info.pop(_WROTE, None)


def _may_run_again(error: BaseException) -> bool:
    if g.get("database_retried") or g.get("database_writes_committed"):
        return False
    # A connection cut off (``connection_invalidated``), or none opened at all (no statement:
    # the error came from connecting). A statement that failed on a live connection (SQLite's
    # "database is locked" after its busy timeout, a deadlock) is not run again.
    return isinstance(error, DBAPIError) and (error.connection_invalidated
                                              or error.statement is None)


def database_unavailable(error: Exception) -> Any:
    """Run a cut-off request once more if that is safe (see above); otherwise answer 503."""
    _rollback()
    app = current_app
    if _may_run_again(error):
        g.database_retried = True
        time.sleep(RETRY_PAUSE_SECONDS)
        try:
            answer = app.preprocess_request()
            return app.dispatch_request() if answer is None else answer
        except Exception as again:  # noqa: BLE001 - handled as the first error would have been
            return app.handle_user_exception(again)
    app.logger.warning("database unavailable (%s) on %s %s: %s", type(error).__name__,
                       request.method, request.endpoint, str(error).splitlines()[0])
    return unavailable_response()


def unavailable_response() -> Any:
    """503 with ``Retry-After``: JSON under ``/api``, otherwise the page that says to wait."""
    if request.path.startswith("/api/"):
        response = jsonify(error="database_unavailable",
                           message="The database is briefly unavailable; try again in "
                                   f"{RETRY_AFTER_SECONDS} seconds.")
    else:
        # Rendered without the context processors: Flask-Login's would load the signed-in
        # user, from the database that is away.
        token = (request.view_args or {}).get("token") if request.blueprint == "trainee" else None
        start = url_for("trainee.start", token=token) if token else None
        again = request.full_path.rstrip("?") if request.method == "GET" else start
        page = current_app.jinja_env.get_template("errors/503.html").render(
            trainee=request.path.startswith("/t/"), start=start, again=again)
        response = current_app.make_response(page)
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def end_transaction(_error: BaseException | None) -> None:
    """Close the session before the response leaves, whatever became of the server.

    A page that read and never committed still has its transaction open when the response is
    ready; if the server went away meanwhile, the rollback that closes it fails. The server
    has ended that transaction itself, so the page already rendered is sent as it is.
    """
    try:
        db.session.close()
    except OUTAGES as error:
        # The request has gone by now (app contexts end after request contexts).
        current_app.logger.warning("database went away before a session was closed: %s",
                                   str(error).splitlines()[0])


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection is gone; the session is reset regardless
        current_app.logger.debug("rollback after a database outage failed", exc_info=True)
