"""Rendering a page: the Jinja2 templates, their French filters, and the CSRF token every form carries.

CSRF: a random nonce in a ``SameSite=Lax`` cookie and, in each form, its HMAC under the secret key. A
forged cross-site post has neither the cookie nor a way to compute the field; a sub-domain that could plant
a cookie still cannot compute the field. Lax, not Strict: a browser withholds a Strict cookie when a link
from another site (the CPTS's, a webmail) opens a page, which would then issue a new nonce and make the
forms already open in other tabs "expired", and lose what was typed in them.
"""

import hmac
from collections.abc import AsyncIterator
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from lac_service.config import Settings
from lac_service.kit.tokens import derive, new_token
from lac_service.kit.clock import PARIS
from lac_service.kit.phone import display_phone
from lac_service.notifications.models import Channel
from lac_service.notifications.outcomes import CHANNEL_LABELS
from lac_service.notifications.templates import clocks_fr, date_fr, day_long_fr, kind_label

CSRF_COOKIE = "lac_csrf"
CSRF_FIELD = "csrf_token"

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["date_fr"] = date_fr
templates.env.filters["day_long_fr"] = day_long_fr
templates.env.filters["clocks_fr"] = clocks_fr
templates.env.filters["kind_label"] = kind_label
templates.env.filters["phone_fr"] = display_phone


def _day_fr(value: date | datetime, zone: tzinfo = PARIS) -> str:
    """A moment's day in the reader's time, metropolitan unless told (a registration at 00:30 in Paris is on
    that day, not the UTC one)."""
    return f"{value.astimezone(zone) if isinstance(value, datetime) else value:%d/%m/%Y}"


def _mailto(address: str) -> str:
    """A ``mailto:`` link that opens on the address itself: ``?``, ``#``, ``%``, ``&`` and ``/`` are legal
    before the ``@`` but would cut the link (RFC 6068), so they are percent-encoded."""
    return "mailto:" + quote(address, safe="@!$'()*+,;:")


templates.env.filters["day_fr"] = _day_fr
templates.env.filters["channel_label"] = lambda channel: CHANNEL_LABELS[Channel(channel)]
templates.env.filters["mailto"] = _mailto
templates.env.filters["every_days_fr"] = lambda days: "chaque jour" if days == 1 else f"tous les {days} jours"
templates.env.filters["age_fr"] = lambda age: "moins d'un an" if age == 0 else f"{age} an{'s' if age > 1 else ''}"


class CsrfRefused(Exception):
    """A post without a valid token: nothing is done, and a 403 says to send the form again (``errors``).
    ``form``: what was posted, for the forms that give their answers back."""

    def __init__(self, form: FormData) -> None:
        super().__init__()
        self.form = form


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _nonce(request: Request) -> str:
    nonce = getattr(request.state, "csrf_nonce", None) or request.cookies.get(CSRF_COOKIE)
    if not nonce or len(nonce) > 64:
        nonce = new_token(16)
    request.state.csrf_nonce = nonce
    return nonce


def csrf_token(request: Request) -> str:
    return derive(_settings(request).secret, f"csrf:{_nonce(request)}")


async def checked_form(request: Request) -> AsyncIterator[FormData]:
    """The posted form, once its CSRF token is checked (a dependency of every POST handler); a file it carries
    (an import) is closed after the answer, whatever happened."""
    form = await request.form()
    try:
        nonce = request.cookies.get(CSRF_COOKIE)
        sent = form.get(CSRF_FIELD)
        if not nonce or not isinstance(sent, str):
            raise CsrfRefused(form)
        if not hmac.compare_digest(sent, derive(_settings(request).secret, f"csrf:{nonce}")):
            raise CsrfRefused(form)
        yield form
    finally:
        await form.close()


def checked_then(limit: Any) -> list[Any]:
    """A POST route's dependencies: its CSRF token checked first, so that a forged post costs no write, then
    the hit counted by ``limit`` (a ``lac_service.ratelimit`` dependency)."""
    return [Depends(checked_form), limit]


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200) -> Response:
    values = {"csrf_field": CSRF_FIELD, "csrf_token": csrf_token(request), **(context or {})}
    values.setdefault("staff", getattr(request.state, "staff", None))
    response: HTMLResponse = templates.TemplateResponse(request, name, values, status_code=status)
    response.headers["Cache-Control"] = "no-store"  # pages show personal data or tokens
    response.set_cookie(
        CSRF_COOKIE, request.state.csrf_nonce, httponly=True, samesite="lax",
        secure=_settings(request).secure_cookies, path="/",
    )
    return response


def see_other(url: str) -> Response:
    return Response(status_code=303, headers={"Location": url, "Cache-Control": "no-store"})
