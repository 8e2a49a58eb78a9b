"""Staff login for the screens under ``/equipe``: a session cookie (``HttpOnly; SameSite=Lax``, ``Secure``
behind HTTPS) naming a server-side session, so that logging out or disabling a user ends it at once."""

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from lac_service.auth.logins import IDLE, check_password, find_session, log_in, log_out
from lac_service.auth.models import Organisation, Role, User
from lac_service.config import AppSettings
from lac_service.db import DbSession, session_scope
from lac_service.kit.clock import Now
from lac_service.web.forms import Errors, text
from lac_service.web.pages import checked_then, render, see_other
from lac_service.ratelimit import LoginRateLimit
from lac_service.web.public import Form

SESSION_COOKIE = "lac_session"
LOGIN = "/equipe/connexion"
router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class StaffView:
    """Who is logged in, as the page header shows it: plain values that outlive the request's session
    (an error page is rendered after its rollback)."""

    full_name: str
    role: Role


class LoginRequired(Exception):
    def __init__(self, path: str) -> None:
        self.path = path


class NotForYourRole(Exception):
    """A secretary on a coordinator's page: 403, with a page that says so."""


def current_staff(request: Request, now: Now) -> User:
    """The logged-in user; anyone else is sent to the login page, and comes back here after.

    Checked in a short transaction of its own, as API keys are, so that the page's transaction starts only
    when it needs one (after locating an address, for instance)."""
    token = request.cookies.get(SESSION_COOKIE)
    with session_scope(request.app.state.session_factory) as session:
        found = find_session(session, token, now=now) if token and len(token) <= 128 else None
        user = found.user if found is not None else None
    if user is None or user.role is Role.partner:
        raise LoginRequired(request.url.path)
    request.state.staff = StaffView(user.full_name, user.role)
    return user


Staff = Annotated[User, Depends(current_staff)]


def current_coordinator(user: Staff) -> User:
    if user.role not in (Role.coordinator, Role.admin):
        raise NotForYourRole()
    return user


Coordinator = Annotated[User, Depends(current_coordinator)]


def _safe_next(path: str | None) -> str:
    """Only back into the staff screens, never to another site."""
    return path if path and path.startswith("/equipe") and not path.startswith("//") else "/equipe"


@router.get(LOGIN)
async def login_form(request: Request, suite: str | None = None) -> Response:
    return render(request, "login.html", {"values": {"suite": _safe_next(suite)}, "errors": {}})


@router.post(LOGIN, dependencies=checked_then(LoginRateLimit))
def login(request: Request, form: Form, session: DbSession, settings: AppSettings, now: Now) -> Response:
    email, password = text(form, "email") or "", form.get("password")
    verified = check_password(request.app.state.session_factory, email=email,
                              password=password if isinstance(password, str) else "")
    opened = log_in(session, email=email, verified=verified, now=now)
    if opened is None:
        errors = Errors()
        errors.add("email", "Adresse e-mail ou mot de passe incorrect, ou compte bloqué quelques minutes après "
                            "plusieurs essais. Réessayez.")
        return render(request, "login.html", {"values": {"email": email, "suite": _safe_next(text(form, "suite"))},
                                              "errors": errors.by_field}, status=401)
    response = see_other(_safe_next(text(form, "suite")))
    response.set_cookie(SESSION_COOKIE, opened.token, httponly=True, samesite="lax", secure=settings.secure_cookies,
                        max_age=int(IDLE.total_seconds()) * 3, path="/")
    return response


@router.post("/equipe/deconnexion")
def logout(request: Request, form: Form, session: DbSession) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        log_out(session, token)
    response = see_other(LOGIN)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def _to_login(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return see_other(f"{LOGIN}?suite={quote(exc.path)}")


async def _forbidden(request: Request, _: Exception) -> Response:
    return render(request, "message.html", {
        "title": "Accès réservé", "text": "Cette page est réservée à la coordination de la CPTS.",
        "back": "/equipe", "back_label": "Retour à la file d'attente",
    }, status=403)


def install(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(NotForYourRole, _forbidden)


def own_organisation(session: DbSession, user: User) -> Organisation:
    """The user's organisation in this request's session, to be changed: ``user`` was read in another."""
    organisation = session.get(Organisation, user.organisation_id)
    assert organisation is not None
    return organisation
