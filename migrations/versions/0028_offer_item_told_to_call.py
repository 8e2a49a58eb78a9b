"""offer_items: the cabinet's number a patient accepted was told to call, as it was then

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-08 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0028'
down_revision: str | Sequence[str] | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('offer_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('told_to_call', sa.String(length=20), nullable=True))
    # Those accepted before: the cabinet's number as it stands, the best guess of what they were told.
    op.execute("UPDATE offer_items SET told_to_call = (SELECT cabinets.patient_phone FROM offers JOIN cabinets "
               "ON cabinets.id = offers.cabinet_id WHERE offers.id = offer_items.offer_id) WHERE status = 'accepted'")


def downgrade() -> None:
    with op.batch_alter_table('offer_items', schema=None) as batch_op:
        batch_op.drop_column('told_to_call')
