"""The coordinator console: study numbers, cohort sites and dates, facilitator supervisors, several links per trainee, a log of emails

- ``studies``: ``protocol_number`` and ``ethics_approval_number`` (printed on the report's
  title page) and ``reminder_interval_days`` (default 3, DESIGN §7).
- ``cohorts``: ``site``, ``starts_on``, ``ends_on`` and ``closed_at``.
- ``facilitators``: ``contact``, ``clinical_supervisor`` and ``peer_supervisor`` (DESIGN §13).
- ``invitations``: a trainee may hold several live links (each email carries a new one), so
  ``participant_id`` is indexed instead of unique.
- ``sent_messages``: the log of emails to trainees (kind, step, how, when; no address, no body).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 08:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import study.models.base


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('protocol_number', sa.String(length=100), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('ethics_approval_number', sa.String(length=100),
                                      nullable=False, server_default=''))
        batch_op.add_column(sa.Column('reminder_interval_days', sa.Integer(), nullable=False,
                                      server_default='3'))
    with op.batch_alter_table('cohorts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('site', sa.String(length=200), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('starts_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('ends_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', study.models.base.UTCDateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table('facilitators', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contact', sa.String(length=320), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('clinical_supervisor', sa.String(length=200),
                                      nullable=False, server_default=''))
        batch_op.add_column(sa.Column('peer_supervisor', sa.String(length=200), nullable=False,
                                      server_default=''))
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_invitations_participant_id'), type_='unique')
        batch_op.create_index(batch_op.f('ix_invitations_participant_id'), ['participant_id'],
                              unique=False)


    op.create_table(
        'sent_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('participant_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('invitation', 'reminder', 'session_changed',
                                  'session_cancelled', name='messagekind', native_enum=False,
                                  length=32), nullable=False),
        sa.Column('step', sa.String(length=32), nullable=True),
        sa.Column('via', sa.String(length=8), nullable=False),
        sa.Column('sent_at', study.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['participant_id'], ['participants.id'],
                                name=op.f('fk_sent_messages_participant_id_participants'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sent_messages')),
    )
    with op.batch_alter_table('sent_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sent_messages_participant_id'), ['participant_id'],
                              unique=False)


def downgrade() -> None:
    op.drop_table('sent_messages')
    # Going back to one link per trainee keeps each trainee's newest link.
    op.execute(
        "DELETE FROM invitations WHERE id NOT IN "
        "(SELECT MAX(id) FROM invitations GROUP BY participant_id)"
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitations_participant_id'))
        batch_op.create_unique_constraint(batch_op.f('uq_invitations_participant_id'),
                                          ['participant_id'])
    # Plain DROP COLUMN (SQLite 3.35 and later), not a batch copy: rebuilding these tables
    # would drop a table that other tables' foreign keys point at.
    for table, columns in (
        ('facilitators', ('peer_supervisor', 'clinical_supervisor', 'contact')),
        ('cohorts', ('closed_at', 'ends_on', 'starts_on', 'site')),
        ('studies', ('reminder_interval_days', 'ethics_approval_number', 'protocol_number')),
    ):
        for column in columns:
            op.drop_column(table, column)
