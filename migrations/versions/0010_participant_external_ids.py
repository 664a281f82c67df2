"""An external id beside a trainee's email (from the invitation spreadsheet)

- ``participant_contacts.external_id``: the identifier a site's own records use for the trainee
  (a student number, a REDCap record id). An identifier like the email: never exported, deleted
  with the email when a withdrawal deletes the trainee's data (DESIGN §8).

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-28 08:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('participant_contacts',
                  sa.Column('external_id', sa.String(length=100), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later), as in 0008.
    op.drop_column('participant_contacts', 'external_id')
