"""Session fidelity ratings and facilitator supervision records (DESIGN §13)

- ``fidelity_ratings``: one rater's ``session-fidelity`` checklist for a contact session, with
  the instrument's scale scores; a replaced rating is kept, marked superseded.
- ``supervision_records``: a facilitator's supervision meetings with role fidelity F, clinical
  risk oversight R and reflective practice P on 0–1.

Revision ID: 0013
Revises: 0010
Create Date: 2026-11-28 08:45:00.000000
"""
from alembic import op
import sqlalchemy as sa
import study.models.base


revision = '0013'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'fidelity_ratings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('rater_id', sa.Integer(), nullable=False),
        sa.Column('rated_at', study.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('instrument_version', sa.String(length=32), nullable=False),
        sa.Column('answers', sa.JSON(), nullable=False),
        sa.Column('total', sa.Float(), nullable=True),
        sa.Column('conditions', sa.Float(), nullable=True),
        sa.Column('peer_practice', sa.Float(), nullable=True),
        sa.Column('fidelity', sa.Float(), nullable=True),
        sa.Column('superseded_at', study.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('superseded_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['rater_id'], ['users.id'],
                                name=op.f('fk_fidelity_ratings_rater_id_users')),
        sa.ForeignKeyConstraint(['session_id'], ['contact_sessions.id'],
                                name=op.f('fk_fidelity_ratings_session_id_contact_sessions'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['superseded_by_id'], ['fidelity_ratings.id'],
                                name=op.f('fk_fidelity_ratings_superseded_by_id_fidelity_ratings')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fidelity_ratings')),
    )
    with op.batch_alter_table('fidelity_ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fidelity_ratings_session_id'), ['session_id'],
                              unique=False)

    op.create_table(
        'supervision_records',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('facilitator_id', sa.Integer(), nullable=False),
        sa.Column('held_on', sa.Date(), nullable=False),
        sa.Column('supervisor_kind', sa.Enum('clinical', 'peer', name='supervisorkind',
                                             native_enum=False, length=32), nullable=False),
        sa.Column('supervisor', sa.String(length=200), nullable=False),
        sa.Column('role_fidelity', sa.Float(), nullable=True),
        sa.Column('risk_oversight', sa.Float(), nullable=True),
        sa.Column('reflective_practice', sa.Float(), nullable=True),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.Column('recorded_by', sa.Integer(), nullable=False),
        sa.Column('recorded_at', study.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['facilitator_id'], ['facilitators.id'],
                                name=op.f('fk_supervision_records_facilitator_id_facilitators'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['recorded_by'], ['users.id'],
                                name=op.f('fk_supervision_records_recorded_by_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_records')),
    )
    with op.batch_alter_table('supervision_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_records_facilitator_id'),
                              ['facilitator_id'], unique=False)


def downgrade() -> None:
    op.drop_table('supervision_records')
    op.drop_table('fidelity_ratings')
