"""locations, territories, geocode cache

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 06:02:09.401519
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lac_service.db

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('geocode_cache',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('lat', sa.Double(), nullable=False),
    sa.Column('lon', sa.Double(), nullable=False),
    sa.Column('created_at', lac_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_geocode_cache'))
    )
    with op.batch_alter_table('cabinets', schema=None) as batch_op:
        # Cabinets registered before this revision all came with their coordinates.
        batch_op.add_column(
            sa.Column('location_precision', sa.String(length=16), nullable=False, server_default='exact')
        )

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('territory_geojson', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('territory_postal_codes', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('territory_updated_at', lac_service.db.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('location_precision', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('outside_territory', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE requests SET location_precision = 'exact' WHERE lat IS NOT NULL")



def downgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_column('outside_territory')
        batch_op.drop_column('location_precision')

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_column('territory_updated_at')
        batch_op.drop_column('territory_postal_codes')
        batch_op.drop_column('territory_geojson')

    with op.batch_alter_table('cabinets', schema=None) as batch_op:
        batch_op.drop_column('location_precision')

    op.drop_table('geocode_cache')
