"""A local stand-in for Twilio's Messages API, spoken to by the real ``twilio`` client.

``POST /2010-04-01/Accounts/{sid}/Messages.json`` answers 201 with a message like Twilio's (Basic auth
checked); ``GET`` on the same path lists what it accepted, newest first, filtered by ``To``; ``POST`` on
``Messages/{MessageSid}.json`` with an empty ``Body`` redacts that message (404 for one it never had, 400 for
a body that is not empty, as Twilio), and ``DELETE`` there deletes it. ``receive`` makes up an SMS from a
patient, as Twilio logs one before calling the service's webhook: those are redacted and deleted the same way. Faults are scripted: ``script`` is
consumed one entry per POST or DELETE (``500``, ``(400, 21211)``), ``reject`` refuses some numbers for good,
``delay_s`` slows every answer (half before the message is recorded, half after, so a client killed
mid-request leaves messages the fake has and the client never heard of).
"""

import base64
import json
import re
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-auth-token"
SENDER = "+33700000000"


class FakeTwilio:
    def __init__(self, *, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.script: deque[int | tuple[int, int]] = deque()
        self.reject: dict[str, int] = {}  # number → Twilio error code answered with 400
        self.received: list[dict[str, str]] = []
        self.incoming: list[dict[str, str]] = []  # the SMS patients sent (``receive``)
        self.redacted: list[str] = []  # the sids redacted, in order, each time asked
        self.deleted: list[str] = []
        self.posts = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real client expects
            disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

            def handle(self) -> None:
                try:
                    super().handle()
                except (ConnectionResetError, BrokenPipeError):
                    pass  # a client killed with SIGKILL

            def _answer(self, status: int, payload: dict[str, object]) -> None:
                body = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client died or gave up

            def _authorised(self) -> bool:
                expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
                if self.headers.get("Authorization") == f"Basic {expected}":
                    return True
                self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                return False

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if len(raw) < length:
                    return  # the client died mid-request: like Twilio, take nothing from a partial request
                form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
                if not self._authorised():
                    return
                if self.path.endswith("/Messages.json"):
                    fake._post(self, form)
                elif one := re.search(r"/Messages/(\w+)\.json$", self.path):
                    fake._update(self, one[1], form)

            def do_DELETE(self) -> None:  # noqa: N802
                one = re.search(r"/Messages/(\w+)\.json$", self.path)
                if self._authorised() and one:
                    fake._delete(self, one[1])

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                if not self._authorised() or not url.path.endswith("/Messages.json"):
                    return
                to = parse_qs(url.query).get("To", [None])[0]
                with fake._lock:
                    listed = [m for m in reversed(fake.received) if to is None or m["to"] == to]
                self._answer(200, {"messages": listed, "next_page_uri": None, "page": 0, "page_size": 50,
                                   "start": 0, "end": len(listed), "uri": url.path})

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def env(self) -> dict[str, str]:
        """The settings of a service process that sends its SMS here."""
        return {
            "LAC_NOTIFICATIONS__SMS_BACKEND": "twilio", "LAC_NOTIFICATIONS__TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "LAC_NOTIFICATIONS__TWILIO_AUTH_TOKEN": AUTH_TOKEN, "LAC_NOTIFICATIONS__TWILIO_FROM": SENDER,
            "LAC_NOTIFICATIONS__TWILIO_API_BASE_URL": self.base_url,
        }

    def _next_fault(self) -> int | tuple[int, int] | None:
        with self._lock:
            self.posts += 1
            return self.script.popleft() if self.script else None

    @staticmethod
    def _fail(answer: Any, fault: int | tuple[int, int]) -> None:
        status, code = fault if isinstance(fault, tuple) else (fault, fault)
        answer(status, {"code": code, "message": "scripted fault", "status": status})

    def _post(self, handler: "BaseHTTPRequestHandler", form: dict[str, str]) -> None:
        answer = handler._answer  # type: ignore[attr-defined]
        fault = self._next_fault()
        if self.delay_s:
            time.sleep(self.delay_s / 2)
        if fault is not None:
            self._fail(answer, fault)
            return
        if form.get("To") in self.reject:
            answer(400, {"code": self.reject[form["To"]], "message": "The 'To' number is not valid.", "status": 400})
            return
        now = format_datetime(datetime.now(UTC), usegmt=True)
        message = {
            "sid": "SM" + uuid.uuid4().hex, "account_sid": ACCOUNT_SID, "to": form.get("To", ""),
            "from": form.get("From", ""), "body": form.get("Body", ""), "status": "queued",
            "direction": "outbound-api", "date_created": now, "date_updated": now, "date_sent": None,
            "num_segments": "1", "api_version": "2010-04-01", "status_callback": form.get("StatusCallback"),
        }
        with self._lock:
            self.received.append(message)
        if self.delay_s:
            time.sleep(self.delay_s / 2)
        answer(201, message)

    def receive(self, sender: str, body: str, *, pictures: int = 0) -> dict[str, str]:
        """An SMS from ``sender`` to the service's number, logged as Twilio logs it (an MMS, its id MM…, when
        it carries ``pictures``); its ``sid`` is the ``MessageSid`` of the webhook call that follows."""
        message = {"sid": ("MM" if pictures else "SM") + uuid.uuid4().hex, "account_sid": ACCOUNT_SID, "to": SENDER,
                   "from": sender, "body": body, "status": "received", "direction": "inbound",
                   "num_media": str(pictures)}
        with self._lock:
            self.incoming.append(message)
        return message

    def _logged(self, sid: str) -> tuple[list[dict[str, str]], dict[str, str]] | None:
        """The list holding message ``sid``, and the message (called with the lock held)."""
        for log in (self.received, self.incoming):
            for message in log:
                if message["sid"] == sid:
                    return log, message
        return None

    def _update(self, handler: "BaseHTTPRequestHandler", sid: str, form: dict[str, str]) -> None:
        answer = handler._answer  # type: ignore[attr-defined]
        fault = self._next_fault()
        with self._lock:
            found = self._logged(sid)
            message = found[1] if found else None
            if fault is None and message is not None and form.get("Body") == "":
                message["body"] = ""
                self.redacted.append(sid)
        if fault is not None:
            self._fail(answer, fault)
        elif message is None:
            answer(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
        elif form.get("Body") != "":
            answer(400, {"code": 30400, "message": "Message body redaction request does not have empty Body",
                         "status": 400})
        else:
            answer(200, message)

    def _delete(self, handler: "BaseHTTPRequestHandler", sid: str) -> None:
        answer = handler._answer  # type: ignore[attr-defined]
        fault = self._next_fault()
        with self._lock:
            found = self._logged(sid)
            message = found[1] if found else None
            if fault is None and found is not None:
                found[0].remove(found[1])
                self.deleted.append(sid)
        if fault is not None:
            self._fail(answer, fault)
        elif message is None:
            answer(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
        else:
            handler.send_response(204)  # type: ignore[attr-defined]
            handler.send_header("Content-Length", "0")  # type: ignore[attr-defined]
            handler.end_headers()  # type: ignore[attr-defined]

    def count_by_body(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        with self._lock:
            for m in self.received:
                counts[(m["to"], m["body"])] = counts.get((m["to"], m["body"]), 0) + 1
        return counts

    def __enter__(self) -> "FakeTwilio":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
