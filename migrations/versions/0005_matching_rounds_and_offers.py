"""matching rounds and offers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 06:23:29.962310
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lac_service.db

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('matching_lock',
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('taken_at', lac_service.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_matching_lock'))
    )
    op.execute("INSERT INTO matching_lock (name) VALUES ('round')")
    op.create_table('matching_rounds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=True),
    sa.Column('engine', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('started_at', lac_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', lac_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requests_considered', sa.Integer(), nullable=False),
    sa.Column('cabinets_due', sa.Integer(), nullable=False),
    sa.Column('requests_offered', sa.Integer(), nullable=False),
    sa.Column('people_offered', sa.Integer(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_matching_rounds_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matching_rounds'))
    )
    with op.batch_alter_table('matching_rounds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_matching_rounds_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('cabinet_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', lac_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', lac_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cabinet_id'], ['cabinets.id'], name=op.f('fk_offers_cabinet_id_cabinets')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_offers_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['round_id'], ['matching_rounds.id'], name=op.f('fk_offers_round_id_matching_rounds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_offers_token_hash'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offers_cabinet_id'), ['cabinet_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_offers_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_offers_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_offers_round_id'), ['round_id'], unique=False)

    op.create_table('matching_unmatched',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_matching_unmatched_request_id_requests')),
    sa.ForeignKeyConstraint(['round_id'], ['matching_rounds.id'], name=op.f('fk_matching_unmatched_round_id_matching_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('round_id', 'request_id', name=op.f('pk_matching_unmatched'))
    )
    with op.batch_alter_table('matching_unmatched', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_matching_unmatched_request_id'), ['request_id'], unique=False)

    op.create_table('offer_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('people', sa.Integer(), nullable=False),
    sa.Column('distance_km', sa.Double(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'accepted', 'declined', 'expired', 'cancelled', name='itemstatus', native_enum=False, length=16), nullable=False),
    sa.Column('decline_reason', sa.Enum('no_capacity', 'too_far', 'outside_practice', 'patient_unreachable', 'patient_refused', 'other', name='declinereason', native_enum=False, length=32), nullable=True),
    sa.Column('responded_at', lac_service.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_offer_items_offer_id_offers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_offer_items_request_id_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offer_items'))
    )
    with op.batch_alter_table('offer_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offer_items_offer_id'), ['offer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_offer_items_request_id'), ['request_id'], unique=False)
        batch_op.create_index('uq_offer_items_pending_request', ['request_id'], unique=True, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))

    with op.batch_alter_table('cabinets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_batch_at', lac_service.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('batch_requested_at', lac_service.db.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('matched_cabinet_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('matched_at', lac_service.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_requests_matched_cabinet_id_cabinets'), 'cabinets', ['matched_cabinet_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_requests_matched_cabinet_id_cabinets'), type_='foreignkey')
        batch_op.drop_column('matched_at')
        batch_op.drop_column('matched_cabinet_id')

    with op.batch_alter_table('cabinets', schema=None) as batch_op:
        batch_op.drop_column('batch_requested_at')
        batch_op.drop_column('last_batch_at')

    with op.batch_alter_table('offer_items', schema=None) as batch_op:
        batch_op.drop_index('uq_offer_items_pending_request', sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_offer_items_request_id'))
        batch_op.drop_index(batch_op.f('ix_offer_items_offer_id'))

    op.drop_table('offer_items')
    with op.batch_alter_table('matching_unmatched', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_matching_unmatched_request_id'))

    op.drop_table('matching_unmatched')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offers_round_id'))
        batch_op.drop_index(batch_op.f('ix_offers_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_offers_expires_at'))
        batch_op.drop_index(batch_op.f('ix_offers_cabinet_id'))

    op.drop_table('offers')
    with op.batch_alter_table('matching_rounds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_matching_rounds_organisation_id'))

    op.drop_table('matching_rounds')
    op.drop_table('matching_lock')
