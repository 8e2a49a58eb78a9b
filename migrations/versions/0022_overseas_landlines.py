"""requests and cabinets: overseas landlines stored as mainland numbers are rewritten as the department's

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 12:00:00

Earlier, "0596 30 12 34" typed in a form was stored as +33 5 96 30 12 34: libphonenumber's
mainland ranges overlap some of the overseas departments' lines, and the mainland was tried first. It is a
Martinique landline, +596 596 30 12 34, and an SMS reply or a duplicate check looks for it so. Such numbers are
read again as the service now reads their national writing (``kit.phone.to_e164``); only a number whose national
part starts with 26 or 59 can be one. The stored form does not say whether "+33" was typed, so a number written
with it, which the service now keeps as typed, is read as the department's too: such a mainland +33 5 96 line
does not exist. Nothing to undo on a downgrade: the numbers stay right.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lac_service.kit.phone import InvalidPhone, to_e164

revision: str = '0022'
down_revision: str | Sequence[str] | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OVERLAPS = ("+3326", "+3359")


def _reread(number: str | None) -> str | None:
    if number is None or not number.startswith(_OVERLAPS):
        return number
    try:
        return to_e164("0" + number[3:])
    except InvalidPhone:
        return number


def upgrade() -> None:
    bind = op.get_bind()
    requests = sa.table("requests", sa.column("id", sa.Integer), sa.column("phone", sa.String))
    rows = bind.execute(sa.select(requests.c.id, requests.c.phone)
                        .where(sa.or_(*(requests.c.phone.like(f"{prefix}%") for prefix in _OVERLAPS)))).all()
    reread = ((id_, phone, _reread(phone)) for id_, phone in rows)
    changed = [{"b_id": id_, "b_phone": new} for id_, phone, new in reread if new != phone]
    if changed:
        bind.execute(requests.update().where(requests.c.id == sa.bindparam("b_id"))
                     .values(phone=sa.bindparam("b_phone")), changed)
    cabinets = sa.table("cabinets", sa.column("id", sa.Integer), sa.column("phones", sa.JSON),
                        sa.column("patient_phone", sa.String))
    for id_, phones, patient_phone in bind.execute(sa.select(cabinets.c.id, cabinets.c.phones, cabinets.c.patient_phone)).all():
        reread = [_reread(phone) for phone in phones or []]
        if reread != (phones or []) or _reread(patient_phone) != patient_phone:
            bind.execute(cabinets.update().where(cabinets.c.id == id_)
                         .values(phones=reread, patient_phone=_reread(patient_phone)))


def downgrade() -> None:
    pass
