"""What a way of sending must tell the dispatcher: accepted (with the provider's id), or which kind of
failure — because each kind leads to a different, safe next step.

- ``RetryableError``: send again later. The provider certainly did not take the message (connection refused,
  HTTP 5xx/429, SMTP 4xx), or taking it twice does no harm (``resends_in_doubt``: a webhook whose answer never
  came).
- ``PermanentError``: it refused it for good (invalid number, SMTP 5xx): never again.
- ``AmbiguousError``: it may have taken it (the answer never came): do not resend blindly; the claim is
  left to the stuck-claim resolver, which asks the provider when it can be asked (``can_lookup``).
"""

from dataclasses import dataclass
from datetime import datetime

from lac_service.config import NotificationSettings
from lac_service.notifications.models import Channel


class ChannelError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code[:64]  # a provider code, never the provider's text (it may quote the recipient)


class RetryableError(ChannelError):
    pass


class PermanentError(ChannelError):
    pass


class AmbiguousError(ChannelError):
    pass


@dataclass(frozen=True)
class OutgoingMessage:
    id: int
    recipient: str
    subject: str | None
    body: str
    created_at: datetime
    key_id: str | None = None


class Backend:
    """One provider. ``send`` is called from several threads at once. ``timeout_s`` bounds one send, so a
    claim older than ``sending_timeout_s`` has no send still running under it."""

    name = "base"
    timeout_s = 0.0
    can_lookup = False
    """True when ``lookup`` is authoritative: the provider lists every message it accepted."""
    keeps_text = False
    """True when the outbox row is the delivered message (``local``): its text then keeps its links once sent."""
    can_redact = False
    """True when the provider keeps each message's text until told to erase it (Twilio): see ``redaction``."""
    resends_in_doubt = False
    """True when a message that may have arrived is sent again: its receiver recognises a second copy (a partner's
    webhook, by ``event_id``), where a patient would read the same text twice."""

    def send(self, message: OutgoingMessage) -> str:
        raise NotImplementedError

    def lookup(self, message: OutgoingMessage) -> list[str]:
        """The provider's ids of the messages that may be this one, newest first (the same text may have gone to
        the same recipient just before): empty when the provider has none. Raises ``RetryableError`` when the
        provider cannot be asked right now."""
        raise NotImplementedError

    def redact(self, provider_id: str, *, delete: bool = False) -> None:
        """Erases the provider's copy of a message's text (``delete``: the whole message, number and dates
        too); raises a ``ChannelError`` as ``send`` does, retryable when nothing could be asked (an outage, or
        credentials refused) and permanent when asking again would get the same answer."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class LocalBackend(Backend):
    """Nothing leaves the machine: the row itself is the delivered message, read on the /outbox page.
    A local send cannot half-happen, so a stuck local claim is safely sent again."""

    name = "local"
    can_lookup = True
    keeps_text = True

    def send(self, message: OutgoingMessage) -> str:
        return f"local-{message.id}"

    def lookup(self, message: OutgoingMessage) -> list[str]:
        return []


def build_backends(
    settings: NotificationSettings, *, secret_key: bytes, public_webhooks_only: bool = False
) -> dict[Channel, Backend]:
    """Imported here, not at the top, so that ``local`` (the default) needs neither twilio nor a mail host.
    ``secret_key`` is the service's: partners' webhook signing keys are derived from it."""
    from lac_service.notifications.webhook import WebhookBackend

    backends: dict[Channel, Backend] = {
        Channel.webhook: WebhookBackend(settings, secret_key=secret_key, public_only=public_webhooks_only)
    }
    if settings.sms_backend == "twilio":
        from lac_service.notifications.twilio_sms import TwilioSmsBackend

        backends[Channel.sms] = TwilioSmsBackend(settings)
    else:
        backends[Channel.sms] = LocalBackend()
    if settings.email_backend == "smtp":
        from lac_service.notifications.smtp_email import SmtpEmailBackend

        backends[Channel.email] = SmtpEmailBackend(settings)
    else:
        backends[Channel.email] = LocalBackend()
    return backends
