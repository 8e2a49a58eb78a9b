"""``/api/v1/stats``: the indicators of the caller's organisation (admins: all, or one), as JSON or CSV."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from lac_service.auth.dependencies import AuthenticatedCaller
from lac_service.auth.models import Organisation, Role
from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES
from lac_service.kinds import Kind
from lac_service.kit.clock import Now
from lac_service.kit.fields import Day
from lac_service.organisations.schedule import zone_of
from lac_service.stats.indicators import Scope
from lac_service.stats.report import build, to_csv
from lac_service.stats.schemas import StatsOut

router = APIRouter(prefix="/api/v1", tags=["stats"], responses=ERROR_RESPONSES)


def _scope(session: DbSession, caller: AuthenticatedCaller, now: Now, settings: AppSettings, organisation: str | None,
           kind: Kind | None, start: date | None, end: date | None) -> tuple[Scope, str | None]:
    caller.require(Role.admin, Role.coordinator)
    found = caller.named_organisation(session, organisation)
    if found is None and caller.scope is not None:
        found = session.get(Organisation, caller.scope)
    scope = Scope.asked(found.id if found else None, kind, start, end, now=now, zone=zone_of(found, settings.jobs))
    return scope, found.slug if found else None


OrganisationSlug = Annotated[str | None, Query(max_length=64, description="Admins only: one organisation's slug.")]
Start = Annotated[Day | None, Query(description="First day (default: 364 days before `end`).")]
End = Annotated[Day | None, Query(description="Last day, included (default: today).")]


@router.get("/stats", response_model=StatsOut, summary="Indicators: flows, waiting, waits, offers, cabinets")
def stats(session: DbSession, caller: AuthenticatedCaller, now: Now, settings: AppSettings,
          organisation: OrganisationSlug = None, kind: Kind | None = None, start: Start = None,
          end: End = None) -> StatsOut:
    """Coordinators see their organisation's; admins every organisation's, or one's with `organisation`. Days
    and months are the organisation's own, in its rounds' time zone (all organisations: the deployment's)."""
    scope, slug = _scope(session, caller, now, settings, organisation, kind, start, end)
    return build(session, scope, organisation=slug, now=now)


@router.get("/stats.csv", summary="The same indicators as a CSV table", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def stats_csv(session: DbSession, caller: AuthenticatedCaller, now: Now, settings: AppSettings,
              organisation: OrganisationSlug = None, kind: Kind | None = None, start: Start = None,
              end: End = None) -> Response:
    scope, slug = _scope(session, caller, now, settings, organisation, kind, start, end)
    body = to_csv(build(session, scope, organisation=slug, now=now))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="indicateurs.csv"'})

