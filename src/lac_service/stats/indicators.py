"""The dashboard's figures, computed from the requests, their history and the offers; nothing is stored.

Each function takes ``organisation_id`` (None: every organisation, for an admin) so that a coordinator never
sees another organisation's figures.
"""

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.intake.models import ACTIVE_STATUSES, PatientRequest, Status
from lac_service.offers.models import ItemStatus, Offer, OfferItem
from lac_service.priority import Band, band_of

CLOSED = (Status.matched, Status.withdrawn, Status.archived)


@dataclass(frozen=True)
class Rates:
    resolved: int
    closed: int
    accepted: int
    answered: int
    declines: dict[str, int]

    @property
    def resolution_rate(self) -> float | None:
        """Of the requests closed, the share closed by a match."""
        return self.resolved / self.closed if self.closed else None

    @property
    def acceptance_rate(self) -> float | None:
        """Of the patients offered and answered (or expired), the share accepted."""
        return self.accepted / self.answered if self.answered else None


def _mine(query: sa.Select, column: sa.ColumnElement[int], organisation_id: int | None) -> sa.Select:
    return query if organisation_id is None else query.where(column == organisation_id)


def waiting_by_band(session: Session, *, organisation_id: int | None) -> dict[Band, int]:
    query = _mine(sa.select(PatientRequest.priority_points).where(PatientRequest.status.in_(ACTIVE_STATUSES)),
                  PatientRequest.organisation_id, organisation_id)
    counts = Counter(band_of(points) for points in session.scalars(query))
    return {band: counts.get(band, 0) for band in Band}


def median_wait_days_by_month(session: Session, *, organisation_id: int | None, months: list[str]) -> dict[str, float | None]:
    """Median days from registration to match, by month of the match (``YYYY-MM``); None: no match that month."""
    query = _mine(sa.select(PatientRequest.waiting_since, PatientRequest.matched_at)
                  .where(PatientRequest.matched_at.is_not(None)), PatientRequest.organisation_id, organisation_id)
    waits: dict[str, list[float]] = {month: [] for month in months}
    for since, matched in session.execute(query):
        month = f"{matched:%Y-%m}"
        if month in waits:
            waits[month].append((matched - since).total_seconds() / 86400)
    return {month: statistics.median(days) if days else None for month, days in waits.items()}


def last_months(now: datetime, count: int = 12) -> list[str]:
    year, month = now.year, now.month
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def rates(session: Session, *, organisation_id: int | None) -> Rates:
    closed = Counter(dict(session.execute(_mine(
        sa.select(PatientRequest.status, sa.func.count()).where(PatientRequest.status.in_(CLOSED))
        .group_by(PatientRequest.status), PatientRequest.organisation_id, organisation_id,
    )).all()))
    items = session.execute(_mine(
        sa.select(OfferItem.status, OfferItem.decline_reason).join(Offer), Offer.organisation_id, organisation_id,
    )).all()
    answered = [item for item in items if item.status is not ItemStatus.pending]
    return Rates(
        resolved=closed.get(Status.matched, 0), closed=sum(closed.values()),
        accepted=sum(item.status is ItemStatus.accepted for item in answered), answered=len(answered),
        declines=dict(Counter(item.decline_reason.value for item in answered if item.decline_reason)),
    )
