"""A call sent again with its ``Idempotency-Key`` while the first is still running (a client that timed out and
retried at once): the second waits for the first, then is told the key is in use (``idempotency_key_in_use``,
409), not given a second resource; sent once more, it gets the first's answer."""

import threading
from datetime import timedelta

import pytest
from pydantic import BaseModel

from lac_service.db import session_scope
from lac_service.errors import AppError
from lac_service.idempotency import run_once
from lac_service.kit.clock import utcnow
from tests.conftest import until_one_waits_for_a_lock


class Made(BaseModel):
    id: int


@pytest.mark.postgres_only
def test_a_retry_while_the_first_call_runs_is_told_the_key_is_in_use_then_gets_its_answer(committed, committed_url):
    if committed_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writing transaction at a time: the second reads the first's record")
    sessions, now = committed, utcnow()
    made: list[int] = []

    def call(session, number: int):  # type: ignore[no-untyped-def]
        def action() -> tuple[BaseModel, str]:
            made.append(number)
            return Made(id=number), f"request:{number}"
        return run_once(session, scope="apikey:1", key="retry-1", payload=Made(id=0), action=action,
                        status_code=201, now=now, ttl=timedelta(hours=24))

    refused: list[AppError] = []

    def second() -> None:
        try:
            with session_scope(sessions) as session:
                call(session, 2)
        except AppError as error:
            refused.append(error)

    with session_scope(sessions) as first:
        assert call(first, 1).status_code == 201
        thread = threading.Thread(target=second)
        thread.start()
        until_one_waits_for_a_lock(first, "the retry")
    thread.join(timeout=30)
    assert [(error.status_code, error.code, error.field) for error in refused] == \
        [(409, "idempotency_key_in_use", "Idempotency-Key")]
    with session_scope(sessions) as session:
        again = call(session, 3)
    assert (again.status_code, again.body) == (201, b'{"id":1}'), "the first call's answer"
    assert made == [1, 2], "the retry ran before it met the first's record (and was rolled back); the last ran nothing"
