"""A partner's webhook: where the status changes of its organisation's requests are POSTed, and of the
requests it registered that belong to another organisation (the patient's home is in that one's territory).

Each change is queued in the outbox in the transaction that makes it, so a partner learns of every change
once (the dispatcher retries, never sends twice) and of none that was rolled back. The body holds ids and
statuses only, no personal data: the partner reads the request with its API key if it needs more (its
status only, for one it registered that belongs to another organisation).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.auth.models import Organisation
from lac_service.errors import InvalidInput
from lac_service.kit.tokens import new_token
from lac_service.notifications.models import Channel, Notification, NotificationStatus
from lac_service.notifications.outbox import Message, enqueue_new
from lac_service.notifications.webhook import is_public

EVENT = "request.status_changed"


@dataclass(frozen=True)
class Change:
    request_id: int
    organisation_id: int
    followed_by: int | None  # the organisation that registered the request for a home another holds
    from_status: str | None
    to_status: str
    reason: str | None


def _resource(organisation_id: int) -> str:
    return f"organisation:{organisation_id}"


def _queued(organisation: Organisation) -> sa.Update:
    N = Notification
    return (
        sa.update(N)
        .where(N.channel == Channel.webhook, N.resource == _resource(organisation.id),
               N.status == NotificationStatus.created)
        .execution_options(synchronize_session=False)
    )


def check_url(url: str, *, production: bool) -> str:
    """In production, HTTPS to a public address (development and tests receive over http on loopback); no
    credentials in the URL, since it is shown on screens and kept with every delivery."""
    parts = urlsplit(url)
    if parts.scheme not in (("https",) if production else ("https", "http")):
        raise InvalidInput("L'adresse du webhook doit commencer par https://.", field="url")
    if parts.username or parts.password:
        raise InvalidInput("L'adresse du webhook ne doit pas contenir d'identifiants.", field="url")
    if production and not is_public(url):
        raise InvalidInput("L'adresse du webhook doit être publique sur internet : ce nom est introuvable, ou "
                           "désigne une adresse interne.", field="url")
    return url


def register(session: Session, organisation: Organisation, *, url: str, rotate_key: bool) -> None:
    """Sets the URL; a first registration, or ``rotate_key``, issues a new signing key. Deliveries still
    queued go to the new URL, signed with the current key."""
    organisation.webhook_url = url
    if rotate_key or organisation.webhook_key_id is None:
        organisation.webhook_key_id = new_token(16)
    session.execute(_queued(organisation).values(recipient=url, key_id=organisation.webhook_key_id))


def unregister(session: Session, organisation: Organisation) -> None:
    """Deliveries still queued are dropped (``failed``, no coordinator notice: the partner chose)."""
    organisation.webhook_url = None
    organisation.webhook_key_id = None
    session.execute(_queued(organisation).values(status=NotificationStatus.failed, error_code="webhook:unregistered"))


def queue_changes(session: Session, changes: Sequence[Change], *, now: datetime) -> None:
    """Queues one delivery per change and per organisation told of it (the request's, and the one that
    registered it) that has a webhook, in the caller's transaction. ``organisation`` in the body is always
    the slug of the organisation the request belongs to."""
    organisation_ids = {i for change in changes for i in (change.organisation_id, change.followed_by)
                        if i is not None}
    if not organisation_ids:
        return
    organisations = {
        row.id: row for row in session.execute(
            sa.select(Organisation.id, Organisation.slug, Organisation.webhook_url, Organisation.webhook_key_id)
            .where(Organisation.id.in_(organisation_ids))
        )
    }
    messages = []
    for change in changes:
        belongs = organisations[change.organisation_id]
        for told in dict.fromkeys((belongs.id, change.followed_by or belongs.id)):
            organisation = organisations.get(told)
            if organisation is None or organisation.webhook_url is None:
                continue
            event_id = uuid.uuid4().hex
            context = {
                "event_id": event_id, "organisation": belongs.slug, "request_id": change.request_id,
                "from_status": change.from_status, "to_status": change.to_status, "reason": change.reason,
                "at": now.isoformat(),
            }
            messages.append(Message(
                Channel.webhook, organisation.webhook_url, EVENT, context, f"webhook:{event_id}",
                resource=_resource(organisation.id), organisation_id=organisation.id, key_id=organisation.webhook_key_id,
            ))
    enqueue_new(session, messages, now=now)
