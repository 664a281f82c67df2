"""withdrawal that really deletes, and an audit trail the database keeps append-only

DESIGN §8: what outlives a withdrawal that deletes a trainee's data is the minimal trial record,
so nothing in allocations or in the audit trail may come from their answers or their words.

- ``withdrawal_reasons``: the free-text withdrawal reason, deletable. Reasons already written into
  the payloads of ``withdrawal`` audit events move there when the trainee's data were kept, and
  are dropped when they were deleted; each such payload gets the withdrawal's category instead.
- Allocations name their stratum by its opaque id only, under every sequence scheme: scheme-1
  rows get the id computed from the study's seed (the same HMAC as ``sequence.stratum_id``), the
  label column is dropped, and ``allocation`` audit payloads lose their ``stratum`` label. The
  per-stratum state rows keep the label (they describe a stratum, not a person; scheme 1 is
  keyed by it) and gain the id where they lacked it.
- ``audit_events``: deleting a study no longer rewrites its events (``ON DELETE SET NULL``
  becomes ``RESTRICT``), and triggers refuse every UPDATE and DELETE of an event. The scrubbing
  above runs first: after this revision not even a migration can rewrite the trail.

Downgrade drops the triggers and the new table and gives allocations a label column again
(from the state rows), but cannot put back what was scrubbed, on purpose.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00.000000
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

from alembic import op
import sqlalchemy as sa
import study.models.base


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

MESSAGE = "the audit trail is append-only"
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
    for verb in ("UPDATE", "DELETE")
]
POSTGRESQL_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$",
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
]

studies = sa.table('studies', sa.column('id', sa.Integer), sa.column('allocation_seed', sa.String))
participants = sa.table('participants', sa.column('id', sa.Integer), sa.column('code', sa.String),
                        sa.column('exit_reason', sa.String),
                        sa.column('data_withdrawn', sa.Boolean))
allocations = sa.table('allocations', sa.column('id', sa.Integer),
                       sa.column('study_id', sa.Integer), sa.column('stratum', sa.String),
                       sa.column('stratum_id', sa.String))
allocation_states = sa.table('allocation_states', sa.column('id', sa.Integer),
                             sa.column('study_id', sa.Integer), sa.column('stratum', sa.String),
                             sa.column('stratum_id', sa.String))
audit_events = sa.table('audit_events', sa.column('id', sa.Integer), sa.column('at'),
                        sa.column('study_id', sa.Integer), sa.column('action', sa.String),
                        sa.column('participant_code', sa.String),
                        sa.column('details', sa.JSON))


def _stratum_id(seed: str, label: str) -> str:
    """``study.services.sequence.stratum_id`` as it stood at this revision."""
    key = hmac.new(seed.encode(), b"allport.sequence/2", hashlib.sha256).digest()
    return hmac.new(key, b"stratum\x1f" + label.encode(), hashlib.sha256).hexdigest()


def _fill_stratum_ids(connection: sa.Connection, seeds: dict[int, str | None]) -> None:
    for table in (allocation_states, allocations):
        for row_id, study_id, label in connection.execute(
                sa.select(table.c.id, table.c.study_id, table.c.stratum)
                .where(table.c.stratum_id.is_(None))).all():
            seed = seeds.get(study_id)
            if seed is None:  # a state row left by a study that never opened: nothing in it
                connection.execute(sa.delete(table).where(table.c.id == row_id))
                continue
            connection.execute(sa.update(table).where(table.c.id == row_id)
                               .values(stratum_id=_stratum_id(seed, label)))


def _scrub_audit_payloads(connection: sa.Connection, seeds: dict[int, str | None]) -> None:
    people = {code: (pid, exit_reason, bool(withdrawn)) for pid, code, exit_reason, withdrawn
              in connection.execute(sa.select(participants.c.id, participants.c.code,
                                              participants.c.exit_reason,
                                              participants.c.data_withdrawn))}
    reasons: dict[int, tuple[str, Any]] = {}
    for event_id, at, study_id, action, code, details in connection.execute(
            sa.select(audit_events.c.id, audit_events.c.at, audit_events.c.study_id,
                      audit_events.c.action, audit_events.c.participant_code,
                      audit_events.c.details)
            .where(audit_events.c.action.in_(("allocation", "withdrawal")))
            .order_by(audit_events.c.id)).all():
        details = dict(details or {})
        if action == "allocation":
            label = details.pop("stratum", None)
            seed = seeds.get(study_id)
            if details.get("stratum_id") is None and label is not None and seed is not None:
                details["stratum_id"] = _stratum_id(seed, label)
        else:
            reason = details.pop("reason", None)
            person = people.get(code)
            details.setdefault("category", (person[1] if person else None) or "withdrew")
            if (reason and str(reason).strip() and details.get("data_kept")
                    and person is not None and not person[2]):
                reasons[person[0]] = (str(reason), at)  # the latest withdrawal's reason
        connection.execute(sa.update(audit_events).where(audit_events.c.id == event_id)
                           .values(details=details))
    if reasons:
        connection.execute(sa.table('withdrawal_reasons', sa.column('participant_id'),
                                    sa.column('text'), sa.column('at')).insert(),
                           [{"participant_id": pid, "text": text, "at": at}
                            for pid, (text, at) in reasons.items()])


def upgrade() -> None:
    op.create_table('withdrawal_reasons',
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('at', study.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_withdrawal_reasons_participant_id_participants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('participant_id', name=op.f('pk_withdrawal_reasons'))
    )

    connection = op.get_bind()
    seeds = dict(connection.execute(sa.select(studies.c.id, studies.c.allocation_seed)).all())
    _fill_stratum_ids(connection, seeds)
    _scrub_audit_payloads(connection, seeds)

    with op.batch_alter_table('allocation_states', schema=None) as batch_op:
        batch_op.alter_column('stratum_id', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_allocation_states_study_id_stratum_id'), ['study_id', 'stratum_id'])

    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_allocations_study_id_stratum_position'), type_='unique')
        batch_op.alter_column('stratum_id', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_allocations_study_id_stratum_id_position'), ['study_id', 'stratum_id', 'position'])
        batch_op.drop_column('stratum')

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_audit_events_study_id_studies'), type_='foreignkey')
        batch_op.create_foreign_key(batch_op.f('fk_audit_events_study_id_studies'), 'studies', ['study_id'], ['id'], ondelete='RESTRICT')

    # Last: from here on no UPDATE or DELETE of an event succeeds, a migration's included.
    dialect = connection.dialect.name
    for statement in SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRESQL_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{verb}")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_audit_events_study_id_studies'), type_='foreignkey')
        batch_op.create_foreign_key(batch_op.f('fk_audit_events_study_id_studies'), 'studies', ['study_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stratum', sa.String(length=200), nullable=True))
    op.execute(
        "UPDATE allocations SET stratum = (SELECT allocation_states.stratum "
        "FROM allocation_states WHERE allocation_states.study_id = allocations.study_id "
        "AND allocation_states.stratum_id = allocations.stratum_id)")
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_allocations_study_id_stratum_id_position'), type_='unique')
        batch_op.alter_column('stratum', existing_type=sa.String(length=200), nullable=False)
        batch_op.alter_column('stratum_id', existing_type=sa.String(length=64), nullable=True)
        batch_op.create_unique_constraint(batch_op.f('uq_allocations_study_id_stratum_position'), ['study_id', 'stratum', 'position'])

    with op.batch_alter_table('allocation_states', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_allocation_states_study_id_stratum_id'), type_='unique')
        batch_op.alter_column('stratum_id', existing_type=sa.String(length=64), nullable=True)
    # Before this revision scheme-1 rows had no stratum id, and verify-sequence expected none.
    for table in ('allocations', 'allocation_states'):
        op.execute(f"UPDATE {table} SET stratum_id = NULL WHERE study_id IN "
                   "(SELECT id FROM studies WHERE sequence_scheme = 1)")

    op.drop_table('withdrawal_reasons')
