""""Send me a batch now", from the practitioner's standing page or from the coordination, answered at once by a
round of that cabinet alone (``ask_batch``). Here rather than beside the cabinets' and the standing page's other
routes, because answering it is a matching round."""

from fastapi import APIRouter

from lac_service.auth.dependencies import AuthenticatedCaller
from lac_service.auth.models import Role
from lac_service.cabinets import service as cabinets
from lac_service.cabinets.schemas import CabinetRead
from lac_service.cabinets.views import to_read
from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES, Conflict, RoundRunning
from lac_service.kit.clock import Now
from lac_service.kit.fields import RecordId
from lac_service.links import AppLinks, LinkToken
from lac_service.matching.service import Asked, AskResult, ask_batch
from lac_service.offers.schemas import PractitionerPage
from lac_service.offers.views import practitioner_view
from lac_service.ratelimit import LinkRateLimit

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

_NOTHING_DONE = {
    Asked.unanswered: "Des patients proposés à ce cabinet attendent encore sa réponse : une nouvelle proposition "
                      "se demande une fois ceux-là traités.",
    Asked.paused: "Ce cabinet est en pause : reprenez sa participation pour lui proposer des patients.",
}


def _answered(result: AskResult) -> None:
    """409, saying why, while answers are owed; for a running round or a pause, only when nothing is kept."""
    if result.outcome is Asked.busy and not result.kept:
        raise RoundRunning()
    if result.outcome is Asked.unanswered or (result.outcome in _NOTHING_DONE and not result.kept):
        raise Conflict(_NOTHING_DONE[result.outcome])


@router.post("/cabinets/{cabinet_id}/batch-request", response_model=CabinetRead, tags=["cabinets"],
             summary="Ask for a batch now")
def batch_request(cabinet_id: RecordId, session: DbSession, caller: AuthenticatedCaller, settings: AppSettings,
                  links: AppLinks, now: Now) -> CabinetRead:
    """Whatever its cadence. Served at once when someone waiting is within reach: `last_batch_at` is now. Not
    served, a cabinet told of its batches keeps the ask (`batch_requested_at`), which the next round serves; one
    in browse mode keeps nothing. 409 while patients offered to it still wait for its answer, and, when nothing
    is kept, while another round runs or the cabinet is paused."""
    caller.require(Role.admin, Role.coordinator)
    cabinet = cabinets.get_cabinet(session, cabinet_id, visible_to=caller.scope)
    _answered(ask_batch(session, cabinet, settings=settings, links=links, now=now, actor=f"apikey:{caller.api_key_id}"))
    return to_read(cabinet)


@router.post("/practitioner/{token}/batch-request", response_model=PractitionerPage, tags=["practitioner"],
             summary="Ask for a batch now", dependencies=[LinkRateLimit],
             operation_id="batch_request_api_v1_practitioner__token__batch_request_post")  # as generated clients know it
def practitioner_batch_request(token: LinkToken, session: DbSession, settings: AppSettings, links: AppLinks,
                               now: Now) -> PractitionerPage:
    """The batch made is among `offers` at once; the rest as for the coordination's ask, except that a paused
    cabinet asking resumes."""
    cabinet = cabinets.find_by_link(session, token)
    _answered(ask_batch(session, cabinet, settings=settings, links=links, now=now, actor=f"cabinet:{cabinet.id}",
                        resume=True))
    return practitioner_view(session, cabinet, links, now)
