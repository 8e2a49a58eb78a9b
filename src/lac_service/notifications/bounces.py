"""Bounces: what a mail server sends back when it could not deliver an e-mail our relay had accepted.

The relay accepting a message proves nothing: a mistyped address is refused hours later by the recipient's
server, in a delivery report sent to the envelope sender (``bounce_address``). That mailbox hands each
report to ``lac bounce`` (a Postfix ``pipe`` transport, fetchmail's ``--mda``), and the message it names is
then treated as a Twilio "undelivered" is: marked so (a re-confirmation question never received archives no
one) and told to its coordinators.

Only standard delivery reports are read (RFC 3464 ``multipart/report``: Postfix, Exim, Sendmail, Exchange,
Gmail); an out-of-office reply is not one. A report names a message by the Message-ID we gave it, whose
random part a forger cannot guess; a delay warning, or a report on a message we never sent, changes nothing.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.config import NotificationSettings
from lac_service.notifications.models import BOUNCED, Channel, Notification
from lac_service.notifications.outcomes import record_report

_STATUS = re.compile(r"\s*([245]\.\d{1,3}\.\d{1,3})")
_OUR_MESSAGE_ID = re.compile(r"<lac-\d+-[0-9a-f]{12}@[^>\s]+>")


@dataclass(frozen=True)
class DeliveryReport:
    failed_status: str | None
    """The status of a recipient the server gave up on (``5.1.1``: no such mailbox), None if none failed."""
    message_id: str | None
    """The returned message's Message-ID: ours if the report is about one of our messages."""


def _returned_message_id(report: Message, raw: bytes) -> str | None:
    """From the returned headers (``text/rfc822-headers``) or message (``message/rfc822``); failing both, an
    id of ours quoted anywhere in the report (some servers paste the headers into their text)."""
    for part in _parts(report):
        if part.get_content_type() == "text/rfc822-headers":
            text = part.get_payload(decode=True) or b""
            if found := HeaderParser().parsestr(text.decode("utf-8", "replace"))["Message-ID"]:
                return str(found).strip()
        if part.get_content_type() == "message/rfc822" and isinstance(inner := part.get_payload(0), Message):
            if found := inner["Message-ID"]:
                return str(found).strip()
    quoted = _OUR_MESSAGE_ID.search(raw.decode("ascii", "replace"))
    return quoted.group() if quoted else None


def _parts(message: Message) -> list[Message]:
    payload = message.get_payload()
    return [part for part in payload if isinstance(part, Message)] if isinstance(payload, list) else []


def read_report(raw: bytes) -> DeliveryReport | None:
    """None when ``raw`` is not a delivery report, nor anything the standard library can read (a message
    nested thousands deep exhausts its recursion): anyone may write to the bounce mailbox."""
    try:
        return _read(raw)
    except Exception:  # noqa: BLE001 (whatever the parser trips on, the message is not a report we can read)
        return None


def _read(raw: bytes) -> DeliveryReport | None:
    report = message_from_bytes(raw)
    if report.get_content_type() != "multipart/report":
        return None
    status = next((part for part in _parts(report) if part.get_content_type() == "message/delivery-status"), None)
    if status is None:
        return None
    failed = None
    for fields in _parts(status)[1:]:  # the first block is about the message, then one per recipient
        if str(fields.get("Action", "")).strip().lower() == "failed":
            failed = match.group(1) if (match := _STATUS.match(str(fields.get("Status", "")))) else "5.0.0"
    return DeliveryReport(failed, _returned_message_id(report, raw))


class Outcome(StrEnum):
    recorded = "Message n° {id} : non remis ({code}), la coordination est prévenue."
    already = "Message n° {id} : sa non-remise était déjà connue."
    not_failed = "Rapport sans échec définitif (retard, remise) : rien à faire."
    unknown_message = "Rapport de non-remise d'un message que le service n'a pas envoyé : ignoré."
    not_a_report = "Ce message n'est pas un rapport de remise : ignoré."


@dataclass(frozen=True)
class Recorded:
    outcome: Outcome
    notification_id: int | None = None
    code: str | None = None

    def __str__(self) -> str:
        return self.outcome.value.format(id=self.notification_id, code=self.code)


def record_bounce(session: Session, raw: bytes, *, settings: NotificationSettings, now: datetime) -> Recorded:
    """What one message of the bounce mailbox changes, and what ``lac bounce`` says of it."""
    report = read_report(raw)
    if report is None:
        return Recorded(Outcome.not_a_report)
    if report.failed_status is None:
        return Recorded(Outcome.not_failed)
    ours = report.message_id is not None and _OUR_MESSAGE_ID.fullmatch(report.message_id)
    message = None if not ours else session.scalar(
        sa.select(Notification).where(Notification.channel == Channel.email,
                                      Notification.provider_id == report.message_id[:64])  # as ``mark_sent`` keeps it
        .with_for_update()
    )
    if message is None:
        return Recorded(Outcome.unknown_message)
    code = f"smtp:{report.failed_status}"
    if not record_report(session, message, BOUNCED, code, settings=settings, now=now):
        return Recorded(Outcome.already, message.id)
    return Recorded(Outcome.recorded, message.id, code)
