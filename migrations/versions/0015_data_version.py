"""A data version the database maintains, so the cache's digest is hashed only after a change

``study.models.data_version`` says what and why. On SQLite a one-row table ``data_version``
whose counter and random tag change in row-level triggers; on PostgreSQL an append-only
``data_changes`` with one row per writing transaction, added by statement-level triggers (and
row-level ones on ``responses`` and ``answers``, where only submitted questionnaires count) and
by TRUNCATE triggers. Every table existing at this revision gets triggers except those below,
on INSERT, DELETE and UPDATE OF every column except those below.

The tables and columns left out are spelled out here as they stood at this revision; the SQL of
the triggers comes from ``study.models.data_version`` (the single definition the tests check
against the models, so the migration and ``create_all`` cannot drift apart).

A later migration that adds a reported table or column must add it to the triggers; one that
rebuilds a reported table on SQLite (``batch_alter_table`` beyond an added column: a copy,
DROP and RENAME) loses that table's triggers with the old table and must make them again
(``study.models.data_version.install``). ``migrations/env.py`` turns on SQLite's
``legacy_alter_table`` so that such a RENAME does not fail on the ``answers`` triggers, which
name ``responses``. ``tests/study/test_data_version.py`` fails on a migrated database whose
triggers miss a reported table or column.

Downgrade drops the triggers, the functions and the table.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 18:00:00.000000
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

from study.models import data_version


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

UNREPORTED = frozenset({"users", "memberships", "api_tokens", "audit_events",
                        "participant_contacts", "alembic_version"})
UNREPORTED_COLUMNS = {
    "invitations": frozenset({"last_used_at"}),
    "module_progress": frozenset({"furthest_page"}),
    "responses": frozenset({"current_page"}),
    "answers": frozenset({"answered_at"}),
}


def _reported() -> dict[str, list[str]]:
    inspector = sa.inspect(op.get_bind())
    return {table: [column["name"] for column in inspector.get_columns(table)
                    if column["name"] not in UNREPORTED_COLUMNS.get(table, ())]
            for table in sorted(inspector.get_table_names())
            if table not in UNREPORTED and table not in (data_version.SQLITE_TABLE,
                                                         data_version.POSTGRESQL_TABLE)}


def upgrade() -> None:
    data_version.install(op.get_bind(), _reported())


def downgrade() -> None:
    connection = op.get_bind()
    for statement in data_version.drop_statements(connection.dialect.name, _reported()):
        connection.exec_driver_sql(statement)
