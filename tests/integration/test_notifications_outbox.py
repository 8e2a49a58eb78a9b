"""``enqueue`` joins the caller's transaction and names each message by the event that causes it."""

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from lac_service.db import session_scope
from lac_service.notifications.models import Channel, Notification, NotificationStatus
from lac_service.notifications.outbox import InvalidRecipient, enqueue, forget_resource

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
CONTEXT = {"kind": "medecin_traitant", "link": "https://lac.example.fr/suivi/abc", "answer_by": "12/03"}


def count(db) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(sa.select(sa.func.count()).select_from(Notification))


def test_enqueue_renders_and_queues_without_committing(db):
    row = enqueue(db, channel="sms", recipient="+33612345678", template="reconfirmation", context=CONTEXT,
                  idempotency_key="request:1:reconfirmation:2026-11", now=NOW, resource="request:1")
    assert (row.status, row.attempts, row.next_attempt_at, row.subject) == (NotificationStatus.created, 0, NOW, None)
    assert "Répondez OUI pour garder votre demande, RETRAIT pour la retirer" in row.body and "STOP" not in row.body and row.body.endswith(CONTEXT["link"])
    assert db.in_transaction() and count(db) == 1
    db.rollback()
    assert count(db) == 0


def test_the_same_event_queues_one_message(db):
    first = enqueue(db, channel=Channel.email, recipient="p@exemple.fr", template="request_confirmation",
                    context=CONTEXT, idempotency_key="request:1:confirmation", now=NOW)
    db.commit()
    again = enqueue(db, channel=Channel.email, recipient="p@exemple.fr", template="request_confirmation",
                    context={**CONTEXT, "link": "changed"}, idempotency_key="request:1:confirmation", now=NOW)
    assert again.id == first.id and "changed" not in again.body and count(db) == 1


def test_a_malformed_recipient_is_refused_before_it_is_queued(db):
    with pytest.raises(InvalidRecipient):
        enqueue(db, channel="sms", recipient="06 12 34 56 78", template="reconfirmation", context=CONTEXT,
                idempotency_key="k1", now=NOW)
    with pytest.raises(InvalidRecipient):
        enqueue(db, channel="email", recipient="not an address", template="reconfirmation", context=CONTEXT,
                idempotency_key="k2", now=NOW)
    assert count(db) == 0


def test_erasure_removes_the_messages_of_a_resource(db):
    for key, resource in (("a", "request:1"), ("b", "request:1"), ("c", "request:2")):
        enqueue(db, channel="sms", recipient="+33612345678", template="reconfirmation", context=CONTEXT,
                idempotency_key=key, now=NOW, resource=resource)
    forget_resource(db, "request:1")
    assert db.scalars(sa.select(Notification.resource)).all() == ["request:2"]


def test_old_settled_messages_lose_their_recipient_and_text_but_keep_their_key(db):
    from datetime import timedelta

    from lac_service.notifications.outbox import blank_old

    for key, status, age in (("old-sent", "sent", 100), ("old-failed", "failed", 100), ("old-unknown", "unknown", 100),
                             ("old-pending", "created", 100), ("recent", "sent", 10)):
        row = enqueue(db, channel="sms", recipient="+33612345678", template="reconfirmation", context=CONTEXT,
                      idempotency_key=key, now=NOW - timedelta(days=age))
        row.status = NotificationStatus(status)
    db.commit()
    assert blank_old(db, before=NOW - timedelta(days=90)) == 2
    db.commit()
    db.expire_all()
    rows = {n.idempotency_key: n for n in db.scalars(sa.select(Notification))}
    assert {k for k, n in rows.items() if n.recipient == "" and n.body == ""} == {"old-sent", "old-failed"}
    assert rows["old-unknown"].recipient and rows["old-pending"].body and rows["recent"].body
    again = enqueue(db, channel="sms", recipient="+33612345678", template="reconfirmation", context=CONTEXT,
                    idempotency_key="old-sent", now=NOW)
    assert again.id == rows["old-sent"].id and count(db) == 5, "the event is still never sent twice"
    assert blank_old(db, before=NOW - timedelta(days=90)) == 0


def test_a_message_queued_meanwhile_by_another_transaction_is_the_one_kept(committed):
    """Two deliveries of the same event (a retried registration on two replicas): the second waits for the
    first, then finds its message instead of queuing another or failing."""
    key = "request:7:confirmation:sms"
    first = committed()
    kept = enqueue(first, channel="sms", recipient="+33612345678", template="reconfirmation", context=CONTEXT,
                   idempotency_key=key, now=NOW, resource="request:7")
    seen: dict[str, object] = {}

    def second() -> None:
        with session_scope(committed) as session:
            row = enqueue(session, channel="sms", recipient="+33698765432", template="reconfirmation",
                          context=CONTEXT, idempotency_key=key, now=NOW, resource="request:7")
            seen.update(id=row.id, recipient=row.recipient)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive(), "the second transaction waits for the first"
    first.commit()
    first.close()
    thread.join(10)
    assert seen == {"id": kept.id, "recipient": "+33612345678"}
    with committed() as session:
        assert session.scalars(sa.select(Notification.recipient)).all() == ["+33612345678"]
