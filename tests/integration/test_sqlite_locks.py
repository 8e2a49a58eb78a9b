"""SQLite's one write lock while another process holds it: what only reads neither queues for it nor takes it,
and a writer waits up to the busy timeout, then gets a 503 it can retry (a page in French for a person), or
a 409 for a round, never a 500."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from lac_service import db, migrate
from lac_service.auth.models import ApiKey, Role
from lac_service.auth.service import create_api_key, create_organisation, find_api_key
from lac_service.db import create_db_engine, create_session_factory, read_scope, session_scope
from lac_service.main import create_app
from tests.api.test_web_pages import form
from tests.conftest import NOW, make_settings
from tests.payloads import request_body


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    url = f"sqlite:///{tmp_path / 'lac.db'}"
    engine = create_db_engine(url)
    migrate.upgrade(make_settings(url), engine)
    engine.dispose()
    return url


@pytest.fixture
def keys(sqlite_url: str) -> dict[Role, str]:
    engine = create_db_engine(sqlite_url)
    with create_session_factory(engine).begin() as session:
        organisation = create_organisation(session, slug="cpts-lille", name="CPTS Lille", now=NOW)
        secrets = {role: create_api_key(session, organisation=organisation, role=role, name=role, now=NOW).secret
                   for role in (Role.secretary, Role.coordinator)}
    engine.dispose()
    return secrets


@pytest.fixture
def key(keys: dict[Role, str]) -> str:
    return keys[Role.secretary]


@contextmanager
def another_process_writing(url: str) -> Iterator[None]:
    """Holds the write lock; fails at once, instead of waiting, if someone else holds it."""
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


def test_a_key_check_only_reads_so_it_neither_queues_for_the_write_lock_nor_takes_it(sqlite_url, key):
    engine = create_db_engine(sqlite_url)
    factory = create_session_factory(engine)
    with another_process_writing(sqlite_url):
        with read_scope(factory) as session:
            assert find_api_key(session, key, now=NOW) is not None
        with pytest.raises(sa.exc.OperationalError, match="database is locked"), session_scope(factory) as session:
            session.execute(sa.text("SELECT 1"))
    with read_scope(factory) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 2
        with another_process_writing(sqlite_url):
            pass  # a writer gets in while the reader's transaction is open
    engine.dispose()


def test_a_saturated_sqlite_answers_busy_with_a_retry_time_and_writes_nothing(sqlite_url, key):
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(make_settings(sqlite_url))) as client:
        filled = form(client, **{"patient.first_name": "Awa", "patient.last_name": "Diallo",
                                 "patient.phone": "06 98 76 54 32"})
        with another_process_writing(sqlite_url):
            busy = client.post("/api/v1/requests", json=request_body(), headers=headers)
            page = client.post("/", data=filled)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1", busy.text
        assert busy.json()["code"] == "busy"
        assert page.status_code == 503 and "très sollicité" in page.text and 'lang="fr"' in page.text
        assert client.post("/api/v1/requests", json=request_body(), headers=headers).status_code == 201
        assert client.post("/", data=filled, follow_redirects=False).status_code == 303, "the same form, later"
        client.app.state.engine.dispose()


def test_a_round_that_waits_past_the_busy_timeout_is_refused_as_already_running(sqlite_url, keys):
    headers = {"Authorization": f"Bearer {keys[Role.coordinator]}"}
    with TestClient(create_app(make_settings(sqlite_url))) as client:
        with another_process_writing(sqlite_url):
            refused = client.post("/api/v1/matching/runs", json={}, headers=headers)
        assert refused.status_code == 409 and refused.json()["code"] == "round_running", "try again in a moment"
        assert "déjà en cours" in refused.json()["message"]
        assert client.post("/api/v1/matching/runs", json={}, headers=headers).status_code == 201
        client.app.state.engine.dispose()
