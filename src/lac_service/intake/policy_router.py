"""``/api/v1/priority-policies/{kind}``: an organisation's priority rules, replaced without a deploy.

Replacing a policy re-scores the organisation's waiting requests of that kind in the same transaction, so
the queue is never shown half in the old order and half in the new.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from lac_service.auth.dependencies import AuthenticatedCaller, Caller
from lac_service.auth.models import Organisation, Role
from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES
from lac_service.intake.ranking import rescore
from lac_service.kinds import Kind
from lac_service.kit.clock import Now
from lac_service.kit.fields import Input
from lac_service.kit.pagination import Limit, Offset, Page
from lac_service.policies import service
from lac_service.priority import Rules, months_to_overtake

router = APIRouter(prefix="/api/v1/priority-policies", tags=["priority"], responses=ERROR_RESPONSES)

OrganisationSlug = Annotated[
    str | None, Query(max_length=64, description="Admin only: another organisation's slug.")
]


class PolicyIn(Input):
    rules: Rules = Field(description="A rule left out is off; see the default policy for the shape.")


class PolicyRead(BaseModel):
    kind: Kind
    organisation: str
    version: int = Field(description="0 is the built-in default.")
    rules: Rules
    months_to_overtake: int | None = Field(
        description="After this many full months, a request ranks ahead of any newer than a month, whatever "
        "their criteria (null: this policy gives no such guarantee)."
    )
    created_at: datetime | None
    created_by: str | None


class PolicyReplaced(PolicyRead):
    rescored: int = Field(description="Waiting requests re-scored with this version.")


def _organisation(session: DbSession, caller: Caller, slug: str | None) -> tuple[int, str]:
    assert caller.organisation_id is not None
    organisation = caller.named_organisation(session, slug) or session.get_one(Organisation, caller.organisation_id)
    return organisation.id, organisation.slug


def _read(versioned: service.VersionedPolicy, slug: str) -> PolicyRead:
    return PolicyRead(
        kind=versioned.policy.kind, organisation=slug, version=versioned.version, rules=versioned.policy.rules,
        months_to_overtake=months_to_overtake(versioned.policy), created_at=versioned.created_at,
        created_by=versioned.created_by,
    )


_READERS = (Role.admin, Role.coordinator, Role.secretary, Role.partner)


@router.get("/{kind}", response_model=PolicyRead, summary="The current priority policy of a kind")
def read(kind: Kind, session: DbSession, caller: AuthenticatedCaller, organisation: OrganisationSlug = None) -> PolicyRead:
    caller.require(*_READERS)
    organisation_id, slug = _organisation(session, caller, organisation)
    return _read(service.current_policy(session, organisation_id=organisation_id, kind=kind), slug)


@router.get("/{kind}/versions", response_model=Page[PolicyRead], summary="Every version, oldest first")
def versions(
    kind: Kind, session: DbSession, caller: AuthenticatedCaller, settings: AppSettings,
    organisation: OrganisationSlug = None, limit: Limit = None, offset: Offset = 0,
) -> Page[PolicyRead]:
    """Version 0 is the default policy, in force before the first change."""
    caller.require(*_READERS)
    organisation_id, slug = _organisation(session, caller, organisation)
    limit = limit or settings.default_page_size
    page, total = service.list_versions(session, organisation_id=organisation_id, kind=kind, limit=limit, offset=offset)
    return Page[PolicyRead](items=[_read(v, slug) for v in page], total=total, limit=limit, offset=offset)


@router.get("/{kind}/versions/{version}", response_model=PolicyRead, summary="One version")
def version(
    kind: Kind, version: Annotated[int, Path(ge=0, le=1_000_000)], session: DbSession, caller: AuthenticatedCaller,
    organisation: OrganisationSlug = None,
) -> PolicyRead:
    caller.require(*_READERS)
    organisation_id, slug = _organisation(session, caller, organisation)
    return _read(service.policy_version(session, organisation_id=organisation_id, kind=kind, version=version), slug)


@router.put("/{kind}", response_model=PolicyReplaced, summary="Replace the priority policy of a kind")
def replace(
    kind: Kind, body: PolicyIn, session: DbSession, caller: AuthenticatedCaller, now: Now,
    organisation: OrganisationSlug = None,
) -> PolicyReplaced:
    """Coordinators and admins only. The old version stays readable; waiting requests are re-scored."""
    caller.require(Role.admin, Role.coordinator)
    organisation_id, slug = _organisation(session, caller, organisation)
    versioned = service.replace_policy(
        session, organisation_id=organisation_id, kind=kind, rules=body.rules, actor=f"apikey:{caller.api_key_id}",
        now=now,
    )
    changed = rescore(session, now=now, organisation_id=organisation_id, kind=kind)
    return PolicyReplaced(**_read(versioned, slug).model_dump(), rescored=changed)
