"""The request form, shared by the public page and the secretary's intake screen."""

from typing import Any

from datetime import datetime

from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from lac_service.cabinets import service as cabinets
from lac_service.auth.models import Organisation
from lac_service.config import Settings
from lac_service.errors import InvalidInput
from lac_service.geography.geocoder import Geocoder
from lac_service.intake import service
from lac_service.intake.models import PatientRequest, Source
from lac_service.intake.placement import place
from lac_service.intake.schemas import MAX_HOUSEHOLD, RequestCreate
from lac_service.links import Links
from lac_service.organisations.service import Router
from lac_service.kinds import Kind
from lac_service.kit.phone import display_phone
from lac_service.web.forms import Errors, checked, day, text, validate

HOUSEHOLD_ROWS = 4
DISTANCES_KM = (5, 10, 20, 30, 50, 80)


def context(values: dict[str, Any], errors: Errors) -> dict[str, Any]:
    """What ``request_form.html`` needs. The household part starts folded, unless something was typed or is
    wrong in it."""
    return {
        "values": values, "errors": errors.by_field, "kinds": list(Kind), "distances": DISTANCES_KM,
        "household_rows": household_rows(values),
        "household_open": any(k.startswith("household.") and v for k, v in values.items())
        or any(k.startswith("household") for k in errors.by_field),
    }


def household_rows(values: dict[str, str]) -> range:
    """Rows for the household: the people typed or recorded, and room for one more (four at least)."""
    filled = max((int(key.split(".")[1]) + 1 for key, value in values.items()
                  if key.startswith("household.") and key.split(".")[1].isdigit() and value), default=0)
    return range(min(MAX_HOUSEHOLD, max(HOUSEHOLD_ROWS, filled + 1)))


def household_answers(form: FormData, errors: Errors) -> list[dict[str, Any]]:
    """The people filled in, in order; a row left empty is nobody."""
    rows = []
    for i in range(MAX_HOUSEHOLD):
        names = [f"household.{i}.{part}" for part in ("first_name", "last_name", "birth_date")]
        if not any(text(form, name) for name in names):
            continue
        rows.append({
            "first_name": text(form, names[0]), "last_name": text(form, names[1]),
            "birth_date": day(form, names[2], errors),
        })
    return rows


def patient_answers(form: FormData, errors: Errors) -> dict[str, Any]:
    """The patient's part of the form (``patient.*``), as the schemas take it."""
    return {
        "first_name": text(form, "patient.first_name"), "last_name": text(form, "patient.last_name"),
        "birth_date": day(form, "patient.birth_date", errors),
        "phone": text(form, "patient.phone"), "email": text(form, "patient.email"),
        "address": {
            "line": text(form, "patient.address.line") or "", "postal_code": text(form, "patient.address.postal_code"),
            "city": text(form, "patient.address.city"),
        },
    }


def criteria_answers(form: FormData, errors: Errors, *, staff: bool, check: bool = True,
                     shown_reason: str | None = None) -> dict[str, Any]:
    """ALD and pregnancy; urgency too for staff, with its reason: no reason, no urgency, and a reason typed
    without the box ticked is a slip, not a choice. Unticking the box of a request shown urgent
    (``shown_reason`` still in its field) clears its reason. ``check``: the urgency was touched."""
    criteria: dict[str, Any] = {"ald": checked(form, "criteria.ald"), "pregnant": checked(form, "criteria.pregnant")}
    if staff:
        urgent, reason = checked(form, "criteria.urgent"), text(form, "criteria.urgent_reason")
        if check and urgent and not reason:
            errors.add("criteria.urgent_reason", "Indiquez pourquoi la demande est urgente.")
        if check and reason and not urgent and reason != shown_reason:
            errors.add("criteria.urgent_reason", "Cochez « Demande urgente », ou videz le motif de l'urgence.")
        criteria |= {"urgent": urgent, "urgent_reason": reason if urgent else None}
    return criteria


def parse(form: FormData, errors: Errors, *, staff: bool) -> RequestCreate | None:
    """None when something is wrong; ``errors`` then says what, field by field, all at once (a missing contact
    too, which registering would find only once the rest is right). Only staff set urgency."""
    kind = text(form, "kind")
    if kind is None:
        errors.add("kind", "Choisissez le type de demande.")
    patient = patient_answers(form, errors)
    if patient["phone"] is None and patient["email"] is None:
        errors.add("patient.phone", service.NO_CONTACT)
    household = household_answers(form, errors)
    if household and kind not in (None, Kind.medecin_traitant.value):
        errors.add("household", service.HOUSEHOLD_GP_ONLY)
    data: dict[str, Any] = {
        "kind": kind, "patient": patient, "household": household,
        "criteria": criteria_answers(form, errors, staff=staff),
        "max_distance_km": text(form, "max_distance_km"),
        "consent": checked(form, "consent"),
    }
    return validate(RequestCreate, data, errors)


def register(
    session: Session, data: RequestCreate, *, source: Source, actor: service.Actor, caller_organisation_id: int | None,
    geocoder: Geocoder, territories: Router, settings: Settings, links: Links, now: datetime,
    referral_code: str | None = None,
) -> tuple[PatientRequest, str]:
    """Locates the home, finds its organisation and registers the request, as the API does. The home is
    located before any query, so no transaction waits on the geocoder; an unknown referral code is not the
    patient's problem: the request is registered without it."""
    placed = place(session, data.patient, geocoder=geocoder, territories=territories, settings=settings,
                   caller_organisation_id=caller_organisation_id)
    referrer = cabinets.find_by_referral(session, referral_code[:12]) if referral_code else None
    try:
        return service.create_request(
            session, data=data, home=placed.home, organisation_id=placed.organisation_id,
            outside_territory=placed.outside_territory, source=source, actor=actor,
            max_distance_km=settings.max_distance_default(data.kind), now=now, links=links,
            referred_by_cabinet_id=referrer.id if referrer else None, registered_by=caller_organisation_id,
        )
    except service.LandlineOnly as exc:
        organisation = session.get(Organisation, placed.organisation_id)
        if organisation is None or organisation.contact_phone is None:
            raise
        raise InvalidInput(f"{exc.detail} Sans l'un ni l'autre, appelez {organisation.name} au "
                           f"{display_phone(organisation.contact_phone)} : l'équipe vous inscrira.",
                           field=exc.field) from exc
