"""``/api/v1/organisations``: an organisation and its territory."""

from typing import Annotated

from fastapi import APIRouter, Path, Response

from lac_service.auth.dependencies import AuthenticatedCaller
from lac_service.auth.models import Organisation, Role
from lac_service.auth.service import get_organisation_by_slug
from lac_service.config import AppSettings, Environment
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES, NotFound
from lac_service.kit.clock import Now
from lac_service.notifications.webhook import SIGNATURE_HEADER, webhook_key
from lac_service.organisations import webhooks
from lac_service.organisations.schedule import schedule_of, set_schedule
from lac_service.organisations.schemas import (
    CommuneOut, OrganisationContactIn, OrganisationContactOut, OrganisationRead, ScheduleIn, ScheduleOut, TerritoryIn, TerritoryOut, WebhookIn,
    WebhookOut,
)
from lac_service.organisations.service import set_contact, set_territory

Slug = Annotated[str, Path(max_length=64, description="The organisation's identifier, e.g. `cpts-flandre`.")]
router = APIRouter(prefix="/api/v1/organisations", tags=["organisations"], responses=ERROR_RESPONSES)


def _to_read(organisation: Organisation) -> OrganisationRead:
    has_territory = (organisation.territory_geojson or organisation.territory_postal_codes
                     or organisation.territory_communes)
    return OrganisationRead(
        slug=organisation.slug, name=organisation.name,
        contact=OrganisationContactOut(phone=organisation.contact_phone, email=organisation.contact_email),
        territory=TerritoryOut(
            geojson=organisation.territory_geojson, postal_codes=organisation.territory_postal_codes or [],
            communes=[CommuneOut(postal_code=code, city=city) for code, city in organisation.territory_communes or ()],
        ) if has_territory else None,
    )


def _own(session: DbSession, slug: str, caller: AuthenticatedCaller, *, territory: bool = False) -> Organisation:
    organisation = get_organisation_by_slug(session, slug, territory=territory)
    if not caller.can_see(organisation.id):
        raise NotFound(f"Organisation « {slug} » introuvable.")
    return organisation


@router.get("/{slug}", response_model=OrganisationRead, summary="Read an organisation and its territory")
def read(slug: Slug, session: DbSession, caller: AuthenticatedCaller) -> OrganisationRead:
    caller.require(Role.admin, Role.coordinator, Role.secretary)
    return _to_read(_own(session, slug, caller, territory=True))


@router.put("/{slug}/territory", response_model=OrganisationRead, summary="Set an organisation's territory")
def put_territory(
    slug: Slug, body: TerritoryIn, session: DbSession, caller: AuthenticatedCaller, now: Now
) -> OrganisationRead:
    """Refused (409) when it overlaps another organisation's territory; new requests are routed by it."""
    caller.require(Role.admin, Role.coordinator)
    organisation = _own(session, slug, caller, territory=True)
    communes = [(c.postal_code, c.city) for c in body.communes] if body.communes else None
    return _to_read(set_territory(session, organisation, geojson=body.geojson, postal_codes=body.postal_codes,
                                  communes=communes, now=now))


def _webhook_out(organisation: Organisation, settings: AppSettings) -> WebhookOut:
    if organisation.webhook_url is None or organisation.webhook_key_id is None:
        raise NotFound("Aucun webhook n'est enregistré pour cette organisation.")
    key = webhook_key(settings.secret_key.get_secret_value().encode(), organisation.webhook_key_id)
    return WebhookOut(url=organisation.webhook_url, signing_key=key, signature_header=SIGNATURE_HEADER)


@router.get("/{slug}/webhook", response_model=WebhookOut, summary="Read the partner webhook and its signing key")
def read_webhook(slug: Slug, session: DbSession, caller: AuthenticatedCaller, settings: AppSettings) -> WebhookOut:
    caller.require(Role.admin, Role.coordinator, Role.partner)
    return _webhook_out(_own(session, slug, caller), settings)


@router.put("/{slug}/webhook", response_model=WebhookOut, summary="Register the partner webhook")
def put_webhook(
    slug: Slug, body: WebhookIn, session: DbSession, caller: AuthenticatedCaller, settings: AppSettings
) -> WebhookOut:
    """Every later status change of the organisation's requests is POSTed there, signed; deliveries still
    queued follow the new URL and key."""
    caller.require(Role.admin, Role.coordinator, Role.partner)
    organisation = _own(session, slug, caller)  # first: another organisation's caller learns nothing of the URL
    session.rollback()  # nothing written yet; in production the check resolves the host, which no transaction waits on
    url = webhooks.check_url(str(body.url), production=settings.environment is Environment.production)
    webhooks.register(session, organisation, url=url, rotate_key=body.rotate_key)
    return _webhook_out(organisation, settings)


@router.delete("/{slug}/webhook", status_code=204, summary="Remove the partner webhook")
def delete_webhook(slug: Slug, session: DbSession, caller: AuthenticatedCaller) -> Response:
    """Deliveries still queued are dropped."""
    caller.require(Role.admin, Role.coordinator, Role.partner)
    webhooks.unregister(session, _own(session, slug, caller))
    return Response(status_code=204)


def _schedule_out(organisation: Organisation, settings: AppSettings) -> ScheduleOut:
    schedule = schedule_of(organisation.match_at, organisation.timezone, settings.jobs)
    return ScheduleOut(match_at=schedule.labels, timezone=schedule.timezone,
                       own_times=schedule.own_times, own_timezone=schedule.own_timezone)


@router.get("/{slug}/schedule", response_model=ScheduleOut, summary="Read when the daily rounds run")
def read_schedule(slug: Slug, session: DbSession, caller: AuthenticatedCaller, settings: AppSettings) -> ScheduleOut:
    caller.require(Role.admin, Role.coordinator)
    return _schedule_out(_own(session, slug, caller), settings)


@router.put("/{slug}/schedule", response_model=ScheduleOut, summary="Set when the daily rounds run")
def put_schedule(slug: Slug, body: ScheduleIn, session: DbSession, caller: AuthenticatedCaller,
                 settings: AppSettings, now: Now) -> ScheduleOut:
    """The organisation's rounds run at these local times (`lac worker`) from the next one to come: a time
    already past today waits for tomorrow, and a round missed while the worker was down runs once when it is
    back. Its coordinators can still run one at any time."""
    caller.require(Role.admin, Role.coordinator)
    organisation = _own(session, slug, caller)
    set_schedule(session, organisation, match_at=body.match_at, timezone=body.timezone, now=now)
    return _schedule_out(organisation, settings)


@router.put("/{slug}/contact", response_model=OrganisationContactOut, summary="Set how patients reach the organisation")
def put_contact(slug: Slug, body: OrganisationContactIn, session: DbSession, caller: AuthenticatedCaller) -> OrganisationContactOut:
    """Shown on its patients' tracking pages: whom to call about a request, since its messages cannot be answered
    but by OUI or STOP."""
    caller.require(Role.admin, Role.coordinator)
    organisation = _own(session, slug, caller)
    set_contact(session, organisation, phone=body.phone, email=body.email)
    return OrganisationContactOut(phone=organisation.contact_phone, email=organisation.contact_email)
