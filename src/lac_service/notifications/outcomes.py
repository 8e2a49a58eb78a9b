"""Recording what happened to a claimed message, in the dispatcher's short transactions.

Every write here is a conditional update on ``status = 'sending' AND claim_token = :token``: a claim that
was meanwhile resolved by the stuck-claim resolver (or by another dispatcher's resolver) changes nothing.
A message that ends ``failed`` or ``unknown`` queues a notice to the coordinators in the same transaction.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.auth.models import Role, User
from lac_service.config import NotificationSettings
from lac_service.links import without_tokens
from lac_service.notifications.channels import Backend, OutgoingMessage
from lac_service.notifications.models import (
    ERASED, FINAL_REPORTS, REPLY, UNDELIVERED, Channel, Notification, NotificationStatus,
)
from lac_service.notifications.outbox import InvalidRecipient, enqueue

log = logging.getLogger(__name__)

N = Notification
SENDING = NotificationStatus.sending
OPTED_OUT = "twilio:21610"  # "Attempt to send to unsubscribed recipient"
CHANNEL_LABELS = {Channel.sms: "SMS", Channel.email: "e-mail", Channel.webhook: "webhook partenaire"}


@dataclass(frozen=True)
class Claimed:
    message: OutgoingMessage
    channel: Channel
    template: str
    resource: str | None
    organisation_id: int | None
    attempts: int
    claim_token: str
    keeps_text: bool
    redactable: bool  # the provider keeps a copy ``redaction`` can have erased (Twilio)

    COLUMNS = (N.id, N.channel, N.recipient, N.subject, N.body, N.created_at, N.key_id, N.template, N.resource,
               N.organisation_id, N.attempts)

    @classmethod
    def of_row(cls, row: sa.Row,  # type: ignore[type-arg]
               claim_token: str, backends: Mapping[Channel, Backend]) -> "Claimed":
        """Of a row read with ``COLUMNS``, to be sent by one of ``backends``."""
        channel = Channel(row.channel)
        return cls(OutgoingMessage(row.id, row.recipient, row.subject, row.body, row.created_at, row.key_id),
                   channel, row.template, row.resource, row.organisation_id, row.attempts, claim_token,
                   backends[channel].keeps_text, backends[channel].can_redact)

    @property
    def settled_body(self) -> str:
        """The text the row keeps once the message is settled (sent, failed, in doubt): nothing will send it
        again, and a copy of the database must open no link."""
        return self.message.body if self.keeps_text else without_tokens(self.message.body)


def _fenced(claimed: Claimed) -> sa.Update:
    return sa.update(N).where(N.id == claimed.message.id, N.status == SENDING, N.claim_token == claimed.claim_token)


def mark_sent(session: Session, claimed: Claimed, provider_id: str, now: datetime) -> None:
    session.execute(
        _fenced(claimed).values(
            status=NotificationStatus.sent, provider_id=provider_id[:64], sent_at=now,
            attempts=claimed.attempts + 1, error_code=None, body=claimed.settled_body,
        )
    )


def mark_sent_many(session: Session, sent: list[tuple[Claimed, str]], now: datetime) -> None:
    """One executemany for a window of successes: the common case, kept cheap."""
    if not sent:
        return
    table = N.__table__
    statement = (
        table.update()
        .where(table.c.id == sa.bindparam("b_id"), table.c.status == SENDING.value,
               table.c.claim_token == sa.bindparam("b_token"))
        .values(status=NotificationStatus.sent.value, provider_id=sa.bindparam("b_provider"), sent_at=now,
                attempts=sa.bindparam("b_attempts"), error_code=None, body=sa.bindparam("b_body"))
    )
    result = session.connection().execute(statement, [
        {"b_id": c.message.id, "b_token": c.claim_token, "b_provider": pid[:64], "b_attempts": c.attempts + 1,
         "b_body": c.settled_body}
        for c, pid in sent
    ])
    if result.rowcount != len(sent):  # rare: a claim overtaken, or a person erased while their message went
        _keep_erased(session, sent, now)


def _keep_erased(session: Session, sent: list[tuple[Claimed, str]], now: datetime) -> None:
    """A message whose person was erased while it was being sent has lost its row, and the provider has it all
    the same: a blank row with the provider's id alone takes its place, for ``redaction`` to have the provider
    delete it, as ``outbox.forget_resource`` keeps those already sent. Keyed by the provider's id: SQLite may
    give the deleted row's id to the next message."""
    left = set(session.scalars(sa.select(N.id).where(N.id.in_([c.message.id for c, _ in sent]))))
    if gone := [(c, pid) for c, pid in sent if c.message.id not in left and c.redactable]:
        session.execute(sa.insert(N), [
            {"channel": c.channel, "recipient": "", "template": c.template, "body": "", "attempts": c.attempts + 1,
             "status": NotificationStatus.sent, "next_attempt_at": now, "provider_id": pid[:64],
             "idempotency_key": f"{ERASED}{pid[:64]}", "created_at": c.message.created_at, "sent_at": now}
            for c, pid in gone])


def release(session: Session, claimed: Claimed, now: datetime) -> None:
    """Hands back a claim that was never sent (its time ran out before its turn came)."""
    session.execute(
        _fenced(claimed).values(status=NotificationStatus.created, claim_token=None, next_attempt_at=now)
    )


def mark_retry_or_failed(
    session: Session, claimed: Claimed, code: str, *, retryable: bool, settings: NotificationSettings,
    now: datetime, backoff: bool = True,
) -> NotificationStatus | None:
    """Backs off exponentially (``backoff_base_s * 2**attempts``) while attempts remain, else fails for
    good and tells the coordinators. Returns the new status, or None when the claim was no longer ours."""
    attempts = claimed.attempts + 1
    if retryable and attempts < settings.max_attempts:
        delay = timedelta(seconds=settings.backoff_base_s * 2 ** (attempts - 1) if backoff else 0)
        values = dict(status=NotificationStatus.created, claim_token=None, next_attempt_at=now + delay)
        new_status = NotificationStatus.created
    else:
        values = dict(status=NotificationStatus.failed, body=claimed.settled_body)
        new_status = NotificationStatus.failed
    result = session.execute(_fenced(claimed).values(attempts=attempts, error_code=code[:64], **values))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    if new_status is NotificationStatus.failed:
        notify_coordinators(session, Trouble.of_claim(claimed, "failed", code, attempts), settings=settings, now=now)
    return new_status


def mark_ambiguous(session: Session, claimed: Claimed, code: str) -> None:
    """The provider may have the message: the row stays ``sending`` (its claim ages) for the resolver,
    which counts the attempt when it settles the claim."""
    session.execute(_fenced(claimed).values(error_code=code[:64]))


def mark_unknown(
    session: Session, claimed: Claimed, code: str, *, settings: NotificationSettings, now: datetime
) -> bool:
    result = session.execute(_fenced(claimed).values(status=NotificationStatus.unknown, error_code=code[:64],
                                                     body=claimed.settled_body))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    notify_coordinators(session, Trouble.of_claim(claimed, "unknown", code, claimed.attempts), settings=settings,
                        now=now)
    return True


@dataclass(frozen=True)
class Trouble:
    """What the coordinators' notice may say of a message: its number, kind and file, never the person."""

    notification_id: int
    channel: Channel
    template: str
    resource: str | None
    organisation_id: int | None
    outcome: str  # failed (refused for good), unknown (a send cut short), undelivered (reported afterwards)
    code: str
    attempts: int

    @classmethod
    def of(cls, message: Notification, outcome: str, code: str) -> "Trouble":
        """Of a message reported on after it was sent (a delivery report)."""
        return cls(message.id, message.channel, message.template, message.resource, message.organisation_id, outcome,
                   code, message.attempts)

    @classmethod
    def of_claim(cls, claimed: Claimed, outcome: str, code: str, attempts: int) -> "Trouble":
        """Of a message a dispatcher is sending."""
        return cls(claimed.message.id, claimed.channel, claimed.template, claimed.resource, claimed.organisation_id,
                   outcome, code, attempts)


def record_report(session: Session, message: Notification, status: str, code: str, *,
                  settings: NotificationSettings, now: datetime) -> bool:
    """A provider's word on a message it had accepted (Twilio's status callback, an e-mail's bounce). One
    saying it never arrived is told to the coordinators, as a refusal at sending is: nobody else would know.
    Reports may come out of order: a final one stands. Returns whether this one changed anything."""
    if message.delivery_status in FINAL_REPORTS:
        return False
    message.delivery_status = status
    if status in UNDELIVERED and not message.erased:  # erased: nobody to reach
        notify_coordinators(session, Trouble.of(message, "undelivered", code), settings=settings, now=now)
    return True


def organisation_coordinators(session: Session, organisation_id: int | None) -> list[str]:
    """An organisation's active coordinators: the people who can act on what concerns it."""
    return [] if organisation_id is None else list(session.scalars(
        sa.select(User.email).where(User.organisation_id == organisation_id, User.role == Role.coordinator,
                                    User.is_active).order_by(User.id)
    ))


def coordinators(session: Session, organisation_id: int | None, settings: NotificationSettings) -> list[str]:
    """Who hears of a message's failure: its organisation's coordinators, then the deployment's own list
    (``coordinator_emails``: the operator), each address once."""
    return list(dict.fromkeys([*organisation_coordinators(session, organisation_id), *settings.coordinator_emails]))


def notify_coordinators(session: Session, trouble: Trouble, *, settings: NotificationSettings, now: datetime) -> None:
    """The notice names the message by number and the file by reference, never the person: whoever
    handles it looks them up with their own access rights. Once per message and outcome, however often told."""
    if trouble.template == "delivery_failure":
        log.error("a delivery-failure notice itself could not be delivered (notification %s)", trouble.notification_id)
        return
    if trouble.template == REPLY and trouble.code == OPTED_OUT:
        # The sender's STOP reached Twilio too, which then refuses every SMS to them: a notice of every STOP
        # would teach nothing. Their next message of another kind, refused as well, is told.
        log.info("notification %s: an answer to a number that stopped SMS at twilio", trouble.notification_id)
        return
    addresses = coordinators(session, trouble.organisation_id, settings)
    if not addresses:
        log.warning("notification %s ended %s and no coordinator can be told", trouble.notification_id,
                    trouble.outcome)
    context = {
        "notification_id": trouble.notification_id, "channel": trouble.channel.value,
        "channel_label": CHANNEL_LABELS[trouble.channel],
        "template": trouble.template, "outcome": trouble.outcome, "attempts": trouble.attempts,
        "error_code": trouble.code, "resource": trouble.resource,
    }
    for address in addresses:
        try:
            enqueue(
                session, channel=Channel.email, recipient=address, template="delivery_failure", context=context,
                idempotency_key=f"notification:{trouble.notification_id}:{trouble.outcome}:{address}"[:255], now=now,
                organisation_id=trouble.organisation_id,
            )
        except InvalidRecipient:  # a login's address saved malformed: the others are told, and sending goes on
            log.error("notification %s: a coordinator's address cannot receive its notice", trouble.notification_id)
