"""Writing to the outbox: the only way the rest of the service sends a message.

``enqueue`` adds a row to the caller's session and does not commit, so the message exists if and only if
the event that causes it (a request registered, an offer made) is committed with it. The idempotency key
names the event, e.g. ``request:12:confirmation``: replaying an event never queues a second message.
"""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.db import UTCDateTime, insert_on_conflict
from lac_service.kit.clock import daytime_slots, zones_at_night
from lac_service.notifications.models import (
    AT_TWILIO, ERASED, INBOUND, RECEIVED, REPLY, Channel, Notification, NotificationStatus,
)
from lac_service.notifications.templates import render

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class InvalidRecipient(ValueError):
    pass


class Turn(NamedTuple):
    """A message nobody waits for: not before ``at``, and only in daytime in ``zone``, where its recipient
    lives, however late the dispatcher gets to it (it was down all evening, a retry waited past 20:00)."""

    at: datetime
    zone: ZoneInfo


@dataclass(frozen=True)
class Message:
    channel: Channel
    recipient: str
    template: str
    context: dict[str, Any]
    idempotency_key: str
    resource: str | None = None
    organisation_id: int | None = None
    key_id: str | None = None
    due: Turn | None = None  # None: at once


def _check_recipient(channel: Channel, recipient: str) -> None:
    """The caller normalises (``kit.phone.to_e164``); a malformed recipient here is a bug, and is refused
    before it can become a message that fails at the provider."""
    if channel is Channel.sms and not _E164.match(recipient):
        raise InvalidRecipient("an SMS recipient must be an E.164 number")
    if channel is Channel.email and ("@" not in recipient or any(c.isspace() for c in recipient)):
        raise InvalidRecipient("an email recipient must be an address")
    if channel is Channel.webhook and not recipient.startswith(("https://", "http://")):
        raise InvalidRecipient("a webhook recipient must be an http(s) URL")


def _row(message: Message, now: datetime) -> dict[str, Any]:
    """The message checked, rendered now, and due at once unless it waits its turn."""
    _check_recipient(message.channel, message.recipient)
    rendered = render(message.channel, message.template, message.context)
    return {
        "channel": message.channel, "recipient": message.recipient, "template": message.template,
        "subject": rendered.subject, "body": rendered.body, "status": NotificationStatus.created,
        "attempts": 0, "next_attempt_at": message.due.at if message.due else now,
        "daytime_zone": message.due.zone.key if message.due else None, "idempotency_key": message.idempotency_key,
        "resource": message.resource, "organisation_id": message.organisation_id, "key_id": message.key_id,
        "created_at": now,
    }


# The messages sent by the thousand that nobody is waiting for: an imported list told, the night's re-confirmation
# questions and archiving notices. They wait their turn (``Turns``), and describe their request as it stood.
IN_TURN = ("imported", "reconfirmation", "archived")
_TURNS_LOCK = 0x4C41434E  # "LACN"


class Turns:
    """Due times for ``IN_TURN`` messages: between ``DAYTIME``'s hours where each recipient lives, ``per_s`` a
    second, after those already waiting their turn (a list queued after another goes after it). A message queued
    meanwhile, due at once, passes before the rest of them instead of after them all."""

    def __init__(self, session: Session, *, now: datetime, per_s: float) -> None:
        """Until the transaction ends, another list waits to start its turns (SQLite: one writer already)."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(sa.select(sa.func.pg_advisory_xact_lock(_TURNS_LOCK)))
        waiting = session.scalar(sa.select(sa.func.max(Notification.next_attempt_at)).where(
            Notification.status == NotificationStatus.created, Notification.template.in_(IN_TURN)))
        self._every = 1 / per_s
        self._start = max(now, waiting + timedelta(seconds=self._every)) if waiting else now
        self._slots: dict[ZoneInfo, Iterator[datetime]] = {}

    def next(self, zone: ZoneInfo) -> Turn:
        if zone not in self._slots:
            self._slots[zone] = daytime_slots(self._start, zone, every_s=self._every)
        return Turn(next(self._slots[zone]), zone)


def keep_to_daytime(session: Session, *, now: datetime, per_s: float) -> int:
    """The messages that wait their turn and fell due in their recipient's night (the dispatcher was down all
    evening; a retry's wait ran past 20:00) take new turns in that morning, after those already waiting, instead
    of a crowd at 09:00 ahead of the messages people wait for (the claim leaves them meanwhile: ``claimable``).
    Returns how many. While a list is being queued (it holds the turns), they are moved on a later pass rather
    than hold up every message behind the list."""
    late_where = (Notification.status == NotificationStatus.created, Notification.next_attempt_at <= now,
                  Notification.daytime_zone.in_(zones_at_night(now)))
    if session.scalar(sa.select(Notification.id).where(*late_where).limit(1)) is None:
        return 0
    if session.get_bind().dialect.name == "postgresql" and \
            not session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(_TURNS_LOCK))):
        return 0
    turns = Turns(session, now=now, per_s=per_s)  # its lock is held already: two dispatchers move nothing twice
    late = session.execute(sa.select(Notification.id, Notification.daytime_zone).where(*late_where)
                           .order_by(Notification.next_attempt_at, Notification.id)).all()
    if late:
        table = Notification.__table__
        session.execute(table.update().where(table.c.id == sa.bindparam("late_id"),
                                             table.c.status == NotificationStatus.created.value)
                        .values(next_attempt_at=sa.bindparam("at", type_=UTCDateTime())),
                        [{"late_id": row.id, "at": turns.next(ZoneInfo(row.daytime_zone)).at} for row in late])
    return len(late)


def claimable(table: sa.Table) -> sa.ColumnElement[bool]:
    """What a claim may take at the moment bound as ``night`` (``zones_at_night``): no message that waits its
    turn while it is night where its recipient lives."""
    return sa.or_(table.c.daytime_zone.is_(None),
                  table.c.daytime_zone.not_in(sa.bindparam("night", expanding=True)))


def enqueue(
    session: Session,
    *,
    channel: Channel | str,
    recipient: str,
    template: str,
    context: dict[str, Any],
    idempotency_key: str,
    now: datetime,
    resource: str | None = None,
    organisation_id: int | None = None,
) -> Notification:
    """Queues one message in one statement. Returns the row already queued under ``idempotency_key`` if
    there is one (its text stays as it was), whether it was queued earlier or by a concurrent transaction
    that committed first."""
    return enqueue_message(session, Message(Channel(channel), recipient, template, context, idempotency_key, resource,
                                            organisation_id), now=now)


def enqueue_message(session: Session, message: Message, *, now: datetime) -> Notification:
    """``enqueue``, for a message already built."""
    queued = session.scalar(
        insert_on_conflict(session, Notification).values(**_row(message, now))
        .on_conflict_do_nothing(index_elements=[Notification.idempotency_key])
        .returning(Notification)
    )
    return queued or session.scalars(
        sa.select(Notification).where(Notification.idempotency_key == message.idempotency_key)
    ).one()


def enqueue_new(session: Session, messages: Sequence[Message], *, now: datetime) -> None:
    """Queues many messages in one plain INSERT, for events created in this very transaction (a round's
    offers): their keys cannot exist yet, so a clash would be a bug, and fails the whole transaction on the
    unique key rather than send twice."""
    if messages:
        # Core, not the ORM: the ORM's bulk insert splits rows by which values are None (an SMS has no subject),
        # so a list alternating SMS and e-mails went one row per statement.
        session.execute(Notification.__table__.insert(), [_row(message, now) for message in messages])


def record_received(session: Session, *, provider_id: str, sender: str, text: str,
                    now: datetime) -> Notification | None:
    """An SMS received, with the provider's id; None if that id was recorded already (the provider called twice
    for one message, or a call replayed): it is then not to be acted on again."""
    return session.scalar(
        insert_on_conflict(session, Notification).values(
            channel=Channel.sms, recipient=sender, template=INBOUND, subject=None, body=text,
            status=NotificationStatus.sent, attempts=0, next_attempt_at=now, idempotency_key=f"{INBOUND}:{provider_id}",
            provider_id=provider_id, delivery_status=RECEIVED, created_at=now, sent_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Notification.idempotency_key])
        .returning(Notification)
    )


def drop_unsent(session: Session, *resources: str, templates: Sequence[str] = IN_TURN) -> set[str]:
    """The messages of these templates about ``resources`` still waiting to go are dropped: they were written
    about them as they stood, and they changed since. Returns the resources that had one."""
    return set(session.scalars(
        sa.delete(Notification).where(
            Notification.resource.in_(resources), Notification.status == NotificationStatus.created,
            Notification.template.in_(templates),
        ).returning(Notification.resource).execution_options(synchronize_session=False)
    ))


def readdress_unsent(session: Session, resource: str, *, sms: str | None, email: str | None) -> None:
    """The messages about ``resource`` still waiting to go follow its corrected contact details: to the new
    number or address, or nowhere when there is none (a mistyped number's holder must not get a patient's
    link the next morning). An answer to an SMS goes to the number that texted."""
    for channel, recipient in ((Channel.sms, sms), (Channel.email, email)):
        unsent = (Notification.resource == resource, Notification.status == NotificationStatus.created,
                  Notification.channel == channel, Notification.template != REPLY)
        change = sa.delete(Notification) if recipient is None else sa.update(Notification).values(recipient=recipient)
        session.execute(change.where(*unsent).execution_options(synchronize_session=False))


def blank_old(session: Session, *, before: datetime) -> int:
    """Retention: messages settled (sent or failed) before ``before`` lose their recipient and text; the row
    stays, with its key, template, status and dates, so the event is still never sent twice and the counts
    survive. Messages in doubt wait for a coordinator. Returns how many were blanked."""
    result = session.execute(
        sa.update(Notification)
        .where(
            Notification.status.in_((NotificationStatus.sent, NotificationStatus.failed)),
            Notification.created_at < before, Notification.recipient != "",
        )
        .values(recipient="", subject=None, body="")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def sent_about(session: Session, resource: str, *, limit: int = 20) -> Sequence[Notification]:
    """The messages to the person a resource names, newest first, for the staff who handle it: whether the
    patient was told is the first question when they call. Webhooks are partners' business, not theirs."""
    return session.scalars(
        sa.select(Notification).where(Notification.resource == resource, Notification.channel != Channel.webhook)
        .order_by(Notification.id.desc()).limit(limit)
    ).all()


def forget_resource(session: Session, resource: str) -> None:
    """Erasure: messages name a person (number, address, text), so they go with the resource. An SMS sent
    through Twilio, redacted there or not (its number and dates stay until deleted), stays as a row with nothing
    of the person (no recipient, text, resource, nor a key naming the request): its Twilio id is what lets
    ``redaction`` have Twilio delete it, and the row then goes."""
    mine = Notification.resource == resource
    # Locked first: a send recording its Twilio id between the two statements would lose it to the DELETE.
    session.execute(sa.select(Notification.id).where(mine).order_by(Notification.id).with_for_update())
    session.execute(sa.update(Notification).where(mine, sa.text(AT_TWILIO))
                    .values(recipient="", subject=None, body="", resource=None, provider_redacted_at=None,
                            idempotency_key=sa.literal(ERASED) + sa.cast(Notification.id, sa.String))
                    .execution_options(synchronize_session=False))
    session.execute(sa.delete(Notification).where(mine).execution_options(synchronize_session=False))
