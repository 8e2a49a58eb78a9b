"""Matching rounds through the API: batches within radius, capacity and cadence, and the offer lifecycle."""

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lac_service.auth.models import Role
from lac_service.cabinets.models import Cabinet
from lac_service.kit.clock import request_time, utcnow
from lac_service.notifications.models import Notification
from lac_service.offers.service import KEPT_AFTER_DEADLINE, expire_offers
from tests.conftest import count_rows
from tests.payloads import cabinet_body, request_body

LILLE = {"lat": 50.6365, "lon": 3.0635}
ROUBAIX = {"lat": 50.6942, "lon": 3.1746}
MARSEILLE = {"lat": 43.2965, "lon": 5.3698}


def _patient(client, headers, name, phone, location, household: int | list = 0, **body):
    """``household``: how many children born in 2018, or the members themselves."""
    payload = request_body(first_name=name, phone=phone, email=None, location=location)
    payload["household"] = household if isinstance(household, list) else [
        {"first_name": f"Enfant{i}", "last_name": "Durand", "birth_date": "2018-01-01"} for i in range(household)
    ]
    payload.update(body)
    answer = client.post("/api/v1/requests", json=payload, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


@pytest.fixture
def lille(client, make_key, org_a):
    """Two cabinets in Lille (capacity 3 and 2 people) and patients around."""
    coordinator = make_key(org_a, Role.coordinator)
    near = client.post(
        "/api/v1/cabinets", json=cabinet_body(name="Cabinet Centre", location=LILLE, radius_km=5, batch_size=3),
        headers=coordinator,
    ).json()["id"]
    far = client.post(
        "/api/v1/cabinets",
        json=cabinet_body(name="Cabinet Roubaix", location=ROUBAIX, radius_km=20, batch_size=2,
                          address={"line": "", "postal_code": "59100", "city": "Roubaix"}),
        headers=coordinator,
    ).json()["id"]
    ids = {
        "ald": _patient(client, coordinator, "Alice", "0611111111", {"lat": 50.637, "lon": 3.064}, criteria={"ald": True}),
        "plain": _patient(client, coordinator, "Bruno", "0622222222", {"lat": 50.640, "lon": 3.060}),
        "family": _patient(client, coordinator, "Carla", "0633333333", {"lat": 50.635, "lon": 3.066}, household=2),
        "marseille": _patient(client, coordinator, "Denis", "0644444444", MARSEILLE),
    }
    return {"headers": coordinator, "near": near, "far": far, "ids": ids}


def _run(client, headers, **body):
    answer = client.post("/api/v1/matching/runs", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _status(client, headers, request_id):
    return client.get(f"/api/v1/requests/{request_id}", headers=headers).json()["status"]


def test_a_round_offers_batches_within_radius_and_capacity(client, lille):
    headers, ids = lille["headers"], lille["ids"]
    run = _run(client, headers)
    batches = {b["cabinet_id"]: b for b in run["batches"]}
    # Alice (ALD) first takes the nearest seat; the household of three fits only where 3 seats remain.
    assert batches[lille["near"]]["request_ids"] == [ids["ald"], ids["plain"]]
    assert lille["far"] not in batches, "Roubaix has 2 seats; the household of 3 is never split"
    assert run["unmatched"] == {"all_in_range_full": 1, "no_cabinet_in_range": 1}
    assert run["cabinets_due"] == 2 and run["requests_considered"] == 4
    for batch in run["batches"]:
        assert batch["people"] <= {lille["near"]: 3, lille["far"]: 2}[batch["cabinet_id"]]
        assert batch["offer_url"].startswith("http://127.0.0.1:8000/o/")
    assert _status(client, headers, ids["ald"]) == "offered"
    assert _status(client, headers, ids["family"]) == "waiting"
    unmatched = client.get(f"/api/v1/matching/runs/{run['id']}/unmatched", headers=headers).json()
    assert {u["request_id"]: u["reason"] for u in unmatched["items"]} == {
        ids["family"]: "all_in_range_full", ids["marseille"]: "no_cabinet_in_range"
    }
    again = client.get(f"/api/v1/matching/runs/{run['id']}", headers=headers).json()
    assert [b["request_ids"] for b in again["batches"]] == [b["request_ids"] for b in run["batches"]]
    assert all(b["offer_url"] is None for b in again["batches"])


def test_cadence_pause_and_dry_run(client, db, connection, lille):
    headers = lille["headers"]
    before = count_rows(connection)
    dry = _run(client, headers, dry_run=True)
    assert dry["id"] is None and dry["batches"]
    assert count_rows(connection) == before
    assert _status(client, headers, lille["ids"]["ald"]) == "waiting"

    near = db.get(Cabinet, lille["near"])
    near.last_batch_at = utcnow() - timedelta(days=10)  # cadence 42 days: not due
    client.patch(f"/api/v1/cabinets/{lille['far']}", json={"paused": True}, headers=headers)
    db.commit()
    run = _run(client, headers)
    assert run["cabinets_due"] == 0 and run["batches"] == []


@pytest.mark.parametrize("cabinet_phone", ["03 20 00 00 01", None], ids=["patients-call", "cabinet-calls"])
def test_who_calls_whom_after_an_accept_is_said_alike_to_the_practitioner_and_the_patient(client, make_key, org_a,
                                                                                         clock, cabinet_phone):
    """The match tells a patient to call the cabinet's number, or that the cabinet will call; the practitioner
    reads the same, even once the cabinet's number changed, and, for a patient no message reaches (a landline
    alone), that they must call."""
    headers = make_key(org_a, Role.coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(patient_phone=cabinet_phone), headers=headers).json()
    alice = client.post("/api/v1/requests", json=request_body(first_name="Alice", phone="0611111111", email=None,
                                                              location=LILLE), headers=headers).json()
    mobile, landline = alice["id"], _patient(client, headers, "Bruno", "03 20 12 34 56", LILLE)
    token = _run(client, headers)["batches"][0]["offer_url"].rsplit("/", 1)[1]
    for request_id in (mobile, landline):
        client.post(f"/api/v1/offers/{token}/responses", json={"request_id": request_id, "decision": "accept"})
    changed = client.patch(f"/api/v1/cabinets/{cabinet['id']}", json={"patient_phone": "03 20 99 99 99"},
                           headers=headers)
    assert changed.status_code == 200, changed.text
    offer = client.get(f"/api/v1/offers/{token}").json()
    assert {item["request_id"]: (item["contact"]["told"], item["contact"]["told_to_call"]) for item in offer["items"]} \
        == {mobile: (True, "+33320000001" if cabinet_phone else None),
            landline: (False, "+33320000001" if cabinet_phone else None)}, "what they were told, not the new number"
    page = html.unescape(client.get(f"/o/{token}").text)
    told = ("Prévenu par message : il doit vous appeler au 03 20 00 00 01 pour prendre rendez-vous." if cabinet_phone
            else "Prévenu par message : vous allez l'appeler pour prendre rendez-vous.")
    assert page.count(told) == 1
    assert page.count("Il n'a pas pu être prévenu par message : appelez-le.") == 1
    patient_page = " ".join(html.unescape(re.sub(r"<[^>]+>", "", client.get(
        alice["tracking_url"].removeprefix("http://127.0.0.1:8000")).text)).split())
    assert "Appelez-le au 03 20 99 99 99 pour prendre rendez-vous." in patient_page, "the number to call now"


def test_a_patient_whose_match_message_did_not_arrive_is_to_be_called(client, db, make_key, org_a, clock):
    """Twilio reported the match SMS undelivered (a number that once sent STOP, a phone off for good): the
    practitioner reads that the patient was not told, and calls them."""
    headers = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(), headers=headers)
    alice = _patient(client, headers, "Alice", "0611111111", LILLE)
    token = _run(client, headers)["batches"][0]["offer_url"].rsplit("/", 1)[1]
    client.post(f"/api/v1/offers/{token}/responses", json={"request_id": alice, "decision": "accept"})
    assert client.get(f"/api/v1/offers/{token}").json()["items"][0]["contact"]["told"] is True, "on its way"
    db.execute(sa.update(Notification).where(Notification.template == "match")
               .values(status="sent", delivery_status="undelivered"))
    db.commit()
    assert client.get(f"/api/v1/offers/{token}").json()["items"][0]["contact"]["told"] is False
    assert "Il n'a pas pu être prévenu par message" in html.unescape(client.get(f"/o/{token}").text)


def test_a_young_patients_age_is_written_in_french_and_declining_is_said_to_be_final(client, make_key, org_a, clock):
    headers = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(kinds=["bilan_orthophonique"]), headers=headers)
    lou = request_body(first_name="Lou", phone="0611111111", email=None, location=LILLE, birth_date="2025-01-10")
    assert client.post("/api/v1/requests", json=lou | {"kind": "bilan_orthophonique"},
                       headers=headers).status_code == 201
    token = _run(client, headers)["batches"][0]["offer_url"].rsplit("/", 1)[1]
    page = html.unescape(client.get(f"/o/{token}").text)
    assert "Lou, 1 an</h2>" in page, "1 an, not 1 ans"
    assert "Décliner est définitif : ce patient ne vous sera plus proposé." in page


def test_the_practitioner_sees_the_household_ages_first_and_their_names_once_the_family_is_accepted(
        client, make_key, org_a, clock):
    """A cabinet takes the whole household: it must know whom before it says yes, and whom to call after."""
    headers = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(), headers=headers)
    family = _patient(client, headers, "Carla", "0633333333", {"lat": 50.635, "lon": 3.066}, household=[
        {"first_name": "Paul", "last_name": "Durand", "birth_date": "1990-05-01"},
        {"first_name": "Léa", "last_name": "Durand", "birth_date": "2026-03-01"},
    ])
    token = _run(client, headers)["batches"][0]["offer_url"].rsplit("/", 1)[1]
    item = client.get(f"/api/v1/offers/{token}").json()["items"][0]
    assert (item["people"], item["household_ages"], item["contact"]) == (3, [0, 36], None)
    page = client.get(f"/o/{token}").text
    assert "Avec les personnes de son foyer : moins d&#39;un an, 36 ans" in page and "Léa" not in page

    client.post(f"/api/v1/offers/{token}/responses", json={"request_id": family, "decision": "accept"})
    contact = client.get(f"/api/v1/offers/{token}").json()["items"][0]["contact"]
    assert [(m["first_name"], m["birth_date"]) for m in contact["household"]] == [("Léa", "2026-03-01"),
                                                                                ("Paul", "1990-05-01")]
    assert "Léa Durand, né(e) le 01/03/2026 ; Paul Durand, né(e) le 01/05/1990" in client.get(f"/o/{token}").text


def test_a_household_answered_for_cannot_change_until_the_cabinet_answers(client, make_key, org_a, clock):
    """The cabinet says yes to the people it was shown: a child added meanwhile would arrive unannounced."""
    headers = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(), headers=headers)
    paul = {"first_name": "Paul", "last_name": "Durand", "birth_date": "1990-05-01"}
    family = _patient(client, headers, "Carla", "0633333333", {"lat": 50.635, "lon": 3.066}, household=[paul])
    token = _run(client, headers)["batches"][0]["offer_url"].rsplit("/", 1)[1]
    child = {"first_name": "Léa", "last_name": "Durand", "birth_date": "2026-03-01"}
    refused = client.patch(f"/api/v1/requests/{family}", json={"household": [paul, child]}, headers=headers)
    assert refused.status_code == 409 and refused.json()["field"] == "household"
    assert "Un cabinet répond en ce moment pour ce foyer de 2 personnes" in refused.json()["message"]
    record = client.get(f"/api/v1/requests/{family}", headers=headers).json()
    assert (record["people_count"], [m["first_name"] for m in record["household"]]) == (2, ["Paul"]), "nothing changed"
    same = client.patch(f"/api/v1/requests/{family}", json={"household": [paul], "max_distance_km": 12}, headers=headers)
    assert same.status_code == 200 and same.json()["max_distance_km"] == 12, "sent back as read: no change, accepted"
    assert client.get(f"/api/v1/offers/{token}").json()["items"][0]["household_ages"] == [36]

    client.post(f"/api/v1/offers/{token}/responses", json={"request_id": family, "decision": "decline", "reason": "no_capacity"})
    grown = client.patch(f"/api/v1/requests/{family}", json={"household": [paul, child]}, headers=headers)
    assert grown.status_code == 200 and grown.json()["people_count"] == 3, "back in the queue: the household is theirs again"


def test_the_practitioner_accepts_one_and_declines_another(client, lille):
    headers, ids = lille["headers"], lille["ids"]
    run = _run(client, headers)
    batch = next(b for b in run["batches"] if b["cabinet_id"] == lille["near"])
    token = batch["offer_url"].rsplit("/", 1)[1]
    page = client.get(f"/api/v1/offers/{token}").json()
    assert [i["first_name"] for i in page["items"]] == ["Alice", "Bruno"]
    assert page["items"][0]["contact"] is None
    assert [r["code"] for r in page["items"][0]["priority_reasons"]] == ["ald"]

    accepted = client.post(f"/api/v1/offers/{token}/responses", json={"request_id": ids["ald"], "decision": "accept"})
    assert accepted.status_code == 200, accepted.text
    alice = accepted.json()["items"][0]
    assert alice["status"] == "accepted"
    assert alice["contact"]["phone"] == "+33611111111"
    assert _status(client, headers, ids["ald"]) == "matched"
    again = client.post(f"/api/v1/offers/{token}/responses", json={"request_id": ids["ald"], "decision": "accept"})
    assert again.status_code == 200
    assert client.get(f"/api/v1/requests/{ids['ald']}", headers=headers).json()["history"][-1]["to_status"] == "matched"
    changed_mind = client.post(
        f"/api/v1/offers/{token}/responses", json={"request_id": ids["ald"], "decision": "decline", "reason": "other"}
    )
    assert changed_mind.status_code == 409 and changed_mind.json()["code"] == "no_longer_available"

    declined = client.post(
        f"/api/v1/offers/{token}/responses",
        json={"request_id": ids["plain"], "decision": "decline", "reason": "no_capacity"},
    )
    assert declined.json()["items"][1]["decline_reason"] == "no_capacity"
    assert _status(client, headers, ids["plain"]) == "waiting"
    stranger = client.post(f"/api/v1/offers/{token}/responses", json={"request_id": ids["marseille"], "decision": "accept"})
    assert stranger.status_code == 404

    summary = client.get("/api/v1/offers", headers=headers).json()["items"]
    near = next(o for o in summary if o["cabinet_id"] == lille["near"])
    assert (near["accepted"], near["declined"], near["decline_reasons"]) == (1, 1, {"no_capacity": 1})


def test_a_practitioner_may_decline_without_saying_why(client, lille):
    headers, ids = lille["headers"], lille["ids"]
    batch = next(b for b in _run(client, headers)["batches"] if b["cabinet_id"] == lille["near"])
    token = batch["offer_url"].rsplit("/", 1)[1]
    declined = client.post(f"/api/v1/offers/{token}/responses", json={"request_id": ids["plain"], "decision": "decline"})
    assert declined.status_code == 200, declined.text
    assert (declined.json()["items"][1]["status"], declined.json()["items"][1]["decline_reason"]) == ("declined", None)
    history = client.get(f"/api/v1/requests/{ids['plain']}", headers=headers).json()["history"]
    assert (history[-1]["to_status"], history[-1]["reason"]) == ("waiting", "declined")
    near = next(o for o in client.get("/api/v1/offers", headers=headers).json()["items"] if o["cabinet_id"] == lille["near"])
    assert (near["declined"], near["decline_reasons"]) == (1, {})


def test_a_declined_request_is_never_offered_to_that_cabinet_again(client, db, lille, clock):
    headers, ids = lille["headers"], lille["ids"]
    client.patch(f"/api/v1/cabinets/{lille['far']}", json={"paused": True}, headers=headers)
    run = _run(client, headers)
    token = run["batches"][0]["offer_url"].rsplit("/", 1)[1]
    client.post(f"/api/v1/offers/{token}/responses", json={"request_id": ids["plain"], "decision": "decline", "reason": "too_far"})
    client.patch(f"/api/v1/cabinets/{lille['near']}", json={"cadence_days": 1}, headers=headers)
    clock["now"] += timedelta(days=1)
    second = _run(client, headers)
    assert [b["request_ids"] for b in second["batches"]] == [[ids["family"]]], "the household fits now"
    reasons = {u["request_id"]: u["reason"] for u in client.get(
        f"/api/v1/matching/runs/{second['id']}/unmatched", headers=headers).json()["items"]}
    assert reasons[ids["plain"]] == "all_in_range_declined"


def test_a_cabinets_ask_is_a_round_of_its_own_over_what_it_may_reach(client, lille):
    headers, ids, near = lille["headers"], lille["ids"], lille["near"]
    client.patch(f"/api/v1/cabinets/{lille['far']}", json={"paused": True}, headers=headers)
    token = _run(client, headers)["batches"][0]["offer_url"].rsplit("/", 1)[1]
    client.post(f"/api/v1/offers/{token}/responses", json={"request_id": ids["plain"], "decision": "decline"})
    refused = client.post(f"/api/v1/cabinets/{near}/batch-request", headers=headers)
    assert refused.status_code == 409 and "attendent encore sa réponse" in refused.json()["message"], "Alice waits"
    assert client.get(f"/api/v1/cabinets/{near}", headers=headers).json()["batch_requested_at"] is None

    client.post(f"/api/v1/offers/{token}/responses", json={"request_id": ids["ald"], "decision": "accept"})
    asked = client.post(f"/api/v1/cabinets/{near}/batch-request", headers=headers)
    assert asked.status_code == 200 and asked.json()["batch_requested_at"] is None, "served at once"
    newest = client.get("/api/v1/offers", headers=headers).json()["items"][0]
    assert (newest["cabinet_id"], newest["pending"]) == (near, 1)
    round_ = client.get(f"/api/v1/matching/runs/{newest['round_id']}", headers=headers).json()
    assert round_["cabinet_id"] == near and round_["batches"][0]["request_ids"] == [ids["family"]]
    assert round_["requests_considered"] == 2, "Bruno and the household: Marseille is beyond its reach"
    assert round_["unmatched"] == {}, "reasons about one cabinet would read as the organisation's"
    assert client.get(f"/api/v1/matching/runs/{round_['id']}/unmatched", headers=headers).json()["items"] == []
    assert _status(client, headers, ids["plain"]) == "waiting"


def test_a_cabinet_told_by_message_keeps_its_ask_for_the_next_round(client, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator).json()
    asked = client.post(f"/api/v1/cabinets/{cabinet['id']}/batch-request", headers=coordinator)
    assert asked.status_code == 200 and asked.json()["batch_requested_at"] is not None, "nobody yet: kept"
    first = _run(client, coordinator)
    assert first["batches"] == [] and first["cabinets_due"] == 1
    alice = _patient(client, coordinator, "Alice", "0611111111", {"lat": 50.637, "lon": 3.064})
    later = _run(client, coordinator)
    assert [b["request_ids"] for b in later["batches"]] == [[alice]]
    read = client.get(f"/api/v1/cabinets/{cabinet['id']}", headers=coordinator).json()
    assert read["batch_requested_at"] is None and read["last_batch_at"] is not None
    assert _run(client, coordinator)["cabinets_due"] == 0, "served: its cadence again"


def test_a_cabinet_that_turns_to_browse_mode_drops_its_ask(client, make_key, org_a):
    """Nothing would tell it of the batch its ask would bring."""
    coordinator = make_key(org_a, Role.coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator).json()
    assert client.post(f"/api/v1/cabinets/{cabinet['id']}/batch-request", headers=coordinator).json()["batch_requested_at"]
    changed = client.patch(f"/api/v1/cabinets/{cabinet['id']}", json={"channels": []}, headers=coordinator).json()
    assert changed["batch_requested_at"] is None


def test_only_the_coordination_asks_for_a_cabinet(client, lille, make_key, org_a, org_b):
    path = f"/api/v1/cabinets/{lille['near']}/batch-request"
    assert client.post(path, headers=make_key(org_a, Role.secretary)).status_code == 403
    assert client.post(path, headers=make_key(org_b, Role.coordinator)).status_code == 404


def test_expiry_sends_requests_back_and_the_link_dies(app, client, db, lille):
    headers, ids = lille["headers"], lille["ids"]
    run = _run(client, headers)
    token = run["batches"][0]["offer_url"].rsplit("/", 1)[1]
    assert expire_offers(db, now=utcnow() + timedelta(days=13)) == 0
    later = utcnow() + timedelta(days=15)
    assert expire_offers(db, now=later) == 2
    db.commit()
    assert _status(client, headers, ids["ald"]) == "waiting"
    assert {i["status"] for i in client.get(f"/api/v1/offers/{token}").json()["items"]} == {"expired"}
    app.dependency_overrides[request_time] = lambda: later
    past = client.get(f"/api/v1/offers/{token}").json()
    assert (past["answerable"], past["items"]) == (False, []), "read-only, and only for patients accepted: none"
    answer = client.post(f"/api/v1/offers/{token}/responses", json={"request_id": ids["ald"], "decision": "accept"})
    assert answer.status_code == 404
    app.dependency_overrides[request_time] = lambda: later + KEPT_AFTER_DEADLINE
    assert client.get(f"/api/v1/offers/{token}").status_code == 404
    history = client.get(f"/api/v1/requests/{ids['ald']}", headers=headers).json()["history"]
    assert history[-1]["reason"] == "expired"


def test_a_patient_who_left_before_the_deadline_does_not_count_as_expired(client, db, lille):
    """The cabinet did not let Bruno's time pass: he withdrew. His item is cancelled, not held against it."""
    headers, ids = lille["headers"], lille["ids"]
    batch = next(b for b in _run(client, headers)["batches"] if b["cabinet_id"] == lille["near"])
    client.post(f"/api/v1/requests/{ids['plain']}/withdraw", json={"reason": "moved"}, headers=headers)
    assert expire_offers(db, now=utcnow() + timedelta(days=15)) == 2
    db.commit()
    near = next(o for o in client.get("/api/v1/offers", headers=headers).json()["items"] if o["id"] == batch["offer_id"])
    assert (near["expired"], near["cancelled"]) == (1, 1)
    assert _status(client, headers, ids["plain"]) == "withdrawn"


def test_a_round_first_sends_back_the_patients_of_offers_past_their_deadline(client, lille, clock):
    """With no worker running the expiry job (rounds started by hand, or by ``lac match`` from cron)."""
    headers, ids = lille["headers"], lille["ids"]
    _run(client, headers)
    assert _status(client, headers, ids["ald"]) == "offered"
    clock["now"] += timedelta(days=15)
    _run(client, headers, dry_run=True)
    assert _status(client, headers, ids["ald"]) == "offered", "a dry run keeps nothing"
    _run(client, headers)
    history = client.get(f"/api/v1/requests/{ids['ald']}", headers=headers).json()["history"]
    assert "expired" in [change["reason"] for change in history]
    assert _status(client, headers, ids["ald"]) in ("waiting", "offered"), "back in the queue, perhaps offered anew"


@pytest.mark.parametrize("token", ["A" * 43, "x" * 16, "a" * 200, "../../etc/passwd", "%00" * 10])
def test_forged_tokens_are_404_or_422_and_say_nothing(client, lille, token):
    answer = client.get(f"/api/v1/offers/{token}")
    assert answer.status_code in (404, 422)
    assert "Alice" not in answer.text


def test_an_answer_about_an_impossible_request_id_is_422(client, lille):
    token = _run(client, lille["headers"])["batches"][0]["offer_url"].rsplit("/", 1)[1]
    answer = client.post(f"/api/v1/offers/{token}/responses", json={"request_id": 2**63, "decision": "accept"})
    assert answer.status_code == 422 and answer.json()["field"] == "request_id"


def test_a_withdrawn_patient_cannot_be_accepted(client, lille):
    headers, ids = lille["headers"], lille["ids"]
    run = _run(client, headers)
    token = next(b for b in run["batches"] if b["cabinet_id"] == lille["near"])["offer_url"].rsplit("/", 1)[1]
    client.post(f"/api/v1/requests/{ids['plain']}/withdraw", json={"reason": "found_elsewhere"}, headers=headers)
    page = client.get(f"/api/v1/offers/{token}").json()
    assert next(i for i in page["items"] if i["request_id"] == ids["plain"])["available"] is False
    refused = client.post(f"/api/v1/offers/{token}/responses", json={"request_id": ids["plain"], "decision": "accept"})
    assert refused.status_code == 409 and refused.json()["code"] == "no_longer_available"
    assert _status(client, headers, ids["plain"]) == "withdrawn"


def test_roles_and_tenancy_of_rounds(client, make_key, org_a, org_b, lille):
    assert client.post("/api/v1/matching/runs", json={}, headers=make_key(org_a, Role.secretary)).status_code == 403
    run = _run(client, lille["headers"])
    other = make_key(org_b, Role.coordinator)
    assert client.get(f"/api/v1/matching/runs/{run['id']}", headers=other).status_code == 404
    their_run = _run(client, other)
    assert their_run["requests_considered"] == 0
    assert client.get("/api/v1/offers", headers=other).json()["total"] == 0


def test_an_admins_run_keeps_a_round_for_each_organisation_which_its_coordinators_see(client, make_key, org_a,
                                                                                        org_b, lille):
    other = make_key(org_b, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(name="Cabinet B", location=LILLE, radius_km=5, batch_size=4),
                headers=other)
    theirs = _patient(client, other, "Émile", "0655555555", {"lat": 50.636, "lon": 3.063})
    run = _run(client, make_key(org_a, Role.admin))
    assert run["id"] is None and len(run["round_ids"]) == 2, "one round per organisation, none of them 'the' run"
    mine, their_round = run["round_ids"]
    assert client.get(f"/api/v1/matching/runs/{their_round}", headers=lille["headers"]).status_code == 404
    seen = client.get(f"/api/v1/matching/runs/{their_round}", headers=other).json()
    assert (seen["round_ids"], seen["requests_considered"], seen["cabinets_due"]) == ([their_round], 1, 1)
    assert [batch["request_ids"] for batch in seen["batches"]] == [[theirs]], "its own figures, nobody else's"
    ours = client.get(f"/api/v1/matching/runs/{mine}", headers=lille["headers"]).json()
    assert ours["requests_considered"] == 4 and theirs not in {r for b in ours["batches"] for r in b["request_ids"]}
    assert (run["requests_considered"], run["requests_offered"]) == (5, ours["requests_offered"] + 1), \
        "the run adds up its rounds"


def test_what_changes_while_the_round_computes_wins(client, db, lille):
    """The round reads the queue and the cabinets, then writes: a withdrawal in between leaves the request out,
    and a cabinet's "send me a batch" in between is kept for the next round."""
    from lac_service.kinds import Kind
    from lac_service.links import Links
    from lac_service.matching.models import MatchingRound
    from lac_service.offers.service import NewOffer, Seat, create_offers

    headers, ids = lille["headers"], lille["ids"]
    assert client.post(f"/api/v1/requests/{ids['plain']}/withdraw", json={"reason": "moved"}, headers=headers).status_code == 200
    now = utcnow()
    far = db.get(Cabinet, lille["far"])
    far.batch_requested_at = now + timedelta(seconds=1)  # "send me a batch", while this round runs
    matching_round = MatchingRound(engine="greedy", requested_by="test", started_at=now, finished_at=now,
                                   requests_considered=2, cabinets_due=1, requests_offered=0, people_offered=0, summary={})
    db.add(matching_round)
    db.flush()
    made = create_offers(
        db, round_id=matching_round.id, now=now, ttl=timedelta(days=14), links=Links("http://lac.test", b"k"),
        offers=[NewOffer(db.get(Cabinet, lille["near"]), [Kind.medecin_traitant], [Seat(ids["ald"], 1, 0.1), Seat(ids["plain"], 1, 0.4)]),
                NewOffer(far, [Kind.medecin_traitant], [Seat(ids["family"], 3, 9.0)])],
    )
    db.commit()
    db.expire_all()
    assert far.batch_requested_at == now + timedelta(seconds=1), "asked after the round began: for the next one"
    assert [m.request_ids for m in made] == [[ids["ald"]], [ids["family"]]]
    assert _status(client, headers, ids["plain"]) == "withdrawn"
    assert _status(client, headers, ids["ald"]) == "offered"
