"""Understanding a patient's SMS reply. Only the first word counts, accents and case aside: ``OUI`` keeps
every active request of that number (it answers the "do you still need it?" check) and brings back one
archived for want of an answer; ``STOP`` withdraws the active ones. Anything else gets a short help text;
nothing changes."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.intake.models import ACTIVE_STATUSES, PatientRequest, Status, WithdrawReason
from lac_service.intake.service import Actor, confirm_waiting, withdraw_request
from lac_service.kit.text import words

SMS = Actor(label="sms", is_staff=False)


class Intent(StrEnum):
    confirm = "confirm"
    stop = "stop"
    unknown = "unknown"


_WORDS = {
    "oui": Intent.confirm, "o": Intent.confirm, "yes": Intent.confirm, "ok": Intent.confirm,
    "stop": Intent.stop, "arret": Intent.stop, "arreter": Intent.stop, "stopper": Intent.stop,
}

REPLIES = {
    Intent.confirm: "Merci, votre demande reste inscrite sur la liste d'attente commune.",
    Intent.stop: "Votre demande est retirée de la liste d'attente commune. Vous pouvez vous réinscrire à tout moment.",
    Intent.unknown: "Répondez OUI pour rester inscrit, ou STOP pour retirer votre demande.",
}
NOTHING_FOUND = "Nous ne trouvons pas de demande en cours pour ce numéro."


def intent(text: str) -> Intent:
    said = words(text)
    return _WORDS.get(said[0], Intent.unknown) if said else Intent.unknown


@dataclass(frozen=True)
class Outcome:
    intent: Intent
    request_ids: list[int]
    reply: str


def handle_reply(session: Session, *, phone: str, text: str, now: datetime) -> Outcome:
    """``phone`` is the sender in E.164, as Twilio gives it. Applies to the number's active requests."""
    wanted = intent(text)
    statuses = (*ACTIVE_STATUSES, Status.archived) if wanted is Intent.confirm else ACTIVE_STATUSES
    requests = session.scalars(
        sa.select(PatientRequest)
        .where(PatientRequest.phone == phone, PatientRequest.status.in_(statuses))
        .order_by(PatientRequest.id)
        .with_for_update(of=PatientRequest)
    ).all()
    if wanted is Intent.unknown:
        return Outcome(wanted, [], REPLIES[wanted])
    if not requests:
        return Outcome(wanted, [], NOTHING_FOUND)
    for request in requests:
        if wanted is Intent.confirm:
            confirm_waiting(session, request, actor=SMS, now=now)
        else:
            withdraw_request(session, request, reason=WithdrawReason.stopped_by_sms, actor=SMS, now=now)
    session.flush()
    return Outcome(wanted, [r.id for r in requests], REPLIES[wanted])
