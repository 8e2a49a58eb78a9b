"""notifications: the time zone whose daytime a message nobody waits for keeps to

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0026'
down_revision: str | Sequence[str] | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEEPS_DAYTIME = "daytime_zone IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('daytime_zone', sa.String(length=64), nullable=True))
    op.create_index('ix_notifications_in_turn', 'notifications', ['status', 'daytime_zone', 'next_attempt_at'],
                    unique=False, sqlite_where=sa.text(KEEPS_DAYTIME), postgresql_where=sa.text(KEEPS_DAYTIME))


def downgrade() -> None:
    op.drop_index('ix_notifications_in_turn', table_name='notifications')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('daytime_zone')
