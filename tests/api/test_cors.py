"""Browsers on other sites may not call the API unless the operator names their origin (``LAC_CORS_ORIGINS``)."""

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from lac_service.main import create_app
from tests.conftest import make_settings

PARTNER = "https://app.partenaire.fr"


def _preflight(client: TestClient, origin: str):
    return client.options("/api/v1/requests", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })


def test_closed_by_default(client, secretary_a):
    assert "access-control-allow-origin" not in _preflight(client, PARTNER).headers
    answer = client.get("/api/v1/requests", headers=secretary_a | {"Origin": PARTNER})
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers


def test_a_named_origin_may_and_no_other(database_url, engine, session_factory, secretary_a):
    settings = make_settings(database_url, cors_origins=[PARTNER])
    with TestClient(create_app(settings, engine=engine, session_factory=session_factory)) as client:
        allowed = _preflight(client, PARTNER)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == PARTNER
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in allowed.headers
        read = client.get("/api/v1/requests", headers=secretary_a | {"Origin": PARTNER})
        assert read.headers["access-control-allow-origin"] == PARTNER
        refused = _preflight(client, "https://evil.example")
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize("origin", ["*", "https://app.partenaire.fr/", "app.partenaire.fr", "ftp://x.fr"])
def test_an_origin_must_be_written_exactly(origin):
    with pytest.raises(ValidationError, match="cors_origins"):
        make_settings("sqlite://", cors_origins=[origin])
