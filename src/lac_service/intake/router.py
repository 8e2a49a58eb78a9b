"""``/api/v1/requests``: thin HTTP over ``intake.service``."""

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from lac_service.audit import Action
from lac_service.auth.dependencies import STAFF_ROLES, AuthenticatedCaller, Caller, OptionalCaller
from lac_service.auth.models import Role
from lac_service.links import AppLinks
from lac_service.ratelimit import limit_form
from lac_service.config import AppSettings
from lac_service.db import DbSession, read_scope
from lac_service.errors import ERROR_RESPONSES, DuplicateRequest, Forbidden
from lac_service.idempotency import IdempotencyKey, run_once
from lac_service.intake import service
from lac_service.kinds import Kind
from lac_service.intake.models import PatientRequest, Source, Status, WithdrawReason
from lac_service.intake.repository import RequestFilter, Sort, list_requests
from lac_service.intake.schemas import (
    RequestCreate, RequestCreated, RequestRead, RequestStatusRead, RequestUpdate, TrackingLinkSent, WithdrawIn,
)
from lac_service.intake.ranking import explain
from lac_service.intake.views import to_read, to_status_read
from lac_service.geography.geocoder import AppGeocoder
from lac_service.kit.clock import Now
from lac_service.kit.fields import RecordId
from lac_service.intake.placement import place
from lac_service.organisations.service import TerritoryRouter
from lac_service.kit.pagination import Limit, Offset, Page
from lac_service.priority import Band

router = APIRouter(prefix="/api/v1/requests", tags=["requests"], responses=ERROR_RESPONSES)

_READERS = (Role.admin, Role.coordinator, Role.secretary, Role.partner)
_EDITORS = (Role.admin, Role.coordinator, Role.secretary, Role.partner)
_ERASERS = (Role.admin, Role.coordinator, Role.secretary)
_DEFAULT_SOURCE = {Role.secretary: Source.secretary, Role.coordinator: Source.secretary, Role.partner: Source.partner}


def _actor(caller: Caller) -> service.Actor:
    """A partner's key is not the CPTS's staff: urgency is set by the team that interviewed the patient."""
    return service.Actor(label=caller.label, is_staff=caller.role in STAFF_ROLES)


def _read(session: DbSession, request: PatientRequest, now: datetime) -> RequestRead:
    return to_read(request, now, explain(session, [request]).get(request.id))


def _load(session: DbSession, request_id: int, caller: Caller, roles: Iterable[Role], action: Action,
          now: datetime, *, followed_too: bool = False) -> PatientRequest:
    """The record, if the caller may see it; the access is logged."""
    caller.require(*roles)
    request = service.get_request(session, request_id, visible_to=caller.scope, followed_too=followed_too)
    caller.log_access(session, action, [request], now)
    return request


@router.post("", status_code=201, response_model=RequestCreated, summary="Register a patient's request",
             openapi_extra={"security": [{}]})  # added to the key FastAPI lists: without a key too
def create_request(
    body: RequestCreate, session: DbSession, caller: OptionalCaller, settings: AppSettings, now: Now,
    geocoder: AppGeocoder, territories: TerritoryRouter, links: AppLinks, http: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Open to the public (the patient form, `source=form`) and to every API key role.
    The request belongs to the organisation whose territory holds the home (see `organisation` in the
    answer), which may not be the caller's: the caller then follows it at `GET /api/v1/requests/{id}/status`
    and through its webhook, without its personal data. A second active request of the same kind for the same
    person answers 409, with `existing_request_id` for callers with a key."""
    if caller.is_public and body.source not in (None, Source.form):
        raise Forbidden("Seul le formulaire public est ouvert sans clé.", field="source")
    if caller.is_public:
        limit_form(http, now)  # the same count as the web form
    source = Source.form if caller.role is None else body.source or _DEFAULT_SOURCE.get(caller.role, Source.secretary)
    placed = place(session, body.patient, geocoder=geocoder, territories=territories, settings=settings,
                   caller_organisation_id=caller.organisation_id)

    def action() -> tuple[RequestCreated, str]:
        created, tracking_url = service.create_request(
            session, data=body, home=placed.home, organisation_id=placed.organisation_id,
            outside_territory=placed.outside_territory,
            source=source, actor=_actor(caller), max_distance_km=settings.max_distance_default(body.kind),
            now=now, links=links, registered_by=caller.organisation_id,
        )
        if not caller.is_public:
            caller.log_access(session, Action.create, [created], now)
        answer = RequestCreated(**_read(session, created, now).model_dump(), tracking_url=tracking_url)
        return answer, f"request:{created.id}"

    def tracking_again(resource: str) -> str | None:
        return service.tracking_url(session.get(PatientRequest, int(resource.removeprefix("request:"))), links)

    scope = None if caller.is_public else f"apikey:{caller.api_key_id}"
    try:
        return run_once(
            session, scope=scope, key=idempotency_key, payload=body, action=action, status_code=201, now=now,
            ttl=settings.idempotency_ttl, rebuilt={"tracking_url": tracking_again},
        )
    except DuplicateRequest:
        if not caller.is_public:
            raise
        raise DuplicateRequest() from None  # to the public, no record's id: a name and a birth date probe enough


@router.get("", response_model=Page[RequestRead], summary="List requests of the caller's organisation")
def list_(
    session: DbSession, caller: AuthenticatedCaller, settings: AppSettings, now: Now,
    status: Status | None = None,
    kind: Kind | None = None,
    organisation: Annotated[str | None, Query(max_length=64, description="Admin only: an organisation slug.")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Name, phone, e-mail or postal code.")] = None,
    priority_band: Band | None = None,
    sort: Annotated[Sort, Query(description="`priority`: the order patients are served in.")] = Sort.priority,
    limit: Limit = None,
    offset: Offset = 0,
) -> Page[RequestRead]:
    caller.require(*_READERS)
    named = caller.named_organisation(session, organisation)
    organisation_id = named.id if named else caller.scope
    limit = limit or settings.default_page_size
    rows, total = list_requests(
        session, RequestFilter(organisation_id=organisation_id, status=status, kind=kind, text=q, band=priority_band),
        sort=sort,
        limit=limit, offset=offset,
    )
    explained = explain(session, rows)
    caller.log_access(session, Action.list, rows, now)
    items = [to_read(r, now, explained.get(r.id)) for r in rows]
    return Page[RequestRead](items=items, total=total, limit=limit, offset=offset)


@router.get("/{request_id}", response_model=RequestRead, summary="Read one request")
def read(request_id: RecordId, session: DbSession, caller: AuthenticatedCaller, now: Now) -> RequestRead:
    return _read(session, _load(session, request_id, caller, _READERS, Action.read, now), now)


@router.get("/{request_id}/status", response_model=RequestStatusRead, summary="Follow a request's status")
def read_status(request_id: RecordId, session: DbSession, caller: AuthenticatedCaller, now: Now) -> RequestStatusRead:
    """For the organisation it belongs to, and for the one that registered it when the patient's home put it
    in another's hands: its status and history, without personal data."""
    return to_status_read(_load(session, request_id, caller, _READERS, Action.read_status, now, followed_too=True))


@router.patch("/{request_id}", response_model=RequestRead, summary="Change a request's details")
def update(
    request_id: RecordId, body: RequestUpdate, session: DbSession, caller: AuthenticatedCaller, now: Now,
    http: Request, geocoder: AppGeocoder, territories: TerritoryRouter,
) -> RequestRead:
    """A new address is located again (unless new coordinates come with it); the organisation stays. A
    household replaced while a cabinet is answering for it is refused (`409`, field `household`)."""
    caller.require(*_EDITORS)
    home = None
    patch = body.patient
    if patch is not None and {"address", "location"} & patch.model_fields_set:
        address = patch.address
        if address is None:
            # Coordinates alone changed (or were removed): read the stored address in a short transaction.
            with read_scope(http.app.state.session_factory) as peek:
                address = service.stored_address(service.get_request(peek, request_id, visible_to=caller.scope))
        home = geocoder.locate_input(address, patch.location, field="patient")
    request = _load(session, request_id, caller, _EDITORS, Action.update, now)
    return _read(
        session, service.update_request(session, request, data=body, home=home, actor=_actor(caller), now=now,
                                        territories=territories), now
    )


@router.post("/{request_id}/withdraw", response_model=RequestRead, summary="Take a request off the queue")
def withdraw(
    request_id: RecordId, session: DbSession, caller: AuthenticatedCaller, now: Now, body: WithdrawIn | None = None
) -> RequestRead:
    request = _load(session, request_id, caller, _EDITORS, Action.withdraw, now)
    reason = WithdrawReason((body or WithdrawIn()).reason.value)
    return _read(session, service.withdraw_request(session, request, reason=reason, actor=_actor(caller), now=now), now)


@router.post("/{request_id}/tracking-link", status_code=202, response_model=TrackingLinkSent,
             summary="Send the patient's tracking link again")
def send_tracking_link(
    request_id: RecordId, session: DbSession, caller: AuthenticatedCaller, now: Now, links: AppLinks,
) -> TrackingLinkSent:
    """To the patient's phone and e-mail, whichever the record has; queued, sent by the dispatcher. The CPTS's
    staff only: a partner's software does not text patients. Asked again within the same minute for the same
    contacts, it goes once. `409` once erased, withdrawn, or merged into another request (named)."""
    request = _load(session, request_id, caller, STAFF_ROLES, Action.send_link, now)
    channels = service.send_tracking_link(session, request, links=links, now=now)
    return TrackingLinkSent(channels=[channel.value for channel in channels])


@router.delete("/{request_id}", status_code=204, summary="Erase a request's personal data")
def erase(request_id: RecordId, session: DbSession, caller: AuthenticatedCaller, now: Now) -> Response:
    """Keeps an anonymous record (kind, dates, status, department, birth year) for the indicators."""
    request = _load(session, request_id, caller, _ERASERS, Action.erase, now)
    service.erase_request(session, request, actor=_actor(caller), now=now)
    return Response(status_code=204)
