"""One source of "now", so that tests can move time (offer expiry, re-confirmation, waiting points)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends


def utcnow() -> datetime:
    return datetime.now(UTC)


# Routers take ``now: Now``; tests override ``utcnow`` in ``app.dependency_overrides``.
Now = Annotated[datetime, Depends(utcnow)]
