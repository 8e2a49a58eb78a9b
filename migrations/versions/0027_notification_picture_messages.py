"""notifications: a message with pictures (an MMS, id MM…) is Twilio's too, to be deleted there

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-08 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0027'
down_revision: str | Sequence[str] | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "channel = 'sms' AND provider_id LIKE 'SM%' AND provider_redacted_at IS NULL"
AFTER = "channel = 'sms' AND (provider_id LIKE 'SM%' OR provider_id LIKE 'MM%') AND provider_redacted_at IS NULL"


def _unredacted(where: str) -> None:
    op.drop_index('ix_notifications_unredacted', table_name='notifications')
    op.create_index('ix_notifications_unredacted', 'notifications', ['id'], unique=False,
                    sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def upgrade() -> None:
    _unredacted(AFTER)  # those received before this revision are deleted there at the next pass


def downgrade() -> None:
    _unredacted(BEFORE)
