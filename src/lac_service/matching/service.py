"""A matching round: lock, refresh priorities, load the queue and the due cabinets, run the engine per
organisation, and persist the round, its offers and the reasons of the unmatched in one transaction.

Rounds run one at a time: on PostgreSQL a transaction-level advisory lock (a second round answers 409 at
once); on SQLite a write to a lock row, which SQLite's single writer serialises (a second round waits).
Whatever the lock, the unique index on pending offer items makes two pending offers of one request
impossible.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from lac_service.auth.models import Organisation
from lac_service.cabinets.models import Cabinet
from lac_service.cabinets.service import is_due, set_paused
from lac_service.config import Settings
from lac_service.errors import NotFound, RoundRunning
from lac_service.geography.distance import bounding_box
from lac_service.intake.models import PatientRequest, Status
from lac_service.intake.ranking import rescore
from lac_service.kinds import Kind
from lac_service.links import Links
from lac_service.matching import engine
from lac_service.matching.models import MatchingRound, UnmatchedRequest
from lac_service.offers.models import Offer, OfferItem
from lac_service.offers.service import (
    NewOffer, Seat, awaits_answers, cancel_orphans, create_offers, expire_offers, refused_pairs,
)
from lac_service.priority import rank_order

Engine = Literal["greedy", "optimal"]
KIND_CODES = {Kind.medecin_traitant: 0, Kind.bilan_orthophonique: 1}
_ADVISORY_KEY = 0x4C41434D  # "LACM"


@dataclass(frozen=True)
class Batch:
    cabinet_id: int
    request_ids: list[int]
    people: int
    offer_id: int | None = None
    url: str | None = None  # the offer's link
    expires_at: datetime | None = None


@dataclass
class RoundResult:
    rounds: list[MatchingRound] = field(default_factory=list)  # one per organisation; none for a dry run
    batches: list[Batch] = field(default_factory=list)
    unmatched: dict[int, str] = field(default_factory=dict)  # request id → reason
    requests_considered: int = 0
    cabinets_due: int = 0

    @classmethod
    def of(cls, results: Sequence["RoundResult"]) -> "RoundResult":
        """Several organisations' rounds, read as one run."""
        return cls(
            rounds=[r for result in results for r in result.rounds],
            batches=[batch for result in results for batch in result.batches],
            unmatched={request: reason for result in results for request, reason in result.unmatched.items()},
            requests_considered=sum(result.requests_considered for result in results),
            cabinets_due=sum(result.cabinets_due for result in results),
        )


def get_round(session: Session, round_id: int, *, visible_to: int | None) -> MatchingRound:
    """``visible_to`` is the caller's organisation (None: all). A foreign round is reported missing."""
    found = session.get(MatchingRound, round_id)
    if found is None or (visible_to is not None and found.organisation_id != visible_to):
        raise NotFound("Tournée introuvable.")
    return found


def round_offers(session: Session, round_id: int) -> Sequence[Offer]:
    """Cabinet by cabinet, with their items but not the patients' records (a round shows ids and counts)."""
    return session.scalars(
        sa.select(Offer).options(selectinload(Offer.items).raiseload(OfferItem.request))
        .where(Offer.round_id == round_id).order_by(Offer.cabinet_id)
    ).all()


def lock_rounds(session: Session) -> None:
    """Held until the transaction ends; taking it again in the same transaction is harmless.

    On PostgreSQL a second round is refused at once (409). On SQLite this write is the transaction's first
    statement, so it carries the session's ``BEGIN IMMEDIATE``: a second round waits for the first, up to the
    busy timeout, and then runs (and finds what the first one did) or is refused (409)."""
    if session.get_bind().dialect.name == "postgresql":
        if not session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(_ADVISORY_KEY))):
            raise RoundRunning()
        return
    try:
        session.execute(sa.text("UPDATE matching_lock SET taken_at = CURRENT_TIMESTAMP WHERE name = 'round'"))
    except sa.exc.OperationalError:
        raise RoundRunning() from None


def _due_cabinets(session: Session, *, organisation_id: int, kind: Kind | None, now: datetime) -> list[Cabinet]:
    query = sa.select(Cabinet).where(Cabinet.organisation_id == organisation_id, Cabinet.deleted_at.is_(None),
                                     Cabinet.paused.is_(False)).order_by(Cabinet.id)
    return [
        cabinet for cabinet in session.scalars(query)
        if (kind is None or kind.value in cabinet.kinds) and is_due(cabinet, now)
    ]


def _queue(session: Session, *, organisation_id: int, kind: Kind | None, near: Cabinet | None) -> Sequence[sa.Row]:
    """The waiting requests; for one cabinet's round, only those it may take: at national scale its
    organisation's queue is large, and a query filters it far cheaper than the engine."""
    query = sa.select(
        PatientRequest.id, PatientRequest.organisation_id, PatientRequest.kind, PatientRequest.lat,
        PatientRequest.lon, PatientRequest.people_count, PatientRequest.priority_points,
        PatientRequest.waiting_since, PatientRequest.max_distance_km,
    ).where(PatientRequest.organisation_id == organisation_id, PatientRequest.status == Status.waiting,
            PatientRequest.lat.is_not(None))
    if kind is not None:
        query = query.where(PatientRequest.kind == kind)
    if near is not None:
        query = query.where(PatientRequest.kind.in_(near.kinds))
        if box := bounding_box(near.lat, near.lon, near.radius_km):
            south, north, west, east = box
            query = query.where(PatientRequest.lat.between(south, north), PatientRequest.lon.between(west, east))
    return session.execute(query).all()


def _columns(rows: Sequence[sa.Row], refused: dict[int, frozenset[int]], kind: Kind | None) -> engine.Requests:
    ids = np.array([r.id for r in rows], dtype=np.int64)
    waiting = np.array([r.waiting_since.replace(tzinfo=None) for r in rows], dtype="M8[us]")
    order = rank_order(np.array([r.priority_points for r in rows], dtype=np.int64), waiting, ids)
    rank = np.empty(len(rows), dtype=np.int64)
    rank[order] = np.arange(len(rows))
    return engine.Requests(
        ids=ids,
        lat=np.array([r.lat for r in rows], dtype=np.float64),
        lon=np.array([r.lon for r in rows], dtype=np.float64),
        kind=np.array([KIND_CODES[r.kind] for r in rows], dtype=np.int8),
        people=np.array([r.people_count for r in rows], dtype=np.int32),
        rank=rank,
        max_km=np.array([r.max_distance_km for r in rows], dtype=np.float64),
        declined={request_id: refused[request_id] for request_id in ids.tolist() if request_id in refused},
    )


def _cabinet_columns(cabinets: Sequence[Cabinet], kind: Kind | None) -> engine.Cabinets:
    def mask(cabinet: Cabinet) -> int:
        return sum(1 << KIND_CODES[Kind(k)] for k in cabinet.kinds if kind is None or k == kind.value)

    return engine.Cabinets(
        ids=np.array([c.id for c in cabinets], dtype=np.int64),
        lat=np.array([c.lat for c in cabinets], dtype=np.float64),
        lon=np.array([c.lon for c in cabinets], dtype=np.float64),
        kinds=np.array([mask(c) for c in cabinets], dtype=np.uint8),
        radius_km=np.array([c.radius_km for c in cabinets], dtype=np.float64),
        capacity=np.array([c.batch_size for c in cabinets], dtype=np.int32),
    )


def _prepare(session: Session, *, organisation_ids: Sequence[int] | None, kind: Kind | None, now: datetime,
             dry_run: bool) -> None:
    """Takes the rounds' lock and brings the queue up to date: the scores of the day of the organisations about
    to be matched (None: all; one organisation's scheduled round does not re-score the country's queue), and
    the patients of offers past their deadline or closed back in it, whether or not a worker runs that job (a
    dry run leaves them: it keeps nothing)."""
    lock_rounds(session)
    for organisation_id in [None] if organisation_ids is None else organisation_ids:
        rescore(session, now=now, organisation_id=organisation_id, kind=kind)
    if not dry_run:
        expire_offers(session, now=now, wait=True)
    cancel_orphans(session, now=now)


def run_round(
    session: Session, *, organisation_id: int | None, kind: Kind | None, engine_name: Engine, now: datetime,
    actor: str, offer_ttl: timedelta, links: Links, dry_run: bool = False,
) -> RoundResult:
    """Matches within each organisation: its waiting requests with its own due cabinets. Run for every
    organisation (``None``: an admin's), it keeps one round per organisation, as the scheduled rounds do, so
    that each organisation's coordinators see theirs."""
    _prepare(session, organisation_ids=None if organisation_id is None else [organisation_id], kind=kind, now=now,
             dry_run=dry_run)
    organisation_ids = [organisation_id] if organisation_id is not None else session.scalars(
        sa.select(Organisation.id).order_by(Organisation.id)).all()
    return _rounds(session, organisation_ids, kind=kind, engine_name=engine_name, now=now, actor=actor,
                   offer_ttl=offer_ttl, links=links, dry_run=dry_run)


class Asked(StrEnum):
    """What came of "send me a batch now"."""

    served = "served"  # a batch was made: ``AskResult.batch``
    nobody = "nobody"  # nobody waiting within its reach
    unanswered = "unanswered"  # patients offered to it still wait for its answers: none more until then
    paused = "paused"
    busy = "busy"  # another round holds the lock


@dataclass(frozen=True)
class AskResult:
    outcome: Asked
    kept: bool  # the ask stays, for the organisation's next rounds
    batch: Batch | None = None


def ask_batch(session: Session, cabinet: Cabinet, *, settings: Settings, links: Links, now: datetime, actor: str,
              resume: bool = False) -> AskResult:
    """"Send me a batch now", answered at once by a round of this cabinet alone: the same ranking, refusals
    and radii as any round, over the waiting requests its radius may reach.

    Not while patients offered to it still wait for its answers: a double tap, or a link in the wrong hands,
    must not pull the queue into offers nobody answers. A cabinet told of its batches keeps an ask not served
    at once (nobody within reach, paused, another round running): the next round serves it and tells it so.
    One in browse mode keeps nothing, since nothing would tell it: it asks again later. ``resume``: the
    practitioner's own ask resumes a paused cabinet, asking being the clearest sign of having room."""
    session.execute(  # a second tap waits here for the first, then finds its batch (a referral still may not)
        sa.select(Cabinet).where(Cabinet.id == cabinet.id).with_for_update(of=Cabinet, key_share=True)
        .execution_options(populate_existing=True)
    )
    kept = bool(cabinet.channels)
    if awaits_answers(session, cabinet, now=now):
        return AskResult(Asked.unanswered, kept=kept and cabinet.batch_requested_at is not None)
    if resume:
        set_paused(session, cabinet, paused=False, now=now)
    if kept:  # due whatever its cadence until a batch is made for it
        cabinet.batch_requested_at = cabinet.batch_requested_at or now
    if cabinet.paused:
        return AskResult(Asked.paused, kept=kept)
    try:
        lock_rounds(session)
    except RoundRunning:
        return AskResult(Asked.busy, kept=kept)
    # Not a round's whole preparation, which would hold every round's lock over the country's queue: its own
    # organisation only, the night's scores (a policy's change re-scores at once), and an answer being
    # written left to the expiry job.
    expire_offers(session, now=now, organisation_id=cabinet.organisation_id)
    cancel_orphans(session, now=now, organisation_id=cabinet.organisation_id)
    result = _match(session, organisation_id=cabinet.organisation_id, kind=None, engine_name=settings.jobs.match_engine,
                    now=now, actor=actor, offer_ttl=timedelta(days=settings.offer_ttl_days), links=links,
                    dry_run=False, only=cabinet)
    if result.batches:
        return AskResult(Asked.served, kept=False, batch=result.batches[0])
    return AskResult(Asked.nobody, kept=kept)


def run_scheduled_rounds(session: Session, *, organisation_ids: Sequence[int], engine_name: Engine, now: datetime,
                         actor: str, offer_ttl: timedelta, links: Links) -> RoundResult:
    """A round for each of these organisations, on a queue brought up to date once."""
    _prepare(session, organisation_ids=organisation_ids, kind=None, now=now, dry_run=False)
    return _rounds(session, organisation_ids, kind=None, engine_name=engine_name, now=now, actor=actor,
                   offer_ttl=offer_ttl, links=links, dry_run=False)


def _rounds(session: Session, organisation_ids: Sequence[int], *, kind: Kind | None, engine_name: Engine,
            now: datetime, actor: str, offer_ttl: timedelta, links: Links, dry_run: bool) -> RoundResult:
    """A round for each organisation, kept as its own so that its coordinators see it, read as one run."""
    return RoundResult.of([
        _match(session, organisation_id=org, kind=kind, engine_name=engine_name, now=now, actor=actor,
               offer_ttl=offer_ttl, links=links, dry_run=dry_run)
        for org in organisation_ids
    ])


def _match(
    session: Session, *, organisation_id: int, kind: Kind | None, engine_name: Engine, now: datetime,
    actor: str, offer_ttl: timedelta, links: Links, dry_run: bool, only: Cabinet | None = None,
) -> RoundResult:
    """One organisation's round: its waiting requests with its due cabinets (or ``only`` one)."""
    cabinets = [only] if only else _due_cabinets(session, organisation_id=organisation_id, kind=kind, now=now)
    rows = _queue(session, organisation_id=organisation_id, kind=kind, near=only)
    result = RoundResult(requests_considered=len(rows), cabinets_due=len(cabinets))
    refused = refused_pairs(session, now=now, organisation_id=organisation_id, cabinet_id=only.id if only else None)
    match = engine.match_optimal if engine_name == "optimal" else engine.match_greedy
    pairs: list[tuple[int, int, float]] = []
    if rows:
        assignment = match(_columns(rows, refused, kind), _cabinet_columns(cabinets, kind))
        pairs.extend(zip(assignment.request_ids.tolist(), assignment.cabinet_ids.tolist(), assignment.distance_km.tolist(), strict=True))
        if only is None:  # one cabinet's reasons would read as the organisation's (a request it cannot reach is
            # not one no cabinet can): its round keeps only what its batch lost while it ran
            result.unmatched.update(zip(assignment.unmatched_ids.tolist(), assignment.unmatched_reasons, strict=True))
    by_cabinet: dict[int, list[tuple[int, float]]] = {}
    for request_id, cabinet_id, distance in pairs:
        by_cabinet.setdefault(cabinet_id, []).append((request_id, distance))
    people = {r.id: r.people_count for r in rows}
    result.batches = [
        Batch(cabinet_id=c, request_ids=[r for r, _ in seats], people=sum(people[r] for r, _ in seats))
        for c, seats in sorted(by_cabinet.items())
    ]
    if not dry_run and (only is None or result.batches):  # an ask that made nothing leaves no round behind
        _persist(session, result, by_cabinet, cabinets, rows, organisation_id=organisation_id, kind=kind,
                 engine_name=engine_name, now=now, actor=actor, offer_ttl=offer_ttl, links=links,
                 cabinet_id=only.id if only else None)
    return result


CHANGED_DURING_ROUND = "changed_during_round"  # beside the engine's reasons (``engine.REASONS``)


def _persist(
    session: Session, result: RoundResult, by_cabinet: dict[int, list[tuple[int, float]]], cabinets: list[Cabinet],
    rows: Sequence[sa.Row], *, organisation_id: int, kind: Kind | None, engine_name: str, now: datetime,
    actor: str, offer_ttl: timedelta, links: Links, cabinet_id: int | None,
) -> None:
    matching_round = MatchingRound(
        organisation_id=organisation_id, cabinet_id=cabinet_id, kind=kind.value if kind else None,
        engine=engine_name,
        requested_by=actor, started_at=now, finished_at=now, requests_considered=result.requests_considered,
        cabinets_due=result.cabinets_due, requests_offered=0, people_offered=0, summary={},
    )
    session.add(matching_round)
    session.flush()
    by_id = {c.id: c for c in cabinets}
    queue = {r.id: r for r in rows}
    made = create_offers(
        session, round_id=matching_round.id, now=now, ttl=offer_ttl, links=links,
        offers=[
            NewOffer(
                cabinet=by_id[batch.cabinet_id], kinds=sorted({queue[r].kind for r in batch.request_ids}),
                seats=[Seat(r, queue[r].people_count, d) for r, d in by_cabinet[batch.cabinet_id]],
            )
            for batch in result.batches
        ],
    )
    offered = {request_id for m in made for request_id in m.request_ids}
    for batch in result.batches:  # withdrawn, a household grown past the batch, a cabinet gone, while it ran
        result.unmatched.update((r, CHANGED_DURING_ROUND) for r in batch.request_ids if r not in offered)
    matching_round.summary = {"unmatched": dict(Counter(result.unmatched.values())), "offer_ttl_days": offer_ttl.days}
    result.batches = [Batch(m.cabinet_id, m.request_ids, m.people, m.offer_id, m.url, m.expires_at) for m in made]
    matching_round.requests_offered = sum(len(b.request_ids) for b in result.batches)
    matching_round.people_offered = sum(b.people for b in result.batches)
    if result.unmatched:
        session.execute(
            sa.insert(UnmatchedRequest),
            [{"round_id": matching_round.id, "request_id": r, "reason": reason} for r, reason in result.unmatched.items()],
        )
    result.rounds.append(matching_round)
    session.flush()
