"""Partner webhooks: the event's JSON POSTed to the partner's URL, signed when sent.

The signature header is ``X-LAC-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>``: the
partner recomputes it with its key and refuses a stale ``t``, so a captured delivery cannot be replayed
later. Signing at send time, not at enqueue, keeps a retried delivery fresh. The key is derived from the
service's secret key and the key id stored on the row (``webhook_key``), so no partner key is stored.

Delivery is at least once: receivers de-duplicate on ``event_id``. So any answer but 2xx is retried, with
backoff, until the attempts run out (a 401 while the partner installs a rotated key, a 404 during its deploy),
except a 410, the partner's "gone for good"; and a delivery whose answer never came (a timeout, a connection cut)
is sent again, as is one a dispatcher died holding (``resolver``), rather than lost.

In production a webhook may only reach public addresses, checked at registration and again at each delivery
by the connection itself (``_PublicOnly``): otherwise a partner's URL could make the service call into its
own network (server-side request forgery: the database, a cloud metadata service). The name is looked up
once per delivery and the connection goes to an address that lookup vetted, so a name re-pointed inside
after the check (DNS rebinding) is not followed. A resolver failing at delivery time is retried.
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
from lac_service.notifications.channels import Backend, OutgoingMessage, PermanentError, RetryableError

SIGNATURE_HEADER = "X-LAC-Signature"
_GONE = 410


def webhook_key(secret_key: bytes, key_id: str) -> str:
    """The key a partner verifies with: shown to the partner, never stored."""
    return derive(secret_key, f"webhook:{key_id}")


class AddressNotPublic(Exception):
    """The host stands for a private, loopback, link-local or otherwise non-public address."""


def public_addresses(host: str, port: int) -> list[str]:
    """Every address the host stands for, all public, or ``AddressNotPublic``. Raises ``OSError`` when the
    name cannot be resolved now (a failing resolver is a reason to retry, not a verdict)."""
    found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global:
            raise AddressNotPublic(host)
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise AddressNotPublic(host)
    return addresses


def is_public(url: str) -> bool:
    """Whether the URL's host stands for public addresses only; an unknown or unresolvable host is not
    (registering a webhook)."""
    parts = urlsplit(url)
    try:
        return bool(parts.hostname) and bool(public_addresses(parts.hostname or "", parts.port or 443))
    except (AddressNotPublic, OSError, UnicodeError, ValueError):
        return False


class _PublicOnly(httpx.HTTPTransport):
    """Connects only to an address vetted by the one lookup it makes. The name stays in the Host header and
    in the TLS handshake (``sni_hostname``), so the certificate is checked against it. No connection is kept
    for another delivery: it would be reused by address, for whatever name points there. No proxy either
    (``HTTPS_PROXY`` is ignored): the check must be on the address connected to."""

    def __init__(self) -> None:
        super().__init__(limits=httpx.Limits(max_keepalive_connections=0))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host, url = request.url.raw_host.decode("ascii"), request.url
        # Each tried with the full timeout: a name with many dead addresses must not hold a sender long.
        addresses = public_addresses(host, url.port or (443 if url.scheme == "https" else 80))[:3]
        request.extensions = {**request.extensions, "sni_hostname": host}
        for address in addresses[:-1]:
            request.url = url.copy_with(host=address)
            try:
                return super().handle_request(request)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                continue  # nothing was sent: the next address
        request.url = url.copy_with(host=addresses[-1])
        return super().handle_request(request)


def signature(key: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookBackend(Backend):
    name = "webhook"
    resends_in_doubt = True

    def __init__(self, settings: NotificationSettings, *, secret_key: bytes, public_only: bool = False) -> None:
        """``public_only`` in production; development and tests receive on loopback."""
        self.timeout_s = settings.webhook_timeout_s
        self._secret_key = secret_key
        # Shared by the sending threads (httpx clients are thread-safe); redirects are not followed, so a
        # delivery goes only where the partner registered.
        self._client = httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False,
                                    transport=_PublicOnly() if public_only else None)

    def send(self, message: OutgoingMessage) -> str:
        if message.key_id is None:
            raise PermanentError("webhook:no_key")
        body = message.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "lac-service-webhook/1",
            SIGNATURE_HEADER: signature(webhook_key(self._secret_key, message.key_id), int(time.time()), body),
        }
        try:
            response = self._client.post(message.recipient, content=body, headers=headers)
        except AddressNotPublic as exc:
            raise PermanentError("webhook:address_not_public") from exc
        except socket.gaierror as exc:  # the name could not be resolved now
            raise RetryableError("webhook:dns") from exc
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise RetryableError("webhook:connect") from exc
        except httpx.HTTPError as exc:  # it may have arrived: sent again, the partner keeps one
            raise RetryableError(f"webhook:{type(exc).__name__}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return f"webhook-{message.id}-{status}"
        if status == _GONE:
            raise PermanentError(f"webhook:{status}")
        raise RetryableError(f"webhook:{status}")

    def close(self) -> None:
        self._client.close()
