"""``/api/v1/duplicates``: possible duplicates for a secretary to merge, or to mark as two people."""

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from lac_service.audit import Action
from lac_service.auth.dependencies import AuthenticatedCaller
from lac_service.auth.models import Role
from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES
from lac_service.intake import duplicates, service
from lac_service.intake.models import PatientRequest, Status
from lac_service.intake.ranking import explain
from lac_service.intake.schemas import RequestRead
from lac_service.intake.views import to_read
from lac_service.kinds import Kind
from lac_service.kit.clock import Now
from lac_service.kit.fields import Input, RecordId
from lac_service.kit.pagination import Limit, Offset, Page

router = APIRouter(prefix="/api/v1", tags=["duplicates"], responses=ERROR_RESPONSES)
_STAFF = (Role.admin, Role.coordinator, Role.secretary)


class DuplicateSide(BaseModel):
    id: int
    kind: Kind
    status: Status
    first_name: str | None
    last_name: str | None
    birth_date: date | None
    phone: str | None
    email: str | None
    waiting_since: datetime


class DuplicateOut(BaseModel):
    first: DuplicateSide
    second: DuplicateSide
    reasons: list[str] = Field(description="`names` (the same words, in any order), `email`, `phone`.")


class DistinctIn(Input):
    request_ids: Annotated[list[RecordId], Field(min_length=2, max_length=2)]


class MergeIn(Input):
    duplicate_id: RecordId = Field(description="The request that leaves the queue; this one keeps the older date, "
                                               "and takes the ALD, pregnancy, urgency and household members it had.")


def _side(request: PatientRequest) -> DuplicateSide:
    return DuplicateSide(
        id=request.id, kind=request.kind, status=request.status, first_name=request.first_name,
        last_name=request.last_name, birth_date=request.birth_date, phone=request.phone, email=request.email,
        waiting_since=request.waiting_since,
    )


def _actor(caller: AuthenticatedCaller) -> service.Actor:
    return service.Actor(label=caller.label, is_staff=True)


@router.get("/duplicates", response_model=Page[DuplicateOut], summary="Possible duplicates in the queue")
def list_(session: DbSession, caller: AuthenticatedCaller, settings: AppSettings, now: Now, limit: Limit = None,
          offset: Offset = 0) -> Page[DuplicateOut]:
    """Oldest pairs first."""
    caller.require(*_STAFF)
    limit = limit or settings.default_page_size
    pairs, total = duplicates.possible_duplicates(session, organisation_id=caller.scope, limit=limit, offset=offset)
    caller.log_access(session, Action.list, [r for d in pairs for r in (d.first, d.second)], now)
    return Page[DuplicateOut](items=[DuplicateOut(first=_side(d.first), second=_side(d.second), reasons=d.reasons)
                                     for d in pairs], total=total, limit=limit, offset=offset)


@router.post("/duplicates/distinct", status_code=204, summary="Two requests of two different people")
def distinct(body: DistinctIn, session: DbSession, caller: AuthenticatedCaller, now: Now) -> Response:
    """The pair is no longer flagged."""
    caller.require(*_STAFF)
    pair = [service.get_request(session, i, visible_to=caller.scope) for i in body.request_ids]
    duplicates.mark_distinct(session, pair, actor=_actor(caller), now=now)
    caller.log_access(session, Action.update, pair, now)
    return Response(status_code=204)


@router.post("/requests/{request_id}/merge", response_model=RequestRead, summary="Merge a duplicate into this request")
def merge(request_id: RecordId, body: MergeIn, session: DbSession, caller: AuthenticatedCaller, now: Now) -> RequestRead:
    """The duplicate is withdrawn (reason `merged`); this request keeps the older of the two dates."""
    caller.require(*_STAFF)
    keep = service.get_request(session, request_id, visible_to=caller.scope)
    duplicate = service.get_request(session, body.duplicate_id, visible_to=caller.scope)
    merged = duplicates.merge(session, keep, duplicate, actor=_actor(caller), now=now)
    caller.log_access(session, Action.merge, [keep, duplicate], now)
    return to_read(merged, now, explain(session, [merged]).get(merged.id))
