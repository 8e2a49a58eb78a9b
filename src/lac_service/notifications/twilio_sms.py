"""SMS through Twilio's REST API with the official client.

Twilio can be asked what it accepted (``GET Messages.json?To=``), so a claim left by a dead dispatcher is
resolved exactly: the message is there (sent) or it is not (send again). That answer is authoritative once
no request made under the claim can still be in flight, which the settings guarantee
(``sending_timeout_s`` > ``twilio_timeout_s``).
"""

import logging
import threading
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base import values
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from lac_service.config import NotificationSettings
from lac_service.notifications.channels import (
    AmbiguousError, Backend, OutgoingMessage, PermanentError, RetryableError,
)

# Twilio's request log prints query strings (the recipient's number) at INFO: keep it to warnings.
_QUIET = logging.getLogger("lac_service.notifications.twilio_http")

# How far before the row's creation a matching message may be dated, for the two clocks' disagreement.
CLOCK_SLACK = timedelta(minutes=2)
LOOKUP_LIMIT = 50


class _RedirectedHttpClient(TwilioHttpClient):
    """Sends every request to ``base_url`` instead of ``https://*.twilio.com`` (a local fake in tests)."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base = urlsplit(base_url)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        url = urlunsplit((self._base.scheme, self._base.netloc, parts.path, parts.query, parts.fragment))
        return super().request(method, url, *args, **kwargs)


def _classify(exc: Exception) -> Exception:
    if isinstance(exc, (TwilioRestException, TwilioServiceException)):
        status, code = exc.status, exc.code or exc.status
        if status >= 500 or status == 429:
            return RetryableError(f"twilio:{code}")
        return PermanentError(f"twilio:{code}")
    if isinstance(exc, requests.ConnectTimeout):
        return RetryableError("twilio:connect_timeout")
    if isinstance(exc, requests.ConnectionError) and "NewConnectionError" in repr(exc.args):
        return RetryableError("twilio:connect")
    if isinstance(exc, requests.Timeout):
        return AmbiguousError("twilio:read_timeout")
    return AmbiguousError(f"twilio:{type(exc).__name__}")


class TwilioSmsBackend(Backend):
    name = "twilio"
    can_lookup = True
    can_redact = True

    def __init__(self, settings: NotificationSettings) -> None:
        _QUIET.setLevel(logging.WARNING)
        self.timeout_s = settings.twilio_timeout_s
        self._settings = settings
        self._local = threading.local()
        self._clients: list[Client] = []
        self._lock = threading.Lock()

    def _client(self) -> Client:
        """One client per thread: its ``requests`` session is not meant to be shared between threads."""
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            s = self._settings
            kwargs: dict[str, Any] = {"timeout": s.twilio_timeout_s, "logger": _QUIET}
            http = _RedirectedHttpClient(s.twilio_api_base_url, **kwargs) if s.twilio_api_base_url else None
            client = Client(
                s.twilio_account_sid, s.twilio_auth_token.get_secret_value(),
                http_client=http or TwilioHttpClient(**kwargs),
            )
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def send(self, message: OutgoingMessage) -> str:
        try:
            created = self._client().messages.create(
                to=message.recipient, from_=self._settings.twilio_from, body=message.body,
                status_callback=self._settings.twilio_status_callback_url or values.unset,
            )
        except Exception as exc:  # noqa: BLE001 (every failure is classified; none is swallowed)
            raise _classify(exc) from exc
        return str(created.sid)

    def lookup(self, message: OutgoingMessage) -> list[str]:
        """Lists recent messages to the number (newest first) and matches on the text. ``DateSent`` is not
        used as a filter: Twilio compares it by day, and a message still queued at Twilio has none."""
        try:
            listed = self._client().messages.list(to=message.recipient, limit=LOOKUP_LIMIT)
        except Exception as exc:  # noqa: BLE001
            raise RetryableError(_classify(exc).code) from exc
        since = message.created_at - CLOCK_SLACK
        return [str(item.sid) for item in listed
                if str(item.direction or "outbound").startswith("outbound")
                and (item.date_created is None or item.date_created >= since)
                and (item.body == message.body or (item.body or "").endswith(message.body))]

    def redact(self, provider_id: str, *, delete: bool = False) -> None:
        """An empty body is Twilio's redaction: the log keeps the message's number, status and dates, not its
        text. Credentials refused (401, 403) redacted nothing: asked again once the account is put right."""
        try:
            message = self._client().messages(provider_id)
            if delete:
                message.delete()
            else:
                message.update(body="")
        except TwilioRestException as exc:
            if exc.status in (401, 403):
                raise RetryableError(f"twilio:{exc.code or exc.status}") from exc
            raise _classify(exc) from exc
        except Exception as exc:  # noqa: BLE001
            raise _classify(exc) from exc

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                session = getattr(client.http_client, "session", None)
                if session is not None:
                    session.close()
            self._clients.clear()
