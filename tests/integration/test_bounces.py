"""E-mails the recipient's server sent back (bounces): sent through a real SMTP server with the bounce mailbox
as envelope sender, then the server's delivery report read as ``lac bounce`` reads it. A question returned
archives no one and is told to the coordinators; a delay, an out-of-office reply or a forged report changes
nothing."""

from datetime import timedelta
from email.message import EmailMessage

import pytest

from lac_service.auth.models import Role
from lac_service.auth.service import create_user
from lac_service.config import NotificationSettings
from lac_service.intake.models import Status
from lac_service.intake.reconfirmation import reconfirm
from lac_service.links import Links
from lac_service.notifications.bounces import Outcome, Recorded, record_bounce
from lac_service.notifications.models import Notification
from lac_service.notifications.smtp_email import SmtpEmailBackend
from tests.conftest import NOW, dispatch
from tests.fakes.bounce import OUT_OF_OFFICE, delivery_report
from tests.fakes.smtp import FakeSmtp
from tests.integration.test_reconfirmation import day, messages, request_row
from tests.payloads import request_body

BOUNCES = "retours@lac.cpts-exemple.fr"
PATIENT = "elodie.durand@exemple.fr"


@pytest.fixture
def coordinator(db, org_a) -> str:
    create_user(db, organisation=org_a, email="coordination@cpts-a.fr", full_name="Camille Martin",
                role=Role.coordinator, password="un mot de passe assez long", now=NOW)
    db.commit()
    return "coordination@cpts-a.fr"


@pytest.fixture
def registered(client, make_key, org_a, clock) -> int:
    """A patient reached by e-mail alone."""
    answer = client.post("/api/v1/requests", json=request_body(phone=None, email=PATIENT),
                         headers=make_key(org_a, Role.secretary))
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def send(db, smtp: FakeSmtp, now, **settings: str) -> None:  # type: ignore[no-untyped-def]
    dispatch(db, now, email=SmtpEmailBackend(NotificationSettings(
        email_backend="smtp", smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none",
        bounce_address=BOUNCES, **settings)))


def received(smtp: FakeSmtp, message: Notification):  # type: ignore[no-untyped-def]
    """The e-mail as the recipient's server got it."""
    (mail,) = [m for m in smtp.messages if m["Message-ID"].strip()[:64] == message.provider_id]
    return mail


def bounce(db, raw: bytes, now=NOW) -> Recorded:  # type: ignore[no-untyped-def]
    done = record_bounce(db, raw, settings=NotificationSettings(), now=now)
    db.commit()
    db.expire_all()
    return done


def ask(db, settings, now) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    done = reconfirm(db, every_days=90, grace_days=21, links=Links.from_settings(settings), per_s=10, now=now)
    db.commit()
    return done.asked, done.archived


def test_a_question_returned_archives_no_one_and_is_told_to_the_coordinators(db, settings, smtp, coordinator,
                                                                             registered):
    assert ask(db, settings, day(90)) == (1, 0)
    send(db, smtp, day(90, hours=5))  # 09:00 in Lille, when the night's question goes
    (question,) = messages(db, "reconfirmation")
    assert {sender for sender, _ in smtp.envelopes} == {BOUNCES}, "reports come back to the bounce mailbox"

    done = bounce(db, delivery_report(received(smtp, question)), now=day(90, hours=6))
    assert done.outcome is Outcome.recorded
    assert str(done) == f"Message n° {question.id} : non remis (smtp:5.1.1), la coordination est prévenue."
    assert db.get(Notification, question.id).delivery_status == "bounced"
    (notice,) = messages(db, "delivery_failure")
    assert notice.recipient == coordinator and f"n° {question.id}" in notice.body
    assert "renvoyé par la messagerie du destinataire (code : smtp:5.1.1)" in notice.body
    assert "corrigez l'adresse" in notice.body and PATIENT not in notice.body and "Durand" not in notice.body

    assert ask(db, settings, day(111)) == (0, 0), "never asked: silence means nothing"
    assert request_row(db).status is Status.waiting


@pytest.mark.parametrize("returned", ["headers", "message", "quoted"])
def test_each_way_a_server_returns_the_message_names_it(db, smtp, registered, returned):
    send(db, smtp, NOW)
    (confirmation,) = messages(db, "request_confirmation")
    done = bounce(db, delivery_report(received(smtp, confirmation), returned=returned))
    assert (done.outcome, done.notification_id) == (Outcome.recorded, confirmation.id)


def test_a_server_that_gave_up_after_days_of_retries_is_a_failure_too(db, smtp, registered):
    send(db, smtp, NOW)
    (confirmation,) = messages(db, "request_confirmation")
    done = bounce(db, delivery_report(received(smtp, confirmation), status="4.4.7"))
    assert (done.outcome, done.code) == (Outcome.recorded, "smtp:4.4.7")


def test_the_same_report_twice_tells_the_coordinators_once(db, smtp, coordinator, registered):
    send(db, smtp, NOW)
    (confirmation,) = messages(db, "request_confirmation")
    report = delivery_report(received(smtp, confirmation))
    assert bounce(db, report).outcome is Outcome.recorded
    again = bounce(db, report, now=NOW + timedelta(hours=2))
    assert str(again) == f"Message n° {confirmation.id} : sa non-remise était déjà connue."
    assert len(messages(db, "delivery_failure")) == 1


def test_what_is_no_failure_of_ours_changes_nothing(db, smtp, coordinator, registered):
    send(db, smtp, NOW)
    (confirmation,) = messages(db, "request_confirmation")
    mail = received(smtp, confirmation)
    forged = delivery_report(mail).replace(mail["Message-ID"].encode(),
                                           f"<lac-{confirmation.id}-0123456789ab@x>".encode())
    foreign = delivery_report(mail).replace(mail["Message-ID"].encode(), b"<CAB12345@mail.gmail.com>")
    for raw, outcome in (
        (delivery_report(mail, action="delayed", status="4.4.1"), Outcome.not_failed),
        (OUT_OF_OFFICE.format(message_id=mail["Message-ID"]).encode(), Outcome.not_a_report),
        (forged, Outcome.unknown_message),
        (foreign, Outcome.unknown_message),
        (delivery_report(mail).replace(b"message/delivery-status", b"text/plain"), Outcome.not_a_report),
        (b"", Outcome.not_a_report),
        (bytes(range(256)) * 4, Outcome.not_a_report),
        (b"Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\n"
         b"\xff\xfe Action: failed\r\n", Outcome.not_failed),
        (delivery_report(mail).split(b"Content-Description: Undelivered")[0], Outcome.unknown_message),  # cut short
        (b"Content-Type: message/rfc822\r\n\r\n" * 3000, Outcome.not_a_report),  # deeper than the parser goes
    ):
        assert bounce(db, raw).outcome is outcome, raw[:80]
    assert db.get(Notification, confirmation.id).delivery_status is None
    assert messages(db, "delivery_failure") == []


def test_a_long_sender_domain_keeps_the_message_id_whole_and_its_bounce_found(db, smtp, registered):
    send(db, smtp, NOW, email_from="LAC <ne-pas-repondre@cpts-de-la-metropole-lilloise-et-environs.sante.fr>")
    (confirmation,) = messages(db, "request_confirmation")
    (mail,) = smtp.messages
    message_id = mail["Message-ID"].strip()  # folded onto a line of its own, as long headers are
    assert message_id.startswith(f"<lac-{confirmation.id}-")
    assert message_id.endswith("@cpts-de-la-metropole-lilloise-et-environs.sante.fr>"), "whole, not cut"
    assert len(message_id) > 64 and confirmation.provider_id == message_id[:64]
    assert bounce(db, delivery_report(mail)).outcome is Outcome.recorded



def test_a_report_naming_a_message_by_anything_but_our_random_id_counts_for_nothing(db, registered):
    """The local backend's ids (``local-7``) are guessable: a report naming one is no report of ours."""
    dispatch(db, NOW)
    (confirmation,) = messages(db, "request_confirmation")
    assert confirmation.provider_id == f"local-{confirmation.id}"
    forged = EmailMessage()
    forged["To"], forged["Message-ID"] = PATIENT, confirmation.provider_id
    assert bounce(db, delivery_report(forged)).outcome is Outcome.unknown_message
    assert db.get(Notification, confirmation.id).delivery_status is None
