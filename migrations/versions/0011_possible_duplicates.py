"""possible duplicates: name words in any order, merges, pairs found to be two people

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lac_service.db
from lac_service.kit.text import person_key

revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('distinct_people',
    sa.Column('first_request_id', sa.Integer(), nullable=False),
    sa.Column('second_request_id', sa.Integer(), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=False),
    sa.Column('decided_at', lac_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['first_request_id'], ['requests.id'], name=op.f('fk_distinct_people_first_request_id_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['second_request_id'], ['requests.id'], name=op.f('fk_distinct_people_second_request_id_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('first_request_id', 'second_request_id', name=op.f('pk_distinct_people'))
    )
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_key', sa.String(length=201), nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_requests_person', ['birth_date', 'person_key'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_requests_merged_into_id_requests'), 'requests', ['merged_into_id'], ['id'])

    # Requests already there get their key, so that they are compared too.
    requests = sa.table("requests", sa.column("id"), sa.column("first_name"), sa.column("last_name"),
                        sa.column("person_key"))
    connection = op.get_bind()
    named = connection.execute(sa.select(requests.c.id, requests.c.first_name, requests.c.last_name)
                               .where(requests.c.first_name.is_not(None))).all()
    if named:
        connection.execute(
            requests.update().where(requests.c.id == sa.bindparam("b_id")).values(person_key=sa.bindparam("b_key")),
            [{"b_id": id_, "b_key": person_key(first, last)} for id_, first, last in named],
        )


def downgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_requests_merged_into_id_requests'), type_='foreignkey')
        batch_op.drop_index('ix_requests_person')
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('person_key')

    op.drop_table('distinct_people')