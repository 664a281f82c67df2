"""API tokens may expire and may be limited to one study

``api_tokens.expires_at`` (NULL: never) and ``api_tokens.study_id`` (NULL: every study the
account may see; a token limited to a study is deleted with it, never widened). Tokens issued
before this migration keep working as they did.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 12:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import study.models.base


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', study.models.base.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('study_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_api_tokens_study_id'), ['study_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_api_tokens_study_id_studies'), 'studies',
                                    ['study_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_tokens_study_id_studies'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_api_tokens_study_id'))
        batch_op.drop_column('study_id')
        batch_op.drop_column('expires_at')
