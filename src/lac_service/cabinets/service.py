"""Use cases on cabinets. Functions flush; the caller's unit of work commits."""

import secrets
from collections.abc import Sequence
from datetime import datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.cabinets.models import Cabinet, Channel
from lac_service.cabinets.schemas import CabinetCreate, CabinetUpdate
from lac_service.errors import InvalidInput, NotFound
from lac_service.geography.geocoder import Located
from lac_service.kit.phone import display_phone, takes_sms
from lac_service.kit.tokens import hash_token
from lac_service.links import LinkKind, Links


def sms_landline(cabinet: Cabinet) -> str | None:
    """A number its batches are texted to that takes no text message: each batch sent there fails. Refused
    since texts go to mobiles only; a cabinet saved before keeps it until corrected."""
    if Channel.sms not in cabinet.channels:
        return None
    return next((phone for phone in cabinet.phones if not takes_sms(phone)), None)


def check_channels(cabinet: Cabinet) -> None:
    """A channel with nowhere to send would lose every batch offer silently."""
    if Channel.sms in cabinet.channels:
        if not cabinet.phones:
            raise InvalidInput("Les SMS demandent au moins un numéro de téléphone.", field="phones")
        if landline := sms_landline(cabinet):
            raise InvalidInput(f"Le {display_phone(landline)} ne reçoit pas de SMS : donnez un numéro de portable, "
                               f"ou décochez « SMS ».", field="phones")
    if Channel.email in cabinet.channels and not cabinet.emails:
        raise InvalidInput("Les e-mails demandent au moins une adresse e-mail.", field="emails")


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def create_cabinet(
    session: Session, *, data: CabinetCreate, place: Located, organisation_id: int, now: datetime
) -> Cabinet:
    """``place`` was located beforehand, outside any transaction."""
    cabinet = Cabinet(
        organisation_id=organisation_id, name=data.name, kinds=_unique([k.value for k in data.kinds]),
        address_line=data.address.line, postal_code=data.address.postal_code, city=data.address.city,
        lat=place.lat, lon=place.lon, location_precision=place.precision, radius_km=data.radius_km, batch_size=data.batch_size,
        cadence_days=data.cadence_days, channels=_unique([c.value for c in data.channels]),
        phones=_unique(data.phones), emails=_unique(data.emails), patient_phone=data.patient_phone,
        paused=data.paused, created_at=now, updated_at=now,
    )
    check_channels(cabinet)
    session.add(cabinet)
    session.flush()
    return cabinet


def get_cabinet(session: Session, cabinet_id: int, *, visible_to: int | None) -> Cabinet:
    cabinet = session.get(Cabinet, cabinet_id)
    if (
        cabinet is None or cabinet.deleted_at is not None
        or (visible_to is not None and cabinet.organisation_id != visible_to)
    ):
        raise NotFound("Cabinet introuvable.")
    return cabinet


def list_cabinets(
    session: Session, *, organisation_id: int | None, limit: int, offset: int
) -> tuple[Sequence[Cabinet], int]:
    conditions = [Cabinet.deleted_at.is_(None)]
    if organisation_id is not None:
        conditions.append(Cabinet.organisation_id == organisation_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(Cabinet).where(*conditions)) or 0
    rows = session.scalars(
        sa.select(Cabinet).where(*conditions).order_by(Cabinet.id).limit(limit).offset(offset)
    ).all()
    return rows, total


def update_cabinet(
    session: Session, cabinet: Cabinet, *, data: CabinetUpdate, place: Located | None, now: datetime
) -> Cabinet:
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field != "patient_phone":
            raise InvalidInput("Ce champ ne peut pas être vidé.", field=field)
    if data.address is not None:
        cabinet.address_line, cabinet.postal_code, cabinet.city = (
            data.address.line, data.address.postal_code, data.address.city
        )
    if place is not None:
        cabinet.lat, cabinet.lon, cabinet.location_precision = place.lat, place.lon, place.precision
    for field in ("kinds", "channels"):
        if field in changes:
            setattr(cabinet, field, _unique([str(v) for v in changes[field]]))
    if not cabinet.channels:  # in browse mode an ask is served at once or not at all: nothing would tell of it
        cabinet.batch_requested_at = None
    for field in ("phones", "emails"):
        if field in changes:
            setattr(cabinet, field, _unique(changes[field]))
    for field in ("name", "radius_km", "batch_size", "cadence_days", "paused", "patient_phone"):
        if field in changes:
            setattr(cabinet, field, changes[field])
    check_channels(cabinet)
    cabinet.updated_at = now
    session.flush()
    return cabinet


def due_from(cabinet: Cabinet) -> datetime | None:
    """When the cadence makes a cabinet told of its batches due again; None: due now (never served, or a batch
    asked for). See ``is_due`` for one in browse mode.

    A cadence counts calendar days in the cabinet's time, not hours: a round that ran late yesterday must not
    make a cabinet with a one-day cadence miss today's, and two rounds a day must not serve it twice."""
    if cabinet.last_batch_at is None or cabinet.batch_requested_at is not None:
        return None
    day = cabinet.last_batch_at.astimezone(cabinet.zone).date() + timedelta(days=cabinet.cadence_days)
    return datetime.combine(day, time(), tzinfo=cabinet.zone)


def is_due(cabinet: Cabinet, now: datetime) -> bool:
    """For the rounds of an organisation. Never a cabinet in browse mode (no channel), which is served only by
    its own ask, at once (``matching.service.ask_batch``): a batch nobody hears of would hold its patients until
    it expired, and the expiry would then bar them from that cabinet for good."""
    due = due_from(cabinet)
    return bool(cabinet.channels) and (due is None or due <= now)


def set_paused(session: Session, cabinet: Cabinet, *, paused: bool, now: datetime) -> Cabinet:
    """A paused cabinet gets no batch; resuming makes it due again according to its cadence."""
    if cabinet.paused != paused:
        cabinet.paused, cabinet.updated_at = paused, now
        session.flush()
    return cabinet


def practitioner_link(session: Session, cabinet: Cabinet, links: Links) -> str:
    """The cabinet's standing page, issued the first time it is asked for and the same afterwards."""
    link = links.issue(LinkKind.practitioner) if cabinet.link_token_nonce is None else links.rebuild(
        LinkKind.practitioner, cabinet.link_token_nonce
    )
    cabinet.link_token_nonce, cabinet.link_token_hash = link.nonce, link.token_hash
    session.flush()
    return links.url(LinkKind.practitioner, link.token)


_REFERRAL_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # nothing to misread: no O/0, I/1, L


def referral_url(session: Session, cabinet: Cabinet, links: Links) -> str:
    """The link a practitioner hands a patient, so that the request records who referred them; issued the
    first time it is asked for."""
    while cabinet.referral_code is None:
        code = "".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(8))
        if session.scalar(sa.select(Cabinet.id).where(Cabinet.referral_code == code)) is None:
            cabinet.referral_code = code
            session.flush()
    return f"{links.site_url}/?ref={cabinet.referral_code}"


def find_by_referral(session: Session, code: str) -> Cabinet | None:
    return session.scalar(
        sa.select(Cabinet).where(Cabinet.referral_code == code.strip().upper(), Cabinet.deleted_at.is_(None))
    )


def revoke_link(session: Session, cabinet: Cabinet, *, now: datetime) -> None:
    """The old page stops working, and so do the links of the batches sent so far, which it listed (their
    pending patients go back to the queue: ``offers.service.expire_offers``). The next request for the link,
    or the next batch's page, issues a new one."""
    cabinet.link_token_nonce = cabinet.link_token_hash = None
    cabinet.link_revoked_at = cabinet.updated_at = now
    session.flush()


def find_by_link(session: Session, token: str) -> Cabinet:
    """Unknown, revoked or forged tokens and removed cabinets are all simply not found."""
    cabinet = session.scalar(
        sa.select(Cabinet).where(Cabinet.link_token_hash == hash_token(token), Cabinet.deleted_at.is_(None))
    )
    if cabinet is None:
        raise NotFound("Ce lien n'existe pas ou n'est plus valable.")
    return cabinet


def delete_cabinet(session: Session, cabinet: Cabinet, *, now: datetime) -> None:
    """Kept as a row (offers and indicators refer to it), gone from every list and lookup; its batches' links
    stop working and their pending patients go back to the queue (``offers.service.expire_offers``)."""
    cabinet.deleted_at = cabinet.updated_at = now
    cabinet.link_token_nonce = cabinet.link_token_hash = None
    session.flush()
