"""notifications: the organisation whose message it is, so that a failure is told to its coordinators

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 11:00:00

Messages queued before this revision have none. Those that may still fail (not yet sent, being sent, or
sent without the provider's final report) take it from what they are about: a patient's request, a
cabinet's batch, or an organisation's webhook. The others are settled and will never be reported on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | Sequence[str] | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Messages that may still be reported on: only text messages get a report after they are sent.
_OPEN = "(status IN ('created', 'sending', 'unknown') OR (status = 'sent' AND channel = 'sms' AND delivery_status IS NULL))"
_OWNERS = {  # the resource's prefix → whose it is, read by primary key
    'request:': "SELECT organisation_id FROM requests WHERE requests.id = {number}",
    'cabinet:': "SELECT organisation_id FROM cabinets WHERE cabinets.id = {number}",
    'organisation:': "SELECT id FROM organisations WHERE organisations.id = {number}",
}


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organisation_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_notifications_organisation_id_organisations'), 'organisations',
                                    ['organisation_id'], ['id'])
    for prefix, owner in _OWNERS.items():
        number = f"CAST(SUBSTR(notifications.resource, {len(prefix) + 1}) AS INTEGER)"
        op.execute(f"UPDATE notifications SET organisation_id = ({owner.format(number=number)}) "
                   f"WHERE resource LIKE '{prefix}%' AND {_OPEN}")


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_notifications_organisation_id_organisations'), type_='foreignkey')
        batch_op.drop_column('organisation_id')
