"""``/api/v1/practitioner/{token}``: a cabinet's standing page, reached by its link alone. It lists the open
batches (with their links) and pauses or resumes participation — the way in for a cabinet in browse mode,
which receives no message. Asking for a batch now is a matching round: ``matching/ask_router.py``."""


from fastapi import APIRouter

from lac_service.cabinets import service as cabinets
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES
from lac_service.kit.clock import Now
from lac_service.kit.fields import Input
from lac_service.links import AppLinks, LinkToken
from lac_service.offers.schemas import PractitionerPage
from lac_service.offers.views import practitioner_view
from lac_service.ratelimit import LinkRateLimit

router = APIRouter(prefix="/api/v1/practitioner", tags=["practitioner"], responses=ERROR_RESPONSES,
                   dependencies=[LinkRateLimit])


class ParticipationIn(Input):
    paused: bool


@router.get("/{token}", response_model=PractitionerPage, summary="The cabinet's standing page")
def read(token: LinkToken, session: DbSession, links: AppLinks, now: Now) -> PractitionerPage:
    """No key: the link is the credential. Unknown, revoked or forged links answer 404 alike."""
    return practitioner_view(session, cabinets.find_by_link(session, token), links, now)


@router.put("/{token}/participation", response_model=PractitionerPage, summary="Pause or resume participation")
def participation(token: LinkToken, body: ParticipationIn, session: DbSession, links: AppLinks, now: Now) -> PractitionerPage:
    """A paused cabinet gets no batch; batches already sent stay open until answered or expired."""
    cabinet = cabinets.set_paused(session, cabinets.find_by_link(session, token), paused=body.paused, now=now)
    return practitioner_view(session, cabinet, links, now)

