"""requests: a shared phone with the same birth date no longer refuses a registration (twins registered by a
parent); it only flags a possible duplicate. The phone keeps a plain index, for SMS replies.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = sa.text("status IN ('waiting', 'offered')")


def upgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index('uq_requests_active_phone', sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)
        batch_op.create_index('ix_requests_phone', ['phone'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index('ix_requests_phone')
        batch_op.create_index('uq_requests_active_phone', ['kind', 'phone', 'birth_date'], unique=True,
                              sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)
