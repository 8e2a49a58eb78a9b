"""requests: the organisation that registered one for a home another holds, and so follows its status

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 14:00:00

Requests registered before this revision have none: only their own organisation sees them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | Sequence[str] | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('followed_by_organisation_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_requests_followed_by_organisation_id_organisations'),
                                    'organisations', ['followed_by_organisation_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_requests_followed_by_organisation_id_organisations'),
                                 type_='foreignkey')
        batch_op.drop_column('followed_by_organisation_id')
