"""Several processes on one PostgreSQL, as in production: ``lac serve --workers 4`` and two ``lac dispatch``
loops, with wrk driving registrations and then practitioners' answers while matching rounds are asked for
two at a time; then patients answer by SMS, Twilio calling twice at once for each.

What must hold: no 5xx and no dropped connection; never a request in two pending offers; every offered
request in exactly one; every message received once at the fake Twilio and the fake SMTP server (each
patient's SMS answered once); no deadlock reported by PostgreSQL.
"""

import json
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from lac_service import migrate
from lac_service.auth.models import Role
from lac_service.auth.service import create_api_key, create_organisation
from lac_service.db import create_db_engine, create_session_factory
from lac_service.intake.models import PatientRequest
from lac_service.notifications.models import Notification
from lac_service.replies.service import REPLIES, Intent
from tests.conftest import NOW, PUBLIC_URL, create_postgres_database, drop_postgres_database, make_settings
from tests.fakes.smtp import FakeSmtp
from tests.fakes.twilio import AUTH_TOKEN, FakeTwilio
from tests.load import WrkResult, intake_script, serve, service_env, start, stop, wrk
from tests.payloads import cabinet_body

LILLE = [(50.6292 + 0.01 * (i % 4), 3.0573 + 0.012 * (i // 4)) for i in range(12)]

ANSWERS = """
local counter = 0
function request()
  counter = counter + 1
  local answer = ANSWERS[(id + counter * 2) % #ANSWERS + 1]
  return wrk.format("POST", answer[1], {["Content-Type"] = "application/json"}, answer[2])
end
"""


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua one for these ASCII values


def _migrated(url: str) -> tuple[sa.Engine, dict[Role, str]]:
    """The database migrated, with an organisation and a coordinator's and a secretary's keys."""
    engine = create_db_engine(url)
    migrate.upgrade(make_settings(url), engine)
    with create_session_factory(engine).begin() as session:
        organisation = create_organisation(session, slug="cpts-lille", name="CPTS Lille", now=NOW)
        keys = {role: create_api_key(session, organisation=organisation, role=role, name=role.value, now=NOW).secret
                for role in (Role.coordinator, Role.secretary)}
    return engine, keys


@pytest.fixture
def database():
    url = create_postgres_database()
    engine, keys = _migrated(url)
    yield url, engine, keys
    engine.dispose()
    drop_postgres_database(url)


def _all_at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Makes every call at the same moment, one thread each; the answers in the order of the calls."""
    start, answers = threading.Barrier(len(calls)), [None] * len(calls)

    def call(index: int) -> None:
        start.wait()
        answers[index] = calls[index]()

    threads = [threading.Thread(target=call, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _at_once(base: str, headers: dict[str, str], paths: list[str]) -> list[httpx.Response]:
    """Posts to every path at the same moment."""
    return _all_at_once([
        lambda path=path: httpx.post(f"{base}{path}", json={} if path == "/api/v1/matching/runs" else None,
                                     headers=headers, timeout=120)
        for path in paths])


def _texted_twice(base: str, phones: list[str]) -> list[httpx.Response]:
    """Each phone answers OUI by SMS, and Twilio calls the webhook twice for it (a retry), both calls at once."""
    path = "/api/v1/twilio/messages"
    calls = []
    for phone in phones:
        fields = {"From": phone, "Body": "OUI", "MessageSid": "SM" + uuid.uuid4().hex}
        signed = {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, fields)}
        call = lambda fields=fields, signed=signed: httpx.post(f"{base}{path}", data=fields, headers=signed, timeout=60)  # noqa: E731
        calls += [call, call]
    return _all_at_once(calls)


def _during(load, *, after_s: float, then):  # type: ignore[no-untyped-def]
    """Runs ``load`` (wrk) and, ``after_s`` into it, ``then``; returns both results."""
    results: dict[str, object] = {}
    runner = threading.Thread(target=lambda: results.setdefault("load", load()))
    runner.start()
    time.sleep(after_s)
    results["then"] = then()
    runner.join()
    return results["load"], results["then"]


def _offered_items(base: str, answers: list[httpx.Response]) -> list[tuple[str, int]]:
    items = []
    for answer in answers:
        if answer.status_code != 201:
            continue
        for batch in answer.json()["batches"]:
            token = batch["offer_url"].rsplit("/", 1)[1]
            offer = httpx.get(f"{base}/api/v1/offers/{token}", timeout=30).json()
            items += [(token, item["request_id"]) for item in offer["items"]]
    return items


def _assert_clean(result: WrkResult, what: str) -> None:
    assert result.requests > 0, what
    assert result.server_errors == 0 and result.socket_errors == 0, f"{what}: {result.line()}"


def _settled(engine: sa.Engine, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with engine.connect() as connection:
            waiting = connection.scalar(sa.select(sa.func.count()).select_from(Notification).where(
                Notification.status.in_(["created", "sending"])))
        if waiting == 0:
            return
        assert time.monotonic() < deadline, f"{waiting} messages still to send"
        time.sleep(0.5)


def test_four_servers_and_two_dispatchers_on_one_postgresql(database):
    url, engine, keys = database
    coordinator = {"Authorization": f"Bearer {keys[Role.coordinator]}"}
    with FakeTwilio() as twilio, FakeSmtp() as smtp:
        env = service_env(url, **twilio.env, **smtp.env, **{
            "LAC_NOTIFICATIONS__RATE_PER_S": "1000", "LAC_NOTIFICATIONS__POLL_INTERVAL_S": "0.2",
        })
        server, base = serve(env, workers=4)
        dispatchers = [start([sys.executable, "-m", "lac_service.cli", "dispatch", "--loop"], env) for _ in range(2)]
        try:
            cabinets = []
            for i, (lat, lon) in enumerate(LILLE):
                created = httpx.post(f"{base}/api/v1/cabinets", headers=coordinator, timeout=30, json=cabinet_body(
                    name=f"Cabinet {i}", location={"lat": lat, "lon": lon}, batch_size=6, cadence_days=1,
                    phones=[f"06 20 00 00 {i:02d}"], emails=[f"cabinet{i}@msp.fr"]))
                assert created.status_code == 201, created.text
                cabinets.append(created.json()["id"])

            intake = intake_script(keys[Role.secretary], email=True)
            registered, first_rounds = _during(
                lambda: wrk(f"{base}/api/v1/requests", intake, connections=64, duration_s=8),
                after_s=3, then=lambda: _at_once(base, coordinator, ["/api/v1/matching/runs"] * 2))
            _assert_clean(registered, "registrations")
            assert set(registered.statuses) == {201}
            assert sorted(r.status_code for r in first_rounds) in ([201, 201], [201, 409]), \
                [r.text for r in first_rounds]
            assert all(r.json()["code"] == "round_running" for r in first_rounds if r.status_code == 409)

            items = _offered_items(base, first_rounds)
            assert len(items) >= 30
            answers = "ANSWERS = {" + ",".join(
                "{%s, %s}" % (_lua_string(f"/api/v1/offers/{token}/responses"), _lua_string(json.dumps(
                    {"request_id": rid, "decision": "accept"} if rid % 3 else
                    {"request_id": rid, "decision": "decline", "reason": "no_capacity"})))
                for token, rid in items) + "}\n"
            # Practitioners ask for more (each ask is a round of its own cabinet) as two rounds start.
            answered, second_rounds = _during(
                lambda: wrk(f"{base}/api/v1/offers", answers + ANSWERS, connections=32, duration_s=5),
                after_s=1, then=lambda: _at_once(base, coordinator, ["/api/v1/matching/runs"] * 2 + [
                    f"/api/v1/cabinets/{cabinet}/batch-request" for cabinet in cabinets]))
            _assert_clean(answered, "answers")
            assert set(answered.statuses) <= {200, 409}, answered.line()
            assert all(r.status_code in (201, 409) for r in second_rounds[:2]), [r.text for r in second_rounds]
            assert all(r.status_code == 200 or "attendent encore sa réponse" in r.json()["message"]
                       for r in second_rounds[2:]), [r.text for r in second_rounds]  # served, kept, or unanswered
            with engine.connect() as connection:
                phones = list(connection.scalars(sa.select(PatientRequest.phone).where(
                    PatientRequest.status == "waiting").order_by(PatientRequest.id).limit(10)))
            texted = _texted_twice(base, phones)
            assert [answer.status_code for answer in texted] == [200] * 20, [answer.text for answer in texted]
            _settled(engine)
        finally:
            logs = [stop(process) for process in (server, *dispatchers)]
        sms, mail = twilio.count_by_body(), Counter(
            (tuple(rcpts), message.get_body(("plain",)).get_content())
            for (_, rcpts), message in zip(smtp.envelopes, smtp.messages, strict=True))

    assert not any("Traceback" in log or "unexpected" in log for log in logs), "\n".join(logs)[-4000:]
    with engine.connect() as connection:
        twice = connection.execute(sa.text(
            "select request_id from offer_items where status = 'pending' group by request_id having count(*) > 1"
        )).all()
        offered_without_one = connection.execute(sa.text(
            "select r.id from requests r where r.status = 'offered' and 1 <> "
            "(select count(*) from offer_items i where i.request_id = r.id and i.status = 'pending')"
        )).all()
        sent = dict(connection.execute(sa.text(  # the SMS received are kept as rows too, not sent
            "select channel, count(*) from notifications where status = 'sent' and template <> 'inbound' "
            "group by channel")).all())
        deadlocks = connection.scalar(sa.text(
            "select deadlocks from pg_stat_database where datname = current_database()"))
    assert twice == [] and offered_without_one == []
    assert sms and set(sms.values()) == {1} and sum(sms.values()) == sent["sms"]
    assert sorted(to for to, body in sms if body == REPLIES[Intent.confirm].format(kind="médecin traitant")) == \
        sorted(phones), "each SMS answered once, whichever worker took each call"
    assert mail and set(mail.values()) == {1} and sum(mail.values()) == sent["email"]
    assert deadlocks == 0


def test_concurrent_registrations_on_sqlite_wait_their_turn_instead_of_failing(tmp_path):
    """SQLite has one writer at a time: two server processes and 32 connections queue for it, none is
    refused with "database is locked"."""
    url = f"sqlite:///{tmp_path / 'lac.db'}"
    engine, keys = _migrated(url)
    engine.dispose()
    key = keys[Role.secretary]
    server, base = serve(service_env(url), workers=2)
    try:
        result = wrk(f"{base}/api/v1/requests", intake_script(key, email=True),
                     connections=32, duration_s=4)
    finally:
        log = stop(server)
    _assert_clean(result, "registrations")
    assert set(result.statuses) == {201}, (result.line(), log[-2000:])
