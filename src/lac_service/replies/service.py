"""Understanding a patient's SMS reply. Only the first word counts, accents and case aside: ``OUI`` keeps a
request (it answers the "do you still need it?" check) or brings it back from the archive; ``RETRAIT`` (or
``STOP``) withdraws it. Anything else gets a short help text, and whom to call; nothing changes.

One number often serves a family (a parent's mobile on their own request and on their children's), so a reply
answers the questions still open on that number: a re-confirmation not answered yet, or a notice of archiving
sent in the last ``ARCHIVED_ANSWERABLE`` days. ``OUI`` answers them all (twins asked the same night are
kept by one reply); ``RETRAIT`` withdraws only when one request is concerned. With no open question, a reply acts
on the number's only active request; where it could mean several, nothing changes and the reply points to
the tracking links, where each request is confirmed or withdrawn on its own.

A number with no request of a patient's may be a cabinet's, a practitioner answering a batch's SMS: they are
told that SMS there are not followed, and where to go instead.

The SMS received and the answer are filed under the request concerned (the first, for several), or under the
cabinet: the staff read on its page what was written, words other than OUI and RETRAIT included, and the answer.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.auth.models import Organisation
from lac_service.cabinets.models import Cabinet
from lac_service.intake.models import ACTIVE_STATUSES, PatientRequest, Status, WithdrawReason
from lac_service.intake.service import Actor, confirm_waiting, withdraw_request
from lac_service.kit.phone import display_phone
from lac_service.kit.text import words
from lac_service.kit.tokens import derive
from lac_service.links import Links
from lac_service.notifications.models import REPLY, Channel
from lac_service.notifications.outbox import InvalidRecipient, Message, enqueue_message, record_received
from lac_service.notifications.outcomes import organisation_coordinators
from lac_service.notifications.templates import kind_label

SMS = Actor(label="sms", is_staff=False)


class Intent(StrEnum):
    confirm = "confirm"
    stop = "stop"
    unknown = "unknown"


# The messages ask for RETRAIT, not STOP: Twilio acts on a STOP itself, and sends that number nothing more (error
# 21610), neither the answer, nor a family's other news, nor anything after a new registration. A STOP still
# withdraws (the SPEC's word), and the coordinators are not told of the refusals that follow (``outcomes``).
_WORDS = {
    "oui": Intent.confirm, "o": Intent.confirm, "yes": Intent.confirm, "ok": Intent.confirm,
    "retrait": Intent.stop, "retirer": Intent.stop, "retire": Intent.stop,
    "stop": Intent.stop, "arret": Intent.stop, "arreter": Intent.stop, "stopper": Intent.stop,
}

MAX_KEPT = 1600  # characters of a patient's SMS kept: Twilio's own limit for one message
ARCHIVED_ANSWERABLE = timedelta(days=90)  # after that, the tracking page brings an archived request back
REPLIES = {
    Intent.confirm: "Merci, votre demande de {kind} reste inscrite sur la liste d'attente commune.",
    Intent.stop: "Votre demande de {kind} est retirée de la liste d'attente commune. Vous pouvez vous réinscrire "
                 "à tout moment.",
    Intent.unknown: "Les SMS à ce numéro ne sont pas lus : pour une question, {call}. Sinon, répondez OUI pour garder "
                    "votre demande, ou RETRAIT pour la retirer.",
}
CONFIRMED_SEVERAL = "Merci, vos demandes de {kind} restent inscrites sur la liste d'attente commune."
NOTHING_FOUND = "Nous ne trouvons pas de demande en cours pour ce numéro."
TO_CABINET = ("Liste d'attente commune : les SMS à ce numéro ne sont pas suivis. Pour les patients proposés, "
              "répondez sur la page du lien ; pour toute autre question, {call}.")
CALL = "appelez la coordination au {phone}"
NO_CONTACT = "contactez la coordination de votre CPTS"
# GSM-7 only (no "ç"): a reply out of it costs three messages instead of two.
SEVERAL = ("Plusieurs demandes sont inscrites avec ce numéro : pour confirmer ou retirer l'une d'elles, ouvrez son "
           "lien de suivi, dans le message d'inscription.")


def intent(text: str) -> Intent:
    said = words(text)
    return _WORDS.get(said[0], Intent.unknown) if said else Intent.unknown


@dataclass(frozen=True)
class Outcome:
    intent: Intent
    request_ids: list[int]  # the requests it changed
    reply: str
    about: PatientRequest | Cabinet | None = None  # what the exchange is filed under: its messages, its erasure

    @property
    def resource(self) -> str | None:
        if self.about is None:
            return None
        return f"{'cabinet' if isinstance(self.about, Cabinet) else 'request'}:{self.about.id}"


def _open_question(request: PatientRequest, now: datetime) -> bool:
    """Asked whether it still waits, and not answered since; or archived for want of an answer, lately."""
    if request.status is Status.archived:
        return request.status_changed_at >= now - ARCHIVED_ANSWERABLE
    last_sign = request.confirmed_at or request.created_at
    return request.reconfirm_asked_at is not None and request.reconfirm_asked_at >= last_sign


def handle_reply(session: Session, *, phone: str, text: str, now: datetime) -> Outcome:
    """``phone`` is the sender in E.164, as Twilio gives it."""
    wanted = intent(text)
    statuses = ACTIVE_STATUSES if wanted is Intent.stop else (*ACTIVE_STATUSES, Status.archived)
    mine = sa.select(PatientRequest).where(PatientRequest.phone == phone, PatientRequest.status.in_(statuses))
    if wanted is not Intent.unknown:  # changed below: locked against a concurrent change
        mine = mine.with_for_update(of=PatientRequest)
    requests = list(session.scalars(mine.order_by(PatientRequest.id)))
    concerned = [r for r in requests if _open_question(r, now)] or [r for r in requests if r.status in ACTIVE_STATUSES]
    if not concerned:
        cabinet = _cabinet(session, phone)
        if cabinet is not None:
            return Outcome(wanted, [], _to_cabinet(cabinet), cabinet)
        return Outcome(wanted, [], NOTHING_FOUND, _lately_closed(session, phone, now))
    if wanted is Intent.unknown:  # perhaps a question: nobody reads it, and the patient must know where to ask
        return Outcome(wanted, [], REPLIES[wanted].format(call=_call(concerned[0].organisation)), concerned[0])
    if len(concerned) > 1 and (wanted is Intent.stop or not any(_open_question(r, now) for r in concerned)):
        return Outcome(wanted, [], SEVERAL, concerned[0])
    for request in concerned:
        if wanted is Intent.confirm:
            confirm_waiting(session, request, actor=SMS, now=now)
        else:
            withdraw_request(session, request, reason=WithdrawReason.stopped_by_sms, actor=SMS, now=now)
    session.flush()
    kinds = " et de ".join(sorted({kind_label(r.kind) for r in concerned}))
    reply = CONFIRMED_SEVERAL if len(concerned) > 1 else REPLIES[wanted]  # several: only ever confirmed
    return Outcome(wanted, [r.id for r in concerned], reply.format(kind=kinds), concerned[0])


def _lately_closed(session: Session, phone: str, now: datetime) -> PatientRequest | None:
    """The number's request closed last, lately: an SMS about nothing open is still its person's, seen on its
    page and erased with it. Not a duplicate merged away, and not long closed: a number is given to someone
    else some months after its owner left it."""
    return session.scalars(
        sa.select(PatientRequest)
        .where(PatientRequest.phone == phone, PatientRequest.merged_into_id.is_(None),
               PatientRequest.status_changed_at >= now - ARCHIVED_ANSWERABLE)
        .order_by(PatientRequest.status_changed_at.desc(), PatientRequest.id.desc()).limit(1)
    ).first()


def _cabinet(session: Session, phone: str) -> Cabinet | None:
    """The cabinet whose batches are texted to ``phone``, if any (the oldest, if several share it)."""
    texted_to = sa.cast(Cabinet.phones, sa.Text).contains(f'"{phone}"', autoescape=True)  # a JSON list of numbers
    return session.scalars(sa.select(Cabinet).where(Cabinet.deleted_at.is_(None), texted_to)
                           .order_by(Cabinet.id).limit(1)).first()


def _call(organisation: Organisation) -> str:
    """Whom to call instead of writing: the organisation's number, when it gave one."""
    phone = organisation.contact_phone
    return CALL.format(phone=display_phone(phone)) if phone else NO_CONTACT


def _to_cabinet(cabinet: Cabinet) -> str:
    return TO_CABINET.format(call=_call(cabinet.organisation))


def receive(session: Session, *, provider_id: str, phone: str, text: str, links: Links, now: datetime) -> None:
    """An SMS received, acted on once per provider id (a second call with it does nothing). It is kept, and
    answered through the outbox, with the request or the cabinet it is about: both are then listed with its
    messages; Twilio's copy is deleted once settled, and the answer's redacted, then deleted with the person
    (``redaction``)."""
    received = record_received(session, provider_id=provider_id, sender=phone, text=text[:MAX_KEPT], now=now)
    if received is None:
        return
    outcome = handle_reply(session, phone=phone, text=text, now=now)
    received.resource = outcome.resource
    received.organisation_id = outcome.about.organisation_id if outcome.about else None
    # The same answer to the same number once a day: an auto-responder (« je suis en congé ») would otherwise
    # answer each answer, for ever. Keyed under the service's secret: a key outlives its row's number and text.
    key = f"{REPLY}:{now:%Y-%m-%d}:{derive(links.secret, f'{phone}|{outcome.reply}')}"
    answer = Message(Channel.sms, phone, REPLY, {"text": outcome.reply}, key, resource=received.resource,
                     organisation_id=received.organisation_id)
    try:
        enqueue_message(session, answer, now=now)
    except InvalidRecipient:
        pass  # not a phone number (a sender's name): nobody to answer
    if isinstance(outcome.about, Cabinet):
        _tell_coordinators(session, outcome.about, links=links, now=now)


def _tell_coordinators(session: Session, cabinet: Cabinet, *, links: Links, now: datetime) -> None:
    """Nobody follows the number's SMS: the coordinators hear that the cabinet wrote, once a day, and read it
    on its page (the e-mail does not quote it: it may name a patient)."""
    context = {"cabinet_name": cabinet.name, "link": f"{links.site_url}/equipe/cabinets/{cabinet.id}"}
    for address in organisation_coordinators(session, cabinet.organisation_id):
        enqueue_message(session, Message(Channel.email, address, "cabinet_sms", context,
                                         f"cabinet_sms:{cabinet.id}:{now:%Y-%m-%d}:{address}",
                                         organisation_id=cabinet.organisation_id), now=now)
