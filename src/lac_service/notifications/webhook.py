"""Partner webhooks: the event's JSON POSTed to the partner's URL, signed when sent.

The signature header is ``X-LAC-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>``: the
partner recomputes it with its key and refuses a stale ``t``, so a captured delivery cannot be replayed
later. Signing at send time, not at enqueue, keeps a retried delivery fresh. The key is derived from the
service's secret key and the key id stored on the row (``webhook_key``), so no partner key is stored.

A refused connection, a 408, a 429 or a 5xx is retried; any other answer but 2xx fails for good (a wrong
URL does not heal by itself); a delivery whose answer never came may have arrived and is not resent blindly
(the resolver marks it ``unknown``): receivers should still de-duplicate on ``event_id``.

In production a webhook may only reach public addresses, checked at registration and again before each
delivery (``resolves_publicly``; a resolver failing at delivery time is retried): otherwise a partner's URL
could make the service call into its own network (server-side request forgery: the database, a cloud
metadata service).
"""

import hashlib
import hmac
import ipaddress
import socket
import time
from urllib.parse import urlsplit

import httpx

from lac_service.config import NotificationSettings
from lac_service.kit.tokens import derive
from lac_service.notifications.channels import (
    AmbiguousError, Backend, OutgoingMessage, PermanentError, RetryableError,
)

SIGNATURE_HEADER = "X-LAC-Signature"
_RETRYABLE = {408, 425, 429}


def webhook_key(secret_key: bytes, key_id: str) -> str:
    """The key a partner verifies with: shown to the partner, never stored."""
    return derive(secret_key, f"webhook:{key_id}")


def resolves_publicly(url: str) -> bool:
    """Whether every address the URL's host stands for is a public one. Raises ``OSError`` when the name
    cannot be resolved now (a failing resolver is a reason to retry, not a verdict)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    found = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global:
            return False
    return bool(found)


def is_public(url: str) -> bool:
    """The same, where an unknown or unresolvable host is not public (registering a webhook)."""
    try:
        return resolves_publicly(url)
    except (OSError, UnicodeError, ValueError):
        return False


def signature(key: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookBackend(Backend):
    name = "webhook"

    def __init__(self, settings: NotificationSettings, *, secret_key: bytes, public_only: bool = False) -> None:
        """``public_only`` in production; development and tests receive on loopback."""
        self.timeout_s = settings.webhook_timeout_s
        self._secret_key = secret_key
        self._public_only = public_only
        # Shared by the sending threads (httpx clients are thread-safe); redirects are not followed, so a
        # delivery goes only where the partner registered.
        self._client = httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False)

    def send(self, message: OutgoingMessage) -> str:
        if message.key_id is None:
            raise PermanentError("webhook:no_key")
        if self._public_only:
            try:
                public = resolves_publicly(message.recipient)
            except OSError as exc:
                raise RetryableError("webhook:dns") from exc
            if not public:
                raise PermanentError("webhook:address_not_public")
        body = message.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "lac-service-webhook/1",
            SIGNATURE_HEADER: signature(webhook_key(self._secret_key, message.key_id), int(time.time()), body),
        }
        try:
            response = self._client.post(message.recipient, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise RetryableError("webhook:connect") from exc
        except httpx.HTTPError as exc:
            raise AmbiguousError(f"webhook:{type(exc).__name__}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return f"webhook-{message.id}-{status}"
        if status >= 500 or status in _RETRYABLE:
            raise RetryableError(f"webhook:{status}")
        raise PermanentError(f"webhook:{status}")

    def close(self) -> None:
        self._client.close()
