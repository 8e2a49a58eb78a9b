"""Understanding a patient's SMS reply. Only the first word counts, accents and case aside: ``OUI`` keeps a
request (it answers the "do you still need it?" check) or brings it back from the archive; ``STOP`` withdraws
it. Anything else gets a short help text; nothing changes.

One number often serves a family (a parent's mobile on their own request and on a child's), so a reply acts
on one request: the one the last question to this number was about (the re-confirmation, or the notice of
archiving, which both ask for ``OUI`` or ``STOP``). Without such a question, on the number's only active
request; with several and no question, nothing changes and the reply points to the tracking links. An
archived request comes back only when the question was about it, never on a stray ``OUI``.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.intake.models import ACTIVE_STATUSES, PatientRequest, Status, WithdrawReason
from lac_service.intake.service import Actor, confirm_waiting, withdraw_request
from lac_service.kit.text import words
from lac_service.notifications.models import Channel, Notification
from lac_service.notifications.templates import kind_label

SMS = Actor(label="sms", is_staff=False)


class Intent(StrEnum):
    confirm = "confirm"
    stop = "stop"
    unknown = "unknown"


_WORDS = {
    "oui": Intent.confirm, "o": Intent.confirm, "yes": Intent.confirm, "ok": Intent.confirm,
    "stop": Intent.stop, "arret": Intent.stop, "arreter": Intent.stop, "stopper": Intent.stop,
}

QUESTIONS = ("reconfirmation", "archived")  # the SMS templates that ask for OUI or STOP
REPLIES = {
    Intent.confirm: "Merci, votre demande de {kind} reste inscrite sur la liste d'attente commune.",
    Intent.stop: "Votre demande de {kind} est retirée de la liste d'attente commune. Vous pouvez vous réinscrire "
                 "à tout moment.",
    Intent.unknown: "Répondez OUI pour rester inscrit, ou STOP pour retirer votre demande.",
}
NOTHING_FOUND = "Nous ne trouvons pas de demande en cours pour ce numéro."
SEVERAL = ("Plusieurs demandes sont inscrites avec ce numéro : pour confirmer ou retirer l'une d'elles, ouvrez le "
           "lien de suivi reçu pour celle-ci.")


def intent(text: str) -> Intent:
    said = words(text)
    return _WORDS.get(said[0], Intent.unknown) if said else Intent.unknown


@dataclass(frozen=True)
class Outcome:
    intent: Intent
    request_ids: list[int]
    reply: str


def _asked_about(session: Session, requests: list[PatientRequest]) -> PatientRequest | None:
    """Of ``requests``, the one the last question sent by SMS was about (found by the messages' indexed
    ``resource``, which stays when old messages lose their recipient)."""
    by_resource = {f"request:{r.id}": r for r in requests}
    resource = session.scalar(
        sa.select(Notification.resource)
        .where(Notification.resource.in_(by_resource), Notification.channel == Channel.sms,
               Notification.template.in_(QUESTIONS))
        .order_by(Notification.id.desc()).limit(1)
    )
    return by_resource.get(resource or "")


def handle_reply(session: Session, *, phone: str, text: str, now: datetime) -> Outcome:
    """``phone`` is the sender in E.164, as Twilio gives it."""
    wanted = intent(text)
    if wanted is Intent.unknown:
        return Outcome(wanted, [], REPLIES[wanted])
    statuses = (*ACTIVE_STATUSES, Status.archived) if wanted is Intent.confirm else ACTIVE_STATUSES
    requests = list(session.scalars(
        sa.select(PatientRequest)
        .where(PatientRequest.phone == phone, PatientRequest.status.in_(statuses))
        .order_by(PatientRequest.id)
        .with_for_update(of=PatientRequest)
    ))
    if (request := _asked_about(session, requests)) is None:
        active = [r for r in requests if r.status in ACTIVE_STATUSES]
        if len(active) != 1:
            return Outcome(wanted, [], SEVERAL if active else NOTHING_FOUND)
        request = active[0]
    if wanted is Intent.confirm:
        confirm_waiting(session, request, actor=SMS, now=now)
    else:
        withdraw_request(session, request, reason=WithdrawReason.stopped_by_sms, actor=SMS, now=now)
    session.flush()
    return Outcome(wanted, [request.id], REPLIES[wanted].format(kind=kind_label(request.kind)))
