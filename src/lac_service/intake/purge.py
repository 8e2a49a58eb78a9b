"""Retention: a request closed (matched, withdrawn, archived) for longer than the retention period loses
its personal data, as an erasure does; the anonymous record (kind, dates, status, department, birth year,
criteria, history) stays for the indicators, which therefore read the same before and after."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.intake.models import PatientRequest, Status
from lac_service.intake.service import SYSTEM, erase_request

CLOSED = (Status.matched, Status.withdrawn, Status.archived)
_BATCH = 500


def purge_closed(session: Session, *, closed_before: datetime, now: datetime) -> int:
    """Returns how many requests were erased. Run nightly; each batch is flushed, the caller commits."""
    purged = 0
    while ids := session.scalars(
        sa.select(PatientRequest.id)
        .where(PatientRequest.status.in_(CLOSED), PatientRequest.status_changed_at < closed_before,
               PatientRequest.erased_at.is_(None))
        .order_by(PatientRequest.id).limit(_BATCH)
    ).all():
        for request in session.scalars(sa.select(PatientRequest).where(PatientRequest.id.in_(ids))):
            erase_request(session, request, actor=SYSTEM, now=now)
        purged += len(ids)
    return purged
