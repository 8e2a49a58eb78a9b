"""Errors on the screens: the API's handlers decide the status and the French message; a page shows them.

A path under ``/api/`` (and the probes) keeps its JSON answer. Anywhere else a person is reading, so the
same failure is a page with the message and a way back — a dead link, a foreign request, an unexpected error.
"""

import json
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match

from lac_service import error_handlers
from lac_service.web.pages import CsrfRefused, render, see_other
from lac_service.web.public import refused_form

STATIC_DIR = __file__.rsplit("/", 1)[0] + "/static"
_JSON_PREFIXES = ("/api/", "/healthz", "/readyz", "/outbox", "/static/")
_TITLES = {400: "Demande incomprise", 403: "Accès refusé", 404: "Introuvable", 405: "Action impossible",
           409: "Action impossible", 413: "Envoi trop volumineux", 422: "Lien ou information non valable",
           429: "Trop de tentatives", 503: "Service indisponible pour le moment"}
_BAD_ADDRESS = "Cette adresse n'est pas valable : vérifiez le lien, il est peut-être incomplet."


def _as_page(json_handler: Callable[[Request, Exception], Awaitable[JSONResponse]]) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        answer = await json_handler(request, exc)
        if request.url.path.startswith(_JSON_PREFIXES):
            return answer
        if answer.status_code == 405 and (page := _page_of_action(request)) is not None:
            return see_other(page)
        message = _BAD_ADDRESS if isinstance(exc, RequestValidationError) else json.loads(answer.body)["message"]
        staff = request.url.path.startswith("/equipe")
        page = render(request, "message.html", {
            "title": _TITLES.get(answer.status_code, "Une erreur est survenue"), "text": message,
            "back": "/equipe" if staff else "/", "back_label": "Retour à la file d'attente" if staff else "Retour à l'accueil",
        }, status=answer.status_code)
        if "retry-after" in answer.headers:  # a 429 or a 503 says when to come back, to browsers as to scripts
            page.headers["Retry-After"] = answer.headers["retry-after"]
        return page

    return handle


def _page_of_action(request: Request) -> str | None:
    """An action's address opened as a page (a bookmark, a tab a phone restored) leads to the page it acts on:
    the address less its last part. Only for an address some form posts to, read by a browser (GET)."""
    if request.method != "GET":
        return None
    as_posted = {**request.scope, "method": "POST"}
    if not any(route.matches(as_posted)[0] is Match.FULL for route in request.app.router.routes):
        return None
    return quote(request.url.path.rstrip("/").rsplit("/", 1)[0] or "/", safe="/")


# The forms long to type give back what was typed when their page expired (a patient on a phone).
_REFILLED = {"/": refused_form}


def _from_the_site(request: Request) -> bool:
    """Posted by the site's own page (its cookie lost), as the browser says: another site's post, refilled,
    would put its own answers (an e-mail of its choosing) one tap away from being sent."""
    if (fetched := request.headers.get("sec-fetch-site")) is not None:
        return fetched == "same-origin"
    site = urlsplit(str(request.app.state.settings.public_base_url))
    return request.headers.get("origin") == f"{site.scheme}://{site.netloc}"


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    refill = _REFILLED.get(request.url.path)
    if isinstance(exc, CsrfRefused) and refill is not None and _from_the_site(request):
        return refill(request, exc.form)
    return render(request, "message.html", {
        "title": "Page expirée",
        "text": "Cette page a expiré ou n'a pas été envoyée depuis le service. Revenez en arrière, rechargez la page, "
                "puis envoyez de nouveau le formulaire.",
    }, status=403)


def install(app: FastAPI) -> None:
    for exc_type, handler in error_handlers.HANDLERS.items():
        app.add_exception_handler(exc_type, _as_page(handler))
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
