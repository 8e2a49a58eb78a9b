"""An offer and a cabinet's standing page as the practitioner reads them, for the API and the screens alike:
ages on the day of reading, contact details only once the patient is accepted."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.cabinets import service as cabinets
from lac_service.cabinets.models import Cabinet
from lac_service.intake.models import Status
from lac_service.intake.ranking import explain
from lac_service.intake.schemas import ReasonOut
from lac_service.kit.dates import age_on
from lac_service.links import Links
from lac_service.notifications.models import UNDELIVERED, Notification, NotificationStatus
from lac_service.offers.models import ItemStatus, Offer, OfferItem
from lac_service.offers.schemas import ContactOut, MemberOut, OfferItemOut, OfferOut, OpenOffer, PractitionerPage
from lac_service.offers.service import MATCH, WITHOUT_ITEMS, offer_url, still_readable, tally, with_cabinet


def _told(session: Session, request_ids: list[int]) -> set[int]:
    """The patients whose match message is on its way or arrived: not refused, not in doubt, not reported
    undelivered (a number that sent STOP, a wrong address). The others the cabinet calls."""
    if not request_ids:
        return set()
    resources = {f"request:{request_id}": request_id for request_id in request_ids}
    N = Notification
    return {resources[resource] for resource in session.scalars(sa.select(N.resource).where(
        N.template == MATCH, N.resource.in_(resources),
        N.status.in_((NotificationStatus.created, NotificationStatus.sending, NotificationStatus.sent)),
        sa.or_(N.delivery_status.is_(None), N.delivery_status.not_in(UNDELIVERED)),
    ))}


def _item(item: OfferItem, reasons: list[ReasonOut], now: datetime, told: set[int]) -> OfferItemOut:
    request = item.request
    accepted = item.status is ItemStatus.accepted and request.erased_at is None
    address = f"{request.address_line}, {request.postal_code} {request.city}".strip(", ") if accepted else None
    household = sorted(request.household, key=lambda member: member.birth_date, reverse=True)  # youngest first
    return OfferItemOut(
        request_id=item.request_id, status=item.status,
        available=request.status in (Status.offered, Status.matched) and request.erased_at is None,
        kind=request.kind, first_name=request.first_name,
        age=age_on(request.birth_date, now.date()) if request.birth_date else None, people=item.people,
        household_ages=[age_on(member.birth_date, now.date()) for member in household],
        distance_km=round(item.distance_km, 1), priority_reasons=reasons, decline_reason=item.decline_reason,
        contact=ContactOut(
            first_name=request.first_name, last_name=request.last_name, phone=request.phone, email=request.email,
            address=address, household=[MemberOut(first_name=member.first_name, last_name=member.last_name,
                                                  birth_date=member.birth_date) for member in household],
            told=item.request_id in told, told_to_call=item.told_to_call,
        ) if accepted else None,
    )


def offer_view(session: Session, offer: Offer, links: Links, now: datetime) -> OfferOut:
    """Past the deadline, only the patients accepted: the page is kept for their contacts."""
    answerable = offer.expires_at > now
    items = [item for item in offer.items if answerable or item.status is ItemStatus.accepted]
    explained = explain(session, [item.request for item in items])
    told = _told(session, [item.request_id for item in items if item.status is ItemStatus.accepted])
    return OfferOut(
        id=offer.id, cabinet=offer.cabinet.name, created_at=offer.created_at, expires_at=offer.expires_at,
        practitioner_url=cabinets.practitioner_link(session, offer.cabinet, links), answerable=answerable,
        items=[
            _item(item, [ReasonOut(**r.as_dict()) for r in explained[item.request_id].reasons]
                  if item.request_id in explained else [], now, told)
            for item in items
        ],
    )


def practitioner_view(session: Session, cabinet: Cabinet, links: Links, now: datetime) -> PractitionerPage:
    offers = session.scalars(
        with_cabinet(sa.select(Offer).options(WITHOUT_ITEMS))
        .where(Offer.cabinet_id == cabinet.id, still_readable(now))
        .order_by(Offer.id.desc())
    ).all()
    tallies = tally(session, offers)
    open_offers = []
    for offer in offers:  # those with patients to answer, or accepted patients to call
        statuses = tallies[offer.id].statuses
        pending = statuses[ItemStatus.pending] if offer.expires_at > now else 0
        if pending or statuses[ItemStatus.accepted]:
            open_offers.append(OpenOffer(
                id=offer.id, url=offer_url(offer, links), created_at=offer.created_at, expires_at=offer.expires_at,
                pending=pending, accepted=statuses[ItemStatus.accepted],
            ))
    due = cabinets.due_from(cabinet) if cabinet.channels else None
    return PractitionerPage(
        cabinet=cabinet.name, kinds=cabinet.kinds, channels=cabinet.channels, paused=cabinet.paused,
        cadence_days=cabinet.cadence_days,
        batch_size=cabinet.batch_size, next_batch_from=max(due, now) if due else None, batch_requested_at=cabinet.batch_requested_at,
        offers=open_offers, referral_url=cabinets.referral_url(session, cabinet, links),
    )
