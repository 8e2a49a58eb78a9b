"""One source of "now", so that tests can move time (offer expiry, re-confirmation, waiting points)."""

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends


PARIS = ZoneInfo("Europe/Paris")  # the time people read: metropolitan French time


def utcnow() -> datetime:
    return datetime.now(UTC)


async def request_time() -> datetime:
    """``async``, as every dependency that does no I/O: FastAPI runs a plain ``def`` one in a worker thread,
    a hop that costs more than the work under load."""
    return utcnow()


# Routers take ``now: Now``; tests override ``request_time`` in ``app.dependency_overrides``.
Now = Annotated[datetime, Depends(request_time)]
