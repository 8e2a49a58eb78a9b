"""The restore drill of README's *Deployment*, on the test server: a ``pg_dump -Fc`` of a live database,
restored with ``pg_restore`` into an empty one, serves the same records and takes new ones."""

import glob
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from lac_service import migrate
from lac_service.auth.models import Role
from lac_service.auth.service import create_api_key, create_organisation
from lac_service.db import create_db_engine, create_session_factory, session_scope
from lac_service.main import create_app
from tests.conftest import (
    NOW, count_rows, create_postgres_database, drop_postgres_database, make_settings,
)
from tests.payloads import cabinet_body, request_body


def _tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    assert found, f"{name} comes with the postgresql package that `make test` installs"
    return found


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def databases():
    """The source, and an empty database to restore into (``template0``: nothing, not even PostGIS, so the
    restore must bring everything)."""
    source, target = create_postgres_database(), create_postgres_database(template="template0")
    yield source, target
    drop_postgres_database(source)
    drop_postgres_database(target)


def _snapshot(client: TestClient, headers: dict[str, str]) -> dict:
    return {
        "requests": client.get("/api/v1/requests?limit=200&status=offered", headers=headers).json(),
        "cabinets": client.get("/api/v1/cabinets", headers=headers).json(),
        "offers": client.get("/api/v1/offers", headers=headers).json(),
    }


def _rows(url: str) -> dict[str, int]:
    engine = create_db_engine(url)
    with engine.connect() as connection:
        rows = count_rows(connection)
    engine.dispose()
    return rows


def test_a_dump_restored_into_an_empty_database_serves_the_same_list(databases, tmp_path: Path):
    source, target = databases
    settings = make_settings(source)
    engine = create_db_engine(source)
    migrate.upgrade(settings, engine)
    with session_scope(create_session_factory(engine)) as session:
        organisation = create_organisation(session, slug="cpts-a", name="CPTS A", now=NOW)
        headers = {"Authorization": f"Bearer {create_api_key(session, organisation=organisation, role=Role.coordinator, name='c', now=NOW).secret}"}
    with TestClient(create_app(settings, engine=engine)) as client:
        for name, phone in (("Alice", "0611111111"), ("Bruno", "0622222222"), ("Carla", "0633333333")):
            assert client.post("/api/v1/requests", json=request_body(first_name=name, phone=phone, email=None),
                               headers=headers).status_code == 201
        client.post("/api/v1/cabinets", json=cabinet_body(batch_size=2), headers=headers)
        assert client.post("/api/v1/matching/runs", json={}, headers=headers).status_code == 201
        before = _snapshot(client, headers)
    engine.dispose()
    assert before["requests"]["total"] == 2

    dump = tmp_path / "lac.dump"
    subprocess.run([_tool("pg_dump"), "-Fc", "--no-owner", "-f", str(dump), _libpq(source)], check=True, timeout=120)
    restored = subprocess.run([_tool("pg_restore"), "--no-owner", "--exit-on-error", "-d", _libpq(target), str(dump)],
                              capture_output=True, text=True, timeout=120, check=False)
    assert restored.returncode == 0, restored.stderr
    assert _rows(target) == _rows(source)

    with TestClient(create_app(make_settings(target))) as client:
        assert client.get("/readyz").status_code == 200, "migrations at head, database reachable"
        assert _snapshot(client, headers) == before
        new = client.post("/api/v1/requests", json=request_body(first_name="Denis", phone="0644444444", email=None),
                          headers=headers)
        assert new.status_code == 201, "sequences came back with the rows: a new id does not collide"
        client.app.state.engine.dispose()
