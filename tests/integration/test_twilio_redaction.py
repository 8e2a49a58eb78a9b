"""Twilio's log keeps each SMS's text, tracking link included, until it is redacted: the dispatcher has it
redacted once the delivery report is final, or two days after sending without one; an erased person's
messages are deleted there. Spoken to by the real client, through the fake's endpoints."""

import logging
from datetime import timedelta

import sqlalchemy as sa

from lac_service.auth.models import Role
from lac_service.config import NotificationSettings
from lac_service.db import create_session_factory
from lac_service.notifications.channels import LocalBackend
from lac_service.notifications.dispatcher import Dispatcher
from lac_service.notifications.models import Channel, Notification
from lac_service.notifications.twilio_sms import TwilioSmsBackend
from lac_service.replies.service import NO_CONTACT, REPLIES, Intent
from tests.conftest import NOW, dispatch, twilio_post
from tests.fakes.twilio import SENDER
from tests.integration.test_notifications_dispatch import provider_settings
from tests.payloads import request_body

PHONE = "+33612345678"


def _register(client, make_key, org_a, **patient) -> int:  # type: ignore[no-untyped-def]
    answer = client.post("/api/v1/requests", json=request_body(**patient), headers=make_key(org_a, Role.secretary))
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _texts(db) -> list[Notification]:  # type: ignore[no-untyped-def]
    db.expire_all()
    sms = sa.select(Notification).where(Notification.channel == Channel.sms)
    return list(db.scalars(sms.order_by(Notification.id)))


def _pass(db, twilio, now, **settings) -> None:  # type: ignore[no-untyped-def]
    backend = TwilioSmsBackend(provider_settings(twilio))
    dispatch(db, now, sms=backend, **settings)


def test_a_delivered_text_is_redacted_at_twilio_on_the_next_pass_and_only_once(client, db, make_key, org_a, clock,
                                                                                twilio, twilio_app):
    _register(client, make_key, org_a)
    _register(client, make_key, org_a, first_name="Bruno", last_name="Petit", phone="06 11 22 33 44", email=None)
    _pass(db, twilio, NOW)
    delivered, waiting = _texts(db)
    assert [m["body"] for m in twilio.received if "/suivi/" in m["body"]] and not twilio.redacted
    assert twilio_post(client, "/api/v1/twilio/status", {"MessageSid": delivered.provider_id,
                                                   "MessageStatus": "delivered"}).status_code == 204
    assert twilio_post(client, "/api/v1/twilio/status", {"MessageSid": waiting.provider_id,
                                                   "MessageStatus": "sent"}).status_code == 204, "not final"

    _pass(db, twilio, NOW + timedelta(minutes=5))
    assert twilio.redacted == [delivered.provider_id]
    kept = {m["sid"]: m["body"] for m in twilio.received}
    assert kept[delivered.provider_id] == "" and "/suivi/" in kept[waiting.provider_id]
    delivered, waiting = _texts(db)
    assert delivered.provider_redacted_at == NOW + timedelta(minutes=5) and waiting.provider_redacted_at is None
    assert delivered.body, "the service's own copy stays as it was, for the staff and the retention rule"

    _pass(db, twilio, NOW + timedelta(minutes=10))
    assert twilio.redacted == [delivered.provider_id], "asked once"


def test_without_a_final_report_the_text_is_redacted_two_days_after_sending(client, db, make_key, org_a, clock,
                                                                             twilio):
    _register(client, make_key, org_a, email=None)
    _pass(db, twilio, NOW)
    (text,) = _texts(db)
    _pass(db, twilio, NOW + timedelta(hours=47))
    assert not twilio.redacted and _texts(db)[0].provider_redacted_at is None
    _pass(db, twilio, NOW + timedelta(hours=49))
    assert twilio.redacted == [text.provider_id] and twilio.received[0]["body"] == ""
    assert _texts(db)[0].provider_redacted_at == NOW + timedelta(hours=49)


def test_a_deployment_may_keep_its_texts_at_twilio(client, db, make_key, org_a, clock, twilio):
    _register(client, make_key, org_a, email=None)
    _pass(db, twilio, NOW)
    _pass(db, twilio, NOW + timedelta(days=30), twilio_redact_after_hours=0)
    assert not twilio.redacted and "/suivi/" in twilio.received[0]["body"]


def test_twilio_unreachable_the_text_waits_and_a_refusal_is_not_asked_again(client, db, make_key, org_a, clock,
                                                                             twilio, caplog):
    for n, phone in enumerate(("06 11 22 33 41", "06 11 22 33 42", "06 11 22 33 43")):
        _register(client, make_key, org_a, first_name=f"Léa{'a' * n}", phone=phone, email=None)
    _pass(db, twilio, NOW)
    first, second, third = _texts(db)
    later = NOW + timedelta(days=3)
    twilio.script.extend([(404, 20404), 503])  # the first unknown to Twilio; then Twilio down
    with caplog.at_level(logging.WARNING, logger="lac_service.notifications.redaction"):
        _pass(db, twilio, later)
    assert [t.provider_redacted_at for t in _texts(db)] == [later, None, None], "the rest waits for Twilio"
    assert f"twilio did not redact notification {first.id} (twilio:20404)" in caplog.text
    assert f"cannot ask twilio to redact notification {second.id} (twilio:503)" in caplog.text
    assert "33 41" not in caplog.text and "+3361122334" not in caplog.text, "a number, never the recipient"

    _pass(db, twilio, later + timedelta(minutes=1))
    assert twilio.redacted == [second.provider_id, third.provider_id], "the first is not asked again"
    assert all(t.provider_redacted_at for t in _texts(db))


def test_credentials_refused_redact_nothing_and_the_dispatcher_waits_before_asking_again(client, db, make_key,
                                                                                        org_a, clock, twilio):
    """A token rotated at Twilio and not here: nothing is redacted, nothing is marked so, and the dispatcher
    does not knock every second; once it is put right, the texts are redacted."""
    _register(client, make_key, org_a, email=None)
    _pass(db, twilio, NOW)
    later = NOW + timedelta(days=3)
    twilio.script.extend([(401, 20003)] * 3)
    dispatcher = Dispatcher(create_session_factory(db.get_bind(), join_transaction_mode="create_savepoint"),
                            NotificationSettings(rate_per_s=1000), secret_key=b"k",
                            backends={Channel.sms: TwilioSmsBackend(provider_settings(twilio)),
                                      Channel.email: LocalBackend()}, clock=lambda: later)
    try:
        posts = twilio.posts
        dispatcher.run_once()
        dispatcher.run_once()
    finally:
        dispatcher.close()
    assert twilio.posts == posts + 1, "asked once, then left alone for a while"
    assert _texts(db)[0].provider_redacted_at is None and "/suivi/" in twilio.received[0]["body"]
    twilio.script.clear()
    _pass(db, twilio, later)
    assert twilio.received[0]["body"] == "" and _texts(db)[0].provider_redacted_at == later


def test_an_erased_persons_texts_are_deleted_at_twilio_and_then_here(client, db, make_key, org_a, clock, twilio,
                                                                    twilio_app):
    request_id = _register(client, make_key, org_a, email=None)
    _pass(db, twilio, NOW)
    (text,) = _texts(db)
    assert client.delete(f"/api/v1/requests/{request_id}",
                         headers=make_key(org_a, Role.coordinator)).status_code == 204
    (kept,) = _texts(db)
    assert (kept.id, kept.recipient, kept.body, kept.resource) == (text.id, "", "", None)
    assert kept.idempotency_key == f"erased:{kept.id}", "nothing ties Twilio's id to the request any more"
    assert twilio_post(client, "/api/v1/twilio/status", {"MessageSid": text.provider_id, "MessageStatus": "failed",
                                                         "ErrorCode": "30003"}).status_code == 204
    assert not db.scalar(sa.select(sa.func.count()).select_from(Notification)
                         .where(Notification.template == "delivery_failure")), "nobody left to call about it"
    _pass(db, twilio, NOW + timedelta(minutes=5))
    assert twilio.deleted == [text.provider_id] and not twilio.received and not twilio.redacted
    assert _texts(db) == [], "Twilio forgot it: the blank row goes"


def test_a_patients_sms_is_deleted_at_twilio_and_its_answer_redacted_then_deleted_with_the_person(
        client, db, make_key, org_a, clock, twilio, twilio_app):
    """A patient's own words stay in Twilio's log as the service's texts do. The SMS received is deleted there
    ten minutes after it came (Twilio refuses sooner): redacted, it would keep its sender's number, and any photo
    sent with it. The answer sent through the outbox is redacted once settled, and deleted when the person is
    erased; the service keeps its own copy of the words until then."""
    request_id = _register(client, make_key, org_a, email=None)
    _pass(db, twilio, NOW)
    (confirmation,) = twilio.received
    twilio_post(client, "/api/v1/twilio/status", {"MessageSid": confirmation["sid"], "MessageStatus": "delivered"})
    words = "Bonjour, mon fils ne parle toujours pas, est-ce urgent ?"
    inbound = twilio.receive(PHONE, words)
    assert twilio_post(client, "/api/v1/twilio/messages", {"From": PHONE, "To": SENDER, "Body": words,
                                                           "MessageSid": inbound["sid"]}).status_code == 200
    _pass(db, twilio, NOW + timedelta(minutes=1))
    answer = twilio.received[-1]
    assert (answer["to"], answer["body"]) == (PHONE, REPLIES[Intent.unknown].format(call=NO_CONTACT)), \
        "sent by the real client"
    assert twilio.incoming == [inbound] and inbound["body"] == words, "too early to delete it there"
    assert twilio_post(client, "/api/v1/twilio/status", {"MessageSid": answer["sid"],
                                                         "MessageStatus": "delivered"}).status_code == 204
    _pass(db, twilio, NOW + timedelta(minutes=11))
    assert twilio.deleted == [inbound["sid"]] and twilio.incoming == [], "number, text and pictures: all gone there"
    assert sorted(twilio.redacted) == sorted([confirmation["sid"], answer["sid"]]) and answer["body"] == ""
    (kept,) = [t for t in _texts(db) if t.template == "inbound"]
    assert (kept.body, kept.provider_id) == (words, None), "the service's own copy stays, with nothing at Twilio"

    assert client.delete(f"/api/v1/requests/{request_id}",
                         headers=make_key(org_a, Role.coordinator)).status_code == 204
    _pass(db, twilio, NOW + timedelta(minutes=12))
    assert sorted(twilio.deleted) == sorted([inbound["sid"], confirmation["sid"], answer["sid"]]), "each once"
    assert not twilio.received and _texts(db) == []


def test_a_picture_a_patient_sends_is_deleted_at_twilio_with_its_message(client, db, make_key, org_a, clock, twilio,
                                                                          twilio_app):
    """A photo of a prescription, sent by MMS (an id beginning MM): the service keeps the words, never the
    picture, and Twilio's copy goes ten minutes later, picture and number with it."""
    _register(client, make_key, org_a, email=None)
    inbound = twilio.receive(PHONE, "Voici l'ordonnance", pictures=1)
    assert twilio_post(client, "/api/v1/twilio/messages", {"From": PHONE, "To": SENDER, "Body": "Voici l'ordonnance",
                                                           "NumMedia": "1", "MessageSid": inbound["sid"]}).status_code == 200
    _pass(db, twilio, NOW + timedelta(minutes=11))
    assert inbound["sid"] in twilio.deleted and twilio.incoming == []
    (kept,) = [t for t in _texts(db) if t.template == "inbound"]
    assert (kept.body, kept.provider_id) == ("Voici l'ordonnance", None)


def test_a_received_sms_twilio_refuses_to_delete_keeps_its_id_for_the_erasure(client, db, make_key, org_a, clock,
                                                                              twilio, twilio_app):
    """Twilio refused the deletion (its error 20009, say): the row keeps Twilio's id, and the person's erasure
    asks again, rather than leave the message there for good."""
    request_id = _register(client, make_key, org_a, email=None)
    inbound = twilio.receive(PHONE, "Bonjour")
    twilio_post(client, "/api/v1/twilio/messages", {"From": PHONE, "To": SENDER, "Body": "Bonjour",
                                                    "MessageSid": inbound["sid"]})
    _pass(db, twilio, NOW + timedelta(minutes=1))  # the confirmation and the answer go
    twilio.script.append((400, 20009))
    _pass(db, twilio, NOW + timedelta(minutes=11))
    (kept,) = [t for t in _texts(db) if t.template == "inbound"]
    assert kept.provider_id == inbound["sid"] and twilio.incoming == [inbound], "refused: still there"
    assert client.delete(f"/api/v1/requests/{request_id}",
                         headers=make_key(org_a, Role.coordinator)).status_code == 204
    _pass(db, twilio, NOW + timedelta(minutes=12))
    assert inbound["sid"] in twilio.deleted and twilio.incoming == []


def test_a_text_whose_person_is_erased_while_it_is_being_sent_is_deleted_at_twilio(client, db, make_key, org_a,
                                                                                   clock, twilio, twilio_app):
    """The erasure deletes the message's row while Twilio is taking it: the dispatcher, finding it gone,
    keeps Twilio's id on a blank row so that Twilio deletes its copy too, once it is delivered."""
    request_id = _register(client, make_key, org_a, email=None)
    coordinator = make_key(org_a, Role.coordinator)

    class ErasedMeanwhile(TwilioSmsBackend):
        def send(self, message):  # type: ignore[no-untyped-def]
            sid = super().send(message)
            assert client.delete(f"/api/v1/requests/{request_id}", headers=coordinator).status_code == 204
            return sid

    dispatch(db, NOW, sms=ErasedMeanwhile(provider_settings(twilio)))
    (sent,) = twilio.received
    (kept,) = _texts(db)
    assert (kept.provider_id, kept.recipient, kept.body, kept.resource) == (sent["sid"], "", "", None)
    assert kept.idempotency_key == f"erased:{sent['sid']}", "keyed by Twilio's id: SQLite may reuse the row's"
    assert twilio_post(client, "/api/v1/twilio/status", {"MessageSid": sent["sid"],
                                                         "MessageStatus": "delivered"}).status_code == 204
    _pass(db, twilio, NOW + timedelta(minutes=5))
    assert twilio.deleted == [sent["sid"]] and not twilio.received and _texts(db) == []


def test_a_text_redacted_before_its_person_is_erased_is_deleted_at_twilio_even_with_redaction_off(
        client, db, make_key, org_a, clock, twilio, twilio_app):
    """Redaction leaves Twilio the number and the dates: an erasure asks for the whole message, and a
    deployment that keeps its texts there (``0``) still has an erased person's deleted."""
    request_id = _register(client, make_key, org_a, email=None)
    _pass(db, twilio, NOW)
    (text,) = _texts(db)
    twilio_post(client, "/api/v1/twilio/status", {"MessageSid": text.provider_id, "MessageStatus": "delivered"})
    _pass(db, twilio, NOW + timedelta(minutes=5))
    assert twilio.redacted == [text.provider_id] and _texts(db)[0].provider_redacted_at is not None
    client.delete(f"/api/v1/requests/{request_id}", headers=make_key(org_a, Role.coordinator))
    assert _texts(db)[0].provider_redacted_at is None, "to be deleted at Twilio now"
    _pass(db, twilio, NOW + timedelta(minutes=10), twilio_redact_after_hours=0)
    assert twilio.deleted == [text.provider_id] and _texts(db) == []


def test_with_the_local_backend_an_erased_persons_texts_go_at_once(client, db, make_key, org_a, clock):
    request_id = _register(client, make_key, org_a, email=None)
    dispatch(db, NOW)
    assert [text.provider_id.startswith("local-") for text in _texts(db)] == [True]
    client.delete(f"/api/v1/requests/{request_id}", headers=make_key(org_a, Role.coordinator))
    assert _texts(db) == [], "no other copy to erase: nothing kept"
