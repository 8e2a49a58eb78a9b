"""One source of "now", so that tests can move time (offer expiry, re-confirmation, waiting points)."""

from datetime import UTC, datetime
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


def local_zone(code: str) -> ZoneInfo:
    """The time zone of a French address, from its postal code or its department (``97400``, ``974``)."""
    return _OVERSEAS.get(code[:3], PARIS)


def utcnow() -> datetime:
    return datetime.now(UTC)


async def request_time() -> datetime:
    """``async``, as every dependency that does no I/O: FastAPI runs a plain ``def`` one in a worker thread,
    a hop that costs more than the work under load."""
    return utcnow()


# Routers take ``now: Now``; tests override ``request_time`` in ``app.dependency_overrides``.
Now = Annotated[datetime, Depends(request_time)]
