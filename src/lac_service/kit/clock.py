"""One source of "now", so that tests can move time (offer expiry, re-confirmation, waiting points)."""

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends


PARIS = ZoneInfo("Europe/Paris")  # the time people read: metropolitan French time

# Overseas departments by their number, which starts their postal codes: a deadline at "18h00" must be the
# practitioner's 18h00, and their calendar day the one a cadence counts.
_OVERSEAS = {
    "971": ZoneInfo("America/Guadeloupe"), "972": ZoneInfo("America/Martinique"), "973": ZoneInfo("America/Cayenne"),
    "974": ZoneInfo("Indian/Reunion"), "975": ZoneInfo("America/Miquelon"), "976": ZoneInfo("Indian/Mayotte"),
}


LOCAL_ZONES = (PARIS, *_OVERSEAS.values())  # every zone ``local_zone`` gives


def local_zone(code: str) -> ZoneInfo:
    """The time zone of a French address, from its postal code or its department (``97400``, ``974``)."""
    return _OVERSEAS.get(code[:3], PARIS)


# The hours at which a message nobody is waiting for may arrive (a question or a notice the service sends on its
# own: re-confirmation, archiving, an imported list): the night's pass must not wake anyone.
DAYTIME = (time(9), time(20))


def daytime_slots(moment: datetime, zone: ZoneInfo, every_s: float) -> Iterator[datetime]:
    """Instants ``every_s`` seconds apart from ``moment`` on, in UTC, all between ``DAYTIME``'s hours in ``zone``:
    the first is ``moment`` itself if it is daytime there, else the next morning."""
    day, at = moment.astimezone(zone).date(), moment
    while True:
        start, end = (datetime.combine(day, hour, tzinfo=zone).astimezone(UTC) for hour in DAYTIME)
        at = max(at, start)
        while at < end:
            yield at
            at += timedelta(seconds=every_s)
        day += timedelta(days=1)


def zones_at_night(moment: datetime) -> list[str]:
    """The ``LOCAL_ZONES`` (their keys) where ``moment`` falls outside ``DAYTIME``."""
    return [zone.key for zone in LOCAL_ZONES if next(daytime_slots(moment, zone, every_s=1)) > moment]


def utcnow() -> datetime:
    return datetime.now(UTC)


async def request_time() -> datetime:
    """``async``, as every dependency that does no I/O: FastAPI runs a plain ``def`` one in a worker thread,
    a hop that costs more than the work under load."""
    return utcnow()


# Routers take ``now: Now``; tests override ``request_time`` in ``app.dependency_overrides``.
Now = Annotated[datetime, Depends(request_time)]
