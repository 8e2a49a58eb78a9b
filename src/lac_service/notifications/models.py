"""The outbox: one row per message, written in the same transaction as the event that causes it.

A row moves ``created → sending → sent | failed | unknown``. Only the dispatcher moves it, and only by a
conditional update on the state it expects (and, from ``sending``, on the claim token it holds), so two
dispatchers, or a dispatcher and the stuck-claim resolver, can never both act on one claim.
"""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from lac_service.db import Base


class Channel(StrEnum):
    sms = "sms"
    email = "email"
    webhook = "webhook"
    """A partner's URL: the body is JSON, signed when sent (see ``webhook``)."""


class NotificationStatus(StrEnum):
    created = "created"
    """Waiting to be sent (first time, or again after a retryable error)."""
    sending = "sending"
    """Claimed by a dispatcher that may be talking to the provider right now."""
    sent = "sent"
    """Accepted by the provider (or kept locally by the ``local`` backend)."""
    failed = "failed"
    """Refused for good, or out of attempts: a coordinator has been told."""
    unknown = "unknown"
    """A dispatcher died mid-send and the provider cannot be asked: a coordinator decides."""


channel_type = sa.Enum(Channel, native_enum=False, length=8, validate_strings=True)
status_type = sa.Enum(NotificationStatus, native_enum=False, length=16, validate_strings=True)


BOUNCED = "bounced"  # an e-mail the recipient's server sent back (``bounces``)
# Reports of a message the provider accepted and that never arrived: Twilio's two, and an e-mail's bounce.
UNDELIVERED = ("failed", "undelivered", BOUNCED)
# An SMS a patient sent us, kept as a row of its own (template ``INBOUND``, their words as its body): Twilio
# keeps it as it keeps ours, so it is redacted and deleted there the same way.
INBOUND, RECEIVED = "inbound", "received"
REPLY = "reply"  # the answer to it
FINAL_REPORTS = ("delivered", RECEIVED, *UNDELIVERED)  # a later "sent" (reports may come out of order) changes none


# The SMS whose text Twilio may still keep (``redaction``), written once for the index and its queries. Twilio's
# message ids begin with SM, or MM for a message with pictures (an MMS a patient sends); the local backend's
# (``local-``) name nothing kept elsewhere.
AT_TWILIO = "channel = 'sms' AND (provider_id LIKE 'SM%' OR provider_id LIKE 'MM%')"
UNREDACTED = AT_TWILIO + " AND provider_redacted_at IS NULL"
KEEPS_DAYTIME = "daytime_zone IS NOT NULL"
ERASED = "erased:"  # the key of a message kept blank after its person's erasure, until Twilio forgets it too


class Notification(Base):
    """``error_code`` is a provider code such as ``twilio:21211`` or ``smtp:550``, never a provider's free
    text, which may quote the recipient. ``resource`` (e.g. ``request:12``) lets erasure find the rows that
    carry a person's number or address."""

    __tablename__ = "notifications"
    __table_args__ = (
        # The dispatcher's two queries: due rows, and claims that have been out for too long.
        sa.Index("ix_notifications_due", "status", "next_attempt_at"),
        sa.Index("ix_notifications_claimed", "status", "claimed_at"),
        # The SMS whose text the provider still keeps: few at any time, however many were ever sent.
        sa.Index("ix_notifications_unredacted", "id", sqlite_where=sa.text(UNREDACTED),
                 postgresql_where=sa.text(UNREDACTED)),
        # Those that wait their turn in daytime, by zone (``outbox.keep_to_daytime``, before each claim, looks
        # for those of the zones at night): a backlog of other messages is not read again at every pass.
        sa.Index("ix_notifications_in_turn", "status", "daytime_zone", "next_attempt_at",
                 sqlite_where=sa.text(KEEPS_DAYTIME), postgresql_where=sa.text(KEEPS_DAYTIME)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(channel_type)
    recipient: Mapped[str] = mapped_column(sa.String(320))
    template: Mapped[str] = mapped_column(sa.String(64))
    subject: Mapped[str | None] = mapped_column(sa.String(255))
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[NotificationStatus] = mapped_column(status_type, default=NotificationStatus.created)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    # A message nobody waits for (``outbox.IN_TURN``) goes only in daytime where its recipient lives: this zone.
    daytime_zone: Mapped[str | None] = mapped_column(sa.String(64))
    claimed_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(sa.String(32))
    provider_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)  # a delivery report's key
    # What the provider reported afterwards (Twilio's status callback: delivered, undelivered, failed…).
    delivery_status: Mapped[str | None] = mapped_column(sa.String(32))
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    idempotency_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    resource: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # Whose message it is: that organisation's coordinators hear of its failure.
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"))
    # A webhook's signing key id: the key itself is derived from the service's secret key when sending.
    key_id: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # When the provider's copy of the text was erased (Twilio's log keeps each SMS until redacted: ``redaction``).
    provider_redacted_at: Mapped[datetime | None]

    @hybrid_property
    def erased(self) -> bool:
        """Kept blank after its person's erasure, until the provider forgets it too (in Python and in SQL)."""
        return self.idempotency_key.startswith(ERASED)
