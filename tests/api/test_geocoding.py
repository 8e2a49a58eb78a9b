"""Homes and cabinets are located: given coordinates, the national address base when enabled, the
offline gazetteer otherwise; BAN failures fall back to the gazetteer, and pause BAN for a while; the precision
is recorded."""

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lac_service.auth.models import Role
from lac_service.config import GeocoderSettings
from lac_service.geography import geocoder
from lac_service.geography.geocoder import GeocodeCache
from lac_service.jobs import retention
from lac_service.kit.clock import utcnow
from lac_service.geography.distance import haversine_km
from lac_service.main import create_app
from tests.fakes.ban import FakeBan
from tests.payloads import cabinet_body, request_body

LILLE = (50.6365, 3.0635)  # Hôtel de ville de Lille


def _without_location(**patient):
    body = request_body(**patient)
    del body["patient"]["location"]
    return body


def test_a_home_without_coordinates_is_placed_on_its_commune(client, secretary_a):
    created = client.post("/api/v1/requests", json=_without_location(), headers=secretary_a).json()
    location = created["patient"]["location"]
    assert location["precision"] == "commune"
    assert haversine_km(location["lat"], location["lon"], *LILLE) < 5
    assert created["department"] == "59"


def test_given_coordinates_win_and_are_exact(client, secretary_a):
    created = client.post("/api/v1/requests", json=request_body(), headers=secretary_a).json()
    assert created["patient"]["location"] == {"lat": 50.6394, "lon": 3.0598, "precision": "exact"}


def test_a_new_address_is_located_again(client, secretary_a):
    created = client.post("/api/v1/requests", json=request_body(), headers=secretary_a).json()
    moved = client.patch(
        f"/api/v1/requests/{created['id']}",
        json={"patient": {"address": {"line": "1 La Canebière", "postal_code": "13001", "city": "Marseille"}}},
        headers=secretary_a,
    ).json()
    assert moved["patient"]["location"]["precision"] == "commune"
    assert moved["department"] == "13"
    assert haversine_km(moved["patient"]["location"]["lat"], moved["patient"]["location"]["lon"], 43.2965, 5.3698) < 5
    pinned = client.patch(
        f"/api/v1/requests/{created['id']}", json={"patient": {"location": {"lat": 43.30, "lon": 5.38}}},
        headers=secretary_a,
    ).json()
    assert pinned["patient"]["location"] == {"lat": 43.30, "lon": 5.38, "precision": "exact"}
    refused = client.patch(
        f"/api/v1/requests/{created['id']}", json={"patient": {"location": {"lat": 41.39, "lon": 2.17}}},
        headers=secretary_a,
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "patient.location"


def test_a_cabinet_without_coordinates_is_located_from_its_address(client, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    body = cabinet_body()
    del body["location"]
    cabinet = client.post("/api/v1/cabinets", json=body, headers=coordinator).json()
    assert cabinet["location"]["precision"] == "commune"
    assert haversine_km(cabinet["location"]["lat"], cabinet["location"]["lon"], *LILLE) < 5


@pytest.fixture
def ban():
    with FakeBan() as fake:
        yield fake


@pytest.fixture
def ban_client(settings, engine, session_factory, ban):
    from fastapi.testclient import TestClient

    geocoder = GeocoderSettings(ban_enabled=True, ban_domain=ban.domain, ban_scheme="http", ban_timeout_s=0.5)
    app = create_app(settings.model_copy(update={"geocoder": geocoder}), engine=engine, session_factory=session_factory)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_ban_gives_the_door_and_is_asked_once_per_address(ban_client, ban, secretary_a):
    first = ban_client.post("/api/v1/requests", json=_without_location(), headers=secretary_a).json()
    assert first["patient"]["location"] == {"lat": 50.63975, "lon": 3.05921, "precision": "address"}
    assert ban.queries == ["12 rue Esquermoise, 59000 Lille"]
    ban_client.delete(f"/api/v1/requests/{first['id']}", headers=secretary_a)
    again = ban_client.post("/api/v1/requests", json=_without_location(), headers=secretary_a).json()
    assert again["patient"]["location"]["precision"] == "address"
    assert len(ban.queries) == 1, "the second lookup of the same address came from the cache"


def test_a_door_located_is_forgotten_the_night_after(ban_client, ban, secretary_a, db, settings):
    """The cache keeps a door, which a map turns back into an address: a day's use, not the request's life."""
    located = ban_client.post("/api/v1/requests", json=_without_location(), headers=secretary_a).json()
    assert located["patient"]["location"]["precision"] == "address"
    cached = sa.select(sa.func.count()).select_from(GeocodeCache)
    assert db.scalar(cached) == 1
    assert retention(db, settings, now=utcnow() + timedelta(hours=12)).uncached == 0, "a retry that day still uses it"
    assert retention(db, settings, now=utcnow() + timedelta(days=1, hours=1)).uncached == 1
    assert db.scalar(cached) == 0


@pytest.mark.parametrize(
    ("mode", "answer"),
    [
        ("error", {}),
        ("slow", {}),
        ("ok", {"postcode": "59800"}),  # BAN found another town: not trusted
        ("ok", {"type": "municipality"}),  # no better than the gazetteer
    ],
)
def test_ban_failures_fall_back_to_the_gazetteer(ban_client, ban, secretary_a, mode, answer):
    ban.mode = mode
    ban.answer.update(answer)
    created = ban_client.post("/api/v1/requests", json=_without_location(), headers=secretary_a)
    assert created.status_code == 201, created.text
    location = created.json()["patient"]["location"]
    assert location["precision"] == "commune"
    assert haversine_km(location["lat"], location["lon"], *LILLE) < 5
    assert len(ban.queries) == 1


def test_after_a_failure_ban_is_left_alone_for_a_while(ban_client, ban, secretary_a, monkeypatch):
    """While BAN is down, registrations do not each wait out its timeout before falling back."""
    now = [1000.0]
    monkeypatch.setattr(geocoder, "monotonic", lambda: now[0])
    ban.mode = "slow"
    located = []
    for name, phone, line in (("Awa", "0611111111", "12 rue Esquermoise"), ("Lea", "0622222222", "3 rue Basse")):
        created = ban_client.post("/api/v1/requests", json=_without_location(
            first_name=name, phone=phone, address={"line": line, "postal_code": "59000", "city": "Lille"}
        ), headers=secretary_a)
        assert created.status_code == 201, created.text
        located.append(created.json()["patient"]["location"]["precision"])
    assert located == ["commune", "commune"] and len(ban.queries) == 1
    now[0] += geocoder.BAN_PAUSE_S
    ban.mode = "ok"
    back = ban_client.post("/api/v1/requests", json=_without_location(first_name="Ines", phone="0633333333"),
                           headers=secretary_a)
    assert back.json()["patient"]["location"]["precision"] == "address" and len(ban.queries) == 2


def test_an_address_ban_cannot_read_does_not_pause_it_for_the_others(ban_client, ban, secretary_a):
    ban.mode = "refused"
    first = ban_client.post("/api/v1/requests", json=_without_location(first_name="Awa", phone="0611111111"),
                            headers=secretary_a)
    assert first.json()["patient"]["location"]["precision"] == "commune"
    ban.mode = "ok"
    second = ban_client.post("/api/v1/requests", json=_without_location(first_name="Lea", phone="0622222222"),
                             headers=secretary_a)
    assert second.json()["patient"]["location"]["precision"] == "address" and len(ban.queries) == 2


@pytest.mark.parametrize("mode", ["ok", "error", "slow"])
def test_the_address_sent_to_ban_is_not_logged(ban_client, ban, secretary_a, caplog, mode):
    ban.mode = mode
    caplog.set_level(logging.DEBUG)
    ban_client.post("/api/v1/requests", json=_without_location(), headers=secretary_a)
    assert ban.queries
    service_records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert not any("Esquermoise" in r.getMessage() for r in service_records)
