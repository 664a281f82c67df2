"""trial integrity: follow-up settings, the analysis plan, sequence audit, locking, unblinding,
CONSORT reasons

Studies that were open before this revision keep sequence scheme 1 (server default), so their
allocations still verify; new studies take the model's default.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 01:02:31.840168
"""
from alembic import op
import sqlalchemy as sa
import study.models.base


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('analysis_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('plan', sa.JSON(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', study.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('frozen_at', study.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_analysis_plans_study_id_studies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analysis_plans')),
    sa.UniqueConstraint('study_id', 'version', name=op.f('uq_analysis_plans_study_id_version'))
    )
    with op.batch_alter_table('analysis_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analysis_plans_study_id'), ['study_id'], unique=False)

    with op.batch_alter_table('allocation_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stratum_id', sa.String(length=64), nullable=True))

    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stratum_id', sa.String(length=64), nullable=True))

    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('minutes_attended', sa.Integer(), nullable=True))

    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exit_reason', sa.String(length=32), nullable=True))

    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('allocation_seed_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('sequence_scheme', sa.Integer(), nullable=False,
                                      server_default='1'))
        batch_op.add_column(sa.Column('unblinded_at', study.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('planned_sample_size', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('intervention_period_days', sa.Integer(), nullable=False,
                                      server_default='14'))
        batch_op.add_column(sa.Column('followup_offset_days', sa.Integer(), nullable=False,
                                      server_default='28'))
        batch_op.add_column(sa.Column('followup_window_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('data_locked_at', study.models.base.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.drop_column('data_locked_at')
        batch_op.drop_column('followup_window_days')
        batch_op.drop_column('followup_offset_days')
        batch_op.drop_column('intervention_period_days')
        batch_op.drop_column('planned_sample_size')
        batch_op.drop_column('unblinded_at')
        batch_op.drop_column('sequence_scheme')
        batch_op.drop_column('allocation_seed_sha256')

    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.drop_column('exit_reason')

    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_column('minutes_attended')

    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.drop_column('stratum_id')

    with op.batch_alter_table('allocation_states', schema=None) as batch_op:
        batch_op.drop_column('stratum_id')

    with op.batch_alter_table('analysis_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analysis_plans_study_id'))

    op.drop_table('analysis_plans')
