"""``/api/v1/offers``: the practitioner's side, reached by the link's token alone (no password), and the
coordinator's list of offers and decline reasons."""

import sqlalchemy as sa
from fastapi import APIRouter

from lac_service.auth.dependencies import AuthenticatedCaller
from lac_service.auth.models import Role
from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES
from lac_service.kit.clock import Now
from lac_service.kit.pagination import Limit, Offset, Page
from lac_service.links import AppLinks, LinkToken
from lac_service.offers import service
from lac_service.offers.models import ItemStatus, Offer
from lac_service.offers.service import WITHOUT_ITEMS, tally
from lac_service.offers.schemas import OfferOut, OfferSummary, ResponseIn
from lac_service.offers.views import offer_view
from lac_service.ratelimit import LinkRateLimit

router = APIRouter(prefix="/api/v1/offers", tags=["offers"], responses=ERROR_RESPONSES)


@router.get("/{token}", response_model=OfferOut, summary="The practitioner's batch, by the link's token",
            dependencies=[LinkRateLimit])
def read(token: LinkToken, session: DbSession, links: AppLinks, now: Now) -> OfferOut:
    """No key: the token is the credential. Past its deadline the batch is read-only (`answerable`), and kept 30
    days for the contacts of the patients accepted; then, like unknown or forged tokens, it answers 404."""
    return offer_view(session, service.find_offer(session, token, now=now, to_answer=False), links, now)


@router.post("/{token}/responses", response_model=OfferOut, summary="Accept or decline one patient",
             dependencies=[LinkRateLimit])
def respond(token: LinkToken, body: ResponseIn, session: DbSession, links: AppLinks, now: Now) -> OfferOut:
    """Accepting tells the patient which cabinet will see them (by SMS and/or email, queued with the answer)."""
    offer = service.find_offer(session, token, now=now)
    service.respond(
        session, offer, request_id=body.request_id, decision=body.decision, reason=body.reason, now=now,
        links=links,
    )
    return offer_view(session, offer, links, now)


@router.get("", response_model=Page[OfferSummary], summary="The organisation's offers, newest first")
def list_(
    session: DbSession, caller: AuthenticatedCaller, settings: AppSettings, limit: Limit = None, offset: Offset = 0
) -> Page[OfferSummary]:
    caller.require(Role.admin, Role.coordinator)
    query = sa.select(Offer).options(WITHOUT_ITEMS)
    if caller.scope is not None:
        query = query.where(Offer.organisation_id == caller.scope)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    limit = limit or settings.default_page_size
    offers = session.scalars(query.order_by(Offer.id.desc()).limit(limit).offset(offset)).all()
    tallies = tally(session, offers)
    items = [
        OfferSummary(
            id=offer.id, round_id=offer.round_id, cabinet_id=offer.cabinet_id, cabinet=offer.cabinet.name,
            created_at=offer.created_at, expires_at=offer.expires_at,
            **{status.value: tallies[offer.id].statuses[status] for status in ItemStatus},
            decline_reasons={reason.value: n for reason, n in tallies[offer.id].decline_reasons.items()},
        )
        for offer in offers
    ]
    return Page[OfferSummary](items=items, total=total, limit=limit, offset=offset)
