"""The data version: a value the database itself changes whenever reported data change.

The cached outputs are keyed by a digest of every reported row (``study.services.report_cache``),
and hashing a million rows takes seconds. The version tells, in milliseconds, whether the rows
can have changed since the digest was last computed: triggers on every reported table change it
on each write the digest would see, and only on those. Reported means what the digest reads:
every table except :data:`UNREPORTED`, every column except :data:`UNREPORTED_COLUMNS`, and of
``responses`` and ``answers`` only the submitted questionnaires (:data:`SUBMITTED_ONLY`): a
draft saved, a page turned, an invitation used or an audit event written leave the version as
it was. A write that might matter changes it (the conditions err that way: a statement-level
trigger on PostgreSQL fires even when its statement touched no row).

The version is read in the reader's own transaction (:func:`read_version`), so it describes the
snapshot the digest is then computed from. It is made by the database, not by the app, so a
write by any means (the ORM, Core, raw SQL, ``psql``) counts.

SQLite: one row, ``data_version(counter, tag)``
    Every trigger adds one to ``counter`` and draws a new random ``tag``. SQLite has one writer at
    a time, so the single row costs no concurrency. The tag makes a database restored from a
    backup, or a transaction rolled back after the version was read inside it, never show a
    ``(counter, tag)`` pair that another state of the data showed.

PostgreSQL: append-only ``data_changes(txid, tag)``
    A single row would make every writing transaction wait for the previous one to commit. So
    each writing transaction instead adds one row of its own, ``(txid_current(), random tag)``,
    ``ON CONFLICT DO NOTHING`` (its later writes find the row there), and rows are never updated
    or deleted. Transactions insert different keys, so concurrent writers never wait for one
    another. The version is ``(count(*), sum(tag))`` of the rows the reader's snapshot sees.

    Why the count identifies the data: a snapshot sees exactly the transactions committed before
    it was taken, and commits only ever add to that set, so of any two snapshots one sees a
    subset of what the other sees; the visible rows only grow. Two snapshots with the same count
    therefore see the same set of writing transactions, hence the same data. The largest txid
    would not do: txids are handed out at a transaction's first write but commit in any order,
    so a snapshot can see txid 10 and not yet 9, and a later one sees 9 too with the same maximum
    and different data. The sum of random tags tells apart histories that reach the same count
    (a database restored from a backup and written to again, a rolled-back transaction that read
    its own row). Two assumptions: rows of ``data_changes`` are never deleted, and all readers
    read the same server (a hot standby may make commits visible in another order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, MetaData, event, text

from study.models.base import Base

# Tables outside every output: staff accounts, their tokens (touched by every API call), the
# audit log (each download adds to it) and trainees' email addresses.
UNREPORTED = frozenset({"users", "memberships", "api_tokens", "audit_events",
                        "participant_contacts"})
# Columns written while trainees use the site, read by no output.
UNREPORTED_COLUMNS = {
    "invitations": frozenset({"last_used_at"}),
    "module_progress": frozenset({"furthest_page"}),
    "responses": frozenset({"current_page"}),
    "answers": frozenset({"answered_at"}),
}
# Rows that count only when they belong to a submitted questionnaire, as SQL about ``{row}``
# (``NEW`` or ``OLD``): drafts and their answers are not reported.
SUBMITTED_ONLY = {
    "responses": "{row}.status = 'submitted'",
    "answers": "EXISTS (SELECT 1 FROM responses WHERE responses.id = {row}.response_id "
               "AND responses.status = 'submitted')",
}
SQLITE_TABLE = "data_version"
POSTGRESQL_TABLE = "data_changes"
# The prefix of every trigger (and PostgreSQL function) this module makes.
PREFIX = "data_version"


def reported_columns(metadata: MetaData = Base.metadata) -> dict[str, list[str]]:
    """Each reported table of ``metadata`` with its reported columns, in table order."""
    return {table.name: [column.name for column in table.c
                         if column.name not in UNREPORTED_COLUMNS.get(table.name, ())]
            for table in metadata.sorted_tables if table.name not in UNREPORTED}


def _when(table: str, *rows: str) -> str:
    condition = SUBMITTED_ONLY.get(table)
    if condition is None:
        return ""
    return " WHEN " + " OR ".join(f"({condition.format(row=row)})" for row in rows)


def sqlite_statements(tables: Mapping[str, Sequence[str]]) -> list[str]:
    """The table, its row and three row-level triggers per reported table (idempotent)."""
    bump = (f"UPDATE {SQLITE_TABLE} SET counter = counter + 1, "
            "tag = lower(hex(randomblob(8))) WHERE id = 1;")
    statements = [
        f"CREATE TABLE IF NOT EXISTS {SQLITE_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "counter INTEGER NOT NULL, tag TEXT NOT NULL)",
        f"INSERT OR IGNORE INTO {SQLITE_TABLE} (id, counter, tag) "
        "VALUES (1, 0, lower(hex(randomblob(8))))",
    ]
    for table, columns in tables.items():
        events = {"insert": ("INSERT", ("NEW",)), "delete": ("DELETE", ("OLD",)),
                  "update": ("UPDATE OF " + ", ".join(f'"{c}"' for c in columns),
                             ("NEW", "OLD"))}
        for name, (verb, rows) in events.items():
            statements.append(
                f'CREATE TRIGGER IF NOT EXISTS {PREFIX}_{table}_{name} AFTER {verb} '
                f'ON "{table}" FOR EACH ROW{_when(table, *rows)} BEGIN {bump} END')
    return statements


def postgresql_statements(tables: Mapping[str, Sequence[str]]) -> list[str]:
    """The table, its functions and the triggers of every reported table (idempotent)."""
    statements = [
        f"CREATE TABLE IF NOT EXISTS {POSTGRESQL_TABLE} (txid bigint PRIMARY KEY, "
        "tag bigint NOT NULL)",
        f"CREATE OR REPLACE FUNCTION {PREFIX}_note() RETURNS void LANGUAGE sql AS $$ "
        f"INSERT INTO {POSTGRESQL_TABLE} (txid, tag) VALUES (txid_current(), "
        "('x' || left(md5(random()::text || clock_timestamp()::text), 16))::bit(64)::bigint) "
        "ON CONFLICT (txid) DO NOTHING $$",
        f"CREATE OR REPLACE FUNCTION {PREFIX}_statement() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN PERFORM {PREFIX}_note(); RETURN NULL; END $$",
    ]
    for table, columns in tables.items():
        update = "UPDATE OF " + ", ".join(f'"{c}"' for c in columns)
        statements.append(
            f'CREATE OR REPLACE TRIGGER {PREFIX}_truncate AFTER TRUNCATE ON "{table}" '
            f"FOR EACH STATEMENT EXECUTE FUNCTION {PREFIX}_statement()")
        condition = SUBMITTED_ONLY.get(table)
        if condition is None:
            statements.append(
                f'CREATE OR REPLACE TRIGGER {PREFIX} AFTER INSERT OR DELETE OR {update} '
                f'ON "{table}" FOR EACH STATEMENT EXECUTE FUNCTION {PREFIX}_statement()')
            continue
        # The condition needs the row (a subquery, so not in WHEN: PostgreSQL refuses one
        # there). NEW is NULL in a DELETE trigger and OLD in an INSERT one, so each side of
        # the OR is false where it does not apply.
        statements += [
            f"CREATE OR REPLACE FUNCTION {PREFIX}_{table}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN IF ({condition.format(row='NEW')}) OR ({condition.format(row='OLD')}) "
            f"THEN PERFORM {PREFIX}_note(); END IF; RETURN NULL; END $$",
            f'CREATE OR REPLACE TRIGGER {PREFIX} AFTER INSERT OR DELETE OR {update} '
            f'ON "{table}" FOR EACH ROW EXECUTE FUNCTION {PREFIX}_{table}()',
        ]
    return statements


def drop_statements(dialect: str, tables: Iterable[str]) -> list[str]:
    """What undoes :func:`sqlite_statements` or :func:`postgresql_statements` for ``tables``."""
    if dialect == "sqlite":
        triggers = [f"DROP TRIGGER IF EXISTS {PREFIX}_{table}_{name}" for table in tables
                    for name in ("insert", "delete", "update")]
    else:
        triggers = [f'DROP TRIGGER IF EXISTS {name} ON "{table}"' for table in tables
                    for name in (PREFIX, f"{PREFIX}_truncate")]
    return [*triggers, *_drop_version(dialect)]


def _drop_version(dialect: str) -> list[str]:
    """The version's table and functions (a dropped table takes its triggers with it)."""
    if dialect == "sqlite":
        return [f"DROP TABLE IF EXISTS {SQLITE_TABLE}"]
    return [*(f"DROP FUNCTION IF EXISTS {PREFIX}_{table}()" for table in SUBMITTED_ONLY),
            f"DROP FUNCTION IF EXISTS {PREFIX}_statement()",
            f"DROP FUNCTION IF EXISTS {PREFIX}_note()",
            f"DROP TABLE IF EXISTS {POSTGRESQL_TABLE}"]


def install(connection: Connection, tables: Mapping[str, Sequence[str]]) -> None:
    """Create the version and its triggers on ``tables`` (safe to run again)."""
    dialect = connection.dialect.name
    statements = (sqlite_statements(tables) if dialect == "sqlite"
                  else postgresql_statements(tables) if dialect == "postgresql" else [])
    for statement in statements:
        connection.exec_driver_sql(statement)


def read_version(connection: Connection) -> str | None:
    """The version the connection's transaction sees, or None where the database has none."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        if connection.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                   "AND name = :name"), {"name": SQLITE_TABLE}).first() is None:
            return None
        row = connection.execute(text(
            f"SELECT counter, tag FROM {SQLITE_TABLE} WHERE id = 1")).first()
        return None if row is None else f"sqlite:{row[0]}:{row[1]}"
    if dialect == "postgresql":
        if connection.execute(text("SELECT to_regclass(:name)"),
                              {"name": POSTGRESQL_TABLE}).scalar() is None:
            return None
        count, tags = connection.execute(text(
            f"SELECT count(*), coalesce(sum(tag), 0) FROM {POSTGRESQL_TABLE}")).one()
        return f"postgresql:{count}:{tags}"
    return None


def mapped_name(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's ``include_name``: everything but the version's table, which no model maps."""
    return not (type_ == "table" and name in (SQLITE_TABLE, POSTGRESQL_TABLE))


# ``Base.metadata.create_all`` (the tests, and a database made without migrations) makes the
# version too; migration 0015 makes it for databases built by migrations.
def _after_create(metadata: MetaData, connection: Connection, **_: Any) -> None:
    install(connection, reported_columns(metadata))


def _after_drop(metadata: MetaData, connection: Connection, **_: Any) -> None:
    for statement in _drop_version(connection.dialect.name):
        connection.exec_driver_sql(statement)


event.listen(Base.metadata, "after_create", _after_create)
event.listen(Base.metadata, "after_drop", _after_drop)
