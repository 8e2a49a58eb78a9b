"""The figures a CPTS is judged on, computed from the requests, their history and the offers; nothing is
stored. Every figure is read within a ``Scope``: one organisation (None: all, for an admin), one kind or
both, and a period of whole days — so that an organisation never sees another's figures. Days and months are
the organisation's own (its rounds' time zone: a registration at 00:30 in Paris, or at 21:00 on the last
day of a month in Martinique, is counted on the day and in the month its people lived it).

Definitions (also in the README):
- a request comes *in* on the day the patient asked (``waiting_since``: an import keeps the original date);
  it goes *out* once, on the day of its last change, when that change closed it: matched, withdrawn
  (``erased`` counted apart) or archived. An archived request that came back goes out when it leaves for
  good, not twice; a duplicate merged into another is neither in nor out (the person is counted once, as
  the request kept);
- the wait is from the day the patient asked to the match; the median is the middle value (the mean of
  the two middle ones), the 90th percentile the nearest rank (the smallest wait at least 90 % do not exceed);
  those still waiting are counted apart, by the wait so far, as the list stands (whatever the period);
- an offered patient is counted in the period its offer was made; the acceptance rate is accepted over
  answered (accepted, declined or expired); by month, the month of the offer; by band, the patient's band as
  it stands (frozen once they leave the queue: matched, withdrawn);
- a cabinet's declared capacity over the period is its batch size times the number of whole cadences in
  the part of it the cabinet took part in, from its creation to its removal (none for a cabinet that asks
  for its batches when it has room); what it used is the people it accepted. A removed cabinet is listed
  for a period it took part in, and a cabinet of another kind is not listed for one kind;
- the counts by status are the list as it stands, whatever the period: every request held, by kind and
  status (an erased request stays counted among the withdrawn, as its anonymous record says).
"""

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from lac_service.cabinets.models import Cabinet
from lac_service.errors import InvalidInput
from lac_service.intake.models import ACTIVE_STATUSES, PatientRequest, Status, StatusChange, WithdrawReason
from lac_service.kinds import Kind
from lac_service.offers.models import ItemStatus, Offer, OfferItem
from lac_service.priority import Band, band_of

R = PatientRequest
OUT = ("matched", "withdrawn", "archived", "erased")
MAX_DAYS = 3660
# Far enough for any list's history and any plan; bounded so that a period's edges stay real dates.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


@dataclass(frozen=True)
class Scope:
    organisation_id: int | None
    kind: Kind | None
    start: date
    end: date  # inclusive
    zone: ZoneInfo

    @classmethod
    def asked(cls, organisation_id: int | None, kind: Kind | None, start: date | None, end: date | None, *,
              now: datetime, zone: ZoneInfo) -> "Scope":
        """The period as asked: the 365 days to ``end`` (default today, in ``zone``) unless ``start`` says
        otherwise."""
        for field, day in (("start", start), ("end", end)):
            if day is not None and not FIRST_DAY <= day <= LAST_DAY:
                raise InvalidInput(f"Choisissez une date entre le {FIRST_DAY:%d/%m/%Y} et le {LAST_DAY:%d/%m/%Y}.",
                                   field=field)
        end = end or now.astimezone(zone).date()
        start = start or end - timedelta(days=364)
        if start > end:
            raise InvalidInput("La date de début doit précéder la date de fin.", field="start")
        if (end - start).days >= MAX_DAYS:
            raise InvalidInput("La période ne peut pas dépasser 10 ans.", field="start")
        return cls(organisation_id, kind, start, end, zone)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=self.zone)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(), tzinfo=self.zone)

    def month(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.zone):%Y-%m}"

    def day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def requests(self, query: sa.Select) -> sa.Select:
        if self.organisation_id is not None:
            query = query.where(R.organisation_id == self.organisation_id)
        return query if self.kind is None else query.where(R.kind == self.kind)

    def within(self, column: sa.ColumnElement[datetime]) -> sa.ColumnElement[bool]:
        return sa.and_(column >= self.since, column < self.until)


@dataclass(frozen=True)
class Spread:
    count: int
    median_days: float | None
    p90_days: float | None


def spread(days: list[float]) -> Spread:
    if not days:
        return Spread(0, None, None)
    ordered = sorted(days)
    return Spread(len(ordered), round(statistics.median(ordered), 1),
                  round(ordered[math.ceil(0.9 * len(ordered)) - 1], 1))


def flows(session: Session, scope: Scope) -> dict[tuple[str, str], Counter[str]]:
    """(month, kind) → counts in (``registered``) and out by reason."""
    table: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    registered = sa.select(R.waiting_since, R.kind).where(scope.within(R.waiting_since), R.merged_into_id.is_(None))
    for since, kind in session.execute(scope.requests(registered)):
        table[(scope.month(since), kind.value)]["registered"] += 1
    later = aliased(StatusChange)
    changes = scope.requests(
        sa.select(StatusChange.at, StatusChange.to_status, StatusChange.reason, R.kind).join(R, R.id == StatusChange.request_id)
        .where(StatusChange.to_status.in_((Status.matched, Status.withdrawn, Status.archived)),
               scope.within(StatusChange.at), R.merged_into_id.is_(None),
               ~sa.exists().where(later.request_id == StatusChange.request_id, later.id > StatusChange.id))
    )
    for at, to_status, reason, kind in session.execute(changes):
        out = "erased" if reason == WithdrawReason.erased.value else to_status.value
        table[(scope.month(at), kind.value)][out] += 1
    return dict(sorted(table.items()))


def by_status(session: Session, scope: Scope) -> dict[str, dict[str, int]]:
    """Kind → status → requests held now, every kind of the scope and every status written out, zeros too."""
    query = scope.requests(sa.select(R.kind, R.status, sa.func.count()).group_by(R.kind, R.status))
    counts = {(kind, status): count for kind, status, count in session.execute(query)}
    kinds = list(Kind) if scope.kind is None else [scope.kind]
    return {kind.value: {status.value: counts.get((kind, status), 0) for status in Status} for kind in kinds}


def _by_band(waits: Iterable[tuple[int, float]]) -> dict[str, Spread]:
    """(points, days waited) → the spread by priority band, and ``all``."""
    days: dict[str, list[float]] = {band.value: [] for band in Band} | {"all": []}
    for points, waited in waits:
        days[band_of(points).value].append(waited)
        days["all"].append(waited)
    return {key: spread(values) for key, values in days.items()}


def waited_so_far(session: Session, scope: Scope, *, now: datetime) -> dict[str, Spread]:
    """Those waiting now (queued or being offered), by the days they have waited since they asked: by priority
    band, and ``all``. The wait to match counts those who found a cabinet; this, those still looking."""
    query = scope.requests(sa.select(R.waiting_since, R.priority_points).where(R.status.in_(ACTIVE_STATUSES)))
    return _by_band((points, (now - since).total_seconds() / 86400) for since, points in session.execute(query))


def waiting_by_department(session: Session, scope: Scope) -> dict[str, int]:
    query = scope.requests(sa.select(R.department, sa.func.count()).where(R.status.in_(ACTIVE_STATUSES)).group_by(R.department))
    return {department: count for department, count in sorted(session.execute(query).all())}


def _matched(session: Session, scope: Scope) -> list[sa.Row]:
    return list(session.execute(scope.requests(
        sa.select(R.waiting_since, R.matched_at, R.priority_points, R.ald, R.birth_year)
        .where(R.matched_at.is_not(None), scope.within(R.matched_at))
    )))


def _waited(row: sa.Row) -> float:
    return float((row.matched_at - row.waiting_since).total_seconds() / 86400)


def wait_to_match(session: Session, scope: Scope) -> dict[str, Spread]:
    """By priority band, and ``all``."""
    return _by_band((row.priority_points, _waited(row)) for row in _matched(session, scope))


def wait_to_match_by_month(session: Session, scope: Scope) -> dict[str, Spread]:
    """By month of the match, the months with one."""
    days: dict[str, list[float]] = defaultdict(list)
    for row in _matched(session, scope):
        days[scope.month(row.matched_at)].append(_waited(row))
    return {month: spread(values) for month, values in sorted(days.items())}


def matched_priority(session: Session, scope: Scope) -> dict[str, int]:
    """How many of the patients matched in the period had an ALD, and turned 70 or more in the year of the
    match: by birth year, which erasure keeps, so that a figure never changes once published."""
    rows = _matched(session, scope)
    aged = sum(scope.day(r.matched_at).year - r.birth_year >= 70 for r in rows)
    return {"matched": len(rows), "ald": sum(r.ald for r in rows), "aged_70_plus": aged}


def offer_items(session: Session, scope: Scope) -> list[sa.Row]:
    """The items offered in the period: what ``offers``, ``cabinets`` and ``rates`` count, read once."""
    query = (
        sa.select(OfferItem.status, OfferItem.decline_reason, OfferItem.people, Offer.cabinet_id, Offer.created_at,
                  OfferItem.priority_points)
        .join(Offer).where(scope.within(Offer.created_at))
    )
    if scope.organisation_id is not None:
        query = query.where(Offer.organisation_id == scope.organisation_id)
    if scope.kind is not None:  # the request is read only for its kind: the item keeps its points
        query = query.join(R, R.id == OfferItem.request_id).where(R.kind == scope.kind)
    return list(session.execute(query))


def offers(items: list[sa.Row]) -> dict[str, object]:
    counts = Counter(item.status.value for item in items)
    return {
        "offered": len(items), **{status.value: counts.get(status.value, 0) for status in ItemStatus},
        "decline_reasons": dict(sorted(Counter(i.decline_reason.value for i in items if i.decline_reason).items())),
    }


ANSWERED = (ItemStatus.accepted, ItemStatus.declined, ItemStatus.expired)  # not pending, nor cancelled


def acceptance(items: list[sa.Row]) -> float | None:
    """Accepted over answered; None when none was answered."""
    answered = [item for item in items if item.status in ANSWERED]
    return round(sum(item.status is ItemStatus.accepted for item in answered) / len(answered), 3) if answered else None


def acceptance_by(scope: Scope, items: list[sa.Row]) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """The acceptance rate by the patient's priority band on the day of the offer (every band), and by month of
    the offer (the months with one)."""
    by_band: dict[str, list[sa.Row]] = {band.value: [] for band in Band}
    by_month: dict[str, list[sa.Row]] = defaultdict(list)
    for item in items:
        by_band[band_of(item.priority_points).value].append(item)
        by_month[scope.month(item.created_at)].append(item)
    return ({band: acceptance(group) for band, group in by_band.items()},
            {month: acceptance(group) for month, group in sorted(by_month.items())})


def cabinets(session: Session, scope: Scope, items: list[sa.Row]) -> list[dict[str, object]]:
    by_cabinet: dict[int, list[sa.Row]] = defaultdict(list)
    for item in items:
        by_cabinet[item.cabinet_id].append(item)
    query = (sa.select(Cabinet).order_by(Cabinet.id)
             .where(Cabinet.created_at < scope.until,
                    sa.or_(Cabinet.deleted_at.is_(None), Cabinet.deleted_at >= scope.since)))
    if scope.organisation_id is not None:
        query = query.where(Cabinet.organisation_id == scope.organisation_id)
    rows = []
    for cabinet in session.scalars(query):
        items = by_cabinet.get(cabinet.id, [])
        if not items and scope.kind is not None and scope.kind.value not in cabinet.kinds:
            continue
        accepted = [i for i in items if i.status is ItemStatus.accepted]
        rows.append({
            "cabinet_id": cabinet.id, "name": cabinet.name, "offered": len(items), "accepted": len(accepted),
            "acceptance_rate": acceptance(items),
            "capacity_declared": cabinet.batch_size * (_days_taking_part(cabinet, scope) // cabinet.cadence_days)
            if cabinet.channels else None,
            "people_accepted": sum(i.people for i in accepted),
        })
    return rows


def _days_taking_part(cabinet: Cabinet, scope: Scope) -> int:
    """The period's days from the cabinet's creation to its removal, both counted."""
    first = max(scope.start, scope.day(cabinet.created_at))
    last = min(scope.end, scope.day(cabinet.deleted_at)) if cabinet.deleted_at else scope.end
    return max((last - first).days + 1, 0)


def rates(flowed: dict[tuple[str, str], Counter[str]], offered: dict[str, object]) -> dict[str, float | None]:
    """Resolution: of the requests gone out in the period (``flows``), the share matched. Acceptance: of the
    items answered (``offers``), the share accepted."""
    out: Counter[str] = Counter()
    for counts in flowed.values():
        out.update({key: counts[key] for key in OUT})
    closed = sum(out.values())
    answered = offered["accepted"] + offered["declined"] + offered["expired"]  # type: ignore[operator]
    return {
        "resolution_rate": round(out["matched"] / closed, 3) if closed else None,
        "acceptance_rate": round(offered["accepted"] / answered, 3) if answered else None,  # type: ignore[operator]
    }


def months_between(start: date, end: date) -> list[str]:
    """Every month the period touches, in order."""
    months, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    return months
