"""Duplicates, variant by variant: what is refused at registration, what is flagged for a secretary, and
what a merge or a "two people" decision does."""

from datetime import timedelta

import pytest

from lac_service.auth.models import Role
from lac_service.intake import service
from lac_service.intake.repository import find_active_duplicate
from tests.conftest import NOW
from tests.payloads import cabinet_body, request_body


@pytest.fixture
def secretary(make_key, org_a):
    return make_key(org_a, Role.secretary)


def register(client, headers, **patient):
    return client.post("/api/v1/requests", json=request_body(**patient), headers=headers)


def flagged(client, headers):
    answer = client.get("/api/v1/duplicates", headers=headers)
    assert answer.status_code == 200, answer.text
    return [((d["first"]["id"], d["second"]["id"]), d["reasons"]) for d in answer.json()["items"]]


@pytest.mark.parametrize(("first_name", "last_name", "why"), [
    ("Elodie", "Durand Lefevre", "accents"),
    ("ÉLODIE", "durand-lefèvre", "case"),
    ("Élodie", "Durand--Lefèvre ", "hyphens and spaces"),
])
def test_the_same_name_once_folded_is_refused_at_registration(client, secretary, first_name, last_name, why):
    first = register(client, secretary, phone="0611111111", email=None).json()
    again = register(client, secretary, first_name=first_name, last_name=last_name, phone="0622222222", email=None)
    assert again.status_code == 409, why
    assert again.json()["existing_request_id"] == first["id"]


def test_twins_registered_with_a_parents_phone_are_two_people_flagged_for_a_look(client, secretary):
    speech = {"kind": "bilan_orthophonique"}
    lou = client.post("/api/v1/requests", json=request_body(first_name="Lou", last_name="Martin", birth_date="2019-04-02",
                                                            email=None) | speech, headers=secretary)
    max_ = client.post("/api/v1/requests", json=request_body(first_name="Max", last_name="Martin", birth_date="2019-04-02",
                                                             email=None) | speech, headers=secretary)
    assert (lou.status_code, max_.status_code) == (201, 201), max_.text
    assert flagged(client, secretary) == [((lou.json()["id"], max_.json()["id"]), ["phone"])]


def test_first_and_last_names_swapped_are_flagged(client, secretary):
    first = register(client, secretary, phone="0611111111", email=None).json()
    swapped = register(client, secretary, first_name="Durand-Lefèvre", last_name="Élodie", phone="0622222222", email=None)
    assert swapped.status_code == 201, "not refused: two people may share it"
    assert flagged(client, secretary) == [((first["id"], swapped.json()["id"]), ["names"])]


def test_the_same_email_and_birth_date_is_flagged_and_twins_can_be_told_apart(client, secretary):
    lou = register(client, secretary, first_name="Lou", phone="0611111111", email="famille@exemple.fr").json()
    max_ = register(client, secretary, first_name="Max", phone="0622222222", email="Famille@exemple.fr").json()
    register(client, secretary, first_name="Zoé", phone="0633333333", email="famille@exemple.fr", birth_date="1990-01-01")
    assert flagged(client, secretary) == [((lou["id"], max_["id"]), ["email"])], "another birth date: not flagged"
    answer = client.post("/api/v1/duplicates/distinct", json={"request_ids": [max_["id"], lou["id"]]}, headers=secretary)
    assert answer.status_code == 204
    assert flagged(client, secretary) == []
    assert client.post("/api/v1/duplicates/distinct", json={"request_ids": [lou["id"], max_["id"]]},
                       headers=secretary).status_code == 204, "saying it twice changes nothing"


def test_the_pairs_come_a_page_at_a_time_oldest_first(client, secretary):
    pairs = []
    for n, born in enumerate(("1981-01-01", "1982-02-02", "1983-03-03")):
        first = register(client, secretary, first_name="Lou", last_name="Martin", birth_date=born,
                         phone=f"061111111{n}", email=None).json()
        second = register(client, secretary, first_name="Martin", last_name="Lou", birth_date=born,
                          phone=f"062222222{n}", email=None).json()
        pairs.append([first["id"], second["id"]])
    pages = [client.get(f"/api/v1/duplicates?limit=2&offset={offset}", headers=secretary).json() for offset in (0, 2)]
    assert [page["total"] for page in pages] == [3, 3]
    assert [[[d["first"]["id"], d["second"]["id"]] for d in page["items"]] for page in pages] == [pairs[:2], pairs[2:]]


def test_a_merge_keeps_the_older_date_and_withdraws_the_duplicate(client, secretary, clock):
    older = register(client, secretary, phone="0611111111", email=None).json()
    clock["now"] = NOW + timedelta(days=200)
    newer = register(client, secretary, first_name="Durand-Lefèvre", last_name="Élodie", phone=None,
                     email="elodie@exemple.fr").json()
    merged = client.post(f"/api/v1/requests/{newer['id']}/merge", json={"duplicate_id": older["id"]}, headers=secretary)
    assert merged.status_code == 200, merged.text
    kept = merged.json()
    assert kept["waiting_since"] == older["waiting_since"], "the older date is kept"
    assert kept["patient"]["phone"] == "+33611111111" and kept["patient"]["email"] == "elodie@exemple.fr"
    assert kept["priority"]["points"] > newer["priority"]["points"], "200 days of waiting now count"
    gone = client.get(f"/api/v1/requests/{older['id']}", headers=secretary).json()
    assert gone["status"] == "withdrawn" and gone["history"][-1]["reason"] == "merged"
    assert flagged(client, secretary) == []


def test_what_cannot_be_merged_is_refused_and_changes_nothing(client, secretary, make_key, org_b):
    a = register(client, secretary, phone="0611111111", email=None).json()
    speech = client.post("/api/v1/requests", json=request_body(phone="0622222222", email=None) | {"kind": "bilan_orthophonique"},
                         headers=secretary).json()
    foreign = register(client, make_key(org_b, Role.secretary), first_name="Autre", phone="0633333333", email=None).json()
    cases = [(a["id"], a["id"], 422), (a["id"], speech["id"], 409), (a["id"], foreign["id"], 404), (a["id"], 999999, 404)]
    for keep, duplicate, status in cases:
        answer = client.post(f"/api/v1/requests/{keep}/merge", json={"duplicate_id": duplicate}, headers=secretary)
        assert answer.status_code == status, (keep, duplicate, answer.text)
    assert client.get(f"/api/v1/requests/{a['id']}", headers=secretary).json()["status"] == "waiting"
    assert client.post(f"/api/v1/requests/{a['id']}/merge", json={"duplicate_id": speech["id"]},
                       headers=make_key(org_b, Role.partner)).status_code == 403


def test_a_duplicate_being_offered_waits_for_the_cabinets_answer(client, secretary, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    offered = register(client, secretary, phone="0611111111", email=None).json()
    client.post("/api/v1/cabinets", json=cabinet_body(batch_size=1), headers=coordinator)
    assert client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()["requests_offered"] == 1
    swapped = register(client, secretary, first_name="Durand-Lefèvre", last_name="Élodie", phone="0622222222", email=None).json()
    refused = client.post(f"/api/v1/requests/{swapped['id']}/merge", json={"duplicate_id": offered["id"]}, headers=secretary)
    assert refused.status_code == 409 and "proposée à un cabinet" in refused.json()["message"]


CHILDREN = [{"first_name": "Léo", "last_name": "Durand", "birth_date": "2021-02-01"},
            {"first_name": "Zoé", "last_name": "Durand", "birth_date": "2023-05-06"}]


def _swapped(**changes):
    """The same person registered again by phone, names swapped: a flagged pair to merge."""
    body = request_body(first_name="Durand-Lefèvre", last_name="Élodie", phone="0622222222", email=None)
    return body | changes


def test_a_merge_keeps_what_either_registration_said_of_the_person(client, secretary):
    """The form, alone and without ALD, is the older and is kept; the call after told of an ALD, an urgency
    and two children: the request kept has them all, and the points they bring."""
    kept = client.post("/api/v1/requests", json=request_body(phone="0611111111", email=None) | {"criteria": {"ald": False}},
                       headers=secretary).json()
    urgent = {"ald": True, "urgent": True, "urgent_reason": "Sortie d'hospitalisation"}
    twin = client.post("/api/v1/requests", json=_swapped(criteria=urgent, household=CHILDREN), headers=secretary).json()
    merged = client.post(f"/api/v1/requests/{kept['id']}/merge", json={"duplicate_id": twin["id"]}, headers=secretary)
    assert merged.status_code == 200, merged.text
    merged = merged.json()
    assert merged["criteria"] == {"ald": True, "pregnant": False, **{k: urgent[k] for k in ("urgent", "urgent_reason")}}
    assert [m["first_name"] for m in merged["household"]] == ["Léo", "Zoé"] and merged["people_count"] == 3
    assert merged["priority"]["points"] >= twin["priority"]["points"]


def test_a_merge_that_would_make_a_household_too_large_is_refused_and_changes_nothing(client, secretary):
    family = [{"first_name": f"Enfant{n}", "last_name": "Durand", "birth_date": "2015-01-01"} for n in range(7)]
    others = [{"first_name": f"Petit{n}", "last_name": "Durand", "birth_date": "2016-01-01"} for n in range(6)]
    kept = client.post("/api/v1/requests", json=request_body(phone="0611111111", email=None) | {"household": family},
                       headers=secretary).json()
    twin = client.post("/api/v1/requests", json=_swapped(household=others), headers=secretary).json()
    refused = client.post(f"/api/v1/requests/{kept['id']}/merge", json={"duplicate_id": twin["id"]}, headers=secretary)
    assert refused.status_code == 409 and "plus de 12 membres du foyer" in refused.json()["message"]
    assert client.get(f"/api/v1/requests/{twin['id']}", headers=secretary).json()["status"] == "waiting"
    assert client.get(f"/api/v1/requests/{kept['id']}", headers=secretary).json()["people_count"] == 8


def test_a_request_kept_being_offered_takes_no_new_member_until_the_cabinets_answer(client, secretary, make_key, org_a):
    """The cabinet answers for the people it was offered: a household growing under it waits, as a PATCH does."""
    coordinator = make_key(org_a, Role.coordinator)
    offered = register(client, secretary, phone="0611111111", email=None).json()
    client.post("/api/v1/cabinets", json=cabinet_body(batch_size=1), headers=coordinator)
    assert client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()["requests_offered"] == 1
    with_children = client.post("/api/v1/requests", json=_swapped(household=CHILDREN), headers=secretary).json()
    refused = client.post(f"/api/v1/requests/{offered['id']}/merge", json={"duplicate_id": with_children["id"]},
                          headers=secretary)
    assert refused.status_code == 409 and "proposée à un cabinet" in refused.json()["message"]
    assert client.get(f"/api/v1/requests/{offered['id']}", headers=secretary).json()["people_count"] == 1


def test_the_withdraw_endpoint_takes_only_the_reasons_a_caller_gives(client, secretary):
    request = register(client, secretary, email=None).json()
    for reserved in ("erased", "stopped_by_sms", "merged"):
        answer = client.post(f"/api/v1/requests/{request['id']}/withdraw", json={"reason": reserved}, headers=secretary)
        assert answer.status_code == 422 and answer.json()["field"] == "reason"
    assert client.get(f"/api/v1/requests/{request['id']}", headers=secretary).json()["status"] == "waiting"


@pytest.fixture
def blind_once(monkeypatch):
    """From its call on, the next duplicate check before a write sees no twin, as when the twin commits just
    after it; returns the checks made."""
    def arm() -> list[dict]:
        calls = []

        def check(*args, **kwargs):
            calls.append(kwargs)
            return None if len(calls) == 1 else find_active_duplicate(*args, **kwargs)

        monkeypatch.setattr(service, "find_active_duplicate", check)
        return calls

    return arm


def test_a_change_that_meets_a_twin_committed_meanwhile_is_409_not_500(client, secretary, blind_once):
    """The unique index refuses the write; the answer must still name the twin."""
    first = register(client, secretary, phone="0611111111", email=None).json()
    other = register(client, secretary, first_name="Léa", last_name="Autre", phone="0622222222", email=None).json()
    checks = blind_once()
    answer = client.patch(f"/api/v1/requests/{other['id']}", json={"patient": {"first_name": "Élodie",
                                                                             "last_name": "Durand-Lefèvre"}},
                          headers=secretary)
    assert answer.status_code == 409 and answer.json()["existing_request_id"] == first["id"], answer.text
    assert len(checks) == 2, "refused by the index, then named"
    assert client.get(f"/api/v1/requests/{other['id']}", headers=secretary).json()["patient"]["first_name"] == "Léa"


@pytest.mark.parametrize("idempotency_key", [None, "cle-unique-0001"])
def test_a_registration_that_meets_a_twin_committed_meanwhile_is_409_not_500(client, secretary, blind_once,
                                                                            idempotency_key):
    first = register(client, secretary, phone="0611111111", email=None).json()
    headers = secretary | ({"Idempotency-Key": idempotency_key} if idempotency_key else {})
    blind_once()
    answer = client.post("/api/v1/requests", json=request_body(phone="0622222222", email=None), headers=headers)
    assert answer.status_code == 409 and answer.json()["existing_request_id"] == first["id"], answer.text
    assert client.get("/api/v1/requests", headers=secretary).json()["total"] == 1
