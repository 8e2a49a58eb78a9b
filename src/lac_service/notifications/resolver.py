"""Settling claims left in ``sending`` by a dispatcher that died or lost the provider's answer.

The rule, per provider, so that nothing is silently sent twice or silently lost:

- A claim is judged only once it is older than ``sending_timeout_s``, longer than any send made under it
  can last (the dispatcher does not start a send that could outlive its claim), so no send is in flight.
- If the provider can be asked and keeps every message it accepted (Twilio, ``local``), its answer is
  authoritative: the message is there → ``sent`` (with the provider's id: one no other message holds, since
  the same text may have gone to the same number just before, an answer or a link sent again); it is not →
  back to ``created`` (the lost attempt counts), so it is sent again, once.
- Otherwise nobody can tell. A receiver that recognises a second copy (a partner's webhook) is sent it again;
  a person (SMTP) is not: ``unknown``, never resent, and the coordinators are told.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from lac_service.config import NotificationSettings
from lac_service.db import session_scope
from lac_service.notifications import outcomes
from lac_service.notifications.channels import Backend, ChannelError
from lac_service.notifications.models import Channel, Notification, NotificationStatus
from lac_service.notifications.outcomes import Claimed

log = logging.getLogger(__name__)
N = Notification


def _stuck(session: Session, older_than: datetime, limit: int, backends: dict[Channel, Backend]) -> list[Claimed]:
    rows = session.execute(
        sa.select(*Claimed.COLUMNS, N.claim_token)
        .where(N.status == NotificationStatus.sending, N.claimed_at < older_than)
        .order_by(N.claimed_at, N.id)
        .limit(limit)
    ).all()
    return [Claimed.of_row(r, r.claim_token, backends) for r in rows]


def _taken(session: Session, provider_ids: list[str]) -> set[str]:
    """The ids another message already holds."""
    if not provider_ids:
        return set()
    return set(session.scalars(sa.select(N.provider_id).where(N.provider_id.in_(provider_ids))))


def resolve_stuck(
    session_factory: sessionmaker[Session],
    backends: dict[Channel, Backend],
    settings: NotificationSettings,
    clock: Callable[[], datetime],
) -> int:
    """Returns how many claims were settled. Providers are asked with no transaction open; each answer
    is recorded by a conditional update, so two resolvers racing on one claim settle it once."""
    settled = 0
    while True:
        now = clock()
        with session_scope(session_factory) as session:
            stuck = _stuck(session, now - timedelta(seconds=settings.sending_timeout_s), settings.batch_size, backends)
        if not stuck:
            return settled
        answers: list[tuple[Claimed, list[str]]] = []
        for claimed in stuck:
            backend = backends[claimed.channel]
            if not backend.can_lookup:
                answers.append((claimed, []))
                continue
            try:
                answers.append((claimed, backend.lookup(claimed.message)))
            except ChannelError as exc:
                log.warning("cannot ask %s about notification %s (%s)", backend.name, claimed.message.id, exc.code)
                return settled  # the provider is unreachable: try again on a later pass
        with session_scope(session_factory) as session:
            now = clock()
            taken = _taken(session, [sid for _, found in answers for sid in found])
            for claimed, found in answers:
                provider_id = next((sid for sid in reversed(found) if sid not in taken), None)  # oldest first, as claims
                backend = backends[claimed.channel]
                if not backend.can_lookup and not backend.resends_in_doubt:
                    outcomes.mark_unknown(session, claimed, "stuck:no_lookup", settings=settings, now=now)
                elif provider_id is not None:
                    taken.add(provider_id)
                    outcomes.mark_sent(session, claimed, provider_id, now)
                else:
                    # Not at the provider, or received twice harmlessly: resend now. The lost attempt counts
                    # towards max_attempts.
                    code = "stuck:not_at_provider" if backend.can_lookup else "stuck:in_doubt"
                    outcomes.mark_retry_or_failed(session, claimed, code, retryable=True, settings=settings, now=now,
                                                  backoff=False)
                settled += 1
