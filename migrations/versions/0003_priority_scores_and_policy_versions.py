"""priority scores and policy versions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 06:13:08.493133
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lac_service.db

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('priority_policy_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('medecin_traitant', 'bilan_orthophonique', name='kind', native_enum=False, length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', lac_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_priority_policy_versions_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_priority_policy_versions')),
    sa.UniqueConstraint('organisation_id', 'kind', 'version', name=op.f('uq_priority_policy_versions_organisation_id_kind_version'))
    )
    # Existing requests wait since they were created and score 0 until `lac rescore` runs.
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority_points', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('priority_policy_version', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('priority_scored_at', lac_service.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('waiting_since', lac_service.db.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE requests SET priority_scored_at = created_at, waiting_since = created_at")
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.alter_column('priority_scored_at', existing_type=lac_service.db.UTCDateTime(timezone=True), nullable=False)
        batch_op.alter_column('waiting_since', existing_type=lac_service.db.UTCDateTime(timezone=True), nullable=False)
        batch_op.drop_index(batch_op.f('ix_requests_queue'))
        batch_op.create_index('ix_requests_queue', ['organisation_id', 'kind', 'status', 'priority_points'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index('ix_requests_queue')
        batch_op.create_index(batch_op.f('ix_requests_queue'), ['organisation_id', 'kind', 'status'], unique=False)
        batch_op.drop_column('waiting_since')
        batch_op.drop_column('priority_scored_at')
        batch_op.drop_column('priority_policy_version')
        batch_op.drop_column('priority_points')

    op.drop_table('priority_policy_versions')
