"""``/api/v1/cabinets``: coordinators manage their organisation's cabinets; secretaries may look."""

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from lac_service.auth.dependencies import AuthenticatedCaller, Caller
from lac_service.auth.models import Role
from lac_service.cabinets import service
from lac_service.cabinets.models import Cabinet
from lac_service.cabinets.schemas import CabinetCreate, CabinetRead, CabinetUpdate, PractitionerLink
from lac_service.cabinets.views import to_read
from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES
from lac_service.idempotency import IdempotencyKey, run_once
from lac_service.geography.geocoder import AppGeocoder, Located, check_in_france
from lac_service.kit.clock import Now
from lac_service.kit.fields import RecordId
from lac_service.kit.pagination import Limit, Offset, Page
from lac_service.links import AppLinks

router = APIRouter(prefix="/api/v1/cabinets", tags=["cabinets"], responses=ERROR_RESPONSES)

_MANAGERS = (Role.admin, Role.coordinator)
_READERS = (Role.admin, Role.coordinator, Role.secretary)


def _load(session: DbSession, cabinet_id: RecordId, caller: Caller, roles: tuple[Role, ...]) -> Cabinet:
    caller.require(*roles)
    return service.get_cabinet(session, cabinet_id, visible_to=caller.scope)


@router.post("", status_code=201, response_model=CabinetRead, summary="Register a volunteering cabinet")
def create(
    body: CabinetCreate, session: DbSession, caller: AuthenticatedCaller, settings: AppSettings, now: Now,
    geocoder: AppGeocoder, idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Located from the address when no coordinates are given."""
    caller.require(*_MANAGERS)
    place = geocoder.locate_input(body.address, body.location, field="")
    named = caller.named_organisation(session, body.organisation)
    organisation_id = named.id if named else caller.organisation_id
    assert organisation_id is not None

    def action() -> tuple[CabinetRead, str]:
        cabinet = service.create_cabinet(session, data=body, place=place, organisation_id=organisation_id, now=now)
        return to_read(cabinet), f"cabinet:{cabinet.id}"

    return run_once(
        session, scope=f"apikey:{caller.api_key_id}", key=idempotency_key, payload=body, action=action,
        status_code=201, now=now, ttl=settings.idempotency_ttl,
    )


@router.get("", response_model=Page[CabinetRead], summary="List the organisation's cabinets")
def list_(
    session: DbSession, caller: AuthenticatedCaller, settings: AppSettings, limit: Limit = None, offset: Offset = 0
) -> Page[CabinetRead]:
    caller.require(*_READERS)
    limit = limit or settings.default_page_size
    rows, total = service.list_cabinets(
        session, organisation_id=caller.scope,
        limit=limit, offset=offset,
    )
    return Page[CabinetRead](items=[to_read(c) for c in rows], total=total, limit=limit, offset=offset)


@router.get("/{cabinet_id}", response_model=CabinetRead, summary="Read one cabinet")
def read(cabinet_id: RecordId, session: DbSession, caller: AuthenticatedCaller) -> CabinetRead:
    return to_read(_load(session, cabinet_id, caller, _READERS))


@router.patch("/{cabinet_id}", response_model=CabinetRead, summary="Change a cabinet's settings")
def update(
    cabinet_id: RecordId, body: CabinetUpdate, session: DbSession, caller: AuthenticatedCaller, now: Now,
    geocoder: AppGeocoder,
) -> CabinetRead:
    """A new address is located again, unless coordinates come with it."""
    place = None
    if body.address is not None:
        place = geocoder.locate_input(body.address, body.location, field="")
    elif body.location is not None:
        check_in_france(body.location.lat, body.location.lon, field="location")
        place = Located(body.location.lat, body.location.lon, "exact", department="")
    cabinet = _load(session, cabinet_id, caller, _MANAGERS)
    return to_read(service.update_cabinet(session, cabinet, data=body, place=place, now=now))


@router.get("/{cabinet_id}/link", response_model=PractitionerLink, summary="The practitioner's standing link")
def link(cabinet_id: RecordId, session: DbSession, caller: AuthenticatedCaller, links: AppLinks) -> PractitionerLink:
    """The page where the practitioner sees their open batches, pauses, or asks for a batch now (the way in
    for a cabinet in browse mode, which receives no message). Issued on the first call, the same afterwards."""
    cabinet = _load(session, cabinet_id, caller, _MANAGERS)
    return PractitionerLink(url=service.practitioner_link(session, cabinet, links))


@router.delete("/{cabinet_id}/link", status_code=204, summary="Revoke the practitioner's standing link")
def revoke_link(cabinet_id: RecordId, session: DbSession, caller: AuthenticatedCaller, now: Now) -> Response:
    """For a link gone astray: the old one stops working at once, and so do the links of the batches sent so far,
    which its page listed (their pending patients go back to the queue). The next read issues a new link."""
    service.revoke_link(session, _load(session, cabinet_id, caller, _MANAGERS), now=now)
    return Response(status_code=204)


@router.delete("/{cabinet_id}", status_code=204, summary="Remove a cabinet")
def delete(cabinet_id: RecordId, session: DbSession, caller: AuthenticatedCaller, now: Now) -> Response:
    """Its batches' links stop working; their pending patients go back to the queue."""
    service.delete_cabinet(session, _load(session, cabinet_id, caller, _MANAGERS), now=now)
    return Response(status_code=204)
