"""ASGI middleware: security headers, a body size limit, and an access log that never writes personal data;
and the API's refusal of unknown query parameters.

Uvicorn's own access log prints raw paths and query strings, which carry tokens and searched names; this
log prints the route template instead (``/api/v1/requests/{request_id}``) and no query string.
"""

import logging
import time

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lac_service.errors import InvalidInput, PayloadTooLarge
from lac_service.kit.fields import has_control

access_log = logging.getLogger("lac_service.access")


def route_template(scope: Scope) -> str:
    """``/api/v1/requests/{request_id}`` rather than the raw path, which may hold a token."""
    return getattr(scope.get("route"), "path", None) or "(unmatched)"


def _query_names(route: APIRoute) -> frozenset[str]:
    names: set[str] = set()
    dependants = [route.dependant]
    while dependants:
        dependant = dependants.pop()
        names.update(param.alias for param in dependant.query_params)
        dependants.extend(dependant.dependencies)
    return frozenset(names)


async def reject_unknown_query(request: Request) -> None:
    """A misspelt filter (``?satus=waiting``) must not silently widen a list: unknown names are a 422. So is a
    control character in a value, which PostgreSQL would refuse in a search (a 500), as bodies refuse them."""
    route = request.scope.get("route")
    known = _query_names(route) if isinstance(route, APIRoute) else frozenset()
    for name, value in request.query_params.multi_items():
        if name not in known:
            raise InvalidInput(f"Paramètre inconnu : « {name[:64]} ».", field="query")
        if has_control(value):
            raise InvalidInput("Ce paramètre contient un caractère invisible non autorisé.", field=name)


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuses bodies over ``max_bytes`` with 413, whether announced by Content-Length or streamed.

    A streamed body is cut as soon as it passes the limit; whatever error the app then answers is
    replaced by the 413, since the app may turn a failed read into a 400 of its own.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, *, files: tuple[tuple[str, ...], int] | None = None) -> None:
        """``files``: the path prefixes where whole files are sent (imports), and their own, larger limit."""
        self.app = app
        self.max_bytes = max_bytes
        self.files = files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.files[1] if self.files and scope["path"].startswith(self.files[0]) else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        page = not scope["path"].startswith("/api/")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, page)
            return
        received = 0
        too_large = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal refused
            if not too_large:
                await send(message)
            elif not refused:
                refused = True
                await _refuse(send, page)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not refused:
                await _refuse(send, page)


# Refused before the app runs, so without its templates: a page a person can read all the same.
_TOO_LARGE_PAGE = (
    '<!doctype html><html lang="fr"><head><meta charset="utf-8"><meta name="viewport" '
    'content="width=device-width, initial-scale=1"><title>Envoi trop volumineux – Liste d\'attente commune</title>'
    '<link rel="stylesheet" href="/static/lac.css"></head><body><main class="wrap"><h1>Envoi trop volumineux</h1>'
    f"<p>{PayloadTooLarge.message} Revenez en arrière et envoyez un contenu plus petit (pour une liste "
    "d'attente : découpez le fichier en plusieurs fichiers).</p></main></body></html>"
).encode()


async def _refuse(send: Send, page: bool) -> None:
    """JSON for the API; a page for a person (a form, a file sent from a screen)."""
    if page:
        body, content_type = _TOO_LARGE_PAGE, b"text/html; charset=utf-8"
    else:
        body, content_type = PayloadTooLarge().body().model_dump_json(exclude_none=True).encode(), b"application/json"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Watched:
    """``send``, noting the answer's status once it has started (None before)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status: int | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        watched = _Watched(send)
        try:
            await self.app(scope, receive, watched)
        finally:
            route = route_template(scope)
            elapsed_ms = (time.perf_counter() - start) * 1000
            access_log.info("%s %s %d %.1fms", scope["method"], route, watched.status or 500, elapsed_ms)


class Unexpected:
    """Answers an unexpected error here, with the app's own handler (the type and the route logged, a 500 in
    French), and ends it. Starlette's outermost middleware would answer the same, then raise the error again
    for the server to log with its traceback and message, which may hold a patient's name. Inside the security
    headers, so that the answer has them too; outside the body size limit, whose cut is a 413 of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watched = _Watched(send)
        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            answer = await scope["app"].exception_handlers[Exception](Request(scope, receive), exc)
            if watched.status is None:
                await answer(scope, receive, send)


# Pages carry no inline script or style; links hold tokens, so no referrer ever leaves with one.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_DOCS_PREFIX = "/api/docs"  # Swagger UI is built on inline script: it keeps the browser's defaults


class SecurityHeaders:
    """On every answer; HSTS only when the service is reached over HTTPS (``hsts``)."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = _HEADERS + ([(b"strict-transport-security", b"max-age=31536000")] if hsts else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers
        if not scope["path"].startswith(_DOCS_PREFIX):
            extra = extra + [(b"content-security-policy", _CSP.encode())]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, with_headers)
