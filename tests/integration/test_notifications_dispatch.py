"""The dispatcher against a fake Twilio (spoken to by the real client) and a real SMTP server: each message
arrives once, faults are retried or failed as they should be, stuck claims are settled without a double."""

import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lac_service.config import NotificationSettings
from lac_service.notifications.dispatcher import Dispatcher
from lac_service.notifications.models import Channel, Notification, NotificationStatus
from lac_service.notifications.outbox import enqueue
from tests.fakes.smtp import FakeSmtp
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, SENDER, FakeTwilio

COORDINATOR = "coordination@cpts-exemple.fr"
LINK = "https://lac.cpts-exemple.fr/suivi/tok"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def provider_settings(twilio: FakeTwilio, smtp: FakeSmtp | None = None, **overrides: object) -> NotificationSettings:
    values: dict[str, object] = dict(
        sms_backend="twilio", twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN, twilio_from=SENDER,
        twilio_api_base_url=twilio.base_url, rate_per_s=1000, backoff_base_s=0, coordinator_emails=[COORDINATOR],
        twilio_timeout_s=2, smtp_timeout_s=2, webhook_timeout_s=2, sending_timeout_s=5,
    )
    if smtp is not None:
        values.update(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none")
    values.update(overrides)
    return NotificationSettings(**values)  # type: ignore[arg-type]


def sms(db, number: str, key: str, now: datetime, template: str = "tracking_link") -> Notification:  # type: ignore[no-untyped-def]
    return enqueue(db, channel=Channel.sms, recipient=number, template=template,
                   context={"kind": "medecin_traitant", "link": LINK}, idempotency_key=key, now=now)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dispatch(session_factory, clock):  # type: ignore[no-untyped-def]
    made: list[Dispatcher] = []

    def make(settings: NotificationSettings) -> Dispatcher:
        made.append(Dispatcher(session_factory, settings, secret_key=b"test-secret", clock=clock))
        return made[-1]

    yield make
    for dispatcher in made:
        dispatcher.close()


def rows(db) -> list[Notification]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return list(db.scalars(sa.select(Notification).order_by(Notification.id)))


def test_each_message_arrives_once_with_its_text_and_recipient(db, twilio, smtp, dispatch, clock):
    for i in range(3):
        sms(db, f"+3361234567{i}", f"sms-{i}", clock.now)
    for i in range(2):
        enqueue(db, channel=Channel.email, recipient=f"patient{i}@exemple.fr", template="request_confirmation",
                context={"kind": "bilan_orthophonique", "link": LINK}, idempotency_key=f"mail-{i}", now=clock.now)
    db.commit()
    dispatcher = dispatch(provider_settings(twilio, smtp))
    assert dispatcher.run_once().sent == 5
    assert dispatcher.run_once().sent == 0

    assert sorted(m["to"] for m in twilio.received) == [f"+3361234567{i}" for i in range(3)]
    assert {m["from"] for m in twilio.received} == {SENDER}
    assert all(m["body"].startswith("Liste d'attente commune : voici le lien de suivi de votre demande de médecin "
                                    "traitant") and m["body"].endswith(LINK) for m in twilio.received)
    assert sorted(rcpts[0] for _, rcpts in smtp.envelopes) == ["patient0@exemple.fr", "patient1@exemple.fr"]
    for message in smtp.messages:
        assert message["Subject"] == "Votre demande de bilan orthophonique est enregistrée"
        assert LINK in message.get_content()
    stored = rows(db)
    assert {r.status for r in stored} == {NotificationStatus.sent}
    assert {r.provider_id for r in stored if r.channel is Channel.sms} == {m["sid"] for m in twilio.received}
    assert all(r.attempts == 1 and r.sent_at is not None for r in stored)


def test_a_server_error_is_retried_and_the_message_sent_once(db, twilio, dispatch, clock):
    twilio.script.extend([500])
    sms(db, "+33612345678", "k", clock.now)
    db.commit()
    stats = dispatch(provider_settings(twilio)).run_once()
    assert (stats.retried, stats.sent) == (1, 1)
    assert twilio.posts == 2 and len(twilio.received) == 1
    (row,) = rows(db)
    assert (row.status, row.attempts) == (NotificationStatus.sent, 2)


def test_retries_back_off_exponentially_then_fail_and_tell_the_coordinator(db, twilio, dispatch, clock):
    twilio.script.extend([503, 503, 503])
    sms(db, "+33612345678", "k", clock.now)
    db.commit()
    dispatcher = dispatch(provider_settings(twilio, backoff_base_s=30, max_attempts=3))
    for expected_delay in (30, 60):
        dispatcher.run_once()
        (row, *_) = rows(db)
        assert row.status is NotificationStatus.created and row.error_code == "twilio:503"
        assert row.next_attempt_at == clock.now + timedelta(seconds=expected_delay)
        assert dispatcher.run_once().sent == 0  # not due yet
        clock.advance(expected_delay)
    dispatcher.run_once()
    row, notice = rows(db)
    assert (row.status, row.attempts, twilio.posts) == (NotificationStatus.failed, 3, 3)
    assert notice.template == "delivery_failure" and notice.recipient == COORDINATOR
    assert notice.status is NotificationStatus.sent  # through the local email backend
    assert "+33612345678" not in notice.body and f"n° {row.id}" in notice.body and "3 tentatives" in notice.body


def test_an_invalid_number_fails_at_once_and_the_coordinator_is_told_by_email(db, twilio, smtp, dispatch, clock):
    twilio.reject["+33600000000"] = 21211
    sms(db, "+33600000000", "k", clock.now)
    db.commit()
    stats = dispatch(provider_settings(twilio, smtp)).run_once()
    assert (stats.failed, stats.retried, twilio.posts, twilio.received) == (1, 0, 1, [])
    row, notice = rows(db)
    assert (row.status, row.attempts, row.error_code) == (NotificationStatus.failed, 1, "twilio:21211")
    assert notice.status is NotificationStatus.sent
    (mail,) = smtp.messages
    assert mail["To"] == COORDINATOR and mail["Subject"] == f"Message non remis (n° {row.id})"
    assert "twilio:21211" in mail.get_content() and "+33600000000" not in mail.as_string()


def test_smtp_refusals_temporary_then_permanent(db, twilio, smtp, dispatch, clock):
    smtp.script.extend([451])
    smtp.reject.add("gone@exemple.fr")
    for key, address in (("ok", "patient@exemple.fr"), ("gone", "gone@exemple.fr")):
        enqueue(db, channel="email", recipient=address, template="reconfirmation",
                context={"kind": "medecin_traitant", "link": LINK, "answer_by": "12/03"}, idempotency_key=key, now=clock.now)
    db.commit()
    dispatch(provider_settings(twilio, smtp, coordinator_emails=[])).run_once()
    ok, gone = rows(db)
    assert (ok.status, ok.attempts) == (NotificationStatus.sent, 2)
    assert (gone.status, gone.attempts, gone.error_code) == (NotificationStatus.failed, 1, "smtp:550")
    assert [rcpts for _, rcpts in smtp.envelopes] == [["patient@exemple.fr"]]


def test_accented_addresses_neither_get_lost_nor_stop_the_next_email(db, twilio, smtp, dispatch, clock):
    """smtplib speaks ASCII: an accented domain goes in its IDNA form; accents before the "@" (stored before the
    forms refused them) fail that message alone, where they once left the connection mid-transaction and
    failed the next e-mail with it."""
    for key, address in (("idn", "contact@santé-lille.fr"), ("accent", "françoise@exemple.fr"),
                         ("next", "patient@exemple.fr")):
        enqueue(db, channel="email", recipient=address, template="reconfirmation",
                context={"kind": "medecin_traitant", "link": LINK, "answer_by": "12/03"}, idempotency_key=key, now=clock.now)
    db.commit()
    dispatch(provider_settings(twilio, smtp, coordinator_emails=[], concurrency=1)).run_once()
    idn, accent, following = rows(db)
    assert (idn.status, following.status) == (NotificationStatus.sent, NotificationStatus.sent)
    assert (accent.status, accent.error_code) == (NotificationStatus.failed, "smtp:address_not_ascii")
    assert sorted(rcpts[0] for _, rcpts in smtp.envelopes) == ["contact@xn--sant-lille-e7a.fr", "patient@exemple.fr"]


def test_a_message_enqueued_in_a_rolled_back_transaction_is_never_sent(session_factory, twilio, dispatch, clock):
    with session_factory() as session:
        sms(session, "+33612345678", "k", clock.now)
        session.flush()
        session.rollback()
    assert dispatch(provider_settings(twilio)).run_once().sent == 0
    assert twilio.posts == 0


def test_a_stuck_twilio_claim_is_settled_by_asking_twilio(db, twilio, dispatch, clock):
    """One claimed message reached Twilio before its dispatcher died, the other did not: the first is
    marked sent without a second SMS, the second is sent once."""
    sms(db, "+33611111111", "reached", clock.now)
    sms(db, "+33622222222", "lost", clock.now)
    db.commit()
    dispatcher = dispatch(provider_settings(twilio, sending_timeout_s=5))
    with db.begin_nested():
        reached, lost = dispatcher.claim(db, 2)
    dispatcher.backends[Channel.sms].send(reached.message)  # ...and then the process died
    assert dispatcher.run_once().sent == 0  # too early to judge the claims
    clock.advance(6)
    stats = dispatcher.run_once()
    assert (stats.resolved, stats.sent) == (2, 1)
    assert sorted(twilio.count_by_body().values()) == [1, 1] and twilio.posts == 2
    first, second = rows(db)
    assert (first.status, first.provider_id, first.attempts) == (
        NotificationStatus.sent, twilio.received[0]["sid"], 1)
    assert (second.status, second.attempts) == (NotificationStatus.sent, 2)


def test_a_stuck_claim_is_not_taken_for_the_same_text_sent_just_before(db, twilio, dispatch, clock):
    """The same text twice to one number a minute apart (a tracking link sent again, the answers to two « OUI »):
    the second, claimed by a dispatcher that died before sending it, is not taken for the first, which Twilio
    has: it is sent."""
    sms(db, "+33611111111", "first", clock.now, template="tracking_link")
    db.commit()
    dispatcher = dispatch(provider_settings(twilio, sending_timeout_s=5))
    assert dispatcher.run_once().sent == 1
    clock.advance(60)
    sms(db, "+33611111111", "second", clock.now, template="tracking_link")
    db.commit()
    with db.begin_nested():
        dispatcher.claim(db, 1)  # ...and then the process died
    clock.advance(6)
    assert dispatcher.run_once().resolved == 1
    assert list(twilio.count_by_body().values()) == [2] and twilio.posts == 2, "the same text, twice"
    first, second = rows(db)
    assert second.status is NotificationStatus.sent and second.attempts == 2
    assert {first.provider_id, second.provider_id} == {m["sid"] for m in twilio.received}


def test_two_stuck_claims_of_the_same_text_each_get_their_own_twilio_message(db, twilio, dispatch, clock):
    """Both reached Twilio before their dispatcher died: each row takes one of the two, in the order they were
    sent (delivery reports then land on the right row), and nothing is sent again."""
    sms(db, "+33611111111", "first", clock.now, template="tracking_link")
    sms(db, "+33611111111", "second", clock.now, template="tracking_link")
    db.commit()
    dispatcher = dispatch(provider_settings(twilio, sending_timeout_s=5))
    with db.begin_nested():
        claims = dispatcher.claim(db, 2)
    for claimed in claims:
        dispatcher.backends[Channel.sms].send(claimed.message)  # ...and then the process died
    clock.advance(6)
    assert dispatcher.run_once().resolved == 2 and twilio.posts == 2
    assert [row.provider_id for row in rows(db)] == [m["sid"] for m in twilio.received]


def test_a_stuck_email_becomes_unknown_and_is_not_resent(db, twilio, smtp, dispatch, clock):
    enqueue(db, channel="email", recipient="patient@exemple.fr", template="reconfirmation",
            context={"kind": "medecin_traitant", "link": LINK, "answer_by": "12/03"}, idempotency_key="k", now=clock.now)
    db.commit()
    dispatcher = dispatch(provider_settings(twilio, smtp))
    with db.begin_nested():
        dispatcher.claim(db, 1)
    clock.advance(6)
    dispatcher.run_once()
    row, notice = rows(db)
    assert (row.status, row.error_code) == (NotificationStatus.unknown, "stuck:no_lookup")
    assert smtp.envelopes == [("ne-pas-repondre@lac.example.fr", [COORDINATOR])]
    assert "Message peut-être non remis" in smtp.messages[0]["Subject"] and notice.status is NotificationStatus.sent


def test_a_lost_answer_is_not_resent_blindly(db, dispatch, clock):
    """Twilio takes the message but its answer comes after the client's timeout: the row waits in
    ``sending`` and the resolver finds the message at Twilio, so the patient gets one SMS."""
    with FakeTwilio(delay_s=1.0) as slow:
        sms(db, "+33612345678", "k", clock.now)
        db.commit()
        dispatcher = dispatch(provider_settings(slow, twilio_timeout_s=0.3, smtp_timeout_s=0.3, webhook_timeout_s=0.3, sending_timeout_s=1))
        assert dispatcher.run_once().in_doubt == 1
        (row,) = rows(db)
        assert (row.status, row.error_code) == (NotificationStatus.sending, "twilio:read_timeout")
        time.sleep(0.8)  # the claim ages in real time too: Twilio has finished with the request
        clock.advance(2)
        assert dispatcher.run_once().resolved == 1
        (row,) = rows(db)
        assert (row.status, row.provider_id, slow.posts) == (NotificationStatus.sent, slow.received[0]["sid"], 1)


def test_the_provider_rate_is_respected(db, dispatch, clock):
    for i in range(11):
        sms(db, f"+336123456{i:02d}", f"k{i}", clock.now)
    db.commit()
    dispatcher = dispatch(NotificationSettings(rate_per_s=20))
    started = datetime.now(UTC)
    assert dispatcher.run_once().sent == 11
    assert datetime.now(UTC) - started >= timedelta(seconds=0.45)
