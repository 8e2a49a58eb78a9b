"""``/api/v1/organisations``: an organisation and its territory."""

from fastapi import APIRouter

from lac_service.auth.dependencies import AuthenticatedCaller
from lac_service.auth.models import Organisation, Role
from lac_service.auth.service import get_organisation_by_slug
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES, NotFound
from lac_service.kit.clock import Now
from lac_service.organisations.schemas import OrganisationRead, TerritoryIn, TerritoryOut
from lac_service.organisations.service import set_territory

router = APIRouter(prefix="/api/v1/organisations", tags=["organisations"], responses=ERROR_RESPONSES)


def _to_read(organisation: Organisation) -> OrganisationRead:
    has_territory = organisation.territory_geojson or organisation.territory_postal_codes
    return OrganisationRead(
        slug=organisation.slug, name=organisation.name,
        territory=TerritoryOut(
            geojson=organisation.territory_geojson, postal_codes=organisation.territory_postal_codes or []
        ) if has_territory else None,
    )


def _own(session: DbSession, slug: str, caller: AuthenticatedCaller) -> Organisation:
    organisation = get_organisation_by_slug(session, slug)
    if not caller.can_see(organisation.id):
        raise NotFound(f"Organisation « {slug} » introuvable.")
    return organisation


@router.get("/{slug}", response_model=OrganisationRead, summary="Read an organisation and its territory")
def read(slug: str, session: DbSession, caller: AuthenticatedCaller) -> OrganisationRead:
    caller.require(Role.admin, Role.coordinator, Role.secretary)
    return _to_read(_own(session, slug, caller))


@router.put("/{slug}/territory", response_model=OrganisationRead, summary="Set an organisation's territory")
def put_territory(
    slug: str, body: TerritoryIn, session: DbSession, caller: AuthenticatedCaller, now: Now
) -> OrganisationRead:
    """Refused (409) when it overlaps another organisation's territory; new requests are routed by it."""
    caller.require(Role.admin, Role.coordinator)
    organisation = _own(session, slug, caller)
    return _to_read(set_territory(session, organisation, geojson=body.geojson, postal_codes=body.postal_codes, now=now))
