from lac_service.main import create_app
from tests.conftest import make_settings


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok", "detail": None}
    assert client.get("/readyz").json()["status"] == "ok"


def test_readyz_is_503_when_migrations_are_pending(tmp_path):
    from fastapi.testclient import TestClient

    app = create_app(make_settings(f"sqlite:///{tmp_path / 'never-migrated.db'}"))
    with TestClient(app) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable", "detail": "migrations"}


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    from fastapi.testclient import TestClient

    app = create_app(make_settings("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"))
    with TestClient(app) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["detail"] == "database"
