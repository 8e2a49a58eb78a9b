"""Erasing an SMS's text from the provider's log once it has nothing left to do there.

Twilio keeps every message it carried, text and links included, until it is redacted. A text is redacted
once its delivery report is final (delivered, undelivered, failed), or ``twilio_redact_after_hours`` after
it was sent when no report came (Twilio sends none without a status callback). A stuck claim is settled
before: ``resolver`` finds a message at Twilio by its text, and a claimed message has no provider id yet.

The provider is called with no transaction open; each answer is recorded by a conditional update, so two
dispatchers redacting at once stamp a message once (Twilio takes an empty body twice without complaint).
A message Twilio will not redact (unknown to it, or refused) is stamped all the same, with a warning that
names it by number: asking again would get the same answer.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from lac_service.config import NotificationSettings
from lac_service.db import session_scope
from lac_service.notifications.channels import AmbiguousError, Backend, PermanentError, RetryableError
from lac_service.notifications.models import FINAL_REPORTS, UNREDACTED, Notification

log = logging.getLogger(__name__)
N = Notification


def _due(session: Session, now: datetime, settings: NotificationSettings) -> list[tuple[int, str]]:
    settled = sa.or_(N.delivery_status.in_(FINAL_REPORTS),
                     N.sent_at < now - timedelta(hours=settings.twilio_redact_after_hours))
    rows = session.execute(
        sa.select(N.id, N.provider_id)
        .where(sa.text(UNREDACTED), settled)  # as the partial index says it, for PostgreSQL to use it
        .order_by(N.id).limit(settings.batch_size)
    ).all()
    return [(row.id, row.provider_id) for row in rows]


def redact_settled(session_factory: sessionmaker[Session], backend: Backend, settings: NotificationSettings,
                   clock: Callable[[], datetime], wait: Callable[[], None]) -> int:
    """One batch; returns how many messages it settled. ``wait`` spaces the calls by the provider's rate.
    The provider unreachable, the rest waits for a later pass."""
    if not backend.can_redact or not settings.twilio_redact_after_hours:
        return 0
    with session_scope(session_factory) as session:
        due = _due(session, clock(), settings)
    done: list[int] = []
    for notification_id, provider_id in due:
        wait()
        try:
            backend.redact(provider_id)
        except PermanentError as exc:
            log.warning("%s did not redact notification %s (%s)", backend.name, notification_id, exc.code)
        except (RetryableError, AmbiguousError) as exc:  # asked again later: an empty body twice does no harm
            log.warning("cannot ask %s to redact notification %s (%s)", backend.name, notification_id, exc.code)
            break
        done.append(notification_id)
    if done:
        with session_scope(session_factory) as session:
            session.execute(sa.update(N).where(N.id.in_(done), N.provider_redacted_at.is_(None))
                            .values(provider_redacted_at=clock()).execution_options(synchronize_session=False))
    return len(done)
