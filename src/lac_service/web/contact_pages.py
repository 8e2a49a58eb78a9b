"""How the organisation's patients reach it: the phone number and e-mail address their tracking page gives,
set by a coordinator — what ``PUT /api/v1/organisations/{slug}/contact`` does, in a form."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lac_service.auth.models import Organisation
from lac_service.db import DbSession
from lac_service.kit.phone import display_phone
from lac_service.organisations.schemas import OrganisationContactIn
from lac_service.organisations.service import set_contact
from lac_service.web.forms import Errors, text, validate
from lac_service.web.pages import render, see_other
from lac_service.web.public import Form
from lac_service.web.staff import Coordinator, own_organisation

PATH = "/equipe/coordonnees"
router = APIRouter(prefix=PATH, include_in_schema=False)


def _page(request: Request, organisation: Organisation, typed: dict[str, str], errors: Errors, *,
          notice: str | None = None, status: int = 200) -> Response:
    return render(request, "contact.html", {"organisation": organisation, "values": typed, "errors": errors.by_field,
                                            "notice": notice}, status=status)


@router.get("")
def contact(request: Request, user: Coordinator, session: DbSession, enregistre: str | None = None) -> Response:
    organisation = own_organisation(session, user)
    shown = {"phone": display_phone(organisation.contact_phone), "email": organisation.contact_email or ""}
    return _page(request, organisation, shown, Errors(),
                 notice="Les coordonnées sont enregistrées : les patients les voient sur leur page de suivi."
                 if enregistre else None)


@router.post("")
def save(request: Request, user: Coordinator, form: Form, session: DbSession) -> Response:
    """An empty field removes what it held: the page then gives one way, or only the organisation's name."""
    typed = {"phone": text(form, "phone") or "", "email": text(form, "email") or ""}
    errors = Errors()
    data = validate(OrganisationContactIn, {name: value or None for name, value in typed.items()}, errors)
    if data is None:
        return _page(request, own_organisation(session, user), typed, errors, status=422)
    set_contact(session, own_organisation(session, user), phone=data.phone, email=data.email)
    return see_other(f"{PATH}?enregistre=1")
