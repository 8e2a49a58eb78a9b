"""Events queue their messages in the same transaction: confirmation, batch offer, match; erasure removes them."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from lac_service.audit import Action, AuditEvent
from lac_service.auth.models import Role
from lac_service.intake.models import PatientRequest
from lac_service.notifications.models import Notification
from tests.conftest import count_rows
from tests.payloads import cabinet_body, request_body


def _messages(db, template):
    return db.scalars(sa.select(Notification).where(Notification.template == template).order_by(Notification.id)).all()


def test_registration_round_and_acceptance_each_queue_their_messages(client, db, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    created = client.post("/api/v1/requests", json=request_body(), headers=coordinator).json()
    confirmations = _messages(db, "request_confirmation")
    assert [(m.channel, m.recipient) for m in confirmations] == [
        ("sms", "+33612345678"), ("email", "elodie.durand@exemple.fr")
    ]
    assert created["tracking_url"] in confirmations[0].body

    client.post("/api/v1/cabinets", json=cabinet_body(name="MSP Wazemmes"), headers=coordinator)
    run = client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()
    offers = _messages(db, "batch_offer")
    assert [(m.channel, m.recipient) for m in offers] == [("sms", "+33620123456"), ("email", "accueil@msp-wazemmes.fr")]
    assert {m.resource for m in offers} == {f"cabinet:{run['batches'][0]['cabinet_id']}"}, "a failure's notice names it"
    assert run["batches"][0]["offer_url"] in offers[0].body
    assert "Élodie" not in offers[0].body and "Durand" not in offers[0].body, "no patient detail in an SMS"

    token = run["batches"][0]["offer_url"].rsplit("/", 1)[1]
    client.post(f"/api/v1/offers/{token}/responses", json={"request_id": created["id"], "decision": "accept"})
    matches = _messages(db, "match")
    assert [m.recipient for m in matches] == ["+33612345678", "elodie.durand@exemple.fr"]
    assert "bonne nouvelle ! Un cabinet peut vous recevoir : MSP Wazemmes." in matches[0].body, \
        "a name such as « Cabinet médical … » reads whole, never « le cabinet Cabinet médical … »"
    assert "Un cabinet peut vous recevoir pour votre demande de médecin traitant : MSP Wazemmes." in matches[1].body
    assert created["tracking_url"] in matches[0].body, "the match message links to the patient's own tracking page"


def test_a_browse_mode_cabinet_gets_no_message_and_a_refused_registration_queues_nothing(client, db, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    client.post("/api/v1/requests", json=request_body(phone="12"), headers=coordinator)
    assert _messages(db, "request_confirmation") == []
    client.post("/api/v1/requests", json=request_body(email=None), headers=coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(channels=[]), headers=coordinator).json()
    asked = client.post(f"/api/v1/cabinets/{cabinet['id']}/batch-request", headers=coordinator).json()
    assert asked["last_batch_at"] is not None, "a batch was made"
    assert _messages(db, "batch_offer") == []


def test_a_landline_gets_no_text_message_the_email_still_goes(client, db, make_key, org_a):
    """A text to a landline would only fail at the operator; the staff call the patient instead."""
    coordinator = make_key(org_a, Role.coordinator)
    client.post("/api/v1/requests", json=request_body(phone="03 20 12 34 56"), headers=coordinator)
    paul = client.post("/api/v1/requests", json=request_body(first_name="Paul", phone="03 20 65 43 21", email=None),
                       headers=coordinator)
    assert paul.status_code == 201, "the CPTS's staff may register a landline alone, and call"
    assert [(m.channel, m.recipient) for m in _messages(db, "request_confirmation")] == [
        ("email", "elodie.durand@exemple.fr")
    ]
    again = client.post(f"/api/v1/requests/{paul.json()['id']}/tracking-link", headers=coordinator)
    assert again.status_code == 409 and "appelez-le" in again.json()["message"]


@pytest.mark.parametrize("who", ["public", "partner"])
def test_a_patient_reached_by_messages_only_cannot_give_a_landline_alone(client, connection, db, make_key, org_a,
                                                                         who):
    """The form promises messages, not calls: a landline and no e-mail would leave the patient unreached."""
    headers = {} if who == "public" else make_key(org_a, Role.partner)
    rows = count_rows(connection).pop("requests")
    refused = client.post("/api/v1/requests", json=request_body(phone="03 20 12 34 56", email=None), headers=headers)
    assert refused.status_code == 422 and refused.json()["field"] == "patient.phone"
    assert "donnez un numéro de portable ou une adresse e-mail" in refused.json()["message"]
    assert count_rows(connection)["requests"] == rows and _messages(db, "request_confirmation") == []
    assert client.post("/api/v1/requests", json=request_body(phone="03 20 12 34 56"), headers=headers).status_code == 201


def test_erasure_removes_the_patients_messages(client, db, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    created = client.post("/api/v1/requests", json=request_body(), headers=coordinator).json()
    assert _messages(db, "request_confirmation")
    client.delete(f"/api/v1/requests/{created['id']}", headers=coordinator)
    db.expire_all()
    assert _messages(db, "request_confirmation") == []


def test_patients_get_the_cabinets_number_for_patients_never_the_one_batches_are_texted_to(client, db, make_key,
                                                                                          org_a):
    coordinator = make_key(org_a, Role.coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(phones=["06 98 76 54 32"]), headers=coordinator).json()
    standing = client.get(f"/api/v1/cabinets/{cabinet['id']}/link", headers=coordinator).json()["url"].rsplit("/", 1)[1]
    for name, phone, patient_phone in (("Alice", "0611111111", None), ("Bruno", "0622222222", "03 20 99 88 77")):
        assert client.patch(f"/api/v1/cabinets/{cabinet['id']}", json={"patient_phone": patient_phone},
                            headers=coordinator).json()["patient_phone"] == (patient_phone and "+33320998877")
        created = client.post("/api/v1/requests", json=request_body(first_name=name, phone=phone, email=None),
                              headers=coordinator).json()
        newest = client.post(f"/api/v1/practitioner/{standing}/batch-request").json()["offers"][0]
        token = newest["url"].rsplit("/", 1)[1]
        client.post(f"/api/v1/offers/{token}/responses", json={"request_id": created["id"], "decision": "accept"})
        told = _messages(db, "match")[-1].body
        page = client.get(created["tracking_url"].removeprefix("http://127.0.0.1:8000")).text
        for mobile in ("+33698765432", "06 98 76 54 32"):
            assert mobile not in told and mobile not in page, "the practitioner's mobile stays theirs"
        if patient_phone:
            assert "Appelez-le au 03 20 99 88 77" in told and 'href="tel:+33320998877">03 20 99 88 77</a>' in page
        else:
            assert "Il vous appellera" in told
        assert ("attendez son appel, ou appelez-le, avant" in page) == bool(patient_phone), "no number, no call asked"


def test_a_batch_of_both_kinds_is_announced_as_both(client, db, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(kinds=["medecin_traitant", "bilan_orthophonique"]),
                headers=coordinator)
    client.post("/api/v1/requests", json=request_body(email=None), headers=coordinator)
    client.post("/api/v1/requests", json=request_body(first_name="Léo", birth_date="2019-04-02", phone="0622222222",
                                                      email=None) | {"kind": "bilan_orthophonique"}, headers=coordinator)
    assert client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()["requests_offered"] == 2
    (sms, _) = _messages(db, "batch_offer")
    assert "2 personnes attendent un bilan orthophonique ou un médecin traitant près" in sms.body


def test_a_household_is_announced_as_its_people(client, db, make_key, org_a):
    """One request for a mother and her two children: three people wait, as the batch's size counts them."""
    coordinator = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(batch_size=3), headers=coordinator)
    children = [{"first_name": n, "last_name": "Durand", "birth_date": "2019-06-01"} for n in ("Léo", "Zoé")]
    client.post("/api/v1/requests", json=request_body(email=None) | {"household": children}, headers=coordinator)
    assert client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()["people_offered"] == 3
    sms, email = _messages(db, "batch_offer")
    assert "3 personnes attendent un médecin traitant près" in sms.body
    assert "3 personnes de votre secteur attendent" in email.body


def test_a_lost_tracking_link_is_sent_again_once_a_minute_and_never_once_erased(client, db, make_key, org_a, org_b,
                                                                                  clock):
    secretary = make_key(org_a, Role.secretary)
    created = client.post("/api/v1/requests", json=request_body(), headers=secretary).json()
    path = f"/api/v1/requests/{created['id']}/tracking-link"
    sent = client.post(path, headers=secretary)
    assert sent.status_code == 202 and sent.json() == {"channels": ["sms", "email"]}
    again = _messages(db, "tracking_link")
    assert [(m.channel, m.recipient) for m in again] == [("sms", "+33612345678"), ("email", "elodie.durand@exemple.fr")]
    assert all(created["tracking_url"] in m.body for m in again)
    assert client.post(path, headers=secretary).status_code == 202
    assert len(_messages(db, "tracking_link")) == 2, "a double click sends it once"
    client.patch(f"/api/v1/requests/{created['id']}", json={"patient": {"phone": "07 98 76 54 32"}}, headers=secretary)
    client.post(path, headers=secretary)
    assert [m.recipient for m in _messages(db, "tracking_link")][2:] == ["+33798765432", "elodie.durand@exemple.fr"], \
        "a number corrected within the minute gets it at once"
    clock["now"] += timedelta(minutes=2)
    client.post(path, headers=secretary)
    assert len(_messages(db, "tracking_link")) == 6
    assert db.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == Action.send_link)) == 4

    assert client.post(path, headers=make_key(org_b, Role.secretary)).status_code == 404
    assert client.post(path, headers=make_key(org_a, Role.partner)).status_code == 403, "a partner texts no patient"
    assert client.post(path).status_code == 401
    assert client.delete(f"/api/v1/requests/{created['id']}", headers=secretary).status_code == 204
    erased = client.post(path, headers=secretary)
    assert erased.status_code == 409 and "effacée" in erased.json()["message"]
    assert _messages(db, "tracking_link") == [], "erasure took the messages along, and none is sent after"


def test_no_link_goes_to_a_withdrawn_request_and_a_merged_one_names_the_request_kept(client, db, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    kept = client.post("/api/v1/requests", json=request_body(), headers=coordinator).json()
    twice = client.post("/api/v1/requests", json=request_body(first_name="Elodie", last_name="Durand", phone="0698765432"),
                        headers=coordinator).json()
    client.post(f"/api/v1/requests/{kept['id']}/merge", json={"duplicate_id": twice["id"]}, headers=coordinator)
    merged = client.post(f"/api/v1/requests/{twice['id']}/tracking-link", headers=coordinator)
    assert merged.status_code == 409 and f"demande n° {kept['id']}" in merged.json()["message"]
    client.post(f"/api/v1/requests/{kept['id']}/withdraw", json={"reason": "no_longer_needed"}, headers=coordinator)
    withdrawn = client.post(f"/api/v1/requests/{kept['id']}/tracking-link", headers=coordinator)
    assert withdrawn.status_code == 409 and "retirée" in withdrawn.json()["message"]
    assert _messages(db, "tracking_link") == []


def test_a_request_registered_before_links_could_be_rebuilt_gets_a_new_one(client, db, make_key, org_a):
    secretary = make_key(org_a, Role.secretary)
    created = client.post("/api/v1/requests", json=request_body(phone=None), headers=secretary).json()
    db.execute(sa.update(PatientRequest).values(tracking_token_nonce=None))
    db.commit()
    assert client.post(f"/api/v1/requests/{created['id']}/tracking-link", headers=secretary).json() == {
        "channels": ["email"]}
    (message,) = _messages(db, "tracking_link")
    link = message.body.split("/suivi/", 1)[1].split()[0]
    assert f"/suivi/{link}" not in created["tracking_url"]
    assert client.get(f"/suivi/{link}").status_code == 200
    assert client.get("/suivi/" + created["tracking_url"].rsplit("/", 1)[1]).status_code == 404
