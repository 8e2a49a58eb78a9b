"""cabinets: the number patients are given, apart from the phones batches are texted to

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | Sequence[str] | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('cabinets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('patient_phone', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cabinets', schema=None) as batch_op:
        batch_op.drop_column('patient_phone')
