"""Coordinators manage their cabinets: radius, batch size, cadence, channels, pause."""

import sqlalchemy as sa

from lac_service.auth.models import Role
from lac_service.cabinets.models import Cabinet
from tests.conftest import count_rows
from tests.payloads import cabinet_body


def test_create_read_update_delete(client, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    created = client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator)
    assert created.status_code == 201, created.text
    cabinet = created.json()
    assert cabinet["phones"] == ["+33620123456"]
    assert (cabinet["radius_km"], cabinet["batch_size"], cabinet["cadence_days"]) == (10, 8, 42)
    assert cabinet["organisation"] == "cpts-a"

    url = f"/api/v1/cabinets/{cabinet['id']}"
    changed = client.patch(url, json={"radius_km": 25, "paused": True, "channels": []}, headers=coordinator)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["radius_km"], changed.json()["paused"], changed.json()["channels"]) == (25, True, [])
    assert client.get(url, headers=coordinator).json()["radius_km"] == 25

    assert client.delete(url, headers=coordinator).status_code == 204
    assert client.get(url, headers=coordinator).status_code == 404
    assert client.get("/api/v1/cabinets", headers=coordinator).json()["total"] == 0


def test_an_address_stored_before_control_characters_were_refused_is_still_read(client, db, make_key, org_a):
    """Word's line break (\\x0b), pasted into the address before the rule: reading is no time to refuse it."""
    coordinator = make_key(org_a, Role.coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator).json()
    db.execute(sa.update(Cabinet).values(address_line="3 place\x0bde la Nouvelle Aventure"))
    db.commit()
    listed = client.get("/api/v1/cabinets", headers=coordinator)
    assert listed.status_code == 200 and listed.json()["items"][0]["address"]["line"].startswith("3 place")
    assert client.get(f"/api/v1/cabinets/{cabinet['id']}", headers=coordinator).status_code == 200


def test_defaults_and_browse_mode(client, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    body = cabinet_body(channels=[], phones=[], emails=[])
    del body["batch_size"], body["cadence_days"]
    cabinet = client.post("/api/v1/cabinets", json=body, headers=coordinator).json()
    assert (cabinet["batch_size"], cabinet["cadence_days"], cabinet["channels"]) == (10, 42, [])


def test_patch_cannot_remove_the_only_phone_of_an_sms_cabinet(client, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator).json()
    answer = client.patch(f"/api/v1/cabinets/{cabinet['id']}", json={"phones": []}, headers=coordinator)
    assert answer.status_code == 422
    assert answer.json()["field"] == "phones"
    assert client.get(f"/api/v1/cabinets/{cabinet['id']}", headers=coordinator).json()["phones"]


def test_patch_null_is_refused_not_stored(client, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator).json()
    answer = client.patch(f"/api/v1/cabinets/{cabinet['id']}", json={"radius_km": None}, headers=coordinator)
    assert answer.status_code == 422
    assert answer.json()["field"] == "radius_km"


def test_admin_places_a_cabinet_in_another_organisation(client, make_key, org_a, org_b):
    admin = make_key(org_a, Role.admin)
    created = client.post("/api/v1/cabinets", json=cabinet_body(organisation="cpts-b"), headers=admin)
    assert created.json()["organisation"] == "cpts-b"
    coordinator = make_key(org_a, Role.coordinator)
    refused = client.post("/api/v1/cabinets", json=cabinet_body(organisation="cpts-b"), headers=coordinator)
    assert refused.status_code == 403


def test_batches_by_sms_need_mobile_numbers(client, connection, make_key, org_a):
    """A landline never gets the text: every batch would fail at the operator, unseen by the cabinet."""
    coordinator = make_key(org_a, Role.coordinator)
    rows = count_rows(connection)
    refused = client.post("/api/v1/cabinets", json=cabinet_body(phones=["06 20 12 34 56", "03 20 12 34 56"]),
                          headers=coordinator)
    assert refused.status_code == 422 and refused.json()["field"] == "phones"
    assert refused.json()["message"] == ("Le 03 20 12 34 56 ne reçoit pas de SMS : donnez un numéro de portable, ou "
                                         "décochez « SMS ».")
    assert count_rows(connection) == rows
    by_email = client.post("/api/v1/cabinets", json=cabinet_body(channels=["email"], phones=["03 20 12 34 56"]),
                           headers=coordinator)
    assert by_email.status_code == 201, "no text message to send: a landline is fine"
    to_sms = client.patch(f"/api/v1/cabinets/{by_email.json()['id']}", json={"channels": ["sms"]}, headers=coordinator)
    assert to_sms.status_code == 422 and to_sms.json()["field"] == "phones"
