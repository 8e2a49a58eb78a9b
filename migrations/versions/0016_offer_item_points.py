"""offer items: the request's points on the day of the offer, for the acceptance rate by band

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 10:00:00

Items offered before this revision get their request's points as they stand: the day's points were not kept.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | Sequence[str] | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added in place (no table rebuild on SQLite), hence the server default.
    with op.batch_alter_table('offer_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority_points', sa.Integer(), server_default='0', nullable=False))
    op.execute("UPDATE offer_items SET priority_points = "
               "(SELECT requests.priority_points FROM requests WHERE requests.id = offer_items.request_id)")


def downgrade() -> None:
    with op.batch_alter_table('offer_items', schema=None) as batch_op:
        batch_op.drop_column('priority_points')
