"""Events queue their messages in the same transaction: confirmation, batch offer, match; erasure removes them."""

import sqlalchemy as sa

from lac_service.auth.models import Role
from lac_service.notifications.models import Notification
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
    assert [(m.channel, m.recipient) for m in offers] == [("sms", "+33320123456"), ("email", "accueil@msp-wazemmes.fr")]
    assert run["batches"][0]["offer_url"] in offers[0].body
    assert "Élodie" not in offers[0].body and "Durand" not in offers[0].body, "no patient detail in an SMS"

    token = run["batches"][0]["offer_url"].rsplit("/", 1)[1]
    client.post(f"/api/v1/offers/{token}/responses", json={"request_id": created["id"], "decision": "accept"})
    matches = _messages(db, "match")
    assert [m.recipient for m in matches] == ["+33612345678", "elodie.durand@exemple.fr"]
    assert "MSP Wazemmes" in matches[0].body
    assert created["tracking_url"] in matches[0].body, "the match message links to the patient's own tracking page"


def test_a_browse_mode_cabinet_gets_no_message_and_a_refused_registration_queues_nothing(client, db, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    client.post("/api/v1/requests", json=request_body(phone="12"), headers=coordinator)
    assert _messages(db, "request_confirmation") == []
    client.post("/api/v1/requests", json=request_body(email=None), headers=coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(channels=[]), headers=coordinator)
    client.post("/api/v1/matching/runs", json={}, headers=coordinator)
    assert _messages(db, "batch_offer") == []


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
    for name, phone, patient_phone in (("Alice", "0611111111", None), ("Bruno", "0622222222", "03 20 99 88 77")):
        assert client.patch(f"/api/v1/cabinets/{cabinet['id']}", json={"patient_phone": patient_phone},
                            headers=coordinator).json()["patient_phone"] == (patient_phone and "+33320998877")
        created = client.post("/api/v1/requests", json=request_body(first_name=name, phone=phone, email=None),
                              headers=coordinator).json()
        client.post(f"/api/v1/cabinets/{cabinet['id']}/batch-request", headers=coordinator)
        run = client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()
        token = run["batches"][0]["offer_url"].rsplit("/", 1)[1]
        client.post(f"/api/v1/offers/{token}/responses", json={"request_id": created["id"], "decision": "accept"})
        told = _messages(db, "match")[-1].body
        page = client.get(created["tracking_url"].removeprefix("http://127.0.0.1:8000")).text
        assert "+33698765432" not in told and "+33698765432" not in page, "the practitioner's mobile stays theirs"
        if patient_phone:
            assert "Appelez-le au +33320998877" in told and 'href="tel:+33320998877"' in page
        else:
            assert "Il vous appellera" in told


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
