"""The patient's pages: the request form at ``/`` and the tracking page at ``/suivi/{token}``.

The form posts back to itself; on success the browser is sent (303) to the new tracking page, so that
reloading never registers twice. A refused form comes back with every answer kept and each error next to
its field. The form is limited per address and carries a honeypot field that people never see.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from lac_service.cabinets.models import Cabinet
from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import AppError, DuplicateRequest
from lac_service.geography.geocoder import AppGeocoder
from lac_service.intake import service
from lac_service.intake.models import ACTIVE_STATUSES, PatientRequest, Source, Status
from lac_service.intake.schemas import RequestUpdate
from lac_service.kit.clock import Now
from lac_service.links import AppLinks, LinkToken
from lac_service.organisations.service import TerritoryRouter
from lac_service.ratelimit import FormRateLimit, LinkRateLimit
from lac_service.web.forms import Errors, answers, service_error, text, validate
from lac_service.web.pages import checked_form, checked_then, render, see_other
from lac_service.web.request_form import context, parse, register

router = APIRouter(include_in_schema=False)
PATIENT = service.Actor(label="patient", is_staff=False)
HONEYPOT = "website"
Form = Annotated[FormData, Depends(checked_form)]


def _form_page(request: Request, values: dict[str, Any], errors: Errors, *, status: int = 200) -> Response:
    return render(request, "request_form.html", context(values, errors), status=status)


def refused_form(request: Request, form: FormData) -> Response:
    """A registration whose page expired (its token no longer matches: the browser lost its cookie while the
    tab waited, a key changed) comes back with every answer, to be sent again, rather than lost."""
    errors = Errors()
    errors.add("form", "Page expirée : rien n'a été enregistré. Vos réponses sont conservées ci-dessous : "
                       "vérifiez-les, puis envoyez de nouveau le formulaire.")
    return _form_page(request, answers(form), errors, status=403)


# Pages that read nothing are ``async``: a template needs no thread hop (the form's throughput: a fifth more).
@router.get("/")
async def request_form(request: Request, ref: str | None = None) -> Response:
    return _form_page(request, {"ref": (ref or "")[:32]}, Errors())


@router.post("/", dependencies=checked_then(FormRateLimit))
def submit_request(
    request: Request, form: Form, session: DbSession, settings: AppSettings, now: Now, geocoder: AppGeocoder,
    territories: TerritoryRouter, links: AppLinks,
) -> Response:
    values = answers(form)
    if text(form, HONEYPOT):
        return render(request, "message.html", {"title": "Merci", "text": "Votre demande a bien été envoyée."})
    errors = Errors()
    data = parse(form, errors, staff=False)
    if data is None:
        return _form_page(request, values, errors, status=422)
    try:
        _, url = register(session, data, source=Source.form, actor=PATIENT, caller_organisation_id=None,
                          geocoder=geocoder, territories=territories, settings=settings, links=links, now=now,
                          referral_code=text(form, "ref"))
    except DuplicateRequest:
        session.rollback()
        errors.add("form", "Une demande de ce type est déjà en cours pour cette personne. Retrouvez-la grâce au lien "
                           "reçu par SMS ou par e-mail lors de l'inscription. Vous ne l'avez plus ? Appelez l'équipe "
                           "de coordination de votre CPTS : elle peut vous le renvoyer.")
        return _form_page(request, values, errors, status=409)
    except AppError as exc:
        session.rollback()
        service_error(exc, errors)
        return _form_page(request, values, errors, status=exc.status_code)
    return see_other(url.removeprefix(links.site_url) + "?fait=enregistree")


@router.get("/confidentialite")
async def privacy(request: Request, settings: AppSettings) -> Response:
    return render(request, "privacy.html", {"messages_days": settings.notifications.keep_days,
                                            "purge_days": settings.requests.purge_after_days,
                                            "redact_hours": settings.notifications.twilio_redact_after_hours})


def _tracking_page(request: Request, session: DbSession, patient: PatientRequest, token: str,
                   errors: Errors | None = None, *, notice: str | None = None, status: int = 200,
                   typed: dict[str, str] | None = None) -> Response:
    """``typed``: the contact details as sent and refused, shown again to be corrected (else the stored ones)."""
    cabinet = session.get(Cabinet, patient.matched_cabinet_id) if patient.matched_cabinet_id else None
    return render(request, "tracking.html", {
        "patient": patient, "cabinet": cabinet, "notice": notice, "errors": (errors or Errors()).by_field,
        "token": token, "typed": typed,
    }, status=status)


def _done(patient: PatientRequest, fait: str | None) -> str | None:
    """What the patient just did on the page (``fait``), said on top once the browser is sent back to it, and
    while it still holds (the page may be opened again weeks later)."""
    if fait == "enregistree":
        return "Votre demande est enregistrée. Gardez ce lien : il vous permet de suivre votre demande."
    if fait == "confirmee" and patient.status in ACTIVE_STATUSES:
        return "Merci : votre demande reste en attente."
    if fait == "confirmee" and patient.status is Status.archived:  # kept so: another one waits in its place
        return "Une demande plus récente est déjà en cours pour vous : c'est elle qui attend."
    return "Vos coordonnées sont mises à jour." if fait == "coordonnees" else None


@router.get("/suivi/{token}", dependencies=[LinkRateLimit])
def tracking(request: Request, token: LinkToken, session: DbSession, fait: str | None = None) -> Response:
    patient = service.find_by_tracking(session, token)
    return _tracking_page(request, session, patient, token, notice=_done(patient, fait))


@router.post("/suivi/{token}/confirmation", dependencies=checked_then(LinkRateLimit))
def confirm(token: LinkToken, form: Form, session: DbSession, now: Now) -> Response:
    service.confirm_waiting(session, service.find_by_tracking(session, token), actor=PATIENT, now=now)
    return see_other(f"/suivi/{token}?fait=confirmee")


@router.post("/suivi/{token}/contact", dependencies=checked_then(LinkRateLimit))
def update_contact(request: Request, token: LinkToken, form: Form, session: DbSession, now: Now) -> Response:
    patient = service.find_by_tracking(session, token)
    errors = Errors()
    typed = {name: text(form, name) or "" for name in ("patient.phone", "patient.email")}
    update = validate(RequestUpdate, {"patient": {"phone": typed["patient.phone"] or None,
                                                  "email": typed["patient.email"] or None}}, errors)
    if update is not None:
        try:
            service.update_request(session, patient, data=update, home=None, actor=PATIENT, now=now)
        except AppError as exc:
            service_error(exc, errors, default_field="patient.phone")
    if errors:
        session.rollback()
        return _tracking_page(request, session, service.find_by_tracking(session, token), token, errors, status=422,
                              typed=typed)
    return see_other(f"/suivi/{token}?fait=coordonnees")


@router.post("/suivi/{token}/retrait", dependencies=checked_then(LinkRateLimit))
def withdraw(request: Request, token: LinkToken, form: Form, session: DbSession, now: Now) -> Response:
    """A request still in the queue is withdrawn and erased; a closed one (matched, withdrawn, archived) is
    erased: the form promises erasure at any time."""
    patient = service.find_by_tracking(session, token)
    service.lock_request(session, patient.id)  # as it is: a cabinet's « Accepter » may have just been written
    waiting = patient.status in ACTIVE_STATUSES
    if text(form, "confirm") != "oui":
        errors = Errors()
        errors.add("confirm", "Cochez la case pour confirmer le retrait." if waiting else
                   "Cochez la case pour confirmer l'effacement.")
        return _tracking_page(request, session, patient, token, errors, status=422)
    service.erase_request(session, patient, actor=PATIENT, now=now)
    again = " Ce lien ne fonctionne plus. Vous pouvez vous inscrire de nouveau à tout moment."
    done = ("Votre demande est retirée de la liste d'attente et vos données personnelles sont effacées." + again
            if waiting else "Cette inscription en double est effacée ; l'autre reste telle quelle. Ce lien ne "
            "fonctionne plus." if patient.merged_into_id else "Vos données personnelles sont effacées." + again)
    return render(request, "message.html", {
        "title": "Demande retirée" if waiting else "Données effacées", "text": done, "back": "/",
    })
