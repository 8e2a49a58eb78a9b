"""Changing, withdrawing and erasing a request."""

import pytest
import sqlalchemy as sa

from lac_service.all_models import metadata
from lac_service.auth.models import Role
from tests.payloads import request_body


@pytest.fixture
def created(client, secretary_a):
    body = request_body()
    body["household"] = [{"first_name": "Théo", "last_name": "Durand", "birth_date": "2019-06-01"}]
    return client.post("/api/v1/requests", json=body, headers=secretary_a).json()


def test_patch_changes_only_what_is_sent_and_normalises(client, secretary_a, created):
    answer = client.patch(
        f"/api/v1/requests/{created['id']}",
        json={"patient": {"phone": "07 81 23 45 67"}, "criteria": {"pregnant": True}},
        headers=secretary_a,
    )
    assert answer.status_code == 200, answer.text
    patient = answer.json()["patient"]
    assert patient["phone"] == "+33781234567"
    assert patient["email"] == created["patient"]["email"]
    assert answer.json()["criteria"] == created["criteria"] | {"pregnant": True}
    assert answer.json()["people_count"] == 2


def test_patch_cannot_leave_a_patient_unreachable(client, secretary_a, created):
    answer = client.patch(
        f"/api/v1/requests/{created['id']}", json={"patient": {"phone": None, "email": None}}, headers=secretary_a
    )
    assert answer.status_code == 422
    assert answer.json()["field"] == "patient.phone"
    assert client.get(f"/api/v1/requests/{created['id']}", headers=secretary_a).json()["patient"]["phone"]


def test_patch_into_a_duplicate_is_409(client, secretary_a, created):
    other = client.post(
        "/api/v1/requests", json=request_body(first_name="Paul", phone="0781234567", email=None),
        headers=secretary_a,
    ).json()
    answer = client.patch(
        f"/api/v1/requests/{other['id']}", json={"patient": {"first_name": "Élodie"}}, headers=secretary_a
    )
    assert answer.status_code == 409
    assert answer.json()["existing_request_id"] == created["id"]
    assert client.get(f"/api/v1/requests/{other['id']}", headers=secretary_a).json()["patient"]["first_name"] == "Paul"


def test_a_closed_request_is_corrected_while_the_same_person_waits_again(client, secretary_a, created):
    """Withdrawn, then registered again: the old record's phone can still be corrected (only one waits)."""
    client.post(f"/api/v1/requests/{created['id']}/withdraw", json={"reason": "other"}, headers=secretary_a)
    again = client.post("/api/v1/requests", json=request_body(), headers=secretary_a)
    assert again.status_code == 201, again.text
    answer = client.patch(f"/api/v1/requests/{created['id']}", json={"patient": {"phone": "07 81 23 45 67"}},
                          headers=secretary_a)
    assert answer.status_code == 200, answer.text
    assert answer.json()["patient"]["phone"] == "+33781234567"
    twin = client.patch(f"/api/v1/requests/{again.json()['id']}", json={"patient": {"first_name": "Élodie"}},
                        headers=secretary_a)
    assert twin.status_code == 200, "itself: no twin of its own"


def test_a_partner_corrects_a_name_on_a_record_the_staff_gave_a_landline(client, secretary_a, make_key, org_a):
    """Staff may register a landline alone (they call); a partner, who reaches patients by messages only, may
    still correct the name, but not give a landline alone itself."""
    body = request_body(phone="03 20 12 34 56", email=None)
    created = client.post("/api/v1/requests", json=body, headers=secretary_a).json()
    partner = make_key(org_a, Role.partner)
    answer = client.patch(f"/api/v1/requests/{created['id']}", json={"patient": {"first_name": "Élodie-Marie"}},
                          headers=partner)
    assert answer.status_code == 200, answer.text
    refused = client.patch(f"/api/v1/requests/{created['id']}", json={"patient": {"phone": "03 20 99 99 99"}},
                           headers=partner)
    assert refused.status_code == 422 and refused.json()["field"] == "patient.phone"


def test_household_is_replaced_whole(client, secretary_a, created):
    answer = client.patch(f"/api/v1/requests/{created['id']}", json={"household": []}, headers=secretary_a)
    assert answer.json()["household"] == []
    assert answer.json()["people_count"] == 1


def test_withdraw_records_the_reason_and_is_harmless_twice(client, secretary_a, created):
    url = f"/api/v1/requests/{created['id']}/withdraw"
    first = client.post(url, json={"reason": "found_elsewhere"}, headers=secretary_a)
    assert first.status_code == 200
    assert first.json()["status"] == "withdrawn"
    assert first.json()["history"][-1] == first.json()["history"][-1] | {
        "from_status": "waiting", "to_status": "withdrawn", "reason": "found_elsewhere"
    }
    second = client.post(url, headers=secretary_a)
    assert second.status_code == 200
    assert len(second.json()["history"]) == 2
    listed = client.get("/api/v1/requests?status=withdrawn", headers=secretary_a).json()
    assert [r["id"] for r in listed["items"]] == [created["id"]]
    assert client.get("/api/v1/requests?status=waiting", headers=secretary_a).json()["total"] == 0


def test_withdraw_with_unknown_reason_is_422(client, secretary_a, created):
    answer = client.post(f"/api/v1/requests/{created['id']}/withdraw", json={"reason": "bof"}, headers=secretary_a)
    assert answer.status_code == 422
    assert answer.json()["field"] == "reason"


def test_search_finds_by_name_phone_and_postal_code(client, secretary_a, created):
    for query in ["durand", "Élodie Durand", "DURAND-LEFEVRE", "06 12 34 56 78", "59000", "elodie.durand@exemple.fr"]:
        found = client.get("/api/v1/requests", params={"q": query}, headers=secretary_a).json()
        assert [r["id"] for r in found["items"]] == [created["id"]], query
    assert client.get("/api/v1/requests", params={"q": "Martin"}, headers=secretary_a).json()["total"] == 0
    assert client.get("/api/v1/requests", params={"q": "%"}, headers=secretary_a).json()["total"] == 0


def test_pagination(client, secretary_a):
    ids = [
        client.post(
            "/api/v1/requests", json=request_body(first_name=f"Prénom{i}", phone=f"06123456{i:02d}"),
            headers=secretary_a,
        ).json()["id"]
        for i in range(5)
    ]
    page = client.get("/api/v1/requests?limit=2&offset=2", headers=secretary_a).json()
    assert [r["id"] for r in page["items"]] == ids[2:4]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2)


def _text_values(connection) -> list[str]:
    values = []
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, (sa.String, sa.Text, sa.JSON))]
        for row in connection.execute(sa.select(*columns)) if columns else []:
            values.extend(str(v) for v in row if v is not None)
    return values


def test_erasing_a_request_erases_the_duplicates_merged_into_it(client, connection, make_key, org_a):
    """Registered twice (names swapped), merged by the staff: the erasure asked is the person's."""
    secretary = make_key(org_a, Role.secretary)
    first = client.post("/api/v1/requests", json=request_body(), headers=secretary).json()
    swapped = request_body(first_name="Durand-Lefèvre", last_name="Élodie", phone="0622222222", email=None)
    kept = client.post("/api/v1/requests", json=swapped, headers=secretary).json()
    assert client.post(f"/api/v1/requests/{kept['id']}/merge", json={"duplicate_id": first["id"]},
                       headers=secretary).status_code == 200
    assert client.delete(f"/api/v1/requests/{kept['id']}", headers=secretary).status_code == 204
    stored = " ".join(_text_values(connection))
    for personal in ["Élodie", "Durand", "elodie", "+33612345678", "+33622222222", "Esquermoise"]:
        assert personal not in stored
    merged = client.get(f"/api/v1/requests/{first['id']}", headers=secretary).json()
    assert merged["erased_at"] is not None and merged["history"][-1]["reason"] == "merged"


def test_erasure_removes_personal_data_and_keeps_an_anonymous_record(client, connection, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    created = client.post(
        "/api/v1/requests", json=request_body(), headers=coordinator | {"Idempotency-Key": "erase-me"}
    ).json()
    answer = client.delete(f"/api/v1/requests/{created['id']}", headers=coordinator)
    assert answer.status_code == 204
    record = client.get(f"/api/v1/requests/{created['id']}", headers=coordinator).json()
    assert record["patient"] == {
        "first_name": None, "last_name": None, "birth_date": None, "age": None, "phone": None, "email": None,
        "address": None, "location": None,
    }
    assert record["criteria"]["urgent_reason"] is None
    assert record["household"] == []
    assert (record["kind"], record["status"], record["department"]) == ("medecin_traitant", "withdrawn", "59")
    assert record["created_at"] == created["created_at"]
    assert record["erased_at"] is not None
    assert record["history"][-1]["reason"] == "erased"
    stored = " ".join(_text_values(connection))
    for personal in ["Élodie", "Durand", "elodie", "+33612345678", "Esquermoise", "Lille"]:
        assert personal not in stored
    assert client.get("/api/v1/requests", headers=coordinator).json()["total"] == 0
    assert client.delete(f"/api/v1/requests/{created['id']}", headers=coordinator).status_code == 204
    edit = client.patch(f"/api/v1/requests/{created['id']}", json={"max_distance_km": 3}, headers=coordinator)
    assert edit.status_code == 409
    again = client.post("/api/v1/requests", json=request_body(), headers=coordinator)
    assert again.status_code == 201
