"""matching_rounds: the cabinet whose "send me a batch now" a round answered, alone

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 09:00:00

Rounds recorded before this revision were all rounds of an organisation (or of all): none is set. The
rounds of asks make the table grow with the taps, so the worker's "is this slot's round done?" gets an
index. A cabinet in browse mode no longer keeps an ask (nothing would tell it of the batch): those kept
before are dropped.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | Sequence[str] | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('matching_rounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cabinet_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_matching_rounds_cabinet_id_cabinets'), 'cabinets', ['cabinet_id'],
                                    ['id'])
        batch_op.create_index('ix_matching_rounds_requested_by_started_at', ['requested_by', 'started_at'])
    op.execute("UPDATE cabinets SET batch_requested_at = NULL WHERE CAST(channels AS TEXT) = '[]'")


def downgrade() -> None:
    with op.batch_alter_table('matching_rounds', schema=None) as batch_op:
        batch_op.drop_index('ix_matching_rounds_requested_by_started_at')
        batch_op.drop_constraint(batch_op.f('fk_matching_rounds_cabinet_id_cabinets'), type_='foreignkey')
        batch_op.drop_column('cabinet_id')
