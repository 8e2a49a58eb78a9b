"""Erasing an SMS's text from Twilio's log once it has nothing left to do there.

Twilio keeps every message it carried, text and links included, until it is redacted. A text is redacted
once its delivery report is final (delivered, undelivered, failed), or ``twilio_redact_after_hours`` after
it was sent when no report came (Twilio sends none without a status callback). An SMS received is deleted there
instead, ``RECEIVED_SETTLE`` after it came: redaction would leave its sender's number, and any photo sent with it
(the service keeps its words, not its pictures). An erased person's messages are deleted there too, number and
dates, redacted before or not, and even with redaction turned off (``0``); their blank rows then go
(``outbox.forget_resource``; one being sent at the moment of the erasure gets its blank row when the send
returns: ``outcomes._keep_erased``).
A stuck claim is settled before: ``resolver`` finds a message at Twilio by its text, and a claimed message
has no Twilio id yet.

Twilio is called with no transaction open; each answer is recorded by a conditional update, so two
dispatchers on the same rows do the work twice at worst (Twilio takes an empty body twice without complaint).
A message Twilio will not redact (unknown to it, or refused) is settled all the same, with a warning that
names it by number: asking again would get the same answer. Twilio out of reach, or refusing the
credentials, stalls the pass: the dispatcher waits ``PAUSE_S`` before asking again.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from lac_service.config import DEFAULT_REDACT_AFTER_HOURS, NotificationSettings
from lac_service.db import session_scope
from lac_service.notifications.channels import AmbiguousError, Backend, PermanentError, RetryableError
from lac_service.notifications.models import FINAL_REPORTS, INBOUND, UNREDACTED, Notification

log = logging.getLogger(__name__)
N = Notification
PAUSE_S = 300.0
RECEIVED_SETTLE = timedelta(minutes=10)  # Twilio refuses to delete a message in its first minute (error 20009)


@dataclass(frozen=True)
class Pass:
    settled: int  # redacted, deleted, or refused for good by Twilio
    stalled: bool  # Twilio could not be asked: the rest waits


def _due(session: Session, now: datetime, settings: NotificationSettings) -> list[sa.Row]:
    """Settled: a final report, or sent long enough ago. An erased person's messages are deleted whatever the
    setting (redaction turned off keeps texts, not people); the 48 hours then stand in for it."""
    hours = settings.twilio_redact_after_hours
    received = N.template == INBOUND
    settled = sa.and_(sa.or_(N.delivery_status.in_(FINAL_REPORTS),
                             N.sent_at < now - timedelta(hours=hours or DEFAULT_REDACT_AFTER_HOURS)),
                      sa.or_(~received, N.sent_at < now - RECEIVED_SETTLE))
    return list(session.execute(
        sa.select(N.id, N.provider_id, N.erased.label("erased"), received.label("received"))
        .where(sa.text(UNREDACTED), settled if hours else sa.and_(N.erased, settled))  # as the partial index says it
        .order_by(N.id).limit(settings.batch_size)
    ))


def redact_settled(session_factory: sessionmaker[Session], backend: Backend, settings: NotificationSettings,
                   clock: Callable[[], datetime], wait: Callable[[], None],
                   stop: threading.Event | None = None) -> Pass:
    """One batch. ``wait`` spaces the calls by Twilio's rate; ``stop`` ends the batch early."""
    if not backend.can_redact or (stop is not None and stop.is_set()):
        return Pass(0, stalled=False)
    with session_scope(session_factory) as session:
        due = _due(session, clock(), settings)
    done: list[sa.Row] = []
    refused: set[int] = set()
    stalled = False
    for row in due:
        if stop is not None and stop.is_set():
            break
        wait()
        try:
            backend.redact(row.provider_id, delete=row.erased or row.received)
        except PermanentError as exc:
            log.warning("%s did not %s notification %s (%s)", backend.name,
                        "delete" if row.erased or row.received else "redact", row.id, exc.code)
            refused.add(row.id)
        except (RetryableError, AmbiguousError) as exc:  # asked again later: an empty body twice does no harm
            log.warning("cannot ask %s to redact notification %s (%s)", backend.name, row.id, exc.code)
            stalled = True
            break
        done.append(row)
    if done:
        now, unsettled = clock(), (N.provider_redacted_at.is_(None), ~N.erased)
        # An SMS received and deleted there has nothing left to erase there: its id goes. One Twilio refused to
        # delete keeps it, so that its person's erasure asks again.
        deleted = [row.id for row in done if not row.erased and row.received and row.id not in refused]
        redacted = [row.id for row in done if not row.erased and row.id not in deleted]
        with session_scope(session_factory) as session:
            session.execute(sa.update(N).where(N.id.in_(redacted), *unsettled).values(provider_redacted_at=now)
                            .execution_options(synchronize_session=False))
            session.execute(sa.update(N).where(N.id.in_(deleted), *unsettled)
                            .values(provider_redacted_at=now, provider_id=None)
                            .execution_options(synchronize_session=False))
            session.execute(sa.delete(N).where(N.id.in_([row.id for row in done if row.erased]))
                            .execution_options(synchronize_session=False))
    return Pass(len(done), stalled)
