"""Two lists told at the same moment: each would start its turns after the messages already committed, and
together they would go at twice the pace. The second waits for the first to commit, then goes after it. The
dispatcher, though, never waits for a list being queued."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lac_service.config import NotificationSettings
from lac_service.db import create_db_engine, create_session_factory, session_scope
from lac_service.kit.clock import PARIS
from lac_service.notifications.channels import LocalBackend
from lac_service.notifications.dispatcher import Dispatcher
from lac_service.notifications.models import Channel, Notification, NotificationStatus
from lac_service.notifications.outbox import Message, Turn, Turns, enqueue_new
from tests.conftest import until_one_waits_for_a_lock

NOON = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)  # noon in Paris: daytime


def told(session, name: str, count: int) -> list[datetime]:  # type: ignore[no-untyped-def]
    turns = Turns(session, now=NOON, per_s=10)
    messages = [Message(Channel.email, f"{name}{i}@exemple.fr", "imported",
                        {"kind": "medecin_traitant", "organisation": "CPTS", "link": "https://x.fr/s/t"},
                        f"{name}:{i}", due=turns.next(PARIS)) for i in range(count)]
    enqueue_new(session, messages, now=NOON)
    return [message.due.at for message in messages if message.due]


@pytest.mark.postgres_only
def test_a_list_told_while_another_is_being_queued_goes_after_it(committed_url):
    if committed_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writing transaction at a time: the second reads after the first")
    engine = create_db_engine(committed_url)
    factory = create_session_factory(engine)
    second: list[datetime] = []

    def other() -> None:
        with session_scope(factory) as session:
            second.extend(told(session, "second", 2))

    with session_scope(factory) as session:
        first = told(session, "first", 3)
        thread = threading.Thread(target=other)
        thread.start()
        until_one_waits_for_a_lock(session, "the second list")
    thread.join()
    engine.dispose()
    assert first == [NOON + timedelta(seconds=s) for s in (0, 0.1, 0.2)]
    assert second == [NOON + timedelta(seconds=s) for s in (0.3, 0.4)], "after the first, not alongside it"


@pytest.mark.postgres_only
def test_a_list_being_queued_holds_up_no_message_and_a_late_question_waits_for_the_morning(committed, committed_url):
    """At 21:00 in Paris a list is being queued (it holds the turns). The dispatcher sends a patient's tracking
    link at once; the question due at 19:30, reached only now, does not go at night, and takes its morning turn on
    a pass after the list is queued."""
    if committed_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writing transaction at a time: the list and the dispatcher take turns")
    evening = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    context = {"kind": "medecin_traitant", "organisation": "CPTS", "link": "https://x.fr/s/t", "answer_by": "12/03"}
    with session_scope(committed) as session:
        enqueue_new(session, [
            Message(Channel.email, "late@exemple.fr", "reconfirmation", context, "late",
                    due=Turn(evening - timedelta(minutes=30), PARIS)),
            Message(Channel.email, "waits@exemple.fr", "tracking_link", context, "waits")], now=evening)
    dispatcher = Dispatcher(committed, NotificationSettings(rate_per_s=1000, backoff_base_s=0), secret_key=b"k",
                            backends={Channel.email: LocalBackend(), Channel.sms: LocalBackend()},
                            clock=lambda: evening)

    def states() -> dict[str, tuple[NotificationStatus, datetime]]:
        with session_scope(committed) as session:
            return {row.recipient: (row.status, row.next_attempt_at) for row in session.scalars(sa.select(Notification))}

    sent: list[int] = []
    with session_scope(committed) as importing:
        Turns(importing, now=evening, per_s=10)
        sending = threading.Thread(target=lambda: sent.append(dispatcher.run_once().sent))
        sending.start()
        sending.join(timeout=20)
        assert sent == [1], "the tracking link went while the list was being queued"
        assert states()["late@exemple.fr"] == (NotificationStatus.created, evening - timedelta(minutes=30))
    dispatcher.run_once()
    dispatcher.close()
    morning = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert states()["late@exemple.fr"] == (NotificationStatus.created, morning)
