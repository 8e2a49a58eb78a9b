"""The coordinator's territory: the postal codes (each shown with the communes it serves, so that a typo shows),
the communes of codes shared with another CPTS, and the outline (a GeoJSON file) that decide which new
requests belong to the organisation — what ``PUT /api/v1/organisations/{slug}/territory`` does, in a form.

The screen never clears a territory (a slip would leave every new request of the area without a home): an
empty form is refused; the API can clear one.
"""

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from lac_service.auth.models import Organisation, User
from lac_service.db import DbSession
from lac_service.errors import Conflict, InvalidInput, NotFound
from lac_service.geography.gazetteer import communes
from lac_service.geography.territories import Territory, listed_codes
from lac_service.kit.clock import Now
from lac_service.organisations.schemas import COMMUNE_NAME_LENGTH
from lac_service.organisations.service import WITH_TERRITORIES, set_territory
from lac_service.web.forms import Errors, checked, text
from lac_service.web.pages import render, see_other
from lac_service.web.public import Form
from lac_service.web.staff import Coordinator

PATH = "/equipe/territoire"
router = APIRouter(prefix=PATH, include_in_schema=False)
_POSTAL_CODE = re.compile(r"[0-9]{5}")
_COMMUNE = re.compile(r"([0-9]{5})[\s,;]+(\S.*)")
MAX_CODES = 5000  # as the API allows


def _organisation(session: DbSession, user: User) -> Organisation:
    organisation = session.scalar(WITH_TERRITORIES.where(Organisation.id == user.organisation_id))
    assert organisation is not None
    return organisation


def _page(request: Request, organisation: Organisation, typed: dict[str, str], errors: Errors, *,
          notice: str | None = None, removing: bool = False, status: int = 200) -> Response:
    listed = sorted(organisation.territory_postal_codes or ())
    return render(request, "territory.html", {
        "organisation": organisation, "typed": typed, "errors": errors.by_field, "notice": notice,
        "listed": [(code, communes(code)) for code in listed], "outline": organisation.territory_geojson is not None,
        "removing": {"sans_contour": "on"} if removing else {},
    }, status=status)


@router.get("/contour.geojson")
def outline(user: Coordinator, session: DbSession) -> Response:
    """The outline as saved, to check it in a mapping tool."""
    if (document := _organisation(session, user).territory_geojson) is None:
        raise NotFound("Aucun contour n'est enregistré pour votre territoire.")
    return Response(json.dumps(document, ensure_ascii=False), media_type="application/geo+json",
                    headers={"Content-Disposition": 'attachment; filename="territoire.geojson"'})


@router.get("")
def territory(request: Request, user: Coordinator, session: DbSession, enregistre: str | None = None) -> Response:
    organisation = _organisation(session, user)
    saved = "Territoire enregistré : les nouvelles demandes de ce territoire sont rattachées à votre CPTS."
    typed = {"codes": "\n".join(organisation.territory_postal_codes or ()), "communes": _communes_text(organisation)}
    return _page(request, organisation, typed, Errors(), notice=saved if enregistre else None)


def _codes(raw: str, errors: Errors) -> list[str]:
    codes = listed_codes(raw)
    if malformed := [code for code in codes if not _POSTAL_CODE.fullmatch(code)]:
        errors.add("codes", f"Codes postaux mal écrits : {', '.join(malformed[:10])} (5 chiffres attendus).")
    elif len(codes) > MAX_CODES:
        errors.add("codes", f"Trop de codes postaux ({len(codes)}) : {MAX_CODES} au plus, ou un contour.")
    return codes


def _no_constant(name: str) -> None:
    """NaN and Infinity are not JSON, whatever Python's reader allows; the database would refuse them."""
    raise ValueError(name)


def _communes_text(organisation: Organisation) -> str:
    return "\n".join(f"{code} {name}" for code, name in organisation.territory_communes or ())


def _communes(raw: str, errors: Errors) -> list[tuple[str, str]]:
    """One commune a line: its postal code, then its name."""
    lines = [(line, _COMMUNE.fullmatch(line)) for line in (line.strip() for line in raw.splitlines()) if line]
    if wrong := [line for line, match in lines if not match]:
        errors.add("communes", f"Ligne « {wrong[0][:80]} » : écrivez le code postal puis le nom de la commune "
                               "(exemple : 59320 Haubourdin).")
    elif len(lines) > MAX_CODES:
        errors.add("communes", f"Trop de communes ({len(lines)}) : {MAX_CODES} au plus.")
    pairs = [(match[1], match[2]) for _, match in lines if match]
    long = [name for _, name in pairs if len(name) > COMMUNE_NAME_LENGTH]
    if long and "communes" not in errors.by_field:
        errors.add("communes", f"Nom de commune trop long ({COMMUNE_NAME_LENGTH} caractères au plus) : "
                               f"« {long[0][:40]}… ».")
    return pairs


def _geojson(upload: Any, errors: Errors) -> dict[str, Any] | None:
    """The outline sent, or None when no file was chosen."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    try:
        document = json.loads(upload.file.read(), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):  # ValueError: JSONDecodeError, NaN or Infinity
        errors.add("contour", "Le fichier n'est pas un GeoJSON lisible (il doit contenir du JSON).")
        return None
    if not isinstance(document, dict):
        errors.add("contour", "Le GeoJSON doit décrire un polygone, une entité ou une collection d'entités.")
        return None
    return document


@router.post("")
def save(request: Request, user: Coordinator, form: Form, session: DbSession, now: Now) -> Response:
    """The codes and communes typed replace theirs; a new file replaces the outline, which is otherwise kept
    unless removed."""
    organisation = _organisation(session, user)
    errors, status = Errors(), 422
    typed = {"codes": text(form, "codes") or "", "communes": text(form, "communes") or ""}
    if "communes" not in form:  # a page from before communes could be typed: they stay as they are
        typed["communes"] = _communes_text(organisation)
    codes, communes = _codes(typed["codes"], errors), _communes(typed["communes"], errors)
    sent = _geojson(form.get("contour"), errors)
    geojson = sent if sent is not None else None if checked(form, "sans_contour") else organisation.territory_geojson
    try:
        if sent is not None:
            Territory.from_geojson(sent)
    except InvalidInput as exc:
        errors.add("contour", exc.detail)
    try:
        if codes and "codes" not in errors.by_field:
            Territory.from_postal_codes(codes)
    except InvalidInput as exc:
        errors.add("codes", exc.detail)
    try:
        if communes and "communes" not in errors.by_field:
            Territory.from_communes(communes)
    except InvalidInput as exc:
        errors.add("communes", exc.detail)
    if not errors and not codes and not communes and geojson is None:
        errors.add("codes", "Indiquez au moins un code postal ou une commune, ou envoyez un contour : un territoire "
                            "vide ne rattacherait plus aucune nouvelle demande à votre CPTS.")
    if not errors:
        try:
            set_territory(session, organisation, geojson=geojson, postal_codes=codes or None,
                          communes=communes or None, now=now)
        except Conflict as exc:  # it overlaps another organisation's, by its codes or its outline
            errors.add("form", exc.detail)
            status = 409
    if errors:
        return _page(request, organisation, typed, errors, removing=checked(form, "sans_contour"), status=status)
    return see_other(f"{PATH}?enregistre=1")
