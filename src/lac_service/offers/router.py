"""``/api/v1/offers``: the practitioner's side, reached by the link's token alone (no password), and the
coordinator's list of offers and decline reasons."""

from collections import Counter
from datetime import datetime

import sqlalchemy as sa
from fastapi import APIRouter

from lac_service.auth.dependencies import AuthenticatedCaller
from lac_service.auth.models import Role
from lac_service.cabinets.service import practitioner_link
from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES
from lac_service.intake.models import Status
from lac_service.intake.ranking import explain
from lac_service.intake.schemas import ReasonOut
from lac_service.kit.clock import Now
from lac_service.kit.dates import age_on
from lac_service.kit.pagination import Limit, Offset, Page
from lac_service.links import AppLinks, Links, LinkToken
from lac_service.offers import service
from lac_service.offers.models import ItemStatus, Offer, OfferItem
from lac_service.offers.schemas import ContactOut, OfferItemOut, OfferOut, OfferSummary, ResponseIn

router = APIRouter(prefix="/api/v1/offers", tags=["offers"], responses=ERROR_RESPONSES)


def _item(item: OfferItem, reasons: list[ReasonOut], now: datetime) -> OfferItemOut:
    request = item.request
    accepted = item.status is ItemStatus.accepted and request.erased_at is None
    address = f"{request.address_line}, {request.postal_code} {request.city}".strip(", ") if accepted else None
    return OfferItemOut(
        request_id=item.request_id, status=item.status,
        available=request.status in (Status.offered, Status.matched) and request.erased_at is None,
        kind=request.kind, first_name=request.first_name,
        age=age_on(request.birth_date, now.date()) if request.birth_date else None, people=item.people,
        distance_km=round(item.distance_km, 1), priority_reasons=reasons, decline_reason=item.decline_reason,
        contact=ContactOut(
            first_name=request.first_name, last_name=request.last_name, phone=request.phone, email=request.email,
            address=address,
        ) if accepted else None,
    )


def _offer(session: DbSession, offer: Offer, links: Links, now: datetime) -> OfferOut:
    explained = explain(session, [item.request for item in offer.items])
    return OfferOut(
        id=offer.id, cabinet=offer.cabinet.name, created_at=offer.created_at, expires_at=offer.expires_at,
        practitioner_url=practitioner_link(session, offer.cabinet, links),
        items=[
            _item(item, [ReasonOut(**r.as_dict()) for r in explained[item.request_id].reasons]
                  if item.request_id in explained else [], now)
            for item in offer.items
        ],
    )


@router.get("/{token}", response_model=OfferOut, summary="The practitioner's batch, by the link's token")
def read(token: LinkToken, session: DbSession, links: AppLinks, now: Now) -> OfferOut:
    """No key: the token is the credential. Unknown, forged or expired tokens answer 404 alike."""
    return _offer(session, service.find_offer(session, token, now=now), links, now)


@router.post("/{token}/responses", response_model=OfferOut, summary="Accept or decline one patient")
def respond(token: LinkToken, body: ResponseIn, session: DbSession, links: AppLinks, now: Now) -> OfferOut:
    """Accepting tells the patient which cabinet will see them (by SMS and/or email, queued with the answer)."""
    offer = service.find_offer(session, token, now=now)
    service.respond(
        session, offer, request_id=body.request_id, decision=body.decision, reason=body.reason, now=now,
        links=links,
    )
    return _offer(session, offer, links, now)


@router.get("", response_model=Page[OfferSummary], summary="The organisation's offers, newest first")
def list_(
    session: DbSession, caller: AuthenticatedCaller, settings: AppSettings, limit: Limit = None, offset: Offset = 0
) -> Page[OfferSummary]:
    caller.require(Role.admin, Role.coordinator)
    query = sa.select(Offer)
    if not caller.sees_all_organisations:
        query = query.where(Offer.organisation_id == caller.organisation_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    limit = limit or settings.default_page_size
    offers = session.scalars(query.order_by(Offer.id.desc()).limit(limit).offset(offset)).all()
    items = []
    for offer in offers:
        statuses = Counter(item.status for item in offer.items)
        items.append(OfferSummary(
            id=offer.id, round_id=offer.round_id, cabinet_id=offer.cabinet_id, cabinet=offer.cabinet.name,
            created_at=offer.created_at, expires_at=offer.expires_at,
            **{status.value: statuses.get(status, 0) for status in ItemStatus},
            decline_reasons=dict(Counter(i.decline_reason.value for i in offer.items if i.decline_reason)),
        ))
    return Page[OfferSummary](items=items, total=total, limit=limit, offset=offset)
