"""``/api/v1/practitioner/{token}``: a cabinet's standing page, reached by its link alone. It lists the open
batches (with their links), pauses or resumes participation, and asks for a batch now — the way in for a
cabinet in browse mode, which receives no message."""

from datetime import datetime

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel, Field

from lac_service.cabinets import service as cabinets
from lac_service.cabinets.models import Cabinet
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES
from lac_service.kinds import Kind
from lac_service.kit.clock import Now
from lac_service.kit.fields import Input
from lac_service.links import AppLinks, Links, LinkToken
from lac_service.offers.models import ItemStatus, Offer
from lac_service.offers.service import offer_url

router = APIRouter(prefix="/api/v1/practitioner", tags=["practitioner"], responses=ERROR_RESPONSES)


class OpenOffer(BaseModel):
    id: int
    url: str | None = Field(description="The batch's page, where each patient is accepted or declined.")
    created_at: datetime
    expires_at: datetime
    pending: int = Field(description="Patients still waiting for an answer.")


class PractitionerPage(BaseModel):
    cabinet: str
    kinds: list[Kind]
    paused: bool
    cadence_days: int
    batch_size: int
    next_batch_from: datetime | None = Field(
        description="When the cadence makes the cabinet due again; null: at the next round."
    )
    batch_requested_at: datetime | None = Field(description="Set: a batch was asked for, due at the next round.")
    offers: list[OpenOffer] = Field(description="Batches not yet expired that still have patients to answer.")


class ParticipationIn(Input):
    paused: bool


def _page(session: DbSession, cabinet: Cabinet, links: Links, now: datetime) -> PractitionerPage:
    offers = session.scalars(
        sa.select(Offer).where(Offer.cabinet_id == cabinet.id, Offer.expires_at > now).order_by(Offer.id.desc())
    ).all()
    open_offers = [
        OpenOffer(id=offer.id, url=offer_url(offer, links), created_at=offer.created_at, expires_at=offer.expires_at,
                  pending=pending)
        for offer in offers
        if (pending := sum(item.status is ItemStatus.pending for item in offer.items))
    ]
    due = cabinets.due_from(cabinet)
    return PractitionerPage(
        cabinet=cabinet.name, kinds=cabinet.kinds, paused=cabinet.paused, cadence_days=cabinet.cadence_days,
        batch_size=cabinet.batch_size, next_batch_from=max(due, now) if due else None, batch_requested_at=cabinet.batch_requested_at,
        offers=open_offers,
    )


@router.get("/{token}", response_model=PractitionerPage, summary="The cabinet's standing page")
def read(token: LinkToken, session: DbSession, links: AppLinks, now: Now) -> PractitionerPage:
    """No key: the link is the credential. Unknown, revoked or forged links answer 404 alike."""
    return _page(session, cabinets.find_by_link(session, token), links, now)


@router.put("/{token}/participation", response_model=PractitionerPage, summary="Pause or resume participation")
def participation(token: LinkToken, body: ParticipationIn, session: DbSession, links: AppLinks, now: Now) -> PractitionerPage:
    """A paused cabinet gets no batch; batches already sent stay open until answered or expired."""
    cabinet = cabinets.set_paused(session, cabinets.find_by_link(session, token), paused=body.paused, now=now)
    return _page(session, cabinet, links, now)


@router.post("/{token}/batch-request", response_model=PractitionerPage, summary="Ask for a batch now")
def batch_request(token: LinkToken, session: DbSession, links: AppLinks, now: Now) -> PractitionerPage:
    """Due at the next round whatever the cadence; asking twice changes nothing. A paused cabinet asking
    for a batch resumes: asking is the clearest sign of having room."""
    cabinet = cabinets.find_by_link(session, token)
    cabinets.set_paused(session, cabinet, paused=False, now=now)
    return _page(session, cabinets.request_batch(session, cabinet, now=now), links, now)
