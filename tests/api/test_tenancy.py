"""An organisation's keys never reach another organisation's requests or cabinets; roles are enforced."""

import pytest

from lac_service.auth.models import Role
from tests.payloads import cabinet_body, request_body

STAFF_AND_PARTNER = [Role.secretary, Role.coordinator, Role.partner]


@pytest.fixture
def b_records(client, make_key, org_b):
    """A request and a cabinet of organisation B."""
    coordinator_b = make_key(org_b, Role.coordinator)
    request = client.post("/api/v1/requests", json=request_body(), headers=coordinator_b).json()
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator_b).json()
    return {"request": request["id"], "cabinet": cabinet["id"], "headers": coordinator_b}


@pytest.mark.parametrize("role", STAFF_AND_PARTNER)
def test_keys_of_a_get_404_on_every_request_of_b(client, make_key, org_a, b_records, role):
    key_a = make_key(org_a, role)
    rid = b_records["request"]
    attempts = [
        client.get(f"/api/v1/requests/{rid}", headers=key_a),
        client.patch(f"/api/v1/requests/{rid}", json={"max_distance_km": 5}, headers=key_a),
        client.post(f"/api/v1/requests/{rid}/withdraw", json={}, headers=key_a),
    ]
    if role is not Role.partner:
        attempts.append(client.delete(f"/api/v1/requests/{rid}", headers=key_a))
    for answer in attempts:
        assert answer.status_code == 404, (answer.request.method, answer.text)
        assert answer.json()["code"] == "not_found"
    untouched = client.get(f"/api/v1/requests/{rid}", headers=b_records["headers"]).json()
    assert untouched["status"] == "waiting"
    assert untouched["max_distance_km"] == 30.0
    assert untouched["patient"]["last_name"] == "Durand-Lefèvre"


def test_coordinator_of_a_gets_404_on_every_cabinet_of_b(client, make_key, org_a, b_records):
    coordinator_a = make_key(org_a, Role.coordinator)
    cid = b_records["cabinet"]
    for answer in (
        client.get(f"/api/v1/cabinets/{cid}", headers=coordinator_a),
        client.patch(f"/api/v1/cabinets/{cid}", json={"paused": True}, headers=coordinator_a),
        client.delete(f"/api/v1/cabinets/{cid}", headers=coordinator_a),
    ):
        assert answer.status_code == 404, answer.text
    assert client.get(f"/api/v1/cabinets/{cid}", headers=b_records["headers"]).json()["paused"] is False


@pytest.mark.parametrize("role", STAFF_AND_PARTNER)
def test_lists_of_a_never_contain_b(client, make_key, org_a, b_records, role):
    key_a = make_key(org_a, role)
    mine = client.post(
        "/api/v1/requests", json=request_body(first_name="Awa", last_name="Diallo", phone="0698765432", email=None),
        headers=key_a,
    ).json()
    listed = client.get("/api/v1/requests?limit=200", headers=key_a).json()
    assert [r["id"] for r in listed["items"]] == [mine["id"]]
    assert listed["total"] == 1
    assert client.get("/api/v1/requests?q=Durand", headers=key_a).json()["total"] == 0
    if role is not Role.partner:
        assert client.get("/api/v1/cabinets", headers=key_a).json()["items"] == []


def test_admin_sees_every_organisation_and_may_filter(client, make_key, org_a, b_records):
    admin = make_key(org_a, Role.admin)
    assert client.get(f"/api/v1/requests/{b_records['request']}", headers=admin).status_code == 200
    assert client.get("/api/v1/requests?organisation=cpts-b", headers=admin).json()["total"] == 1
    assert client.get("/api/v1/requests?organisation=cpts-a", headers=admin).json()["total"] == 0
    assert client.get("/api/v1/requests?organisation=nowhere", headers=admin).status_code == 404
    assert client.get("/api/v1/cabinets", headers=admin).json()["total"] == 1


def test_only_admins_filter_by_organisation(client, make_key, org_a, b_records):
    coordinator_a = make_key(org_a, Role.coordinator)
    answer = client.get("/api/v1/requests?organisation=cpts-b", headers=coordinator_a)
    assert answer.status_code == 403
    assert answer.json()["field"] == "organisation"


def test_roles(client, make_key, org_a):
    partner, secretary = make_key(org_a, Role.partner), make_key(org_a, Role.secretary)
    created = client.post("/api/v1/requests", json=request_body(), headers=partner).json()
    assert created["source"] == "partner"
    assert client.delete(f"/api/v1/requests/{created['id']}", headers=partner).status_code == 403
    assert client.get("/api/v1/cabinets", headers=partner).status_code == 403
    assert client.post("/api/v1/cabinets", json=cabinet_body(), headers=secretary).status_code == 403
    assert client.get("/api/v1/cabinets", headers=secretary).status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer nope", "Bearer lac_000000000000_" + "a" * 43, "Basic dXNlcjpwYXNz", "Bearer "],
)
def test_staff_endpoints_need_a_valid_key(client, org_a, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    for answer in (
        client.get("/api/v1/requests", headers=headers),
        client.get("/api/v1/requests/1", headers=headers),
        client.get("/api/v1/cabinets", headers=headers),
    ):
        assert answer.status_code == 401
        assert answer.json()["code"] == "unauthenticated"
        assert answer.headers["www-authenticate"] == "Bearer"


def test_a_wrong_key_is_never_downgraded_to_the_public_form(client, org_a, connection):
    answer = client.post("/api/v1/requests", json=request_body(), headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401
