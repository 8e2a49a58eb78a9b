"""Two lists told at the same moment: each would start its turns after the messages already committed, and
together they would go at twice the pace. The second waits for the first to commit, then goes after it."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from lac_service.db import create_db_engine, create_session_factory, session_scope
from lac_service.kit.clock import PARIS
from lac_service.notifications.models import Channel
from lac_service.notifications.outbox import Message, Turns, enqueue_new
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
