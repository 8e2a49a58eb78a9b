"""A message that failed is told to the coordinators of the organisation it belongs to, who can act on it —
never to another organisation's — and to the deployment's operator addresses."""

import logging
import threading

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from lac_service.auth.models import Role, User
from lac_service.auth.service import create_user
from lac_service.config import NotificationSettings
from lac_service.errors import InvalidInput
from lac_service.notifications.dispatcher import Dispatcher, Stats
from lac_service.notifications.channels import LocalBackend, PermanentError
from lac_service.notifications.models import Notification, NotificationStatus
from lac_service.notifications.twilio_sms import TwilioSmsBackend
from tests.conftest import NOW, dispatch, twilio_post
from tests.integration.test_notifications_dispatch import provider_settings
from tests.payloads import cabinet_body, request_body

OPERATOR = "exploitation@lac-exemple.fr"


class Refused(LocalBackend):
    """Twilio refusing the number for good."""

    def send(self, message):  # type: ignore[no-untyped-def]
        raise PermanentError("twilio:21211")


@pytest.fixture
def people(db, org_a, org_b):
    for organisation, email, role, active in (
        (org_a, "coordination@cpts-a.fr", Role.coordinator, True),
        (org_a, "ancienne.coordination@cpts-a.fr", Role.coordinator, False),
        (org_a, "secretariat@cpts-a.fr", Role.secretary, True),
        (org_a, "admin@cpts-a.fr", Role.admin, True),
        (org_b, "coordination@cpts-b.fr", Role.coordinator, True),
    ):
        user = create_user(db, organisation=organisation, email=email, full_name="Camille Martin", role=role,
                           password="un mot de passe assez long", now=NOW)
        user.is_active = active
    db.commit()


def notices(db) -> list[Notification]:
    db.expire_all()
    return list(db.scalars(sa.select(Notification).where(Notification.template == "delivery_failure")
                           .order_by(Notification.id)))


def register(client, headers, **patient) -> int:  # type: ignore[no-untyped-def]
    answer = client.post("/api/v1/requests", json=request_body(**patient), headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def test_a_patients_text_refused_is_told_to_its_organisations_coordinators_and_the_operator(
    client, db, clock, make_key, org_a, people
):
    request_id = register(client, make_key(org_a, Role.secretary), email=None)
    dispatch(db, NOW, sms=Refused(), operator=[OPERATOR])
    told = notices(db)
    assert [n.recipient for n in told] == ["coordination@cpts-a.fr", OPERATOR], \
        "not a former coordinator, a secretary, an admin, nor the other organisation's coordinator"
    assert all(f"Dossier concerné : request:{request_id}" in n.body and "twilio:21211" in n.body for n in told)
    dispatch(db, NOW)
    assert [n.status for n in notices(db)] == [NotificationStatus.sent] * 2, "the notices themselves go out"


def test_a_cabinets_batch_refused_is_told_to_the_coordinators_of_the_cabinets_organisation(
    client, db, clock, make_key, org_b, people
):
    coordinator = make_key(org_b, Role.coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(channels=["sms"], emails=[]), headers=coordinator).json()
    register(client, coordinator, phone=None)  # told by e-mail: only the batch's text fails
    assert client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()["requests_offered"] == 1
    dispatch(db, NOW, sms=Refused())
    (told,) = notices(db)
    assert told.recipient == "coordination@cpts-b.fr" and f"Dossier concerné : cabinet:{cabinet['id']}" in told.body


def test_with_nobody_to_tell_the_failure_is_logged(client, db, clock, make_key, make_org, caplog):
    alone = make_org("cpts-sans-coordination")
    register(client, make_key(alone, Role.secretary), email=None)
    with caplog.at_level(logging.WARNING, logger="lac_service.notifications.outcomes"):
        dispatch(db, NOW, sms=Refused())
    assert notices(db) == []
    assert "ended failed and no coordinator can be told" in caplog.text


def test_an_answer_to_an_sms_that_twilio_refuses_is_told_to_nobody(client, db, make_key, org_a, people, clock, twilio,
                                                                     twilio_app):
    """A patient who sent STOP at Twilio too is refused every SMS for good (21610): the answer to their STOP is
    done with (it shows on the request's page); a message they still had to get is told, as any other."""
    register(client, make_key(org_a, Role.secretary), email=None)
    assert twilio_post(client, "/api/v1/twilio/messages", {"From": "+33612345678", "Body": "STOP",
                                                           "MessageSid": "SM" + "3" * 32}).status_code == 200
    twilio.reject["+33612345678"] = 21610
    dispatch(db, NOW, sms=TwilioSmsBackend(provider_settings(twilio)))
    db.expire_all()
    failed = dict(db.execute(sa.select(Notification.template, Notification.id)
                             .where(Notification.status == NotificationStatus.failed)).all())
    assert set(failed) == {"request_confirmation", "reply"}
    assert [n.subject for n in notices(db)] == [f"Message non remis (n° {failed['request_confirmation']})"]


def test_a_coordinators_malformed_address_neither_stops_sending_nor_the_others_notices(
    client, db, clock, make_key, org_a, people
):
    """A login saved before addresses were checked ("Coordination <coordination@cpts-a.fr>"): its notice
    cannot be queued. Once, that rolled back the whole pass and every later one."""
    db.execute(sa.update(User).where(User.email == "coordination@cpts-a.fr")
               .values(email="Coordination <coordination@cpts-a.fr>"))
    db.commit()
    secretary = make_key(org_a, Role.secretary)
    register(client, secretary, email=None)
    stats = dispatch(db, NOW, sms=Refused(), operator=[OPERATOR])
    assert stats.failed == 1
    assert [n.recipient for n in notices(db)] == [OPERATOR], "the operator is still told"


def test_malformed_coordinator_addresses_are_refused_where_they_are_given(db, org_a):
    with pytest.raises(ValidationError, match="coordinator_emails"):
        NotificationSettings(coordinator_emails=["Astreinte LAC <astreinte@cpts.fr>"])
    assert NotificationSettings(coordinator_emails=["Astreinte@CPTS.fr"]).coordinator_emails == ["Astreinte@cpts.fr"]
    with pytest.raises(InvalidInput) as refused:
        create_user(db, organisation=org_a, email="Camille <camille@cpts-a.fr>", full_name="Camille Martin",
                    role=Role.coordinator, password="un mot de passe assez long", now=NOW)
    assert refused.value.field == "email"


def test_a_dispatcher_pass_that_fails_unexpectedly_is_followed_by_the_next(monkeypatch, caplog):
    """The sending thread of ``lac worker`` must not die on one bad pass: nothing would be sent any more."""
    stop, passes = threading.Event(), []

    def run_once(self, stop_: threading.Event) -> Stats:
        passes.append(1)
        if len(passes) == 1:
            raise RuntimeError("boom for +33612345678")
        stop.set()
        return Stats(sent=1)

    monkeypatch.setattr(Dispatcher, "run_once", run_once)
    dispatcher = Dispatcher.__new__(Dispatcher)
    dispatcher.settings = NotificationSettings(poll_interval_s=0.01)
    dispatcher.run_forever(stop)
    assert len(passes) == 2
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)
    assert not any("+33612345678" in r.getMessage() for r in caplog.records)
