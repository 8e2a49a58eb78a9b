"""The secretary's screens: the organisation's queue with each priority explained, a request registered
during a phone call (urgency included, with its reason), a request's page to correct or withdraw it.

A request of another organisation is "not found", as in the API; one this organisation registered for a
home in another's territory shows who holds it and its status, nothing more.
"""

import json
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from lac_service import audit
from lac_service.audit import Action
from lac_service.auth.models import Role, User
from lac_service.cabinets.models import Cabinet
from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import AppError, DuplicateRequest, NotFound
from lac_service.geography.geocoder import AppGeocoder
from lac_service.intake import service
from lac_service.intake.models import PatientRequest, Source, Status, WithdrawReason
from lac_service.intake.ranking import explain
from lac_service.intake.reconfirmation import ARCHIVED_REASON
from lac_service.intake.repository import RequestFilter, Sort, count_requests, list_requests
from lac_service.intake.schemas import RequestUpdate
from lac_service.kinds import Kind
from lac_service.kit.clock import Now
from lac_service.kit.dates import age_on
from lac_service.kit.fields import RecordId
from lac_service.kit.phone import display_phone
from lac_service.links import AppLinks
from lac_service.notifications.templates import date_fr
from lac_service.notifications.models import (
    INBOUND, RECEIVED, REPLY, UNDELIVERED, Channel, Notification, NotificationStatus,
)
from lac_service.notifications.outbox import sent_about
from lac_service.offers.models import DeclineReason, ItemStatus, OfferItem
from lac_service.offers.service import offered_to
from lac_service.organisations.service import TerritoryRouter
from lac_service.priority import Band
from lac_service.web.forms import Errors, answers, service_error, text, validate
from lac_service.web.pages import checked_form, render, see_other
from lac_service.web.practitioner import DECLINE_LABELS
from lac_service.web.public import Form
from lac_service.web.request_form import (
    DISTANCES_KM, context, criteria_answers, household_answers, household_rows, parse, patient_answers, register,
)
from lac_service.web.staff import Staff

router = APIRouter(prefix="/equipe", include_in_schema=False)
PAGE_SIZE = 50
# What staff may give as a reason; ``erased`` and ``stopped_by_sms`` are the system's to set.
STAFF_REASONS = {
    WithdrawReason.found_elsewhere: "A trouvé ailleurs",
    WithdrawReason.no_longer_needed: "N'en a plus besoin",
    WithdrawReason.moved: "A déménagé",
    WithdrawReason.other: "Autre raison",
}
STATUS_LABELS = {
    Status.waiting: "En attente", Status.offered: "Proposée", Status.matched: "Prise en charge",
    Status.withdrawn: "Retirée", Status.archived: "Archivée",
}
BAND_LABELS = {Band.high: "Haute", Band.medium: "Moyenne", Band.low: "Basse"}
_HISTORY_REASONS = {
    **{reason.value: label.lower() for reason, label in STAFF_REASONS.items()},
    WithdrawReason.erased: "données effacées", WithdrawReason.stopped_by_sms: "retrait demandé par SMS",
    WithdrawReason.merged: "doublon fusionné dans une autre demande",
    "accepted": "acceptée par le cabinet", "declined": "déclinée par le cabinet",
    "expired": "proposition restée sans réponse", "offer_closed": "proposition close (cabinet retiré ou lien remplacé)",
    "offered": "envoyée à un cabinet", "reconfirmed": "le patient attend toujours",
    ARCHIVED_REASON: "sans réponse à la question « attendez-vous toujours ? »",
}


MESSAGE_LABELS = {
    "request_confirmation": "Confirmation d'inscription", "tracking_link": "Lien de suivi",
    "reconfirmation": "Question « attendez-vous toujours ? »", "archived": "Avis d'archivage",
    "match": "Cabinet trouvé", "batch_offer": "Lot de patients à étudier",
    "imported": "Avis d'inscription depuis la liste d'un professionnel",
    INBOUND: "SMS reçu", REPLY: "Réponse à son SMS",
}
def message_label(message: Notification) -> str:
    """What a message was; an SMS received, with its words (the staff's reason to look)."""
    label = MESSAGE_LABELS.get(message.template, message.template)
    return f"{label} : « {message.body} »" if message.template == INBOUND and message.body else label


_MESSAGE_STATES = {
    NotificationStatus.created: "à envoyer", NotificationStatus.sending: "en cours d'envoi",
    NotificationStatus.sent: "envoyé", NotificationStatus.failed: "échec : non remis",
    NotificationStatus.unknown: "envoi interrompu : peut-être non remis",
}


def message_state(message: Notification, zone: tzinfo) -> str:
    """A delivery report (Twilio's, an e-mail's bounce), when there is one, says more than our sending did:
    accepted is not received. A message due later (waiting its turn in the patient's daytime, or tried again)
    says when: "nothing came" is the first thing a patient calls about."""
    if message.status is NotificationStatus.created and message.next_attempt_at > message.created_at:
        return ("nouvel essai" if message.attempts else "prévu") + f" le {date_fr(message.next_attempt_at, zone)}"
    if message.delivery_status == "delivered":
        return "remis"
    if message.delivery_status == RECEIVED:
        return "reçu"
    if message.delivery_status in UNDELIVERED:
        return "non remis (renvoyé par la messagerie du destinataire)" if message.channel is Channel.email \
            else "non remis (signalé par l'opérateur)"
    return _MESSAGE_STATES[message.status]


# The practitioner's own words ("Hors de ma pratique"), as the staff read them.
_DECLINED = {**{reason: label.lower() for reason, label in DECLINE_LABELS.items()},
             DeclineReason.outside_practice: "hors de sa pratique"}


def offer_outcome(item: OfferItem, zone: tzinfo, now: datetime) -> str:
    """What came of one offer of the request, as the request's page lists them. A patient still pending in
    an offer past its deadline, or closed, goes back to the queue at the next expiry pass."""
    if item.status is ItemStatus.accepted:
        return "acceptée" + (f" le {date_fr(item.responded_at, zone)}" if item.responded_at else "")
    if item.status is ItemStatus.declined:
        return "déclinée" + (f" : {_DECLINED[item.decline_reason]}" if item.decline_reason else "")
    if item.status in (ItemStatus.pending, ItemStatus.cancelled) and item.offer.closed:
        return "proposition close (cabinet retiré ou lien remplacé)"
    if item.status is ItemStatus.pending and item.offer.expires_at > now:
        return f"en attente de sa réponse, jusqu'au {date_fr(item.offer.expires_at, zone)}"
    return "annulée (demande retirée de la file)" if item.status is ItemStatus.cancelled else "restée sans réponse"


def history_reason(code: str) -> str:
    """The history keeps codes (it outlives erasure and holds no personal data); people read them in French.
    A code this list does not know yet is shown as it is, not hidden."""
    if code.startswith("declined:"):
        try:
            return f"{_HISTORY_REASONS['declined']} : {_DECLINED[DeclineReason(code.removeprefix('declined:'))]}"
        except (ValueError, KeyError):
            return code
    return _HISTORY_REASONS.get(code, code)


def actor(user: User) -> service.Actor:
    return service.Actor(label=user.label, is_staff=True)


def visible_to(user: User) -> int | None:
    return None if user.role is Role.admin else user.organisation_id


def load(session: DbSession, user: User, request_id: int, action: Action, now: datetime, *,
         followed_too: bool = False) -> PatientRequest:
    """The record, if the user's organisation holds it (or follows it, with ``followed_too``); the access is
    logged."""
    patient = service.get_request(session, request_id, visible_to=visible_to(user), followed_too=followed_too)
    audit.log_access(session, user, action, [patient], now)
    return patient


def _enum(kind: type[Any], value: str | None) -> Any:
    try:
        return kind(value) if value else None
    except ValueError:
        return None


@router.get("")
def queue(request: Request, user: Staff, session: DbSession, now: Now, statut: str | None = "waiting",
          type: str | None = None, priorite: str | None = None, q: str | None = None, page: int = 1) -> Response:
    filters = RequestFilter(
        organisation_id=visible_to(user), status=_enum(Status, statut), kind=_enum(Kind, type),
        band=_enum(Band, priorite), text=(q or "").strip()[:100] or None,
    )
    page = max(1, min(page, 10_000))
    rows, total = list_requests(session, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, sort=Sort.priority)
    audit.log_access(session, user, Action.list, rows, now)
    # A name searched is a person looked for, whatever their request's status: say where the others are.
    elsewhere = count_requests(session, replace(filters, status=None)) - total if filters.text and filters.status else 0
    return render(request, "queue.html", {
        "rows": rows, "total": total, "elsewhere": elsewhere, "page": page, "pages": max(1, -(-total // PAGE_SIZE)),
        "explained": explain(session, rows), "today": now.date(), "age_on": age_on,
        "filters": {"statut": statut or "", "type": type or "", "priorite": priorite or "", "q": q or ""},
        "statuses": STATUS_LABELS, "bands": BAND_LABELS, "kinds": list(Kind),
        "messageable": service.messageable,  # no message reaches the patient: the staff call at each step
    })


def _new_form(request: Request, values: dict[str, Any], errors: Errors, *, status: int = 200) -> Response:
    return render(request, "request_form.html", {
        **context(values, errors), "page_title": "Nouvelle demande", "action": "/equipe/demandes/nouvelle",
        "submit_label": "Enregistrer la demande",
    }, status=status)


@router.get("/demandes/nouvelle")
def new_request(request: Request, user: Staff) -> Response:
    return _new_form(request, {}, Errors())


@router.post("/demandes/nouvelle")
def create(request: Request, user: Staff, form: Form, session: DbSession, settings: AppSettings, now: Now,
           geocoder: AppGeocoder, territories: TerritoryRouter, links: AppLinks) -> Response:
    values = answers(form)
    errors = Errors()
    data = parse(form, errors, staff=True)
    if data is None:
        return _new_form(request, values, errors, status=422)
    try:
        created, _ = register(session, data, source=Source.secretary, actor=actor(user),
                              caller_organisation_id=user.organisation_id, geocoder=geocoder, territories=territories,
                              settings=settings, links=links, now=now)
        audit.log_access(session, user, Action.create, [created], now)
    except DuplicateRequest as exc:
        session.rollback()
        existing = exc.extra.get("existing_request_id")
        errors.add("form", f"Cette personne a déjà une demande de ce type en cours (n° {existing}).")
        return _new_form(request, values, errors, status=409)
    except AppError as exc:
        session.rollback()
        service_error(exc, errors)
        return _new_form(request, values, errors, status=exc.status_code)
    return see_other(f"/equipe/demandes/{created.id}?enregistree=1")


def _values(patient: PatientRequest) -> dict[str, str]:
    """The correction form as the record stands."""
    flags = {f"criteria.{name}": "on" for name in ("ald", "pregnant", "urgent") if getattr(patient, name)}
    members = {f"household.{i}.{part}": value for i, member in enumerate(patient.household) for part, value in (
        ("first_name", member.first_name), ("last_name", member.last_name),
        ("birth_date", f"{member.birth_date:%d/%m/%Y}"))}
    return {
        "patient.first_name": patient.first_name or "", "patient.last_name": patient.last_name or "",
        "patient.birth_date": f"{patient.birth_date:%d/%m/%Y}" if patient.birth_date else "",
        "patient.phone": display_phone(patient.phone), "patient.email": patient.email or "",
        "patient.address.line": patient.address_line or "", "patient.address.postal_code": patient.postal_code or "",
        "patient.address.city": patient.city or "", "criteria.urgent_reason": patient.urgent_reason or "",
        "max_distance_km": f"{patient.max_distance_km:g}", **flags, **members,
    }


def _detail(request: Request, session: DbSession, patient: PatientRequest, now: datetime, *,
            typed: tuple[dict[str, str], dict[str, str]] | None = None, errors: Errors | None = None,
            notice: str | None = None, status: int = 200) -> Response:
    """``typed``: a refused correction's values, put back, and the values its form had shown; otherwise the
    form shows the record as it stands. What it showed goes with the form, so that only what the secretary
    changed is written."""
    values, shown = typed or (_values(patient),) * 2  # read only: one dict serves both
    distances = sorted({float(km) for km in DISTANCES_KM} | {patient.max_distance_km})
    return render(request, "request_detail.html", {
        "patient": patient, "explained": explain(session, [patient]).get(patient.id), "notice": notice,
        "values": values, "shown": json.dumps(shown), "distances": [f"{km:g}" for km in distances],
        "referrer": session.get(Cabinet, patient.referred_by_cabinet_id) if patient.referred_by_cabinet_id else None,
        "errors": (errors or Errors()).by_field, "today": now.date(), "age_on": age_on, "reasons": STAFF_REASONS,
        "statuses": STATUS_LABELS, "active": patient.status in (Status.waiting, Status.offered) and not patient.erased_at,
        "household_rows": household_rows(values) if patient.kind is Kind.medecin_traitant else range(0),
        "reason_label": history_reason, "messages": sent_about(session, f"request:{patient.id}"),
        "offers": offered_to(session, patient.id), "offer_outcome": offer_outcome, "now": now,
        "messageable": service.messageable(patient.phone, patient.email),
        "message_label": message_label, "message_state": message_state,
    }, status=status)


@router.get("/demandes/{request_id}")
def detail(request: Request, request_id: RecordId, user: Staff, session: DbSession, now: Now,
           enregistree: str | None = None, corrigee: str | None = None, lien: str | None = None,
           retiree: str | None = None) -> Response:
    try:
        patient = load(session, user, request_id, Action.read, now)
    except NotFound:
        followed = load(session, user, request_id, Action.read_status, now, followed_too=True)
        return _handed_over(request, followed, just_registered=bool(enregistree))
    notice = (f"La demande est enregistrée.{_told(patient)}" if enregistree
              else "Les modifications sont enregistrées." if corrigee
              else "La demande est retirée de la file d'attente." if retiree and patient.status is Status.withdrawn
              else _LINK_SENT.get(lien))
    return _detail(request, session, patient, now, notice=notice)


def _told(patient: PatientRequest) -> str:
    """What a registration's notice adds: nothing when no message can reach the patient (the page says to call)."""
    return " Le patient reçoit son lien de suivi par SMS ou e-mail." if service.messageable(patient.phone,
                                                                                           patient.email) else ""


_LINK_SENT = {
    "sms": "Le lien de suivi est envoyé au patient par SMS.",
    "email": "Le lien de suivi est envoyé au patient par e-mail.",
    "sms-email": "Le lien de suivi est envoyé au patient par SMS et par e-mail.",
}


def _handed_over(request: Request, followed: PatientRequest, *, just_registered: bool) -> Response:
    """Registered here for a home another organisation holds: who holds it and its status, nothing of the
    record (what that organisation's team learns or corrects is its own)."""
    holder = f"« {followed.organisation.name} »"
    where = (f"Le domicile du patient n'est dans le territoire d'aucune CPTS : la demande est suivie par {holder}"
             if followed.outside_territory else
             f"Le domicile du patient est dans le territoire de {holder}, qui suit la demande")
    told = _told(followed) if just_registered else ""
    return render(request, "message.html", {
        "title": f"Demande n° {followed.id} transmise à {holder}",
        "text": f"{where} et la propose à ses cabinets.{told} Statut : {STATUS_LABELS[followed.status].lower()}, "
                f"depuis le {date_fr(followed.status_changed_at)}.",
        "back": "/equipe/demandes/nouvelle", "back_label": "Enregistrer une autre demande",
    })


def _shown(form: FormData) -> dict[str, str]:
    """The values the correction form showed; none (a form from before this field, or tampered): every
    field counts as changed."""
    try:
        shown = json.loads((text(form, "shown") or "{}")[:20_000])
    except (ValueError, RecursionError):
        return {}
    return {k: v for k, v in shown.items() if isinstance(v, str)} if isinstance(shown, dict) else {}


def _given(raw: dict[str, Any]) -> dict[str, Any]:
    """Parts with something to write; a household emptied is one (nobody left in it)."""
    return {k: v for k, v in raw.items() if v or k == "household"}


def _changes(form: FormData, values: dict[str, str], shown: dict[str, str], errors: Errors) -> dict[str, Any]:
    """The correction as ``RequestUpdate`` takes it, with only the fields changed from what was shown (an
    unticked box is absent from both). The address and the urgency go whole."""
    def changed(*names: str) -> bool:
        return not shown or any(values.get(name, "") != shown.get(name, "") for name in names)

    patient = {k: v for k, v in patient_answers(form, errors).items()
               if changed(*(f"patient.address.{p}" for p in ("line", "postal_code", "city")) if k == "address"
                          else (f"patient.{k}",))}
    urgency = ("criteria.urgent", "criteria.urgent_reason")
    answered = criteria_answers(form, errors, staff=True, check=changed(*urgency),
                                shown_reason=shown.get("criteria.urgent_reason") or None)
    criteria = {k: v for k, v in answered.items() if changed(*(urgency if k.startswith("urgent") else (f"criteria.{k}",)))}
    raw: dict[str, Any] = {"patient": patient, "criteria": criteria}
    if changed("max_distance_km"):
        raw["max_distance_km"] = text(form, "max_distance_km")
    # The household goes whole, and only from a form that showed it: emptied, it is a list of nobody.
    if (members := sorted(k for k in values.keys() | shown.keys() if k.startswith("household."))) and changed(*members):
        raw["household"] = household_answers(form, errors)
    return _given(raw)


@router.post("/demandes/{request_id}/modifier")
def update(request: Request, request_id: RecordId, user: Staff, form: Form, session: DbSession, now: Now,
           geocoder: AppGeocoder, territories: TerritoryRouter) -> Response:
    """Everything typed at intake can be corrected but the kind. Only the fields the
    secretary changed are written: a change made meanwhile elsewhere (a partner, the patient) stands. A
    changed address is located again (outside any transaction); the organisation stays, as in the API. The
    audit log says what happened: an update when something was written, a read otherwise."""
    patient = service.get_request(session, request_id, visible_to=visible_to(user))
    values, shown, errors, status = answers(form), _shown(form), Errors(), 422
    values.pop("shown", None)
    raw = _changes(form, values, shown, errors)
    address = raw.get("patient", {}).get("address")
    if address and (address["line"], address["postal_code"], address["city"]) == (
        patient.address_line or "", patient.postal_code, patient.city
    ):
        del raw["patient"]["address"]  # as stored: not located again
        raw = _given(raw)
    if not raw and not errors:
        audit.log_access(session, user, Action.read, [patient], now)
        return _detail(request, session, patient, now, notice="Aucune modification : la demande reste telle quelle.")
    data = validate(RequestUpdate, raw, errors)
    home = None
    if data is not None and data.patient is not None and data.patient.address is not None:
        session.rollback()  # no transaction stays open while the new address is located
        try:
            home = geocoder.locate_input(data.patient.address, None, field="patient")
        except AppError as exc:
            service_error(exc, errors, default_field="patient.address.postal_code")
        patient = service.get_request(session, request_id, visible_to=visible_to(user))
    if data is not None and not errors:
        try:
            service.update_request(session, patient, data=data, home=home, actor=actor(user), now=now,
                                   territories=territories)
        except DuplicateRequest as exc:
            errors.add("form", f"Une autre demande de ce type est en cours pour cette personne "
                               f"(n° {exc.extra.get('existing_request_id')}) : rien n'est modifié.")
            status = exc.status_code
        except AppError as exc:
            service_error(exc, errors, default_field="patient.phone")
            status = exc.status_code
    if errors:
        session.rollback()
        return _detail(request, session, load(session, user, request_id, Action.read, now), now,
                       typed=(values, shown), errors=errors, status=status)
    audit.log_access(session, user, Action.update, [patient], now)
    return see_other(f"/equipe/demandes/{request_id}?corrigee=1")  # a reload does not send the correction again


@router.post("/demandes/{request_id}/lien", dependencies=[Depends(checked_form)])
def send_link(request: Request, request_id: RecordId, user: Staff, session: DbSession, now: Now,
              links: AppLinks) -> Response:
    """The tracking link sent again: a patient on the phone who lost it, or one imported who never had it."""
    patient = load(session, user, request_id, Action.send_link, now)
    try:
        channels = service.send_tracking_link(session, patient, links=links, now=now)
    except AppError as exc:
        errors = Errors()
        service_error(exc, errors, default_field="form")
        return _detail(request, session, patient, now, errors=errors, status=exc.status_code)
    return see_other(f"/equipe/demandes/{request_id}?lien={'-'.join(channel.value for channel in channels)}")


@router.post("/demandes/{request_id}/retrait")
def withdraw(request: Request, request_id: RecordId, user: Staff, form: Form, session: DbSession, now: Now) -> Response:
    patient = load(session, user, request_id, Action.withdraw, now)
    reason = _enum(WithdrawReason, text(form, "reason"))
    if reason not in STAFF_REASONS:
        errors = Errors()
        errors.add("reason", "Choisissez la raison du retrait.")
        return _detail(request, session, patient, now, errors=errors, status=422)
    try:
        service.withdraw_request(session, patient, reason=reason, actor=actor(user), now=now)
    except AppError as exc:
        errors = Errors()
        service_error(exc, errors, default_field="reason")
        return _detail(request, session, patient, now, errors=errors, status=exc.status_code)
    return see_other(f"/equipe/demandes/{request_id}?retiree=1")  # a reload does not send the withdrawal again

