"""The practitioner's standing page: open batches, pause, "send me a batch now" — by the link alone."""

from datetime import timedelta

import pytest
from pydantic import SecretStr

from lac_service.auth.models import Role
from tests.api.test_web_pages import csrf
from tests.payloads import cabinet_body, request_body


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


@pytest.fixture
def browse(client, make_key, org_a):
    """A cabinet in browse mode (no channel) and two waiting patients near it."""
    coordinator = make_key(org_a, Role.coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(channels=[], batch_size=1), headers=coordinator).json()
    for name, phone in (("Alice", "0611111111"), ("Bruno", "0622222222")):
        answer = client.post("/api/v1/requests", json=request_body(first_name=name, phone=phone, email=None), headers=coordinator)
        assert answer.status_code == 201, answer.text
    link = client.get(f"/api/v1/cabinets/{cabinet['id']}/link", headers=coordinator)
    assert link.status_code == 200, link.text
    return {"headers": coordinator, "cabinet": cabinet, "url": link.json()["url"]}


def _run(client, headers):
    answer = client.post("/api/v1/matching/runs", json={}, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _ask(client, browse, status=200):
    answer = client.post(f"/api/v1/practitioner/{_token(browse['url'])}/batch-request")
    assert answer.status_code == status, answer.text
    return answer.json()


def _newest(client, browse) -> tuple[str, list[int]]:
    """The newest batch on the standing page: its token and its patients."""
    offer = _token(client.get(f"/api/v1/practitioner/{_token(browse['url'])}").json()["offers"][0]["url"])
    return offer, [item["request_id"] for item in client.get(f"/api/v1/offers/{offer}").json()["items"]]


def _pull(client, browse) -> tuple[str, list[int]]:
    _ask(client, browse)
    return _newest(client, browse)


def _answer(client, offer: str, request_id: int, decision: str) -> None:
    answer = client.post(f"/api/v1/offers/{offer}/responses", json={"request_id": request_id, "decision": decision})
    assert answer.status_code == 200, answer.text


def test_a_browse_mode_cabinet_gets_no_batch_unasked_and_one_at_once_when_it_asks(client, browse):
    """Nobody would tell it of a batch made on its cadence: those patients would wait for nothing until the
    batch expired, and the expiry would then bar them from that cabinet for good."""
    headers, token = browse["headers"], _token(browse["url"])
    assert browse["url"].startswith("http://127.0.0.1:8000/praticien/")
    assert client.get(f"/api/v1/cabinets/{browse['cabinet']['id']}/link", headers=headers).json()["url"] == browse["url"]

    page = client.get(f"/api/v1/practitioner/{token}").json()
    assert page["offers"] == [] and page["next_batch_from"] is None and page["paused"] is False
    assert page["channels"] == []
    assert _run(client, headers)["cabinets_due"] == 0, "never served, yet not due: it did not ask"

    page = _ask(client, browse)
    assert len(page["offers"]) == 1 and page["offers"][0]["pending"] == 1, "the batch, at once"
    assert page["batch_requested_at"] is None and page["next_batch_from"] is None
    offer = client.get(f"/api/v1/offers/{_token(page['offers'][0]['url'])}").json()
    assert [item["first_name"] for item in offer["items"]] == ["Alice"], "the first registered, at equal priority"
    assert offer["practitioner_url"] == browse["url"]
    assert _run(client, headers)["cabinets_due"] == 0, "served, and not due again until it asks"

    again = _ask(client, browse, status=409)
    assert "attendent encore sa réponse" in again["message"], "a double tap makes no second batch"
    _answer(client, _token(page["offers"][0]["url"]), offer["items"][0]["request_id"], "accept")
    offer, (bruno,) = _pull(client, browse)
    _answer(client, offer, bruno, "decline")

    page = _ask(client, browse)
    assert [o["accepted"] for o in page["offers"]] == [1], "nobody left: Alice's batch, to call her"
    assert page["batch_requested_at"] is None, "nothing kept: nothing would tell it of a later batch"
    answer = client.post("/api/v1/requests", json=request_body(first_name="Chloé", phone="0633333333", email=None),
                         headers=headers)
    assert answer.status_code == 201, answer.text
    assert _run(client, headers)["cabinets_due"] == 0
    assert _pull(client, browse)[1] == [answer.json()["id"]]


def test_a_patient_withdrawn_from_a_batch_does_not_hold_the_next_ask_back(client, browse):
    """The practitioner can neither accept nor decline a patient who left the queue: waiting for that answer
    would block the cabinet's asks until the next round, or the batch's expiry."""
    offer, (alice,) = _pull(client, browse)
    withdrawn = client.post(f"/api/v1/requests/{alice}/withdraw", json={"reason": "found_elsewhere"},
                            headers=browse["headers"])
    assert withdrawn.status_code == 200, withdrawn.text
    refused = client.post(f"/api/v1/offers/{offer}/responses", json={"request_id": alice, "decision": "decline"})
    assert refused.status_code == 409
    standing = client.get(f"/api/v1/practitioner/{_token(browse['url'])}").json()
    assert standing["offers"] == [], "no answer is awaited: the batch is no longer listed as to answer"
    _, patients = _pull(client, browse)
    assert len(patients) == 1 and patients != [alice], "Bruno, at once"
    coordinator_ask = client.post(f"/api/v1/cabinets/{browse['cabinet']['id']}/batch-request", headers=browse["headers"])
    assert coordinator_ask.status_code == 409, "Bruno's answer is awaited: a real one"


def test_a_paused_cabinet_gets_nothing_until_it_resumes_or_asks(client, browse):
    headers, token = browse["headers"], _token(browse["url"])
    paused = client.put(f"/api/v1/practitioner/{token}/participation", json={"paused": True})
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert client.get(f"/api/v1/cabinets/{browse['cabinet']['id']}", headers=headers).json()["paused"] is True
    asked = client.post(f"/api/v1/cabinets/{browse['cabinet']['id']}/batch-request", headers=headers)
    assert asked.status_code == 409 and "en pause" in asked.json()["message"], "the coordination's ask does not resume"
    assert _run(client, headers)["batches"] == []

    resumed = _ask(client, browse)
    assert resumed["paused"] is False, "asking for a batch resumes participation"
    assert len(resumed["offers"]) == 1 and resumed["batch_requested_at"] is None


def test_from_the_standing_page_the_batch_asked_for_comes_back_with_the_page(client, browse):
    path = browse["url"].removeprefix("http://127.0.0.1:8000")
    page = client.get(path).text
    assert "1 patient au plus par demande, quand vous demandez des patients" in page
    assert "Proposition du" not in page and "Prévenu par" not in page

    asked = client.post(f"{path}/lot", data={"csrf_token": csrf(page)})
    assert asked.status_code == 200
    assert "Proposition prête : 1 patient à traiter" in asked.text and "Proposition du" in asked.text
    twice = client.post(f"{path}/lot", data={"csrf_token": csrf(page)}).text
    assert "attendent encore votre réponse : répondez-leur d&#39;abord" in twice and twice.count("Proposition du") == 1

    offer, (alice,) = _newest(client, browse)
    _answer(client, offer, alice, "decline")
    client.post(f"{path}/lot", data={"csrf_token": csrf(page)})
    offer, (bruno,) = _newest(client, browse)
    _answer(client, offer, bruno, "decline")
    nobody = client.post(f"{path}/lot", data={"csrf_token": csrf(page)}).text
    assert "Personne en attente ne vous correspond pour l&#39;instant" in nobody
    assert "Revenez demander des patients un autre jour" in nobody and "Demande en cours" not in nobody


def test_a_cabinet_told_by_message_reads_its_rhythm_and_keeps_its_ask(client, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(cadence_days=1, batch_size=1), headers=coordinator).json()
    link = client.get(f"/api/v1/cabinets/{cabinet['id']}/link", headers=coordinator).json()["url"]
    path = link.removeprefix("http://127.0.0.1:8000")
    page = client.get(path).text
    assert "1 patient au plus chaque jour" in page and "SMS et e-mail" in page
    nobody = client.post(f"{path}/lot", data={"csrf_token": csrf(page)}).text
    assert "Votre demande reste enregistrée : à la prochaine tournée d&#39;attribution, si un patient" in nobody
    assert "Demande en cours" in nobody


def test_the_link_is_for_coordinators_of_the_organisation_and_can_be_revoked(client, browse, make_key, org_a, org_b):
    cabinet_id, token = browse["cabinet"]["id"], _token(browse["url"])
    secretary = make_key(org_a, Role.secretary)
    assert client.get(f"/api/v1/cabinets/{cabinet_id}/link", headers=secretary).status_code == 403
    assert client.get(f"/api/v1/cabinets/{cabinet_id}/link", headers=make_key(org_b, Role.coordinator)).status_code == 404

    assert client.delete(f"/api/v1/cabinets/{cabinet_id}/link", headers=browse["headers"]).status_code == 204
    gone = client.get(f"/api/v1/practitioner/{token}")
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"
    assert client.post(f"/api/v1/practitioner/{token}/batch-request").status_code == 404
    renewed = client.get(f"/api/v1/cabinets/{cabinet_id}/link", headers=browse["headers"]).json()["url"]
    assert renewed != browse["url"]
    assert client.get(f"/api/v1/practitioner/{_token(renewed)}").status_code == 200


def test_a_removed_cabinet_loses_its_page(client, browse):
    client.delete(f"/api/v1/cabinets/{browse['cabinet']['id']}", headers=browse["headers"])
    assert client.get(f"/api/v1/practitioner/{_token(browse['url'])}").status_code == 404


def _patient(client, headers, request_id):
    return client.get(f"/api/v1/requests/{request_id}", headers=headers).json()


@pytest.mark.parametrize("how", ["revoked", "removed"])
@pytest.mark.parametrize("pass_after", [timedelta(days=1), timedelta(days=15)], ids=["next-day", "after-the-deadline"])
def test_the_batches_a_cabinet_was_sent_close_when_it_leaves_or_revokes_its_link(client, browse, clock, how, pass_after):
    """The standing page listed the batches' links: a link gone astray took them along. They stop working,
    and their pending patients are back in the queue at the next round (or expiry pass), taken back and not
    let pass, even when that pass comes after the batch's deadline: the cabinet never refused them."""
    headers, cabinet_id = browse["headers"], browse["cabinet"]["id"]
    offer, (request_id,) = _pull(client, browse)
    clock["now"] += timedelta(hours=2)
    path = f"/api/v1/cabinets/{cabinet_id}" + ("/link" if how == "revoked" else "")
    assert client.delete(path, headers=headers).status_code == 204
    assert client.get(f"/api/v1/offers/{offer}").status_code == 404
    assert client.get(f"/o/{offer}").status_code == 404
    accepted = client.post(f"/api/v1/offers/{offer}/responses", json={"request_id": request_id, "decision": "accept"})
    assert accepted.status_code == 404 and _patient(client, headers, request_id)["status"] == "offered"

    if how == "revoked":
        new_page = client.get(f"/api/v1/cabinets/{cabinet_id}/link", headers=headers).json()["url"]
        assert client.get(f"/api/v1/practitioner/{_token(new_page)}").json()["offers"] == [], "the closed batch"

    clock["now"] += pass_after
    _run(client, headers)
    patient = _patient(client, headers, request_id)
    assert (patient["status"], patient["history"][-1]["reason"]) == ("waiting", "offer_closed")
    if how == "revoked":
        asked = client.post(f"/api/v1/practitioner/{_token(new_page)}/batch-request")
        assert asked.status_code == 200, asked.text
        batch = client.get(f"/api/v1/offers/{_token(asked.json()['offers'][0]['url'])}").json()
        assert request_id in [item["request_id"] for item in batch["items"]], "offered to it again: not barred"


@pytest.mark.parametrize("token", ["A" * 43, "x" * 16, "a" * 200, "..%2F..%2Fetc"])
def test_forged_links_say_nothing(client, browse, token):
    answer = client.put(f"/api/v1/practitioner/{token}/participation", json={"paused": True})
    assert answer.status_code in (404, 422)
    assert client.get(f"/api/v1/cabinets/{browse['cabinet']['id']}", headers=browse["headers"]).json()["paused"] is False


def test_bad_participation_bodies_are_refused_in_french(client, browse):
    token = _token(browse["url"])
    for body in ({}, {"paused": "peut-être"}, {"paused": True, "extra": 1}):
        answer = client.put(f"/api/v1/practitioner/{token}/participation", json=body)
        assert answer.status_code == 422, body
        assert answer.json()["errors"][0]["field"].startswith("paused") or answer.json()["errors"][0]["field"] == "extra"


def test_after_a_secret_key_change_rebuilt_links_are_new_and_work(client, browse, app):
    old_offer, _ = _pull(client, browse)
    old_page = _token(browse["url"])
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"secret_key": SecretStr("une-autre-clé-secrète-de-production")})
    try:
        new_page = client.get(f"/api/v1/cabinets/{browse['cabinet']['id']}/link", headers=browse["headers"]).json()["url"]
        assert new_page != browse["url"]
        assert client.get(f"/api/v1/practitioner/{old_page}").status_code == 404
        offers = client.get(f"/api/v1/practitioner/{_token(new_page)}").json()["offers"]
        assert _token(offers[0]["url"]) != old_offer
        assert client.get(f"/api/v1/offers/{_token(offers[0]['url'])}").status_code == 200
        assert client.get(f"/api/v1/offers/{old_offer}").status_code == 404
    finally:
        app.state.settings = settings
