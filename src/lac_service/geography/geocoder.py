"""Where a home or a cabinet is: given coordinates, else the national address base (BAN) when enabled,
else the offline gazetteer. The precision reached is recorded with the location, so that a coordinator can
tell a door from a postal-code centroid.

BAN is called with no database transaction open (its cache is read and written in short transactions of
their own), with a timeout and a rate limit; any failure of it falls back to the gazetteer, never to an
error for the patient. When BAN itself fails (unreachable, too slow, a 5xx, its rate limit), it is left
alone for ``BAN_PAUSE_S``: while it is down, each registration would otherwise wait out the timeout before
falling back. A query it refuses (400) says nothing about BAN and pauses nothing.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import Depends, Request
from geopy.adapters import URLLibAdapter
from geopy.exc import GeocoderQueryError, GeopyError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import BANFrance
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from lac_service.config import GeocoderSettings
from lac_service.db import Base, read_scope, session_scope
from lac_service.errors import InvalidInput
from lac_service.geography.gazetteer import CityMismatch, Place, UnknownPostalCode, is_in_france, locate
from lac_service.kit.clock import utcnow
from lac_service.kit.fields import Address, Location

log = logging.getLogger(__name__)

Precision = Literal["exact", "address", "commune", "postal_code"]
_STREET_LEVEL = {"housenumber", "street"}
BAN_PAUSE_S = 30


@dataclass(frozen=True)
class Located:
    lat: float
    lon: float
    precision: Precision
    department: str


class GeocodeCache(Base):
    """BAN answers by a hash of the normalised address: the address itself is not kept, but its door is, which
    a map turns back into the address; so an answer serves a day (a retry, a household registered twice) and
    goes at the first nightly purge once a day old (``forget_cached``), not long after the request it located
    is erased."""

    __tablename__ = "geocode_cache"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    lat: Mapped[float]
    lon: Mapped[float]
    created_at: Mapped[datetime]


CACHE_FOR = timedelta(days=1)


def forget_cached(session: Session, *, now: datetime) -> int:
    result = session.execute(sa.delete(GeocodeCache).where(GeocodeCache.created_at < now - CACHE_FOR))
    return result.rowcount or 0  # type: ignore[attr-defined]


async def get_geocoder(request: Request) -> "Geocoder":
    geocoder: Geocoder = request.app.state.geocoder
    return geocoder


AppGeocoder = Annotated["Geocoder", Depends(get_geocoder)]


def check_in_france(lat: float, lon: float, *, field: str) -> None:
    if not is_in_france(lat, lon):
        raise InvalidInput("Ces coordonnées ne sont pas en France (métropole ou outre-mer).", field=field)


def known_place(postal_code: str, city: str, *, field: str) -> Place:
    """The commune a postal code and a city designate; an error names the field at fault, under ``field``."""
    prefix = f"{field}." if field else ""
    try:
        return locate(postal_code, city)
    except UnknownPostalCode as error:
        raise InvalidInput(error.detail, field=f"{prefix}address.postal_code") from error
    except CityMismatch as error:
        raise InvalidInput(error.detail, field=f"{prefix}address.city") from error


def offline_location(place: Place, coordinates: tuple[float, float] | None, *, field: str) -> Located:
    """Without the network: the coordinates given, once checked to be in France, else the commune's centre."""
    if coordinates is not None:
        check_in_france(*coordinates, field=f"{field}.location" if field else "location")
        return Located(coordinates[0], coordinates[1], "exact", place.department)
    return Located(place.lat, place.lon, place.precision, place.department)


class Geocoder:
    def __init__(self, settings: GeocoderSettings, session_factory: sessionmaker[Session]) -> None:
        self._settings = settings
        self._sessions = session_factory
        self._ban: RateLimiter | None = None
        self._ban_paused_until = 0.0  # on the monotonic() clock
        if settings.ban_enabled:
            # geopy logs each query URL (the patient's address) at DEBUG and error bodies at INFO.
            logging.getLogger("geopy").setLevel(logging.WARNING)
            # urllib, not requests: requests retries silently (tripling the timeout) and logs the URL.
            client = BANFrance(
                domain=settings.ban_domain, scheme=settings.ban_scheme, timeout=settings.ban_timeout_s,
                user_agent="lac-service", adapter_factory=URLLibAdapter,
            )
            self._ban = RateLimiter(
                client.geocode, min_delay_seconds=1 / settings.ban_rate_per_s, max_retries=0,
                swallow_exceptions=False,
            )

    def locate(
        self, *, line: str, postal_code: str, city: str, coordinates: tuple[float, float] | None, field: str
    ) -> Located:
        """``field`` prefixes the names in errors (``patient`` gives ``patient.address.postal_code``)."""
        place = known_place(postal_code, city, field=field)
        if coordinates is None and self._ban is not None and line.strip():
            found = self._from_ban(f"{line}, {postal_code} {city}", postal_code)
            if found is not None:
                return Located(found[0], found[1], "address", place.department)
        return offline_location(place, coordinates, field=field)

    def locate_input(self, address: Address, location: Location | None, *, field: str) -> Located:
        """The same, from a form's or a body's address and optional coordinates."""
        return self.locate(
            line=address.line, postal_code=address.postal_code, city=address.city,
            coordinates=(location.lat, location.lon) if location else None, field=field,
        )

    def _from_ban(self, query: str, postal_code: str) -> tuple[float, float] | None:
        assert self._ban is not None
        key = hashlib.sha256(" ".join(query.casefold().split()).encode()).hexdigest()
        with read_scope(self._sessions) as session:
            cached = session.get(GeocodeCache, key)
            if cached is not None:
                return cached.lat, cached.lon
        if monotonic() < self._ban_paused_until:
            return None
        try:
            answer = self._ban(query, exactly_one=True, limit=1)
        except GeocoderQueryError:
            return None  # this address only (BAN answers 400 to a query it cannot read)
        except GeopyError as error:
            self._ban_paused_until = monotonic() + BAN_PAUSE_S
            log.warning("BAN unavailable (%s): the gazetteer alone for %d s", type(error).__name__, BAN_PAUSE_S)
            return None
        properties: dict[str, Any] = answer.raw.get("properties", {}) if answer else {}
        if (
            answer is None or properties.get("postcode") != postal_code
            or properties.get("type") not in _STREET_LEVEL
            or float(properties.get("score", 0)) < self._settings.ban_min_score
        ):
            return None
        with session_scope(self._sessions) as session:
            if session.get(GeocodeCache, key) is None:
                session.add(GeocodeCache(key=key, lat=answer.latitude, lon=answer.longitude, created_at=utcnow()))
        return answer.latitude, answer.longitude
