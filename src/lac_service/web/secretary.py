"""The secretary's screens: the organisation's queue with each priority explained, a request registered
during a phone call (urgency included, with its reason), a request's page to correct or withdraw it.

A request of another organisation is "not found", as in the API.
"""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lac_service import audit
from lac_service.audit import Action
from lac_service.auth.models import Role, User
from lac_service.cabinets.models import Cabinet
from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import AppError, DuplicateRequest
from lac_service.geography.geocoder import AppGeocoder
from lac_service.intake import service
from lac_service.intake.models import PatientRequest, Source, Status, WithdrawReason
from lac_service.intake.ranking import explain
from lac_service.intake.repository import RequestFilter, Sort, list_requests
from lac_service.intake.schemas import RequestUpdate
from lac_service.kinds import Kind
from lac_service.kit.clock import Now
from lac_service.kit.dates import age_on
from lac_service.kit.fields import RecordId
from lac_service.links import AppLinks
from lac_service.organisations.service import TerritoryRouter
from lac_service.priority import Band
from lac_service.web.forms import Errors, answers, checked, service_error, text, validate
from lac_service.web.pages import render, see_other
from lac_service.web.public import Form
from lac_service.web.request_form import context, parse, register
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


def actor(user: User) -> service.Actor:
    return service.Actor(label=user.label, is_staff=True)


def visible_to(user: User) -> int | None:
    return None if user.role is Role.admin else user.organisation_id


def load(session: DbSession, user: User, request_id: int, action: Action, now: datetime) -> PatientRequest:
    """The record, if the user's organisation holds it; the access is logged."""
    patient = service.get_request(session, request_id, visible_to=visible_to(user))
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
    return render(request, "queue.html", {
        "rows": rows, "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)),
        "explained": explain(session, rows), "today": now.date(), "age_on": age_on,
        "filters": {"statut": statut or "", "type": type or "", "priorite": priorite or "", "q": q or ""},
        "statuses": STATUS_LABELS, "bands": BAND_LABELS, "kinds": list(Kind),
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


def _detail(request: Request, session: DbSession, patient: PatientRequest, now: datetime, *,
            errors: Errors | None = None, notice: str | None = None, status: int = 200) -> Response:
    return render(request, "request_detail.html", {
        "patient": patient, "explained": explain(session, [patient]).get(patient.id), "notice": notice,
        "referrer": session.get(Cabinet, patient.referred_by_cabinet_id) if patient.referred_by_cabinet_id else None,
        "errors": (errors or Errors()).by_field, "today": now.date(), "age_on": age_on, "reasons": STAFF_REASONS,
        "statuses": STATUS_LABELS, "active": patient.status in (Status.waiting, Status.offered) and not patient.erased_at,
    }, status=status)


@router.get("/demandes/{request_id}")
def detail(request: Request, request_id: RecordId, user: Staff, session: DbSession, now: Now,
           enregistree: str | None = None) -> Response:
    patient = load(session, user, request_id, Action.read, now)
    return _detail(request, session, patient, now, notice="La demande est enregistrée ; le patient reçoit son lien de "
                                                         "suivi par SMS ou e-mail." if enregistree else None)


@router.post("/demandes/{request_id}/modifier")
def update(request: Request, request_id: RecordId, user: Staff, form: Form, session: DbSession, now: Now) -> Response:
    patient = load(session, user, request_id, Action.update, now)
    errors = Errors()
    urgent = checked(form, "criteria.urgent")
    reason = text(form, "criteria.urgent_reason")
    if urgent and not reason:
        errors.add("criteria.urgent_reason", "Indiquez pourquoi la demande est urgente.")
    data = validate(RequestUpdate, {
        "patient": {"phone": text(form, "patient.phone"), "email": text(form, "patient.email")},
        "criteria": {"urgent": urgent, "urgent_reason": reason if urgent else None},
    }, errors)
    if data is not None:
        try:
            service.update_request(session, patient, data=data, home=None, actor=actor(user), now=now)
        except AppError as exc:
            service_error(exc, errors, default_field="patient.phone")
    if errors:
        session.rollback()
        return _detail(request, session, load(session, user, request_id, Action.read, now), now, errors=errors, status=422)
    return _detail(request, session, patient, now, notice="Les modifications sont enregistrées.")


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
    return _detail(request, session, patient, now, notice="La demande est retirée de la file d'attente.")

