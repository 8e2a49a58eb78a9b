"""A real SMTP server (aiosmtpd) in the test process, recording what it accepts.

``reject`` refuses recipients at RCPT with a permanent 550; ``script`` answers the next DATA commands with
the given codes (``451`` = try again later) before accepting again; ``delay_s`` delays each DATA answer
(the message is kept even if the client died meanwhile, as a real server would deliver a message whose
answer was lost).
"""

import asyncio
import socket
import threading
from collections import deque
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeSmtp:
    def __init__(self, *, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.reject: set[str] = set()
        self.script: deque[int] = deque()
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def env(self) -> dict[str, str]:
        """The settings of a service process that sends its e-mails here."""
        return {
            "LAC_NOTIFICATIONS__EMAIL_BACKEND": "smtp", "LAC_NOTIFICATIONS__SMTP_HOST": "127.0.0.1",
            "LAC_NOTIFICATIONS__SMTP_PORT": str(self.port), "LAC_NOTIFICATIONS__SMTP_SECURITY": "none",
        }

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]  # noqa: N802
        if address in self.reject:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        with self._lock:
            code = self.script.popleft() if self.script else 250
            if code != 250:
                return f"{code} Scripted refusal"
            message = message_from_bytes(envelope.content, policy=policy.default)
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def __enter__(self) -> "FakeSmtp":
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
