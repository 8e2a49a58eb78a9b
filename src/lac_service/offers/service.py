"""The offer lifecycle. Every change of an item locks its row (and its request's) first, so that an
accept racing an expiry, or two taps on "accepter", have one effect."""

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session, contains_eager, raiseload, selectinload

from lac_service.cabinets.models import Cabinet
from lac_service.errors import NoLongerAvailable, NotFound
from lac_service.intake.models import PatientRequest, Status, StatusChange
from lac_service.intake.service import SYSTEM, Actor, lock_request, set_status, tell_patient, tracking_url
from lac_service.kinds import Kind
from lac_service.kit.tokens import hash_token
from lac_service.links import LinkKind, Links
from lac_service.notifications.models import Channel
from lac_service.notifications.outbox import Message, drop_unsent, enqueue_new
from lac_service.organisations.webhooks import Change, queue_changes
from lac_service.offers.models import DeclineReason, ItemStatus, Offer, OfferItem

# A decline is final: that cabinet is never offered that patient again. A deadline let pass is not a refusal (the
# practitioner was away, the text went unread): the patient goes to other cabinets first, and may come back to this
# one once ``LAPSED_FOR`` has passed since.
LAPSED_FOR = timedelta(days=30)
MATCH = "match"  # the patient's message when a cabinet accepts them


class Decision(StrEnum):
    accept = "accept"
    decline = "decline"


@dataclass(frozen=True)
class Seat:
    request_id: int
    people: int
    distance_km: float


@dataclass(frozen=True)
class NewOffer:
    cabinet: Cabinet
    kinds: Sequence[Kind]  # the seats' kinds, each once: a cabinet may take both
    seats: Sequence[Seat]


@dataclass(frozen=True)
class MadeOffer:
    offer_id: int
    cabinet_id: int
    request_ids: list[int]
    people: int
    url: str
    expires_at: datetime


_CHUNK = 10_000  # SQLite caps the number of bound parameters


def _chunks(values: Sequence[int], size: int = _CHUNK) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _cabinet_messages(offer_id: int, cabinet: Cabinet, *, count: int, kinds: Sequence[Kind], deadline: datetime,
                      link: str) -> list[Message]:
    """By the channels the cabinet chose; none (browse mode) sends nothing. No patient detail in the text."""
    recipients = [(Channel.sms, phone) for phone in cabinet.phones if Channel.sms.value in cabinet.channels]
    recipients += [(Channel.email, email) for email in cabinet.emails if Channel.email.value in cabinet.channels]
    context = {"count": count, "kinds": [kind.value for kind in kinds], "deadline": deadline, "zone": cabinet.zone,
               "link": link}
    return [
        Message(channel, recipient, "batch_offer", context, f"offer:{offer_id}:{channel.value}:{recipient}",
                resource=f"cabinet:{cabinet.id}", organisation_id=cabinet.organisation_id)  # named in a failure's notice
        for channel, recipient in recipients
    ]


# What a status change written set-wise returns, for its webhooks.
_CHANGED = (PatientRequest.id, PatientRequest.organisation_id, PatientRequest.followed_by_organisation_id)


def _change(row: sa.Row, from_status: Status, to_status: Status, reason: str) -> Change:
    return Change(row.id, row.organisation_id, row.followed_by_organisation_id, from_status, to_status, reason)


def _record(session: Session, changes: list[Change], *, now: datetime) -> None:
    """Status changes written set-wise, as ``intake.service.set_status`` does one by one: the history, and
    the partner's webhook queued in the same transaction."""
    if changes:
        session.execute(sa.insert(StatusChange), [
            {"request_id": c.request_id, "from_status": c.from_status, "to_status": c.to_status, "reason": c.reason,
             "actor": SYSTEM.label, "at": now}
            for c in changes
        ])
        queue_changes(session, changes, now=now)


def _still_serving(session: Session, offers: Sequence[NewOffer], *, now: datetime) -> list[NewOffer]:
    """The offers whose cabinet is still there and taking patients: a removal, a revocation or a pause in
    flight is waited for, then seen (the condition is checked again once the row is locked). ``FOR NO KEY
    UPDATE``: an answer or a referral that points a request at the cabinet does not wait for the round."""
    serving: set[int] = set()
    for chunk in _chunks([offer.cabinet.id for offer in offers]):
        serving.update(session.scalars(
            sa.select(Cabinet.id).where(
                Cabinet.id.in_(chunk), Cabinet.deleted_at.is_(None), Cabinet.paused.is_(False),
                sa.or_(Cabinet.link_revoked_at.is_(None), Cabinet.link_revoked_at <= now),
            ).order_by(Cabinet.id).with_for_update(key_share=True)
        ))
    return [offer for offer in offers if offer.cabinet.id in serving]


def _households(session: Session, request_ids: Sequence[int]) -> dict[int, sa.Row]:
    """Each request still waiting, with its household as it stands now, its rank and its organisations, locked
    until the round commits (in id order; ``FOR NO KEY UPDATE``, as the offer's writes need): an edit made since
    the round read it is seen, and none comes in between."""
    waiting: dict[int, sa.Row] = {}
    for chunk in _chunks(sorted(request_ids)):
        waiting.update((row.id, row) for row in session.execute(
            sa.select(*_CHANGED, PatientRequest.people_count, PatientRequest.priority_points,
                      PatientRequest.waiting_since)
            .where(PatientRequest.id.in_(chunk), PatientRequest.status == Status.waiting)
            .order_by(PatientRequest.id).with_for_update(key_share=True)
        ))
    return waiting


def _fitting(offer: NewOffer, waiting: dict[int, sa.Row]) -> list[Seat]:
    """The seats still waiting, each counting its household as it stands. One grown since the round read it
    may overfill the cabinet's batch: grown households are then left out, the lowest priority first, until the
    batch fits (they wait for the next round); a practitioner never gets more people than they asked for."""
    seats = [replace(seat, people=waiting[seat.request_id].people_count) for seat in offer.seats
             if seat.request_id in waiting]
    excess = sum(seat.people for seat in seats) - offer.cabinet.batch_size
    read = {seat.request_id: seat.people for seat in offer.seats}
    grown = [seat for seat in seats if seat.people > read[seat.request_id]]
    def rank(seat: Seat) -> tuple[int, float, int]:  # the queue's order reversed: the last in it goes first
        row = waiting[seat.request_id]
        return row.priority_points, -row.waiting_since.timestamp(), -row.id

    for seat in sorted(grown, key=rank):
        if excess <= 0:
            break
        seats.remove(seat)
        excess -= seat.people
    return seats


def create_offers(
    session: Session, *, round_id: int, offers: Sequence[NewOffer], now: datetime, ttl: timedelta, links: Links
) -> list[MadeOffer]:
    """A round's batches, written set-wise (a national round makes thousands) in the caller's transaction:
    the requests still waiting become ``offered`` with their history, one offer per cabinet with its items,
    the cabinets' next-batch dates and their messages. A request that left the queue since the round read
    it (withdrawn meanwhile) is left out of its batch rather than offered, and so is a cabinet removed, or
    whose link was revoked, since: its batch would be closed at once, its message sent all the same. A
    household edited meanwhile is offered as edited, if the batch still fits (``_fitting``)."""
    offers = _still_serving(session, offers, now=now)
    waiting = _households(session, [seat.request_id for offer in offers for seat in offer.seats])
    kept = [(offer, seats) for offer in offers if (seats := _fitting(offer, waiting))]
    wanted = [seat.request_id for _, seats in kept for seat in seats]
    for chunk in _chunks(wanted):  # locked and waiting: each one changes
        session.execute(
            sa.update(PatientRequest).where(PatientRequest.id.in_(chunk))
            .values(status=Status.offered, status_changed_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        # A patient being offered is not asked whether they still wait (the night's question, due this morning):
        # not asked at all, so asked again if still due once back in the queue.
        unasked = drop_unsent(session, *(f"request:{i}" for i in chunk), templates=("reconfirmation",))
        if unasked:
            session.execute(
                sa.update(PatientRequest)
                .where(PatientRequest.id.in_([int(resource.removeprefix("request:")) for resource in unasked]))
                .values(reconfirm_asked_at=None).execution_options(synchronize_session=False)
            )
    _record(session, [_change(waiting[request_id], Status.waiting, Status.offered, "offered")
                      for request_id in wanted], now=now)
    if not kept:
        return []
    issued = [links.issue(LinkKind.offer) for _ in kept]
    ids = session.scalars(
        sa.insert(Offer).returning(Offer.id, sort_by_parameter_order=True),
        [{"round_id": round_id, "organisation_id": offer.cabinet.organisation_id, "cabinet_id": offer.cabinet.id,
          "token_hash": link.token_hash, "token_nonce": link.nonce, "created_at": now, "expires_at": now + ttl}
         for (offer, _), link in zip(kept, issued, strict=True)],
    ).all()
    session.execute(sa.insert(OfferItem), [
        {"offer_id": offer_id, "request_id": seat.request_id, "people": seat.people, "distance_km": seat.distance_km,
         "priority_points": waiting[seat.request_id].priority_points, "status": ItemStatus.pending}
        for offer_id, (_, seats) in zip(ids, kept, strict=True) for seat in seats
    ])
    for chunk in _chunks([offer.cabinet.id for offer, _ in kept]):
        # A "send me a batch" made while the round ran (after its ``now``) is for the next round: kept.
        session.execute(sa.update(Cabinet).where(Cabinet.id.in_(chunk)).values(
            last_batch_at=now,
            batch_requested_at=sa.case((Cabinet.batch_requested_at > now, Cabinet.batch_requested_at), else_=None),
        ))
    made, messages = [], []
    for offer_id, (offer, seats), link in zip(ids, kept, issued, strict=True):
        url, people = links.url(LinkKind.offer, link.token), sum(s.people for s in seats)
        made.append(MadeOffer(offer_id, offer.cabinet.id, [s.request_id for s in seats], people, url, now + ttl))
        # "N personnes attendent": a household is its people, as the batch's size counts them.
        messages += _cabinet_messages(offer_id, offer.cabinet, count=people, kinds=offer.kinds, deadline=now + ttl,
                                      link=url)
    enqueue_new(session, messages, now=now)
    return made


# Lists of offers count their items and need no patient: loading the items would load every patient's record
# (household and history included) only to count them. ``raiseload`` makes a forgotten access fail loudly.
WITHOUT_ITEMS = raiseload(Offer.items)
# An offer as its practitioner reads and answers it: each patient's household (the priority's reasons), not
# their history, which only an answer appends to (and so loads, for that one patient).
_AS_OFFERED = selectinload(Offer.items).joinedload(OfferItem.request).lazyload(PatientRequest.history)


@dataclass(frozen=True)
class Tally:
    """An offer's items, counted by status and by decline reason."""

    statuses: Counter[ItemStatus]
    decline_reasons: Counter[DeclineReason]

    @property
    def items(self) -> int:
        return sum(self.statuses.values())


def offered_to(session: Session, request_id: int) -> list[OfferItem]:
    """Every time the request was offered, first first, each with its offer and cabinet: what a secretary
    answers a patient asking who has their file."""
    return list(session.scalars(
        sa.select(OfferItem).join(OfferItem.offer).where(OfferItem.request_id == request_id)
        .options(contains_eager(OfferItem.offer).raiseload(Offer.items), raiseload(OfferItem.request))
        .order_by(OfferItem.id)
    ))


def tally(session: Session, offers: Sequence[Offer]) -> dict[int, Tally]:
    """Offer id → its tally, in one grouped query. An item still pending whose patient left the queue is
    counted cancelled, as the next round will mark it: nobody waits for that answer."""
    tallies = {offer.id: Tally(Counter(), Counter()) for offer in offers}
    left = sa.and_(OfferItem.status == ItemStatus.pending, PatientRequest.status != Status.offered)
    counted_as = sa.case((left, sa.literal(ItemStatus.cancelled, OfferItem.status.type)), else_=OfferItem.status)
    for chunk in _chunks(list(tallies)):
        rows = session.execute(
            sa.select(OfferItem.offer_id, counted_as, OfferItem.decline_reason, sa.func.count())
            .join(PatientRequest, PatientRequest.id == OfferItem.request_id)
            .where(OfferItem.offer_id.in_(chunk))
            .group_by(OfferItem.offer_id, counted_as, OfferItem.decline_reason)
        )
        for offer_id, status, reason, count in rows:
            tallies[offer_id].statuses[status] += count
            if reason is not None:
                tallies[offer_id].decline_reasons[reason] += count
    return tallies


def offer_url(offer: Offer, links: Links) -> str | None:
    """The offer's link rebuilt (the practitioner's page lists its open batches); None when it cannot be."""
    if offer.token_nonce is None:
        return None
    link = links.rebuild(LinkKind.offer, offer.token_nonce)
    offer.token_hash = link.token_hash  # unchanged unless the secret key changed
    return links.url(LinkKind.offer, link.token)


# After its deadline an offer's page stays readable a while, for the contacts of the patients accepted (one
# accepted on the last day must not be lost to the practitioner the next).
KEPT_AFTER_DEADLINE = timedelta(days=30)


def with_cabinet(query: sa.Select[tuple[Offer]]) -> sa.Select[tuple[Offer]]:
    """Joins each offer's cabinet once, for ``still_open`` and ``still_readable``, and fills ``Offer.cabinet``
    from that join (the relationship's own eager load would join it a second time)."""
    return query.join(Offer.cabinet).options(contains_eager(Offer.cabinet))


def still_open(now: datetime) -> sa.ColumnElement[bool]:
    """An offer its practitioner can answer; the query joins ``Cabinet``."""
    return sa.and_(Offer.expires_at > now, sa.not_(Offer.closed))


def still_readable(now: datetime) -> sa.ColumnElement[bool]:
    """An offer its practitioner can read (answered or not); the query joins ``Cabinet``."""
    return sa.and_(Offer.expires_at > now - KEPT_AFTER_DEADLINE, sa.not_(Offer.closed))


def awaits_answers(session: Session, cabinet: Cabinet, *, now: datetime) -> bool:
    """Whether some patient offered to the cabinet still waits for its answer (see ``ask_batch`` for why). A
    patient who left the queue meanwhile (withdrawn, erased) waits for nothing, and the cabinet cannot answer
    for them: their item, pending until the next round cancels it, must not hold the cabinet's asks back."""
    return session.scalar(sa.select(sa.exists().where(
        OfferItem.offer_id == Offer.id, Offer.cabinet_id == Cabinet.id, Cabinet.id == cabinet.id,  # for still_open
        OfferItem.status == ItemStatus.pending, still_open(now),
        OfferItem.request_id == PatientRequest.id, PatientRequest.status == Status.offered,
    )))


def find_offer(session: Session, token: str, *, now: datetime, to_answer: bool = True) -> Offer:
    """A forged, unknown or closed token, or one past its deadline (to answer) or past its reading time, is
    simply not found: the answer tells nothing more."""
    offer = session.scalar(
        with_cabinet(sa.select(Offer).options(_AS_OFFERED))
        .where(Offer.token_hash == hash_token(token), still_open(now) if to_answer else still_readable(now))
    )
    if offer is None:
        raise NotFound("Cette proposition n'est plus ouverte : le délai de réponse est passé, ou le lien est "
                       "incomplet. Les patients non traités sont revenus dans la liste d'attente.")
    return offer


def _locked_item(session: Session, offer: Offer, request_id: int) -> OfferItem:
    item = session.scalar(
        sa.select(OfferItem)
        .where(OfferItem.offer_id == offer.id, OfferItem.request_id == request_id)
        .with_for_update(of=OfferItem).execution_options(populate_existing=True)  # as it is once locked
    )
    if item is None:
        raise NotFound("Ce patient ne fait pas partie de cette proposition.", field="request_id")
    lock_request(session, item.request_id)
    return item


def _tell_patient(session: Session, request: PatientRequest, cabinet: Cabinet, *, links: Links, now: datetime) -> None:
    tell_patient(session, request, MATCH, event="match", link=tracking_url(request, links) or links.site_url,
                 now=now, cabinet_name=cabinet.name, cabinet_phone=cabinet.patient_phone or "")


def respond(
    session: Session, offer: Offer, *, request_id: int, decision: Decision, reason: DeclineReason | None,
    now: datetime, links: Links,
) -> OfferItem:
    """Accept matches the request with the cabinet; decline sends it back to the queue, with a coded reason
    if the practitioner gives one. Repeating the same answer changes nothing; changing an answer already given
    is refused."""
    item = _locked_item(session, offer, request_id)
    wanted = ItemStatus.accepted if decision is Decision.accept else ItemStatus.declined
    if item.status is wanted:
        return item
    if item.status is not ItemStatus.pending or item.request.status is not Status.offered:
        raise NoLongerAvailable(field="request_id")
    actor = Actor(label=f"cabinet:{offer.cabinet_id}", is_staff=True)
    if decision is Decision.accept:
        set_status(session, item.request, Status.matched, actor=actor, now=now, reason="accepted")
        item.request.matched_cabinet_id, item.request.matched_at = offer.cabinet_id, now
        item.told_to_call = offer.cabinet.patient_phone
        _tell_patient(session, item.request, offer.cabinet, links=links, now=now)
    else:
        set_status(session, item.request, Status.waiting, actor=actor, now=now,
                   reason=f"declined:{reason.value}" if reason else "declined")
        item.decline_reason = reason
    item.status, item.responded_at = wanted, now
    session.flush()
    return item


_EXPIRY_CHUNK = 1_000


def expire_offers(session: Session, *, now: datetime, wait: bool = False, organisation_id: int | None = None) -> int:
    """Pending items of offers past their deadline (default 14 days) go back to the queue, and so do those of
    offers closed early (the cabinet left, or revoked its link): a job, and the start of every round.

    Set-wise, a thousand items per statement: a national wave of tens of thousands of patients comes back in
    seconds, where one item at a time held their rows for minutes. An item another transaction holds at that
    moment (an answer being written, another pass) is left to it, unless ``wait``: a round waits, so as to
    start from the whole queue. ``organisation_id``: one organisation's offers only (a cabinet's own ask)."""
    query = (
        sa.select(OfferItem.id).join(Offer).join(Cabinet, Offer.cabinet_id == Cabinet.id)
        .where(OfferItem.status == ItemStatus.pending, sa.not_(still_open(now)))
        .order_by(OfferItem.id)
    )
    if organisation_id is not None:
        query = query.where(Offer.organisation_id == organisation_id)
    due = session.scalars(query).all()
    ended = 0
    for chunk in _chunks(due, _EXPIRY_CHUNK):
        locked = session.execute(
            sa.select(OfferItem.id, OfferItem.request_id, _ran_out(now)).join(Offer)
            .join(Cabinet, Offer.cabinet_id == Cabinet.id)
            .where(OfferItem.id.in_(chunk), OfferItem.status == ItemStatus.pending)  # not answered meanwhile
            .order_by(OfferItem.id).with_for_update(of=OfferItem, skip_locked=not wait)
        ).all()
        if locked:
            _end_items(session, locked, now=now)
            ended += len(locked)
    return ended


def _ran_out(now: datetime) -> sa.ColumnElement[bool]:
    """The offer reached its deadline open; one its cabinet closed before (removed, or its link revoked), even
    if ended only later, was taken back, not let pass. The query joins ``Cabinet``."""
    closed_before = sa.or_(
        sa.and_(Cabinet.deleted_at.is_not(None), Cabinet.deleted_at < Offer.expires_at),
        sa.and_(Cabinet.link_revoked_at.is_not(None), Offer.created_at < Cabinet.link_revoked_at,
                Cabinet.link_revoked_at < Offer.expires_at),
    )
    return sa.and_(Offer.expires_at <= now, sa.not_(closed_before))


def _end_items(session: Session, due: Sequence[tuple[int, int, bool]], *, now: datetime) -> None:
    """Expired: the cabinet let the patient's time pass. Not when the patient had left meanwhile (withdrawn,
    erased), nor when the offer closed early: those are cancelled, and count against no cabinet."""
    back = {row.id: row for row in session.execute(  # those still offered
        sa.update(PatientRequest)
        .where(PatientRequest.id.in_([request_id for _, request_id, _ in due]), PatientRequest.status == Status.offered)
        .values(status=Status.waiting, status_changed_at=now, updated_at=now)
        .returning(*_CHANGED)
    )}
    ended: dict[ItemStatus, list[int]] = {ItemStatus.expired: [], ItemStatus.cancelled: []}
    changes = []
    for item_id, request_id, ran_out in due:
        expired = ran_out and request_id in back
        ended[ItemStatus.expired if expired else ItemStatus.cancelled].append(item_id)
        if request_id in back:
            changes.append(_change(back[request_id], Status.offered, Status.waiting,
                                   "expired" if expired else "offer_closed"))
    _record(session, changes, now=now)
    for status, item_ids in ended.items():
        if item_ids:
            session.execute(sa.update(OfferItem).where(OfferItem.id.in_(item_ids)).values(status=status, responded_at=now))


def cancel_orphans(session: Session, *, now: datetime, organisation_id: int | None = None) -> int:
    """Pending items whose request left the queue (withdrawn, erased) while offered are cancelled; until
    then the offer page already shows them as no longer available, and accepting them is refused.
    ``organisation_id``: one organisation's requests only (a cabinet's own ask)."""
    orphans = sa.select(PatientRequest.id).where(PatientRequest.status != Status.offered)
    if organisation_id is not None:
        orphans = orphans.where(PatientRequest.organisation_id == organisation_id)
    result = session.execute(
        sa.update(OfferItem)
        .where(OfferItem.status == ItemStatus.pending, OfferItem.request_id.in_(orphans))
        .values(status=ItemStatus.cancelled, responded_at=now)
    )
    return result.rowcount or 0


def refused_pairs(session: Session, request_ids: Iterable[int] | None = None, *, now: datetime,
                  organisation_id: int | None = None, cabinet_id: int | None = None) -> dict[int, frozenset[int]]:
    """request id → cabinets that declined it, or let it expire less than ``LAPSED_FOR`` ago (an organisation's,
    or one cabinet, if given)."""
    query = (
        sa.select(OfferItem.request_id, Offer.cabinet_id)
        .join(Offer)
        .where(sa.or_(OfferItem.status == ItemStatus.declined,
                      sa.and_(OfferItem.status == ItemStatus.expired, Offer.expires_at > now - LAPSED_FOR)))
    )
    if request_ids is not None:
        query = query.where(OfferItem.request_id.in_(list(request_ids)))
    if organisation_id is not None:
        query = query.where(Offer.organisation_id == organisation_id)
    if cabinet_id is not None:
        query = query.where(Offer.cabinet_id == cabinet_id)
    pairs: dict[int, set[int]] = defaultdict(set)
    for request_id, cabinet_id in session.execute(query):
        pairs[request_id].add(cabinet_id)
    return {request_id: frozenset(cabinets) for request_id, cabinets in pairs.items()}
