"""the primary outcome comes from the analysis plan: drop studies.primary_outcome

The primary outcome is named by the study's statistical analysis plan (analysis_plans, frozen
when recruitment opens), no longer by a column that a results page could change at will. A
study that had named a primary outcome there keeps its data; its plan (``flask --app app sap
set``) is where the primary outcome is named from now on.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 12:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.drop_column('primary_outcome')


def downgrade() -> None:
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('primary_outcome', sa.String(length=200), nullable=True))
