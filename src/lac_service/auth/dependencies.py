"""Who is calling: a typed ``Caller`` for routers, from the ``Authorization: Bearer`` API key."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sqlalchemy.orm import Session

from lac_service import audit
from lac_service.audit import Action, Record
from lac_service.auth.models import Organisation, Role
from lac_service.auth.service import find_api_key, get_organisation_by_slug
from lac_service.db import read_scope
from lac_service.errors import Forbidden, Unauthenticated
from lac_service.kit.clock import Now

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer lac_…`.")

STAFF_ROLES = frozenset({Role.admin, Role.coordinator, Role.secretary})


@dataclass(frozen=True)
class Caller:
    """``role is None`` is the public (the patient form); it belongs to no organisation."""

    role: Role | None = None
    organisation_id: int | None = None
    api_key_id: int | None = None

    @property
    def is_public(self) -> bool:
        return self.role is None

    @property
    def sees_all_organisations(self) -> bool:
        return self.role is Role.admin

    @property
    def scope(self) -> int | None:
        """The organisation whose records the caller sees; None for all of them (an admin)."""
        return None if self.sees_all_organisations else self.organisation_id

    def can_see(self, organisation_id: int | None) -> bool:
        return self.sees_all_organisations or (
            self.organisation_id is not None and self.organisation_id == organisation_id
        )

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden()

    def named_organisation(self, session: Session, slug: str | None) -> Organisation | None:
        """The organisation a call names (``organisation``: a slug), which only an admin may do; None if none."""
        if slug is None:
            return None
        if not self.sees_all_organisations:
            raise Forbidden("Seul un administrateur choisit l'organisation.", field="organisation")
        return get_organisation_by_slug(session, slug)

    @property
    def label(self) -> str:
        """How the history and the audit log name the caller: never a person's name."""
        return "public" if self.is_public else f"apikey:{self.api_key_id}"

    def log_access(self, session: Session, action: Action, requests: Iterable[Record], now: datetime) -> None:
        """Each patient record this key read or changed (``lac_service.audit``)."""
        audit.log_access(session, self, action, requests, now)


PUBLIC = Caller()


def optional_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)], now: Now
) -> Caller:
    """The public when no key is given; a wrong or revoked key is refused, never downgraded to public.

    The key is checked in a short transaction of its own that only reads (on SQLite it does not queue for
    the write lock), so that the handler's transaction starts only when it needs one (after a geocoder
    call, for instance)."""
    if credentials is None:
        if request.headers.get("authorization"):
            raise Unauthenticated()
        return PUBLIC
    with read_scope(request.app.state.session_factory) as session:
        api_key = find_api_key(session, credentials.credentials, now=now)
    if api_key is None:
        raise Unauthenticated()
    return Caller(role=api_key.role, organisation_id=api_key.organisation_id, api_key_id=api_key.id)


async def authenticated_caller(caller: Annotated[Caller, Depends(optional_caller)]) -> Caller:
    if caller.is_public:
        raise Unauthenticated()
    return caller


OptionalCaller = Annotated[Caller, Depends(optional_caller)]
AuthenticatedCaller = Annotated[Caller, Depends(authenticated_caller)]
