"""Setting a territory, and routing homes to organisations with an index every process keeps current."""

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, NoReturn

import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy.orm import Session, undefer_group

from lac_service.auth.models import Organisation
from lac_service.errors import ServiceNotConfigured
from lac_service.geography.territories import OverlappingTerritories, Territory, TerritoryIndex

log = logging.getLogger(__name__)

WITH_TERRITORIES = sa.select(Organisation).options(undefer_group("territory"))
_TERRITORIES_LOCK = 0x4C414354  # "LACT"


def territory_of(organisation: Organisation) -> Territory | None:
    geometry = Territory.from_geojson(organisation.territory_geojson) if organisation.territory_geojson else None
    codes = frozenset(organisation.territory_postal_codes or ())
    communes = frozenset((code, name) for code, name in organisation.territory_communes or ())
    if geometry is None and not codes and not communes:
        return None
    return Territory(geometry=geometry.geometry if geometry else None, postal_codes=codes, communes=communes)


def _territories(organisations: list[Organisation]) -> dict[int, Territory]:
    return {o.id: t for o in organisations if (t := territory_of(o)) is not None}


def _refuse_overlap(organisation: Organisation, territory: Territory, others: list[Organisation]) -> None:
    """Checked against all at once; when two others already overlap (stored before this check, or by hand),
    against each of them alone, so that this organisation is judged on its own territory only."""
    theirs = _territories(others)
    try:
        TerritoryIndex(theirs | {organisation.id: territory})
        return
    except OverlappingTerritories as overlap:
        if organisation.id in (overlap.first, overlap.second):
            _blame(overlap, organisation, others)
        _log(overlap)
    for other_id, other in theirs.items():
        try:
            TerritoryIndex({other_id: other, organisation.id: territory})
        except OverlappingTerritories as overlap:
            _blame(overlap, organisation, others)


def _log(overlap: OverlappingTerritories) -> None:
    """For the operator: only an administrator of the database can correct territories stored overlapping."""
    log.error("the territories of organisations %s and %s overlap: %s", overlap.first, overlap.second, overlap.where)


def _blame(overlap: OverlappingTerritories, organisation: Organisation, others: list[Organisation]) -> NoReturn:
    other = next(o for o in others if o.id in (overlap.first, overlap.second) and o.id != organisation.id)
    raise OverlappingTerritories(
        overlap.first, overlap.second, overlap.where, field="territory",
        message=f"Ce territoire chevauche celui de « {other.name} » ({other.slug}) : {overlap.where}.") from overlap


def set_territory(
    session: Session, organisation: Organisation, *, geojson: dict[str, Any] | None,
    postal_codes: list[str] | None, communes: list[tuple[str, str]] | None, now: datetime,
) -> Organisation:
    """Validates the territory and refuses it when it overlaps another organisation's; none clears it.
    ``communes``: (postal code, name) pairs, kept as the gazetteer spells them."""
    territory = Territory(
        geometry=Territory.from_geojson(geojson).geometry if geojson is not None else None,
        postal_codes=Territory.from_postal_codes(postal_codes).postal_codes if postal_codes else frozenset(),
        communes=Territory.from_communes(communes).communes if communes else frozenset(),
    )
    if session.get_bind().dialect.name == "postgresql":  # two at once would each pass against the other's old one
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_TERRITORIES_LOCK)))  # SQLite: one writer already
    _refuse_overlap(organisation, territory, list(session.scalars(  # in id order: the older one is named first
        WITH_TERRITORIES.where(Organisation.id != organisation.id).order_by(Organisation.id))))
    organisation.territory_geojson = geojson
    organisation.territory_postal_codes = sorted(territory.postal_codes) or None
    organisation.territory_communes = [list(pair) for pair in sorted(territory.communes)] or None
    organisation.territory_updated_at = now
    session.flush()
    return organisation


def _lenient_index(territories: dict[int, Territory]) -> TerritoryIndex:
    """Registrations go on when two stored territories overlap: what both hold goes to the smaller id, and
    the operator is told, once per rebuild."""
    try:
        return TerritoryIndex(territories)
    except OverlappingTerritories as overlap:
        _log(overlap)
        return TerritoryIndex(territories, refuse_overlaps=False)


@dataclass(frozen=True)
class Routed:
    organisation_id: int | None  # None: no territory holds the home
    territories_exist: bool


class Router:
    """The territory index, rebuilt when any organisation's territory changed (in any process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: tuple[int, datetime | None] | None = None
        self._index: TerritoryIndex | None = None

    def _current(self, session: Session) -> TerritoryIndex | None:
        changed = Organisation.territory_updated_at
        version = tuple(session.execute(sa.select(sa.func.count(changed), sa.func.max(changed))).one())
        with self._lock:
            if version != self._version:
                territories = _territories(list(session.scalars(WITH_TERRITORIES)))
                self._index = _lenient_index(territories) if territories else None
                self._version = version  # type: ignore[assignment]
            return self._index

    def route(self, session: Session, *, lat: float, lon: float, postal_code: str, city: str | None = None) -> Routed:
        index = self._current(session)
        if index is None:
            return Routed(organisation_id=None, territories_exist=False)
        return Routed(organisation_id=index.route(lat, lon, postal_code, city), territories_exist=True)


def set_contact(session: Session, organisation: Organisation, *, phone: str | None, email: str | None) -> None:
    organisation.contact_phone, organisation.contact_email = phone, email
    session.flush()


def home_organisation(
    session: Session, router: Router, *, lat: float, lon: float, postal_code: str, city: str | None,
    caller_organisation_id: int | None, default_slug: str | None,
) -> tuple[int, bool]:
    """The organisation a new request belongs to, and whether it fell outside every territory.

    The territory holding the home wins, whoever registers the patient. Otherwise: the configured default
    organisation (the regional platform), else the caller's own, else the only organisation there is.
    """
    routed = router.route(session, lat=lat, lon=lon, postal_code=postal_code, city=city)
    if routed.organisation_id is not None:
        return routed.organisation_id, False
    outside = routed.territories_exist
    if default_slug:
        default = session.scalar(sa.select(Organisation.id).where(Organisation.slug == default_slug))
        if default is not None:
            return default, outside
    if caller_organisation_id is not None:
        return caller_organisation_id, outside
    only = session.scalars(sa.select(Organisation.id).order_by(Organisation.id).limit(2)).all()
    if len(only) == 1:
        return only[0], outside
    raise ServiceNotConfigured()


async def get_router(request: Request) -> Router:
    router: Router = request.app.state.territory_router
    return router


TerritoryRouter = Annotated[Router, Depends(get_router)]
