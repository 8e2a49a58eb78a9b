"""Registering a request through the API: normalised contact, duplicates, public vs staff callers."""

import pytest

from lac_service.auth.models import Role
from tests.payloads import request_body


def test_french_phone_is_stored_in_e164_and_reads_back(client, secretary_a):
    created = client.post("/api/v1/requests", json=request_body(phone="06 12 34 56 78"), headers=secretary_a)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["patient"]["phone"] == "+33612345678"
    assert body["status"] == "waiting"
    assert body["source"] == "secretary"
    assert body["organisation"] == "cpts-a"
    assert body["tracking_url"].startswith("http://127.0.0.1:8000/suivi/")
    read = client.get(f"/api/v1/requests/{body['id']}", headers=secretary_a)
    assert read.json()["patient"]["phone"] == "+33612345678"
    assert "tracking_url" not in read.json()


@pytest.mark.parametrize(
    "written", ["0612345678", "06.12.34.56.78", "+33 6 12 34 56 78", "0033612345678", "06-12-34-56-78"]
)
def test_usual_writings_of_one_number_are_the_same_number(client, secretary_a, written):
    created = client.post("/api/v1/requests", json=request_body(phone=written), headers=secretary_a)
    assert created.json()["patient"]["phone"] == "+33612345678"


def test_overseas_number_gets_its_own_country_code(client, secretary_a):
    created = client.post("/api/v1/requests", json=request_body(phone="0692 12 34 56"), headers=secretary_a)
    assert created.json()["patient"]["phone"] == "+262692123456"


def test_age_is_computed_from_the_birth_date(client, secretary_a):
    created = client.post("/api/v1/requests", json=request_body(birth_date="2000-02-29"), headers=secretary_a)
    age = created.json()["patient"]["age"]
    from datetime import date

    from lac_service.kit.dates import age_on

    assert age == age_on(date(2000, 2, 29), date.today())


@pytest.mark.parametrize(
    "second",
    [
        {},  # the very same
        {"first_name": "ELODIE", "last_name": "durand lefevre", "phone": "07 81 23 45 67", "email": None},
    ],
)
def test_second_active_request_of_same_person_and_kind_is_409_naming_the_first(client, secretary_a, second):
    first = client.post("/api/v1/requests", json=request_body(), headers=secretary_a).json()
    again = client.post("/api/v1/requests", json=request_body(**second), headers=secretary_a)
    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_request"
    assert again.json()["existing_request_id"] == first["id"]
    listed = client.get("/api/v1/requests", headers=secretary_a).json()
    assert listed["total"] == 1


def test_same_person_may_wait_for_another_kind_or_come_back_after_withdrawal(client, secretary_a):
    first = client.post("/api/v1/requests", json=request_body(), headers=secretary_a).json()
    speech = request_body()
    speech["kind"] = "bilan_orthophonique"
    assert client.post("/api/v1/requests", json=speech, headers=secretary_a).status_code == 201
    client.post(f"/api/v1/requests/{first['id']}/withdraw", json={"reason": "moved"}, headers=secretary_a)
    assert client.post("/api/v1/requests", json=request_body(), headers=secretary_a).status_code == 201


def test_household_counts_people_and_speech_therapy_default_distance(client, secretary_a):
    body = request_body()
    body["household"] = [
        {"first_name": "Théo", "last_name": "Durand", "birth_date": "2019-06-01"},
        {"first_name": "Anna", "last_name": "Durand", "birth_date": "2021-01-15"},
    ]
    created = client.post("/api/v1/requests", json=body, headers=secretary_a).json()
    assert created["people_count"] == 3
    assert [m["first_name"] for m in created["household"]] == ["Théo", "Anna"]
    assert created["max_distance_km"] == 30.0
    speech = request_body(first_name="Léon", birth_date="2021-05-05")
    speech["kind"] = "bilan_orthophonique"
    assert client.post("/api/v1/requests", json=speech, headers=secretary_a).json()["max_distance_km"] == 50.0


def test_public_form_goes_to_the_only_organisation_without_a_key(client, org_a):
    created = client.post("/api/v1/requests", json=request_body())
    assert created.status_code == 201, created.text
    assert created.json()["source"] == "form"
    assert created.json()["organisation"] == org_a.slug


def test_a_public_caller_is_told_of_a_duplicate_without_the_records_id(client, org_a, secretary_a):
    """Anyone can post a name and a birth date: the answer must not hand them a record's id to go with it."""
    first = client.post("/api/v1/requests", json=request_body(), headers=secretary_a).json()
    public = client.post("/api/v1/requests", json=request_body(phone="0799999999"))
    assert public.status_code == 409 and public.json()["code"] == "duplicate_request"
    assert "existing_request_id" not in public.json() or public.json()["existing_request_id"] is None
    staff = client.post("/api/v1/requests", json=request_body(phone="0799999999"), headers=secretary_a)
    assert staff.json()["existing_request_id"] == first["id"], "staff still get it"


def test_public_form_with_several_organisations_and_no_default_is_not_configured(client, org_a, org_b):
    refused = client.post("/api/v1/requests", json=request_body())
    assert refused.status_code == 503
    assert refused.json()["code"] == "not_configured"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"criteria": {"urgent": True}}, "criteria.urgent"),
        ({"criteria": {"urgent_reason": "douleur"}}, "criteria.urgent"),
        ({"source": "secretary"}, "source"),
    ],
)
def test_public_callers_cannot_set_staff_only_fields(client, org_a, change, field):
    body = request_body() | change
    refused = client.post("/api/v1/requests", json=body)
    assert refused.status_code == 403
    assert refused.json()["field"] == field
    assert client.post("/api/v1/requests", json=request_body()).status_code == 201


def test_a_partner_key_cannot_mark_urgency_on_creation_or_after(client, make_key, org_a):
    """A partner CPTS registers and follows its patients; urgency is the interviewing team's call."""
    partner = make_key(org_a, Role.partner)
    urgent = {"criteria": {"urgent": True, "urgent_reason": "Sortie d'hospitalisation"}}
    refused = client.post("/api/v1/requests", json=request_body() | urgent, headers=partner)
    assert (refused.status_code, refused.json()["field"]) == (403, "criteria.urgent")
    assert client.get("/api/v1/requests", headers=partner).json()["total"] == 0, "nothing registered"

    created = client.post("/api/v1/requests", json=request_body(), headers=partner).json()
    changed = client.patch(f"/api/v1/requests/{created['id']}", json=urgent, headers=partner)
    assert (changed.status_code, changed.json()["field"]) == (403, "criteria.urgent")
    record = client.get(f"/api/v1/requests/{created['id']}", headers=partner).json()
    assert record["criteria"]["urgent"] is False
    assert record["priority"] == created["priority"]
    as_read = client.patch(f"/api/v1/requests/{created['id']}", headers=partner,
                           json={"criteria": record["criteria"] | {"ald": True}})
    assert as_read.status_code == 200 and as_read.json()["criteria"]["ald"] is True, "urgency as read is no change"

    staff = make_key(org_a, Role.coordinator)
    urgent = client.post("/api/v1/requests", headers=staff, json=request_body(first_name="Bruno", phone="0622222222")
                         | {"criteria": {"urgent": True, "urgent_reason": "Sortie d'hospitalisation"}}).json()
    echoed = client.patch(f"/api/v1/requests/{urgent['id']}", headers=partner, json={"criteria": urgent["criteria"]})
    assert echoed.status_code == 200 and echoed.json()["criteria"] == urgent["criteria"]
    unmarked = client.patch(f"/api/v1/requests/{urgent['id']}", headers=partner, json={"criteria": {"urgent": False}})
    assert unmarked.status_code == 403


def test_staff_set_urgency_with_a_reason(client, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    body = request_body() | {"criteria": {"urgent": True, "urgent_reason": "Sortie d'hospitalisation"}}
    created = client.post("/api/v1/requests", json=body, headers=coordinator)
    assert created.json()["criteria"]["urgent"] is True
    assert created.json()["criteria"]["urgent_reason"] == "Sortie d'hospitalisation"
