"""partner webhooks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=32), nullable=True))

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_url', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('webhook_key_id', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_column('webhook_key_id')
        batch_op.drop_column('webhook_url')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('key_id')
