"""links rebuilt from a nonce: tracking, offer and the practitioner's standing page

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('requests') as batch_op:
        batch_op.add_column(sa.Column('tracking_token_nonce', sa.String(length=32), nullable=True))
    with op.batch_alter_table('offers') as batch_op:
        batch_op.add_column(sa.Column('token_nonce', sa.String(length=32), nullable=True))
    with op.batch_alter_table('cabinets') as batch_op:
        batch_op.add_column(sa.Column('link_token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('link_token_nonce', sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_cabinets_link_token_hash'), ['link_token_hash'])


def downgrade() -> None:
    with op.batch_alter_table('cabinets') as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_cabinets_link_token_hash'), type_='unique')
        batch_op.drop_column('link_token_nonce')
        batch_op.drop_column('link_token_hash')
    with op.batch_alter_table('offers') as batch_op:
        batch_op.drop_column('token_nonce')
    with op.batch_alter_table('requests') as batch_op:
        batch_op.drop_column('tracking_token_nonce')
