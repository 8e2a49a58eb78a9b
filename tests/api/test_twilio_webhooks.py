"""Twilio's webhooks: a patient's SMS reply (OUI keeps, STOP withdraws, answered through the outbox) and
delivery reports, each accepted only with a valid signature."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from lac_service.auth.models import Role
from lac_service.auth.service import create_user
from lac_service.config import NotificationSettings
from lac_service.intake.models import PatientRequest, StatusChange
from lac_service.notifications.channels import OutgoingMessage
from lac_service.notifications.models import Notification
from lac_service.notifications.segments import count_segments
from lac_service.notifications.twilio_sms import TwilioSmsBackend
from lac_service.replies.service import (
    CALL, CONFIRMED_SEVERAL, NO_CONTACT, NOTHING_FOUND, REPLIES, SEVERAL, TO_CABINET,
)
from tests.conftest import PUBLIC_URL, twilio_post
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, SENDER, FakeTwilio
from tests.payloads import cabinet_body, request_body

PHONE = "+33612345678"


def _sms(client, body, phone=PHONE, sid=None, **kwargs):
    fields = {"From": phone, "To": SENDER, "Body": body, "MessageSid": sid or "SM" + uuid.uuid4().hex,
              "AccountSid": ACCOUNT_SID}
    return twilio_post(client, "/api/v1/twilio/messages", fields, **kwargs)


def _answers(db, phone=PHONE) -> list[str]:
    """The answers queued to ``phone``, oldest first."""
    db.expire_all()
    replies = sa.select(Notification.body).where(Notification.template == "reply", Notification.recipient == phone)
    return list(db.scalars(replies.order_by(Notification.id)))


@pytest.fixture
def registered(client, make_key, org_a, twilio_app):
    headers = make_key(org_a, Role.secretary)
    answer = client.post("/api/v1/requests", json=request_body(), headers=headers)
    assert answer.status_code == 201, answer.text
    return {"id": answer.json()["id"], "headers": headers}


def _request(db, request_id):
    db.expire_all()
    return db.get(PatientRequest, request_id)


@pytest.mark.parametrize("body", ["OUI", "oui", " Oui ! ", "oui merci"])
def test_oui_keeps_the_request_and_thanks_the_patient(client, db, registered, body):
    answer = _sms(client, body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    assert "<Message>" not in answer.text, "answered through the outbox, not by Twilio at once"
    assert len(_answers(db)) == 1 and "reste inscrite" in _answers(db)[0]
    request = _request(db, registered["id"])
    assert request.status == "waiting" and request.confirmed_at is not None


@pytest.mark.parametrize("body", ["RETRAIT", "Retrait svp", "retirer", "STOP", "stop", "Arrêt", "ARRET svp"])
def test_retrait_or_stop_withdraws_the_request(client, db, registered, body):
    """The messages ask for RETRAIT (Twilio would block the number after a STOP); a STOP still withdraws."""
    assert _sms(client, body).status_code == 200
    assert "retirée" in _answers(db)[-1]
    assert client.get(f"/api/v1/requests/{registered['id']}", headers=registered["headers"]).json()["status"] == "withdrawn"
    reasons = db.scalars(sa.select(StatusChange.reason).where(StatusChange.request_id == registered["id"])
                         .order_by(StatusChange.id)).all()
    assert reasons[-1] == "stopped_by_sms"


def test_other_words_and_unknown_numbers_change_nothing_and_get_help(client, db, registered):
    for said in ("bonjour, des nouvelles ?", ""):
        assert _sms(client, said).status_code == 200
    assert _sms(client, "STOP", phone="+33699999999").status_code == 200
    assert [answer[:22] for answer in _answers(db)] == ["Les SMS à ce numéro ne"], "the same answer once a day"
    assert "ne trouvons pas" in _answers(db, "+33699999999")[0]
    request = _request(db, registered["id"])
    assert request.status == "waiting" and request.confirmed_at is None


def test_an_sms_received_twice_is_acted_on_and_answered_once(client, db, registered):
    """Twilio calls again when the first call timed out, and a captured call can be replayed: the same
    MessageSid changes nothing the second time (a second STOP would be answered « nous ne trouvons pas »)."""
    sid = "SM" + uuid.uuid4().hex
    assert _sms(client, "STOP", sid=sid).status_code == 200
    assert _sms(client, "STOP", sid=sid).status_code == 200
    assert len(_answers(db)) == 1 and "retirée" in _answers(db)[0]
    received = db.scalars(sa.select(Notification).where(Notification.template == "inbound")).one()
    assert (received.provider_id, received.body, received.resource) == (sid, "STOP", f"request:{registered['id']}")
    withdrawals = db.scalars(sa.select(StatusChange).where(StatusChange.request_id == registered["id"],
                                                           StatusChange.to_status == "withdrawn")).all()
    assert len(withdrawals) == 1


@pytest.mark.parametrize(("fields", "field"), [
    ({"MessageSid": ""}, "MessageSid"), ({"MessageSid": "SM" + "x" * 70}, "MessageSid"),
    ({"MessageSid": "SM12'; --"}, "MessageSid"), ({"From": ""}, "From"), ({"From": "+33" + "6" * 70}, "From"),
])
def test_a_call_without_a_message_id_or_a_sender_is_refused_and_changes_nothing(client, db, registered, fields,
                                                                              field):
    complete = {"From": PHONE, "To": SENDER, "Body": "STOP", "MessageSid": "SM" + uuid.uuid4().hex}
    answer = twilio_post(client, "/api/v1/twilio/messages", complete | fields)
    assert answer.status_code == 422 and answer.json()["field"] == field
    assert _request(db, registered["id"]).status == "waiting"
    assert db.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.template.in_(("inbound", "reply")))) == 0


@pytest.mark.parametrize(("contact_phone", "call"), [
    ("+33320123456", "appelez la coordination au 03 20 12 34 56"), (None, "contactez la coordination de votre CPTS")])
def test_a_patients_question_by_sms_is_told_nobody_reads_it_and_whom_to_call(client, db, org_a, registered,
                                                                              contact_phone, call):
    org_a.contact_phone = contact_phone
    db.commit()
    assert _sms(client, "Bonjour, est-ce que ça avance ? Ma fille a besoin d'un bilan").status_code == 200
    assert _answers(db) == [f"Les SMS à ce numéro ne sont pas lus : pour une question, {call}. Sinon, répondez OUI "
                            "pour garder votre demande, ou RETRAIT pour la retirer."]


def test_a_practitioner_answering_a_batchs_sms_is_told_where_to_answer(client, db, make_key, org_a, twilio_app):
    """« OK pour le premier » sent back to a batch's SMS: nobody reads it here. The practitioner is told to open
    the link, or to call the coordination; the SMS is filed under the cabinet, and the coordinators are told
    to read it there, once a day."""
    org_a.contact_phone = "+33320123456"
    create_user(db, organisation=org_a, email="coordination@cpts-a.fr", full_name="Camille Martin",
                role=Role.coordinator, password="un mot de passe assez long", now=datetime.now(UTC))
    db.commit()
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(phones=["06 20 12 34 56"]),
                          headers=make_key(org_a, Role.coordinator)).json()
    for said in ("OK pour le premier, merci", "Réponse automatique : je suis absent", "Je suis absent"):
        assert _sms(client, said, phone="+33620123456").status_code == 200
    assert _answers(db, "+33620123456") == [
        "Liste d'attente commune : les SMS à ce numéro ne sont pas suivis. Pour les patients proposés, répondez sur "
        "la page du lien ; pour toute autre question, appelez la coordination au 03 20 12 34 56."], \
        "once a day: an auto-responder and the service do not answer each other for ever"
    filed = db.scalars(sa.select(Notification.resource).where(Notification.recipient == "+33620123456")).all()
    assert filed == [f"cabinet:{cabinet['id']}"] * 4, "the SMS and the answer, on the cabinet's page"
    (told,) = db.scalars(sa.select(Notification).where(Notification.template == "cabinet_sms")).all()
    assert told.recipient == "coordination@cpts-a.fr"
    assert told.subject == "Le cabinet Maison de santé Wazemmes a répondu par SMS"
    assert f"{PUBLIC_URL}/equipe/cabinets/{cabinet['id']}" in told.body and "premier" not in told.body

    org_a.contact_phone = None
    db.commit()
    assert _sms(client, "STOP", phone="+33620123456").status_code == 200
    assert _answers(db, "+33620123456")[-1].endswith("pour toute autre question, contactez la coordination de votre CPTS.")
    assert not _answers(db, "+33620999999") and _sms(client, "STOP", phone="+33620999999").status_code == 200
    assert _answers(db, "+33620999999") == [NOTHING_FOUND], "an unknown number: no cabinet's"
    keys = db.scalars(sa.select(Notification.idempotency_key)).all()
    assert not [key for key in keys if "620999999" in key], "a key outlives its row's number: it holds none"

    headers = make_key(org_a, Role.secretary)
    patient = client.post("/api/v1/requests", json=request_body(phone="06 20 12 34 56"), headers=headers).json()
    assert _sms(client, "OUI", phone="+33620123456").status_code == 200
    assert "reste inscrite" in _answers(db, "+33620123456")[-1], "a practitioner who waits for a GP: the patient wins"
    client.post(f"/api/v1/requests/{patient['id']}/withdraw", json={"reason": "found_elsewhere"}, headers=headers)
    assert client.delete(f"/api/v1/cabinets/{cabinet['id']}", headers=make_key(org_a, Role.coordinator)).status_code == 204
    assert _sms(client, "Bonjour", phone="+33620123456").status_code == 200
    assert _answers(db, "+33620123456")[-1] == NOTHING_FOUND, "a removed cabinet's number is no cabinet's"


def test_an_sms_about_a_closed_request_is_filed_under_it_for_a_while(client, db, clock, registered):
    """A patient who texts after STOP, or after being matched, is still the person of that request: what they
    wrote shows on its page, and goes with its erasure. Months later the number may be someone else's."""
    assert _sms(client, "STOP").status_code == 200
    assert _sms(client, "Merci, bonne journée").status_code == 200
    assert _answers(db)[-1] == NOTHING_FOUND, "nothing to keep: no « Répondez OUI pour garder votre demande »"
    clock["now"] += timedelta(days=91)
    assert _sms(client, "Bonjour, c'est le nouveau numéro de Paul").status_code == 200
    filed = db.scalars(sa.select(Notification.resource).where(Notification.template == "inbound")
                       .order_by(Notification.id)).all()
    assert filed == [f"request:{registered['id']}"] * 2 + [None]


def test_a_sender_that_is_not_a_number_is_kept_but_not_answered(client, db, registered):
    assert _sms(client, "STOP", phone="PHARMACIE").status_code == 200
    db.expire_all()
    assert db.scalars(sa.select(Notification.template).where(Notification.recipient == "PHARMACIE")).all() == ["inbound"]
    assert _request(db, registered["id"]).status == "waiting"


@pytest.mark.parametrize("forgery", ["wrong", "missing", "other_url", "altered"])
def test_a_forged_call_is_refused_and_changes_nothing(client, db, registered, forgery):
    fields = {"From": PHONE, "To": SENDER, "Body": "STOP"}
    if forgery == "wrong":
        answer = twilio_post(client, "/api/v1/twilio/messages", fields, signature="bm90IGEgc2lnbmF0dXJl")
    elif forgery == "missing":
        answer = client.post("/api/v1/twilio/messages", data=fields)
    elif forgery == "other_url":
        answer = twilio_post(client, "/api/v1/twilio/messages", fields,
                             url="https://evil.example/api/v1/twilio/messages")
    else:
        answer = twilio_post(client, "/api/v1/twilio/messages", fields | {"Body": "STOP"}, signature=RequestValidator(
            AUTH_TOKEN).compute_signature(f"{PUBLIC_URL}/api/v1/twilio/messages", fields | {"Body": "OUI"}))
    assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
    assert _request(db, registered["id"]).status == "waiting"


def test_without_a_twilio_account_the_webhooks_are_off(client):
    answer = client.post("/api/v1/twilio/messages", data={"From": PHONE, "Body": "STOP"}, headers={"X-Twilio-Signature": "x"})
    assert answer.status_code == 503 and answer.json()["code"] == "not_configured"


def test_delivery_reports_reach_the_message_sent_through_the_real_client(client, db, twilio_app):
    callback = f"{PUBLIC_URL}/api/v1/twilio/status"
    settings = NotificationSettings(
        sms_backend="twilio", twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN, twilio_from=SENDER,
        twilio_status_callback_url=callback,
    )
    with FakeTwilio() as fake:
        settings = settings.model_copy(update={"twilio_api_base_url": fake.base_url})
        backend = TwilioSmsBackend(settings)
        try:
            sid = backend.send(OutgoingMessage(1, PHONE, None, "Bonjour", datetime.now(UTC)))
        finally:
            backend.close()
        assert fake.received[-1]["status_callback"] == callback
    now = datetime.now(UTC)
    db.add(Notification(channel="sms", recipient=PHONE, template="match", body="Bonjour", status="sent", attempts=1,
                        next_attempt_at=now, idempotency_key="t:1", provider_id=sid, created_at=now))
    db.commit()
    forged = twilio_post(client, "/api/v1/twilio/status", {"MessageSid": sid, "MessageStatus": "delivered"},
                         signature="eA==")
    assert forged.status_code == 403
    assert twilio_post(client, "/api/v1/twilio/status",
                       {"MessageSid": sid, "MessageStatus": "undelivered"}).status_code == 204
    db.expire_all()
    assert db.scalars(sa.select(Notification.delivery_status).where(Notification.provider_id == sid)).one() == "undelivered"
    assert twilio_post(client, "/api/v1/twilio/status",
                       {"MessageSid": "SMunknown", "MessageStatus": "failed"}).status_code == 204


def test_a_message_reported_undelivered_is_told_to_the_coordinators_once(client, db, twilio_app, org_a, org_b):
    """Twilio accepted it, then could not deliver it: nobody else would know the person never got it. Told to
    the coordinators of the organisation the message belongs to, and to the operator."""
    settings = twilio_app.state.settings
    twilio_app.state.settings = settings.model_copy(update={"notifications": settings.notifications.model_copy(
        update={"coordinator_emails": ["exploitation@lac-exemple.fr"]})})
    now = datetime.now(UTC)
    for organisation, email in ((org_a, "coordination@cpts-a.fr"), (org_b, "coordination@cpts-b.fr")):
        create_user(db, organisation=organisation, email=email, full_name="Camille Martin", role=Role.coordinator,
                    password="un mot de passe assez long", now=now)
    for index, sid in enumerate(("SMdelivered", "SMundelivered")):
        db.add(Notification(channel="sms", recipient=PHONE, template="reconfirmation", body="Répondez OUI",
                            status="sent", attempts=1, next_attempt_at=now, idempotency_key=f"t:{index}",
                            provider_id=sid, created_at=now, resource="request:7", organisation_id=org_a.id))
    db.commit()
    reports = [("SMdelivered", "delivered", None), ("SMdelivered", "sent", None), ("SMundelivered", "sent", None),
               ("SMundelivered", "undelivered", "30003"), ("SMundelivered", "undelivered", "30003"),
               ("SMundelivered", "sent", None)]  # Twilio does not promise the order of its reports
    for sid, status, code in reports:
        fields = {"MessageSid": sid, "MessageStatus": status} | ({"ErrorCode": code} if code else {})
        assert twilio_post(client, "/api/v1/twilio/status", fields).status_code == 204
    db.expire_all()
    told = db.scalars(sa.select(Notification).where(Notification.template == "delivery_failure")
                      .order_by(Notification.id)).all()
    assert [n.recipient for n in told] == ["coordination@cpts-a.fr", "exploitation@lac-exemple.fr"]
    notice = told[0]
    assert notice.subject.startswith("Message non remis")
    assert "accepté par le fournisseur d'envoi" in notice.body and "twilio:30003" in notice.body
    assert "Dossier concerné : request:7" in notice.body and PHONE not in notice.body
    final = dict(db.execute(sa.select(Notification.provider_id, Notification.delivery_status)
                            .where(Notification.provider_id.is_not(None))).all())
    assert final == {"SMdelivered": "delivered", "SMundelivered": "undelivered"}, "a late report changes no outcome"


def test_every_reply_is_plain_gsm7_in_at_most_two_messages():
    """An accent outside GSM-7 ("ç") makes a reply UCS-2: three messages where two would do."""
    kinds = "bilan orthophonique et de médecin traitant"
    calls = (CALL.format(phone="+41 860 12 345 67 89"), NO_CONTACT)
    for text in (*REPLIES.values(), CONFIRMED_SEVERAL, SEVERAL, NOTHING_FOUND, TO_CABINET):
        for call in calls:
            counted = count_segments(text.format(kind=kinds, call=call))
            assert counted.encoding == "GSM-7" and counted.segments <= 2, (counted, text)
