"""``/api/v1/audit``: who read or changed the organisation's patient records — for its coordinators."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from lac_service import audit
from lac_service.audit import Action
from lac_service.auth.dependencies import AuthenticatedCaller
from lac_service.auth.models import Role
from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES
from lac_service.kit.fields import RecordId
from lac_service.kit.pagination import Limit, Offset, Page

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=ERROR_RESPONSES)


class AuditEventOut(BaseModel):
    at: datetime
    actor: str
    actor_organisation_id: int | None
    action: Action
    request_id: int


@router.get("", response_model=Page[AuditEventOut], summary="Accesses to the organisation's patient records")
def list_(
    session: DbSession, caller: AuthenticatedCaller, settings: AppSettings,
    request_id: RecordId | None = None,
    actor: Annotated[str | None, Query(max_length=64, description="`apikey:12`, `user:3`.")] = None,
    limit: Limit = None, offset: Offset = 0,
) -> Page[AuditEventOut]:
    """Newest first. Coordinators see the accesses to their organisation's records; admins all."""
    caller.require(Role.admin, Role.coordinator)
    limit = limit or settings.default_page_size
    rows, total = audit.events(
        session, organisation_id=caller.scope,
        request_id=request_id, actor=actor, limit=limit, offset=offset,
    )
    return Page[AuditEventOut](
        items=[AuditEventOut(at=r.at, actor=r.actor, actor_organisation_id=r.actor_organisation_id, action=r.action,
                             request_id=r.request_id) for r in rows],
        total=total, limit=limit, offset=offset,
    )
