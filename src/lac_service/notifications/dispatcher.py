"""The dispatcher: claims due messages, sends them with no transaction open, records each outcome.

A message is sent only from a claim, and a claim is taken only from ``created``: a retry, a second
dispatcher or a restarted one can never send a message that another claim holds. Claims are taken a few
at a time — never more than ``concurrency`` per dispatcher — so when a dispatcher dies, at most that many
messages are left in doubt, and the stuck-claim resolver (``resolver``) settles them.

Each pass of the loop is one short transaction that records what finished and claims what can start.
On PostgreSQL the claim skips rows other dispatchers hold (``FOR UPDATE SKIP LOCKED``); on SQLite the
claim is a single ``UPDATE … RETURNING`` whose write lock serialises dispatchers.
"""

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from lac_service.config import NotificationSettings
from lac_service.db import UTCDateTime, session_scope
from lac_service.kit.clock import utcnow, zones_at_night
from lac_service.notifications import outcomes, redaction
from lac_service.notifications.channels import (
    AmbiguousError, Backend, PermanentError, RetryableError, build_backends,
)
from lac_service.notifications.models import Channel, Notification, NotificationStatus
from lac_service.notifications.outbox import claimable, keep_to_daytime
from lac_service.notifications.outcomes import Claimed
from lac_service.notifications.resolver import resolve_stuck

log = logging.getLogger(__name__)
N = Notification
NOT_ATTEMPTED = "not_attempted"
GATHER_S = 0.005


@dataclass
class Stats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    in_doubt: int = 0
    resolved: int = 0
    redacted: int = 0


class RateLimiter:
    """Spaces sends ``1/rate`` seconds apart across all threads: the provider's limit, not a burst."""

    def __init__(self, rate_per_s: float) -> None:
        self._interval = 1.0 / rate_per_s
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


# Built once: the claim runs many times a second, and building a statement costs more than running it.
_T = N.__table__
_DUE = (
    sa.select(_T.c.id)
    .where(_T.c.status == NotificationStatus.created.value,
           _T.c.next_attempt_at <= sa.bindparam("now", type_=UTCDateTime()), claimable(_T))
    .order_by(_T.c.next_attempt_at, _T.c.id)
    .limit(sa.bindparam("limit", type_=sa.Integer()))
)


def _claim_where(ids: Any) -> sa.Update:
    return (
        _T.update()
        .where(_T.c.id.in_(ids), _T.c.status == NotificationStatus.created.value)
        .values(status=NotificationStatus.sending.value, claimed_at=sa.bindparam("now", type_=UTCDateTime()),
                claim_token=sa.bindparam("token"))
        .returning(*Claimed.COLUMNS)
    )


_CLAIM_DUE = _claim_where(_DUE.scalar_subquery())
# PostgreSQL may re-run a LIMIT … SKIP LOCKED subquery inside an UPDATE, and so claim more rows than asked; a
# materialised CTE runs once.
_LOCKED_DUE = _DUE.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
_CLAIM_LOCKED = _claim_where(sa.select(_LOCKED_DUE.c.id))


class Dispatcher:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: NotificationSettings,
        *,
        secret_key: bytes,
        backends: dict[Channel, Backend] | None = None,
        clock: Callable[[], datetime] = utcnow,
        public_webhooks_only: bool = False,
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.backends = backends if backends is not None else build_backends(
            settings, secret_key=secret_key, public_webhooks_only=public_webhooks_only
        )
        self.clock = clock
        self.limiter = RateLimiter(settings.rate_per_s)
        self._redact_from = 0.0  # monotonic: Twilio out of reach, redaction waits until then

    def close(self) -> None:
        for backend in self.backends.values():
            backend.close()

    def claim(self, session: Session, limit: int) -> list[Claimed]:
        now, token = self.clock(), uuid.uuid4().hex
        params = {"now": now, "limit": limit, "token": token, "night": zones_at_night(now)}
        if session.get_bind().dialect.name == "postgresql":
            rows = session.execute(_CLAIM_LOCKED, params).all()
        else:
            # One statement: its write lock is taken before it reads, so concurrent SQLite writers wait
            # (busy_timeout) instead of failing on a stale snapshot.
            rows = session.execute(_CLAIM_DUE, params).all()
        return [Claimed.of_row(r, token, self.backends) for r in sorted(rows, key=lambda r: r.id)]

    def _send(self, claimed: Claimed, deadline: float) -> str | Exception:
        """Runs in a sending thread. Sends only while the claim is fresh enough for the send to finish
        before anyone may judge the claim stuck."""
        backend = self.backends[claimed.channel]
        self.limiter.wait()
        if time.monotonic() > deadline - backend.timeout_s:
            return NOT_ATTEMPTED
        try:
            return backend.send(claimed.message)
        except (RetryableError, PermanentError, AmbiguousError) as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 (a bug in a backend: the provider may have the message)
            log.exception("unexpected error while sending notification %s", claimed.message.id)
            return AmbiguousError(f"internal:{type(exc).__name__}")

    def _record(self, session: Session, finished: list[tuple[Claimed, str | Exception]], stats: Stats) -> None:
        now = self.clock()
        sent = [(c, r) for c, r in finished if isinstance(r, str) and r != NOT_ATTEMPTED]
        outcomes.mark_sent_many(session, sent, now)
        stats.sent += len(sent)
        for claimed, result in finished:
            if result == NOT_ATTEMPTED:
                outcomes.release(session, claimed, now)
            elif isinstance(result, AmbiguousError):
                outcomes.mark_ambiguous(session, claimed, result.code)
                stats.in_doubt += 1
            elif isinstance(result, (RetryableError, PermanentError)):
                status = outcomes.mark_retry_or_failed(
                    session, claimed, result.code, retryable=isinstance(result, RetryableError),
                    settings=self.settings, now=now,
                )
                stats.retried += status is NotificationStatus.created
                stats.failed += status is NotificationStatus.failed

    @staticmethod
    def _gather(inflight: dict[Future[str | Exception], Claimed]) -> set[Future[str | Exception]]:
        """Waits for one send to finish, then up to ``GATHER_S`` for half the window, so that one
        transaction records several outcomes: cheaper for the database, and nothing to a message."""
        done, pending = wait(inflight, return_when=FIRST_COMPLETED)
        until = time.monotonic() + GATHER_S
        while pending and len(done) < len(inflight) // 2 and (left := until - time.monotonic()) > 0:
            more, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
            done |= more
        return done

    def run_once(self, stop: threading.Event | None = None) -> Stats:
        """Settles stuck claims, then sends everything due until nothing is (or ``stop`` is set), then has a
        batch of settled SMS redacted at the provider (after sending: a patient waits for a message, not for
        a redaction)."""
        stats = Stats()
        stats.resolved = resolve_stuck(self.session_factory, self.backends, self.settings, self.clock)
        window = self.settings.concurrency
        timeout = self.settings.sending_timeout_s
        inflight: dict[Future[str | Exception], Claimed] = {}
        finished: list[tuple[Claimed, str | Exception]] = []
        with ThreadPoolExecutor(max_workers=window, thread_name_prefix="lac-send") as pool:
            while True:
                room = 0 if stop is not None and stop.is_set() else window - len(inflight)
                with session_scope(self.session_factory) as session:
                    self._record(session, finished, stats)
                    if room:
                        keep_to_daytime(session, now=self.clock(), per_s=self.settings.bulk_per_s)
                    claimed = self.claim(session, room) if room else []
                # Committed and the connection is back in the pool: no transaction while we send.
                finished = []
                deadline = time.monotonic() + timeout
                for c in claimed:
                    inflight[pool.submit(self._send, c, deadline)] = c
                if not inflight:
                    break
                finished = [(inflight.pop(f), f.result()) for f in self._gather(inflight)]
        if Channel.sms in self.backends and time.monotonic() >= self._redact_from:
            done = redaction.redact_settled(self.session_factory, self.backends[Channel.sms], self.settings,
                                            self.clock, self.limiter.wait, stop)
            stats.redacted = done.settled
            if done.stalled:
                self._redact_from = time.monotonic() + redaction.PAUSE_S
        return stats

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                stats = self.run_once(stop)
            except sa.exc.OperationalError:
                log.exception("database unavailable; the dispatcher will try again")
                stats = Stats()
            except Exception as error:  # a thread that died would leave every message unsent
                # The type only: a message may quote a recipient.
                log.error("dispatcher pass failed (%s); the dispatcher will try again", type(error).__name__)
                stats = Stats()
            if not (stats.sent or stats.retried or stats.failed or stats.resolved or stats.redacted):
                stop.wait(self.settings.poll_interval_s)
