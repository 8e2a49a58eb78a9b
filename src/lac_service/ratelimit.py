"""Fixed-window rate limits kept in the database, so that every process and replica counts together.

A hit is counted in a short transaction of its own, before the request is handled: a refused or invalid
submission counts as much as a good one. The caller is named by a keyed hash of its address, never the
address itself (an IP address is personal data).
"""

from datetime import datetime

import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from lac_service.config import Settings
from lac_service.db import Base, insert_on_conflict, session_scope
from lac_service.errors import TooManyRequests
from lac_service.kit.clock import Now
from lac_service.kit.tokens import derive


class RateLimitWindow(Base):
    __tablename__ = "rate_limit_windows"

    bucket: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    hits: Mapped[int]


def client_bucket(name: str, address: str, secret: bytes) -> str:
    return f"{name}:{derive(secret, f'client:{address}')[:32]}"


def hit(session_factory: sessionmaker[Session], *, bucket: str, limit: int, window_s: int, now: datetime) -> bool:
    """Counts one hit; False when it is past ``limit`` in the current window of ``window_s`` seconds."""
    epoch = int(now.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % window_s, tz=now.tzinfo)
    with session_scope(session_factory) as session:
        statement = insert_on_conflict(session, RateLimitWindow).values(bucket=bucket, window_start=start, hits=1)
        statement = statement.on_conflict_do_update(
            index_elements=[RateLimitWindow.bucket, RateLimitWindow.window_start],
            set_={"hits": RateLimitWindow.hits + 1},
        ).returning(RateLimitWindow.hits)
        hits = session.scalar(statement)
    return hits is not None and hits <= limit


def forget_before(session: Session, before: datetime) -> int:
    """Nightly: windows long past weigh nothing."""
    result = session.execute(sa.delete(RateLimitWindow).where(RateLimitWindow.window_start < before))
    return result.rowcount or 0  # type: ignore[attr-defined]


def window_left_s(now: datetime, window_s: int) -> int:
    return window_s - int(now.timestamp()) % window_s


def limit(request: Request, name: str, per_minute: int, now: datetime) -> None:
    """Counts one hit of the calling address on ``name``; past ``per_minute``, a 429 with ``Retry-After``
    (a page in French on the screens)."""
    settings: Settings = request.app.state.settings
    address = request.client.host if request.client else "unknown"
    if not hit(request.app.state.session_factory, bucket=client_bucket(name, address, settings.secret),
               limit=per_minute, window_s=60, now=now):
        raise TooManyRequests(retry_after_s=window_left_s(now, 60))


def limit_links(request: Request, now: Now) -> None:
    """Every page and route reached by a link's token, read or write, API or screen: guessing tokens costs a
    minute per ``LAC_WEB__TOKEN_PAGE_PER_MINUTE`` tries."""
    limit(request, "link", request.app.state.settings.web.token_page_per_minute, now)


def limit_form(request: Request, now: Now) -> None:
    limit(request, "form", request.app.state.settings.web.form_per_minute, now)


def limit_logins(request: Request, now: Now) -> None:
    limit(request, "login", request.app.state.settings.web.login_per_minute, now)


LinkRateLimit = Depends(limit_links)
FormRateLimit = Depends(limit_form)
LoginRateLimit = Depends(limit_logins)
