"""Use cases on requests. Functions flush; the caller's unit of work commits."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.errors import DuplicateRequest, Forbidden, InvalidInput, InvalidTransition, NotFound
from lac_service.idempotency import forget_resource
from lac_service.intake.models import (
    ACTIVE_STATUSES, HouseholdMember, PatientRequest, Source, Status, StatusChange, WithdrawReason,
)
from lac_service.intake.ranking import apply_score
from lac_service.intake.repository import find_active_duplicate
from lac_service.intake.schemas import HouseholdMemberIn, RequestCreate, RequestUpdate
from lac_service.geography.geocoder import Located
from lac_service.kinds import Kind
from lac_service.notifications.models import Channel
from lac_service.notifications.outbox import Message, Turn, drop_unsent, enqueue_message, readdress_unsent
from lac_service.notifications.outbox import forget_resource as forget_messages
from lac_service.kit.fields import Address
from lac_service.kit.phone import takes_sms
from lac_service.kit.text import identity_key, person_key
from lac_service.kit.tokens import hash_token
from lac_service.links import LinkKind, Links
from lac_service.organisations.service import Router
from lac_service.organisations.webhooks import Change, queue_changes

# Where a request may go from each status; everything else is refused.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.waiting: frozenset({Status.offered, Status.withdrawn, Status.archived}),
    Status.offered: frozenset({Status.matched, Status.waiting, Status.withdrawn}),
    Status.matched: frozenset(),
    Status.withdrawn: frozenset(),
    Status.archived: frozenset({Status.waiting}),
}


@dataclass(frozen=True)
class Actor:
    """Who acts, for the status history: ``apikey:12``, ``public``, ``system``. Never a person's name."""

    label: str
    is_staff: bool


SYSTEM = Actor(label="system", is_staff=True)


NO_CONTACT = "Indiquez au moins un téléphone ou une adresse e-mail."


class LandlineOnly(InvalidInput):
    """A landline alone, where only messages will reach the patient: the page says who can register them by
    phone instead, once the home's organisation is known."""

    def __init__(self) -> None:
        super().__init__("Ce numéro est un fixe, qui ne reçoit pas de SMS : donnez un numéro de portable ou une "
                         "adresse e-mail.", field="patient.phone")


def check_contact(phone: str | None, email: str | None, *, by_message: bool = False) -> None:
    """``by_message``: the patient will be reached by messages only (the public form promises no call), so a
    landline alone will not do; staff may register one, and call."""
    if phone is None and email is None:
        raise InvalidInput(NO_CONTACT, field="patient.phone")
    if by_message and not messageable(phone, email):
        raise LandlineOnly()


def messageable(phone: str | None, email: str | None) -> bool:
    """Whether any message can reach the patient: an e-mail address, or a mobile for text messages."""
    return email is not None or sms_number(phone) is not None


def sms_number(phone: str | None) -> str | None:
    """The number text messages go to: a mobile; a landline never gets them."""
    return phone if phone is not None and takes_sms(phone) else None


HOUSEHOLD_GP_ONLY = ("Les membres du foyer s'inscrivent avec une demande de médecin traitant seulement : pour un "
                     "bilan orthophonique, faites une demande par personne.")


def check_household(kind: Kind, household: list[HouseholdMemberIn]) -> None:
    if household and kind is not Kind.medecin_traitant:
        raise InvalidInput(HOUSEHOLD_GP_ONLY, field="household")


@dataclass(frozen=True)
class _Person:
    """What makes two requests one person's, read off a request before a flush that may fail (a savepoint's
    rollback expires the request's changes)."""

    kind: Kind
    identity_key: str
    birth_date: date
    request_id: int | None

    @classmethod
    def of(cls, request: PatientRequest) -> "_Person":
        assert request.identity_key is not None and request.birth_date is not None
        return cls(request.kind, request.identity_key, request.birth_date, request.id)


def _refuse_duplicate(session: Session, person: _Person) -> None:
    with session.no_autoflush:  # the pending change would hit the unique index before we can name the twin
        existing = find_active_duplicate(session, kind=person.kind, identity_key=person.identity_key,
                                         birth_date=person.birth_date, exclude_id=person.request_id)
    if existing is not None:
        raise DuplicateRequest(existing_request_id=existing.id)


def _flush_unless_duplicate(session: Session, request: PatientRequest) -> None:
    """The unique index catches what the check before could not: a concurrent registration of the same
    person that committed first. The failed write spoils the transaction (a savepoint would not help: the
    ORM flushes pending changes before it opens one), so it is rolled back — the 409 writes nothing — and the
    twin is looked up in a new one."""
    person = _Person.of(request)
    try:
        session.flush()
    except sa.exc.IntegrityError:
        session.rollback()
        _refuse_duplicate(session, person)
        raise


def set_status(
    session: Session, request: PatientRequest, to: Status, *, actor: Actor, now: datetime, reason: str | None
) -> None:
    """Every change is kept in the history and, in the same transaction, queued for the partner's webhook. A
    request that closes, or comes back, drops the messages nobody was waiting for that still wait their turn
    (``outbox.IN_TURN``): a patient matched overnight is not asked in the morning whether they still wait."""
    if to not in TRANSITIONS[request.status]:
        raise InvalidTransition(
            f"Impossible de passer une demande « {request.status} » à « {to} ».", field="status"
        )
    if (request.status in ACTIVE_STATUSES) != (to in ACTIVE_STATUSES):
        drop_unsent(session, f"request:{request.id}")
    request.history.append(
        StatusChange(from_status=request.status, to_status=to, reason=reason, actor=actor.label, at=now)
    )
    queue_changes(session, [Change(request.id, request.organisation_id, request.followed_by_organisation_id,
                                   request.status, to, reason)], now=now)
    request.status = to
    request.status_changed_at = now
    request.updated_at = now


def _place(request: PatientRequest, home: Located) -> None:
    request.lat, request.lon, request.location_precision = home.lat, home.lon, home.precision
    request.department = home.department


def to_patient(request_id: int, organisation_id: int, phone: str | None, email: str | None, template: str, *,
               event: str, context: dict[str, Any], due: Turn | None = None) -> list[Message]:
    """The patient hears by what they gave: SMS to a mobile, email to the address (both when both; a landline
    gets nothing, and the staff call). ``event`` names the message once per request
    (``request:N:{event}:{channel}``): told twice, they hear it once."""
    return [Message(channel, recipient, template, context, f"request:{request_id}:{event}:{channel.value}",
                    resource=f"request:{request_id}", organisation_id=organisation_id, due=due)
            for channel, recipient in ((Channel.sms, sms_number(phone)), (Channel.email, email)) if recipient]


def tell_patient(
    session: Session, request: PatientRequest, template: str, *, event: str, link: str, now: datetime,
    due: Turn | None = None, **context: str,
) -> list[Channel]:
    """``to_patient``, queued; returns the channels used. ``due``: its turn (``outbox.Turns``)."""
    messages = to_patient(request.id, request.organisation_id, request.phone, request.email, template, event=event,
                          context={"kind": request.kind.value, "link": link, **context}, due=due)
    for message in messages:
        enqueue_message(session, message, now=now)
    return [message.channel for message in messages]


def create_request(
    session: Session, *, data: RequestCreate, home: Located, organisation_id: int, outside_territory: bool,
    source: Source, actor: Actor, max_distance_km: float, now: datetime, links: Links, notify: bool = True,
    referred_by_cabinet_id: int | None = None, registered_by: int | None = None,
) -> tuple[PatientRequest, str]:
    """Registers a patient located beforehand (``home``, outside any transaction); returns the request and
    the link to its tracking page. The patient's confirmation is queued in the same transaction, unless
    ``notify`` is off (demo data, imports). ``registered_by``: the caller's organisation, which follows the
    request's status when the home puts it in another's hands."""
    if not actor.is_staff and (data.criteria.urgent or data.criteria.urgent_reason):
        raise Forbidden("L'urgence est fixée par l'équipe après un entretien.", field="criteria.urgent")
    patient = data.patient
    check_contact(patient.phone, patient.email, by_message=not actor.is_staff)
    check_household(data.kind, data.household)
    link = links.issue(LinkKind.tracking)
    followed_by = registered_by if registered_by != organisation_id else None
    request = PatientRequest(
        organisation_id=organisation_id, kind=data.kind, status=Status.waiting, source=source,
        first_name=patient.first_name, last_name=patient.last_name,
        identity_key=identity_key(patient.first_name, patient.last_name),
        person_key=person_key(patient.first_name, patient.last_name),
        birth_date=patient.birth_date, birth_year=patient.birth_date.year,
        phone=patient.phone, email=patient.email,
        address_line=patient.address.line, postal_code=patient.address.postal_code, city=patient.address.city,
        outside_territory=outside_territory,
        ald=data.criteria.ald, pregnant=data.criteria.pregnant, urgent=data.criteria.urgent,
        urgent_reason=data.criteria.urgent_reason,
        max_distance_km=data.max_distance_km or max_distance_km,
        people_count=1 + len(data.household),
        consent_at=now, tracking_token_hash=link.token_hash, tracking_token_nonce=link.nonce,
        created_at=now, updated_at=now, status_changed_at=now, waiting_since=now,
        referred_by_cabinet_id=referred_by_cabinet_id, followed_by_organisation_id=followed_by,
        household=[HouseholdMember(**m.model_dump()) for m in data.household],
        history=[StatusChange(from_status=None, to_status=Status.waiting, actor=actor.label, at=now)],
    )
    _place(request, home)
    apply_score(session, request, now=now)
    _refuse_duplicate(session, _Person.of(request))
    session.add(request)
    _flush_unless_duplicate(session, request)
    url = links.url(LinkKind.tracking, link.token)
    if notify:
        tell_patient(session, request, "request_confirmation", event="confirmation", link=url, now=now)
        queue_changes(session, [Change(request.id, organisation_id, followed_by, None, Status.waiting, None)], now=now)
    return request, url


def send_tracking_link(session: Session, request: PatientRequest, *, links: Links, now: datetime) -> list[Channel]:
    """The tracking link sent again (lost, never received, or an imported patient who was never sent one); the
    channels it goes by. A double click, or two secretaries at once, send it once a minute to the same contacts;
    a number corrected meanwhile gets it at once. Not to a withdrawn request: a patient who answered STOP, or one
    whose other registration is the one followed."""
    _require_not_erased(request)
    if request.merged_into_id is not None:
        raise InvalidTransition(f"Cette inscription en double a été regroupée avec la demande "
                                f"n° {request.merged_into_id} : envoyez le lien de celle-ci.")
    if request.status is Status.withdrawn:
        raise InvalidTransition("Cette demande est retirée : aucun message n'est plus envoyé au patient.")
    if not messageable(request.phone, request.email):
        raise InvalidTransition("Aucun message ne peut joindre ce patient (un numéro fixe et pas d'adresse e-mail) : "
                                "appelez-le.")
    url = tracking_url(request, links)
    if url is None:  # registered before links could be rebuilt: a new one, which the old (never rebuilt) gives way to
        link = links.issue(LinkKind.tracking)
        session.execute(  # only if no one issued one meanwhile: two at once must not send a link then replace it
            sa.update(PatientRequest)
            .where(PatientRequest.id == request.id, PatientRequest.tracking_token_nonce.is_(None))
            .values(tracking_token_hash=link.token_hash, tracking_token_nonce=link.nonce)
        )
        session.refresh(request, ["tracking_token_hash", "tracking_token_nonce"])
        url = tracking_url(request, links)
        assert url is not None
    contacts = hash_token(f"{request.phone}|{request.email}")[:8]
    return tell_patient(session, request, "tracking_link", event=f"link:{now:%Y%m%dT%H%M}:{contacts}", link=url,
                        now=now)


def tracking_url(request: PatientRequest, links: Links) -> str | None:
    """The patient's tracking link, rebuilt to be sent again; None for a request registered before links
    could be rebuilt, or erased."""
    if request.tracking_token_nonce is None:
        return None
    link = links.rebuild(LinkKind.tracking, request.tracking_token_nonce)
    request.tracking_token_hash = link.token_hash  # unchanged unless the secret key changed
    return links.url(LinkKind.tracking, link.token)


def find_by_tracking(session: Session, token: str) -> PatientRequest:
    """The patient's own request, by the link alone; an unknown, forged or erased link finds nothing."""
    request = session.scalar(sa.select(PatientRequest).where(PatientRequest.tracking_token_hash == hash_token(token)))
    if request is None:
        raise NotFound("Ce lien de suivi n'est pas (ou plus) valable. Si la demande a été retirée, ses données ont "
                       "été effacées ; pour vous inscrire de nouveau, remplissez le formulaire.")
    return request


def confirm_waiting(session: Session, request: PatientRequest, *, actor: Actor, now: datetime) -> None:
    """The patient says they still wait (an SMS OUI, the tracking page): re-confirmation counts from here.
    A request archived for want of an answer comes back to the queue with its original date, unless the
    person registered again meanwhile (that newer request is the one that waits)."""
    if request.status is Status.archived and request.erased_at is None:
        assert request.identity_key is not None and request.birth_date is not None
        newer = find_active_duplicate(session, kind=request.kind, identity_key=request.identity_key,
                                      birth_date=request.birth_date, exclude_id=request.id)
        if newer is None:
            set_status(session, request, Status.waiting, actor=actor, now=now, reason="reconfirmed")
    if request.status in ACTIVE_STATUSES:
        request.confirmed_at = request.updated_at = now
        drop_unsent(session, f"request:{request.id}", templates=("reconfirmation",))  # answered before it was asked


def get_request(session: Session, request_id: int, *, visible_to: int | None, followed_too: bool = False,
                ) -> PatientRequest:
    """``visible_to`` is the caller's organisation (None: all). A foreign request is reported missing, unless
    ``followed_too`` and the caller's organisation follows it (to show its status, never to act on it)."""
    request = session.get(PatientRequest, request_id)
    if request is None or (visible_to not in (None, request.organisation_id) and not (
            followed_too and visible_to == request.followed_by_organisation_id)):
        raise NotFound("Demande introuvable.")
    return request


def lock_request(session: Session, request_id: int) -> None:
    """Locks the request's row and reloads it as it is once locked (the row is fetched: the ORM refreshes an
    object only as it reads its row), so that a change is checked against what a concurrent one committed:
    a practitioner's « Accepter » written meanwhile is not overwritten by a withdrawal read before it. "OF":
    the eagerly joined organisation is on the nullable side of an outer join, which PostgreSQL refuses to
    lock; only the request's row needs it. (SQLite: its one writer already waits.)"""
    session.execute(
        sa.select(PatientRequest).where(PatientRequest.id == request_id)
        .with_for_update(of=PatientRequest).execution_options(populate_existing=True)
    ).one()


def _require_not_erased(request: PatientRequest) -> None:
    if request.erased_at is not None:
        raise InvalidTransition("Cette demande a été effacée.")


def stored_address(request: PatientRequest) -> Address:
    """As stored, not checked again: the rules for what may be written have grown since some were."""
    _require_not_erased(request)
    assert request.postal_code is not None and request.city is not None
    return Address.model_construct(line=request.address_line or "", postal_code=request.postal_code, city=request.city)


def update_request(
    session: Session, request: PatientRequest, *, data: RequestUpdate, home: Located | None, actor: Actor,
    now: datetime, territories: Router | None = None,
) -> PatientRequest:
    """``home`` is the new location when the address or the coordinates changed. The organisation stays:
    moving a patient to another CPTS is a decision, not a side effect of a corrected address; but whether the
    home lies outside its territory is told afresh (``territories``), a mistyped postal code being the usual
    reason it seemed to."""
    _require_not_erased(request)
    if home is not None:
        _place(request, home)
    if data.patient is not None:
        changes = data.patient.model_dump(exclude_unset=True)
        if "address" in changes:
            address = data.patient.address
            if address is None:
                raise InvalidInput("L'adresse ne peut pas être retirée.", field="patient.address")
            request.address_line, request.postal_code, request.city = (
                address.line, address.postal_code, address.city
            )
        for field in ("first_name", "last_name", "birth_date"):
            if field in changes:
                if changes[field] is None:
                    raise InvalidInput("Ce champ ne peut pas être vidé.", field=f"patient.{field}")
                setattr(request, field, changes[field])
        for field in ("phone", "email"):
            if field in changes:
                setattr(request, field, changes[field])
        # Messages only, for a contact given by the public or a partner: a landline the staff registered (they
        # call) does not bar a correction of the name or the address.
        contact_changed = bool({"phone", "email"} & changes.keys())
        check_contact(request.phone, request.email, by_message=contact_changed and not actor.is_staff)
        if contact_changed:
            readdress_unsent(session, f"request:{request.id}", sms=sms_number(request.phone), email=request.email)
        assert request.first_name and request.last_name and request.birth_date
        request.identity_key = identity_key(request.first_name, request.last_name)
        request.person_key = person_key(request.first_name, request.last_name)
        request.birth_year = request.birth_date.year
        if request.status in ACTIVE_STATUSES:  # a closed request may be the same person's as the one waiting
            _refuse_duplicate(session, _Person.of(request))
        _flush_unless_duplicate(session, request)
    if home is not None and territories is not None:
        assert request.postal_code is not None
        routed = territories.route(session, lat=home.lat, lon=home.lon, postal_code=request.postal_code,
                                   city=request.city)
        request.outside_territory = routed.territories_exist and routed.organisation_id != request.organisation_id
    if data.household is not None and not _same_household(request, data.household):
        check_household(request.kind, data.household)
        if _status_locked(session, request) is Status.offered:
            raise InvalidTransition(
                f"Un cabinet répond en ce moment pour ce foyer de {request.people_count} personne"
                f"{'s' if request.people_count > 1 else ''} : modifiez le foyer après sa réponse.", field="household")
        request.household = [HouseholdMember(**m.model_dump()) for m in data.household]
        request.people_count = 1 + len(data.household)
    if data.criteria is not None:
        criteria = data.criteria.model_dump(exclude_unset=True)
        # Sending the urgency back as it was read is no change; only staff change it.
        urgency = {"urgent", "urgent_reason"} & criteria.keys()
        if not actor.is_staff and any(criteria[field] != getattr(request, field) for field in urgency):
            raise Forbidden("L'urgence est fixée par l'équipe après un entretien.", field="criteria.urgent")
        for field, value in criteria.items():
            if value is None and field != "urgent_reason":
                raise InvalidInput("Ce champ ne peut pas être vidé.", field=f"criteria.{field}")
            setattr(request, field, value)
    if data.max_distance_km is not None:
        request.max_distance_km = data.max_distance_km
    request.updated_at = now
    with session.no_autoflush:
        apply_score(session, request, now=now)
    session.flush()
    return request


def _same_household(request: PatientRequest, members: list[HouseholdMemberIn]) -> bool:
    """Sent back as read, in any order (a form saved with other corrections): no change, whatever the state."""
    return sorted((m.first_name, m.last_name, m.birth_date) for m in members) == sorted(
        (m.first_name, m.last_name, m.birth_date) for m in request.household)


def _status_locked(session: Session, request: PatientRequest) -> Status:
    """The status as committed, the row held until this transaction ends: an offer committed meanwhile is
    seen; a round writing its offer after this edit counts the household as edited (``create_offers``)."""
    return session.scalars(sa.select(PatientRequest.status).where(PatientRequest.id == request.id)
                           .with_for_update(key_share=True)).one()


def withdraw_request(
    session: Session, request: PatientRequest, *, reason: WithdrawReason, actor: Actor, now: datetime
) -> PatientRequest:
    """Leaves the queue. Withdrawing twice is harmless: the second call changes nothing."""
    lock_request(session, request.id)
    _require_not_erased(request)
    if request.status is not Status.withdrawn:
        set_status(session, request, Status.withdrawn, actor=actor, now=now, reason=reason.value)
    session.flush()
    return request


def erase_request(session: Session, request: PatientRequest, *, actor: Actor, now: datetime) -> None:
    """Right to erasure: personal data goes; kind, dates, status, department and birth year stay. The
    duplicates merged into the request are the same person's registrations: they go too."""
    lock_request(session, request.id)
    if request.erased_at is not None:
        return
    for duplicate in session.scalars(sa.select(PatientRequest).where(PatientRequest.merged_into_id == request.id)).all():
        erase_request(session, duplicate, actor=actor, now=now)
    if request.status in ACTIVE_STATUSES:
        set_status(session, request, Status.withdrawn, actor=actor, now=now, reason=WithdrawReason.erased.value)
    for field in (
        "first_name", "last_name", "identity_key", "person_key", "birth_date", "phone", "email", "address_line",
        "postal_code", "city", "lat", "lon", "location_precision", "urgent_reason", "tracking_token_hash",
        "tracking_token_nonce",
    ):
        setattr(request, field, None)
    request.household = []
    request.followed_by_organisation_id = None  # the follower knows whom the number stood for: no more
    request.erased_at = request.updated_at = now
    forget_resource(session, f"request:{request.id}")
    forget_messages(session, f"request:{request.id}")
    session.flush()
