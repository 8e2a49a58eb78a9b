"""Email through an SMTP relay with the standard library.

The SMTP dialogue is driven step by step so that a failure is classified by where it happened: before the
end of DATA the server cannot have the message (safe to retry); after it, a lost answer is ambiguous. An
SMTP server cannot be asked afterwards what it accepted, so an ambiguous or stuck email ends ``unknown``.
"""

import smtplib
import secrets
import ssl
import threading
from email.charset import QP, Charset
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr

from email_validator import EmailNotValidError, validate_email

from lac_service.config import NotificationSettings
from lac_service.notifications.channels import (
    AmbiguousError, Backend, ChannelError, OutgoingMessage, PermanentError, RetryableError,
)


_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable in a raw mailbox, unlike base64


def _refusal(code: int) -> ChannelError:
    return RetryableError(f"smtp:{code}") if 400 <= code < 500 else PermanentError(f"smtp:{code}")


def _ascii(address: str) -> str:
    """The address as SMTP carries it: an accented domain in its IDNA form (santé.fr is xn--sant-dpa.fr).
    Accents before the "@" need SMTPUTF8, which few servers offer: refused (the forms refuse them too), before
    the connection is used, which smtplib's ASCII commands would leave in the middle of a transaction."""
    try:
        ascii_email = validate_email(address, check_deliverability=False).ascii_email
    except EmailNotValidError:
        ascii_email = None
    if ascii_email is None:
        raise PermanentError("smtp:address_not_ascii")
    return ascii_email


class SmtpEmailBackend(Backend):
    """One open connection per sending thread, reused from one message to the next."""

    name = "smtp"
    can_lookup = False

    def __init__(self, settings: NotificationSettings) -> None:
        self.timeout_s = settings.smtp_timeout_s
        self._settings = settings
        name, self._sender = parseaddr(settings.email_from)
        self._from_header = formataddr((name, self._sender), charset="utf-8")
        # Where delivery reports go (``bounces``): the address alone, however it was written ("LAC <x@y>").
        self._envelope_sender = parseaddr(settings.bounce_address)[1] or self._sender
        self._domain = self._sender.rpartition("@")[2] or "lac.invalid"
        self._local = threading.local()
        self._open: set[smtplib.SMTP] = set()
        self._lock = threading.Lock()

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        try:
            if s.smtp_security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s, context=ssl.create_default_context()
                )
            else:
                conn = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
                if s.smtp_security == "starttls":
                    conn.starttls(context=ssl.create_default_context())
            conn.ehlo_or_helo_if_needed()
            if s.smtp_username:
                conn.login(s.smtp_username, s.smtp_password.get_secret_value())
        except smtplib.SMTPResponseException as exc:
            raise _refusal(exc.smtp_code) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise RetryableError("smtp:connect") from exc
        with self._lock:
            self._open.add(conn)
        return conn

    def _drop(self, conn: smtplib.SMTP) -> None:
        self._local.conn = None
        with self._lock:
            self._open.discard(conn)
        try:
            conn.close()
        except OSError:
            pass

    def _build(self, message: OutgoingMessage, message_id: str, recipient: str) -> bytes:
        """The compat32 MIME classes: a third of ``EmailMessage``'s cost, the same bytes on the wire."""
        mail = MIMEText(message.body, "plain", _UTF8_QP)
        mail["From"] = self._from_header
        mail["To"] = recipient
        mail["Subject"] = Header(message.subject or "", "utf-8").encode()
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = message_id
        return mail.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

    def send(self, message: OutgoingMessage) -> str:
        # Our Message-ID is the provider id: it is what the recipient's server logs and bounces quote. Its random
        # part lets no one forge a bounce; the row keeps its first 64 characters, random part included.
        message_id = f"<lac-{message.id}-{secrets.token_hex(6)}@{self._domain}>"
        recipient = message.recipient if message.recipient.isascii() else _ascii(message.recipient)
        data = self._build(message, message_id, recipient)
        for _ in range(2):
            conn: smtplib.SMTP | None = getattr(self._local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = self._local.conn = self._connect()
            try:
                code, _ = conn.mail(self._envelope_sender)
                if code == 250:
                    code, _ = conn.rcpt(recipient)
                break
            except (OSError, smtplib.SMTPException) as exc:
                # Before DATA: the server has nothing. A reused connection may have been closed while idle:
                # try once more on a fresh one.
                self._drop(conn)
                if not reused:
                    raise RetryableError("smtp:disconnected") from exc
        if code not in (250, 251):
            self._drop(conn)  # rather than RSET: a fresh connection is the simplest known state
            raise _refusal(code)
        try:
            code, _ = conn.data(data)
        except smtplib.SMTPResponseException as exc:
            self._drop(conn)
            raise _refusal(exc.smtp_code) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._drop(conn)
            raise AmbiguousError("smtp:no_answer_after_data") from exc
        if code != 250:
            self._drop(conn)
            raise _refusal(code)
        return message_id

    def lookup(self, message: OutgoingMessage) -> list[str]:
        raise NotImplementedError("an SMTP server cannot be asked what it accepted")

    def close(self) -> None:
        with self._lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()
