"""Answers not applicable by branching logic (issue 13)

``answers.status``: ``answered``, or ``not_applicable`` when the item's branching logic was false
and it was not asked (its ``value`` is then empty). Every existing answer was answered.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 11:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'status',
            sa.Enum('answered', 'not_applicable', name='answerstatus', native_enum=False,
                    length=32),
            server_default='answered', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.drop_column('status')
