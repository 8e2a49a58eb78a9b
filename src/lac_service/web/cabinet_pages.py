"""Cabinets from the dashboard: register one, change its radius, batch size, cadence, channels or pause,
replace a practitioner's link gone astray, remove it."""

import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import object_session
from starlette.datastructures import FormData

from lac_service.cabinets import service
from lac_service.cabinets.models import Cabinet, Channel
from lac_service.cabinets.schemas import CabinetCreate, CabinetUpdate
from lac_service.db import DbSession
from lac_service.errors import AppError
from lac_service.geography.geocoder import AppGeocoder
from lac_service.idempotency import made_once
from lac_service.kinds import Kind
from lac_service.kit.clock import Now
from lac_service.kit.fields import RecordId
from lac_service.kit.phone import display_phone
from lac_service.kit.tokens import new_token
from lac_service.links import AppLinks, Links
from lac_service.notifications.models import Notification
from lac_service.notifications.outbox import sent_about
from lac_service.web.forms import Errors, Model, answers, checked, service_error, text, validate
from lac_service.web.pages import render, see_other
from lac_service.web.public import Form
from lac_service.web.secretary import message_label, message_state, visible_to
from lac_service.web.staff import Coordinator

router = APIRouter(prefix="/equipe/cabinets", include_in_schema=False)


def _many(form: FormData, name: str) -> list[str]:
    """Several numbers or addresses in one field, one per line or separated by commas."""
    raw = text(form, name) or ""
    return [part.strip() for part in raw.replace(",", "\n").splitlines() if part.strip()]


_LISTED = re.compile(r"(phones|emails)\.(\d+)")


def _validated(model: type[Model], data: dict[str, Any], errors: Errors) -> Model | None:
    """``forms.validate``, with a list's error (``phones.1``) said at the one field it was typed in, naming the
    value at fault: the numbers and addresses share a field."""
    listed = Errors()
    parsed = validate(model, data, listed)
    for name, message in listed.by_field.items():
        if (found := _LISTED.fullmatch(name)) is not None:
            name, message = found[1], f"« {data[found[1]][int(found[2])]} » : {message}"
        errors.add(name, message)
    return parsed


def _data(form: FormData) -> dict[str, Any]:
    return {
        "name": text(form, "name"),
        "kinds": [kind.value for kind in Kind if checked(form, f"kinds.{kind.value}")],
        "address": {"line": text(form, "address.line") or "", "postal_code": text(form, "address.postal_code"),
                    "city": text(form, "address.city")},
        "radius_km": text(form, "radius_km"), "batch_size": text(form, "batch_size"),
        "cadence_days": text(form, "cadence_days"),
        "channels": [channel.value for channel in Channel if checked(form, f"channels.{channel.value}")],
        "phones": _many(form, "phones"), "emails": _many(form, "emails"), "patient_phone": text(form, "patient_phone"),
        "paused": checked(form, "paused"),
    }


def _values(cabinet: Cabinet) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": cabinet.name, "address.line": cabinet.address_line, "address.postal_code": cabinet.postal_code,
        "address.city": cabinet.city, "radius_km": f"{cabinet.radius_km:g}", "batch_size": str(cabinet.batch_size),
        "cadence_days": str(cabinet.cadence_days), "phones": ", ".join(map(display_phone, cabinet.phones)),
        "emails": ", ".join(cabinet.emails), "paused": cabinet.paused,
        "patient_phone": display_phone(cabinet.patient_phone),
    }
    values |= {f"kinds.{kind}": True for kind in cabinet.kinds}
    values |= {f"channels.{channel}": True for channel in cabinet.channels}
    return values


def _form(request: Request, values: dict[str, Any], errors: Errors, *, cabinet: Cabinet | None = None,
          urls: dict[str, str] | None = None, notice: str | None = None, status: int = 200) -> Response:
    """A cabinet's page lists the batches sent to it and whether each reached it: "did they get it?" is the
    first question when a cabinet says it heard nothing."""
    return render(request, "cabinet_form.html", {
        "values": values, "errors": errors.by_field, "cabinet": cabinet, "kinds": list(Kind), "channels": list(Channel),
        "notice": notice, "messages": _sent_to(cabinet) if cabinet else [],
        "message_label": message_label, "message_state": message_state, **(urls or {}),
    }, status=status)


def _sent_to(cabinet: Cabinet) -> Sequence[Notification]:
    """Read through the session the cabinet was loaded by: no caller can forget to pass it."""
    session = object_session(cabinet)
    assert session is not None, "a cabinet shown was loaded by this request's session"
    return sent_about(session, f"cabinet:{cabinet.id}")


def _urls(session: DbSession, cabinet: Cabinet, links: Links) -> dict[str, str]:
    """The practitioner's page and the referral link, for the coordinator to pass on."""
    return {"link": service.practitioner_link(session, cabinet, links),
            "referral": service.referral_url(session, cabinet, links)}


@router.get("/nouveau")
def new(request: Request, user: Coordinator) -> Response:
    return _form(request, {"batch_size": "8", "cadence_days": "42", "radius_km": "15", "once": new_token(16)}, Errors())


@router.post("/nouveau")
def create(request: Request, user: Coordinator, form: Form, session: DbSession, now: Now,
           geocoder: AppGeocoder) -> Response:
    values = answers(form)
    errors = Errors()
    data = _validated(CabinetCreate, _data(form), errors)
    if data is None:
        return _form(request, values, errors, status=422)

    def make() -> str:
        cabinet = service.create_cabinet(session, data=data, place=place, organisation_id=user.organisation_id, now=now)
        return f"cabinet:{cabinet.id}"

    try:
        place = geocoder.locate_input(data.address, None, field="")  # before any transaction: it may call out
        once = text(form, "once") or ""  # the page's token: a double click registers one cabinet, not two
        made = (made_once(session, scope=f"form:user:{user.id}", key=once, make=make, now=now)
                if re.fullmatch(r"[A-Za-z0-9_-]{16,64}", once) else make())
    except AppError as exc:
        session.rollback()
        service_error(exc, errors)
        return _form(request, values, errors, status=exc.status_code)
    return see_other(f"/equipe/cabinets/{made.removeprefix('cabinet:')}?enregistre=1")


_NOTICES = {
    "enregistre": "Le cabinet est enregistré.",
    "regle": "Les réglages du cabinet sont enregistrés.",
    "lien": "L'ancien lien du praticien et ceux des propositions qu'il listait ne fonctionnent plus (leurs patients "
            "reviennent dans la file d'attente). Transmettez-lui le nouveau lien, ci-dessous.",
}


@router.get("/{cabinet_id}")
def edit(request: Request, cabinet_id: RecordId, user: Coordinator, session: DbSession, links: AppLinks,
         enregistre: str | None = None, lien: str | None = None, regle: str | None = None) -> Response:
    cabinet = service.get_cabinet(session, cabinet_id, visible_to=visible_to(user))
    notice = next((_NOTICES[name] for name, given in (("enregistre", enregistre), ("lien", lien), ("regle", regle))
                   if given), None)
    errors = Errors()
    try:  # saved before a rule it now breaks (texts to a landline): said on opening, not on the next save
        service.check_channels(cabinet)
    except AppError as exc:
        service_error(exc, errors)
    return _form(request, _values(cabinet), errors, cabinet=cabinet,
                 urls=_urls(session, cabinet, links), notice=notice)


@router.post("/{cabinet_id}")
def update(request: Request, cabinet_id: RecordId, user: Coordinator, form: Form, session: DbSession, now: Now,
           geocoder: AppGeocoder) -> Response:
    cabinet = service.get_cabinet(session, cabinet_id, visible_to=visible_to(user))
    values = answers(form)
    errors = Errors()
    raw = _data(form)
    if (raw["address"]["line"], raw["address"]["postal_code"], raw["address"]["city"]) == (
        cabinet.address_line, cabinet.postal_code, cabinet.city
    ):
        del raw["address"]  # unchanged: not located again
    data = _validated(CabinetUpdate, raw, errors)
    place = None
    if data is not None and data.address:
        session.rollback()  # no transaction stays open while the new address is located
        try:
            place = geocoder.locate_input(data.address, None, field="")
        except AppError as exc:
            service_error(exc, errors)
        cabinet = service.get_cabinet(session, cabinet_id, visible_to=visible_to(user))
    if data is not None and not errors:
        try:
            service.update_cabinet(session, cabinet, data=data, place=place, now=now)
        except AppError as exc:
            service_error(exc, errors)
    if errors:
        session.rollback()
        return _form(request, values, errors, cabinet=cabinet, status=422)
    return see_other(f"/equipe/cabinets/{cabinet.id}?regle=1")  # a reload does not send the settings again


def _confirmed(request: Request, form: FormData, session: DbSession, cabinet: Cabinet, links: Links, field: str,
               message: str) -> Response | None:
    """None when the box ``field`` is ticked; otherwise the cabinet's page, saying what to confirm."""
    if checked(form, field):
        return None
    errors = Errors()
    errors.add(field, message)
    return _form(request, _values(cabinet), errors, cabinet=cabinet,
                 urls=_urls(session, cabinet, links), status=422)


@router.post("/{cabinet_id}/lien")
def replace_link(request: Request, cabinet_id: RecordId, user: Coordinator, form: Form, session: DbSession, now: Now,
                 links: AppLinks) -> Response:
    """For a link gone astray (a lost phone, a forwarded e-mail): confirmed first, since the batches its page
    listed close with it. The page then shows the new link."""
    cabinet = service.get_cabinet(session, cabinet_id, visible_to=visible_to(user))
    if refused := _confirmed(request, form, session, cabinet, links, "confirm_link",
                             "Cochez la case pour confirmer le remplacement du lien."):
        return refused
    service.revoke_link(session, cabinet, now=now)
    return see_other(f"/equipe/cabinets/{cabinet.id}?lien=1")


@router.post("/{cabinet_id}/retrait")
def remove(request: Request, cabinet_id: RecordId, user: Coordinator, form: Form, session: DbSession, now: Now,
           links: AppLinks) -> Response:
    """Confirmed first. Its batch links stop working at once; the patients waiting for its answer go back to
    the queue with the next expiry pass (the worker's, or a round's)."""
    cabinet = service.get_cabinet(session, cabinet_id, visible_to=visible_to(user))
    if refused := _confirmed(request, form, session, cabinet, links, "confirm",
                             "Cochez la case pour confirmer le retrait du cabinet."):
        return refused
    service.delete_cabinet(session, cabinet, now=now)
    return see_other("/equipe/tableau?cabinet_retire=1")
