"""notifications: when Twilio's copy of an SMS's text was erased

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lac_service.db

revision: str = '0025'
down_revision: str | Sequence[str] | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNREDACTED = "channel = 'sms' AND provider_id LIKE 'SM%' AND provider_redacted_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider_redacted_at', lac_service.db.UTCDateTime(timezone=True), nullable=True))
    # SMS sent through Twilio before this revision are redacted too: its log kept every one of them.
    op.create_index('ix_notifications_unredacted', 'notifications', ['id'], unique=False,
                    sqlite_where=sa.text(UNREDACTED), postgresql_where=sa.text(UNREDACTED))


def downgrade() -> None:
    op.drop_index('ix_notifications_unredacted', table_name='notifications')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('provider_redacted_at')
