"""A partner's retry with the same ``Idempotency-Key`` returns the first answer and creates nothing."""

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from lac_service.auth.models import Role
from lac_service.idempotency import IdempotencyRecord
from lac_service.jobs import Jobs
from tests.conftest import NOW, count_rows
from tests.payloads import cabinet_body, request_body


def test_retry_with_same_key_returns_first_answer_and_creates_nothing(client, connection, make_key, org_a):
    partner = make_key(org_a, Role.partner) | {"Idempotency-Key": "3f9c1e4a-retry"}
    first = client.post("/api/v1/requests", json=request_body(), headers=partner)
    rows = count_rows(connection)
    retry = client.post("/api/v1/requests", json=request_body(), headers=partner)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.json()["tracking_url"] == first.json()["tracking_url"]
    assert count_rows(connection) == rows


def test_same_key_with_another_body_is_refused(client, connection, make_key, org_a):
    partner = make_key(org_a, Role.partner) | {"Idempotency-Key": "k-1"}
    client.post("/api/v1/requests", json=request_body(), headers=partner)
    rows = count_rows(connection)
    other = client.post("/api/v1/requests", json=request_body(first_name="Paul"), headers=partner)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert count_rows(connection) == rows


def test_keys_are_per_caller(client, make_key, org_a):
    """Another caller's identical key is a different request, not a replay of someone else's answer."""
    first = make_key(org_a, Role.partner) | {"Idempotency-Key": "same"}
    second = make_key(org_a, Role.secretary) | {"Idempotency-Key": "same"}
    client.post("/api/v1/requests", json=request_body(), headers=first)
    replay_attempt = client.post("/api/v1/requests", json=request_body(), headers=second)
    assert replay_attempt.status_code == 409
    assert replay_attempt.json()["code"] == "duplicate_request"


def test_without_a_key_a_retry_is_a_duplicate(client, make_key, org_a):
    partner = make_key(org_a, Role.partner)
    assert client.post("/api/v1/requests", json=request_body(), headers=partner).status_code == 201
    assert client.post("/api/v1/requests", json=request_body(), headers=partner).status_code == 409


def test_a_failed_first_attempt_is_not_remembered(client, make_key, org_a):
    partner = make_key(org_a, Role.partner) | {"Idempotency-Key": "fix-and-retry"}
    bad = request_body(phone="12")
    assert client.post("/api/v1/requests", json=bad, headers=partner).status_code == 422
    assert client.post("/api/v1/requests", json=request_body(), headers=partner).status_code == 201


def test_cabinet_creation_is_idempotent_too(client, connection, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator) | {"Idempotency-Key": "cab-1"}
    first = client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator)
    rows = count_rows(connection)
    retry = client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator)
    assert retry.json() == first.json()
    assert count_rows(connection) == rows
    assert client.get("/api/v1/cabinets", headers=coordinator).json()["total"] == 1


def test_the_record_keeps_no_link_and_a_replay_rebuilds_it(client, db, make_key, org_a):
    """The tracking link opens a patient's page: a copy of the database must not hold it."""
    partner = make_key(org_a, Role.partner) | {"Idempotency-Key": "link-less"}
    first = client.post("/api/v1/requests", json=request_body(), headers=partner).json()
    stored = db.scalar(sa.select(IdempotencyRecord.body).where(IdempotencyRecord.key == "link-less"))
    token = first["tracking_url"].rsplit("/", 1)[1]
    assert token not in stored and "tracking_url" not in stored
    assert json.loads(stored)["patient"] == first["patient"], "the rest of the answer, as it was"
    replay = client.post("/api/v1/requests", json=request_body(), headers=partner)
    assert replay.status_code == 201 and replay.json() == first
    assert client.get(first["tracking_url"].removeprefix("http://127.0.0.1:8000")).status_code == 200


def test_a_record_is_forgotten_the_first_night_past_its_time(client, db, settings, session_factory, make_key, org_a,
                                                             clock):
    """It answers nothing once past its time, and holds the answer's personal data."""
    partner = make_key(org_a, Role.partner) | {"Idempotency-Key": "nightly"}
    assert client.post("/api/v1/requests", json=request_body(), headers=partner).status_code == 201
    paris = ZoneInfo("Europe/Paris")
    first_night = datetime.combine(NOW.astimezone(paris).date() + timedelta(days=1), time(3, 1), tzinfo=paris)
    assert first_night - NOW < settings.idempotency_ttl
    jobs = Jobs(settings, session_factory)
    assert "idempotency_records:0" in jobs.tick(first_night), "still within its time"
    assert "idempotency_records:1" in jobs.tick(first_night + timedelta(days=1))
    db.expire_all()
    assert db.scalar(sa.select(sa.func.count()).select_from(IdempotencyRecord)) == 0
