"""Queries on requests, as plain functions."""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.kinds import Kind
from lac_service.intake.models import ACTIVE_STATUSES, PatientRequest, Status
from lac_service.kit.text import fold
from lac_service.priority import Band, band_range


class Sort(StrEnum):
    priority = "priority"
    oldest = "oldest"
    newest = "newest"


# priority.rank_key in SQL: most points, then the longest wait, then the lowest id.
_ORDER = {
    Sort.priority: (PatientRequest.priority_points.desc(), PatientRequest.waiting_since, PatientRequest.id),
    Sort.oldest: (PatientRequest.waiting_since, PatientRequest.id),
    Sort.newest: (PatientRequest.waiting_since.desc(), PatientRequest.id.desc()),
}


@dataclass(frozen=True)
class RequestFilter:
    organisation_id: int | None = None
    status: Status | None = None
    kind: Kind | None = None
    text: str | None = None
    band: Band | None = None


def find_active_duplicate(
    session: Session, *, kind: Kind, identity_key: str, birth_date: date, exclude_id: int | None = None,
) -> PatientRequest | None:
    """Same person = same normalised name and birth date. A shared phone is not enough (twins registered
    by a parent): it only flags a possible duplicate (``intake.duplicates``)."""
    query = (
        sa.select(PatientRequest)
        .where(PatientRequest.kind == kind, PatientRequest.status.in_(ACTIVE_STATUSES),
               PatientRequest.identity_key == identity_key, PatientRequest.birth_date == birth_date)
        .order_by(PatientRequest.id)
        .limit(1)
    )
    if exclude_id is not None:
        query = query.where(PatientRequest.id != exclude_id)
    return session.scalar(query)


def _conditions(f: RequestFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = [PatientRequest.erased_at.is_(None)]
    if f.organisation_id is not None:
        conditions.append(PatientRequest.organisation_id == f.organisation_id)
    if f.status is not None:
        conditions.append(PatientRequest.status == f.status)
    if f.kind is not None:
        conditions.append(PatientRequest.kind == f.kind)
    if f.band is not None:
        floor, ceiling = band_range(f.band)
        conditions.append(PatientRequest.priority_points >= floor)
        if ceiling is not None:
            conditions.append(PatientRequest.priority_points < ceiling)
    if f.text:
        words = [w for w in (fold(part) for part in f.text.split()) if w]
        digits = "".join(c for c in f.text if c.isdigit())
        matches = [sa.and_(*(PatientRequest.identity_key.contains(w, autoescape=True) for w in words))] if words else []
        if len(digits) >= 4:
            matches.append(PatientRequest.phone.contains(digits[-9:], autoescape=True))
        if len(digits) == 5:
            matches.append(PatientRequest.postal_code == digits)
        if "@" in f.text:
            matches.append(sa.func.lower(PatientRequest.email) == f.text.strip().lower())
        conditions.append(sa.or_(*matches) if matches else sa.false())
    return conditions


def count_requests(session: Session, f: RequestFilter) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(PatientRequest).where(*_conditions(f))) or 0


def list_requests(
    session: Session, f: RequestFilter, *, limit: int, offset: int, sort: Sort = Sort.priority
) -> tuple[Sequence[PatientRequest], int]:
    rows = session.scalars(
        sa.select(PatientRequest).where(*_conditions(f)).order_by(*_ORDER[sort]).limit(limit).offset(offset)
    ).all()
    return rows, count_requests(session, f)


def held_by(session: Session, request_ids: Sequence[int], organisation_id: int | None) -> frozenset[int]:
    """Those of ``request_ids`` that the organisation holds (None: every organisation, an admin's view)."""
    if not request_ids or organisation_id is None:
        return frozenset(request_ids)
    return frozenset(session.scalars(sa.select(PatientRequest.id).where(
        PatientRequest.id.in_(request_ids), PatientRequest.organisation_id == organisation_id)))
