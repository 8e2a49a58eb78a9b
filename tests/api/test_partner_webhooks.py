"""Partner webhooks: a receiver started by the test gets each status change of its organisation's requests
once, signed with its key, through the outbox and the real dispatcher."""

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from lac_service.auth.models import Role
from lac_service.config import Environment, NotificationSettings
from lac_service.db import session_scope
from lac_service.kit.clock import utcnow
from lac_service.main import create_app
from lac_service.notifications import webhook
from lac_service.notifications.dispatcher import Dispatcher
from lac_service.notifications.models import Channel, Notification, NotificationStatus
from tests.fakes.webhook_receiver import Delivery, WebhookReceiver
from tests.payloads import cabinet_body, request_body

COORDINATOR = "coordination@cpts-a.fr"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as fake:
        yield fake


@pytest.fixture
def dispatch(session_factory, settings):
    dispatcher = Dispatcher(
        session_factory,
        NotificationSettings(rate_per_s=1000, backoff_base_s=0, coordinator_emails=[COORDINATOR]),
        secret_key=settings.secret_key.get_secret_value().encode(),
    )
    yield dispatcher.run_once
    dispatcher.close()


@pytest.fixture
def production_dispatch(session_factory, settings):
    """A dispatcher as production runs it: webhooks reach public addresses only."""
    dispatcher = Dispatcher(session_factory, NotificationSettings(rate_per_s=1000, coordinator_emails=[COORDINATOR]),
                            secret_key=settings.secret, public_webhooks_only=True)
    yield dispatcher.run_once
    dispatcher.close()


@pytest.fixture
def partner(client, make_key, org_a, receiver):
    headers = make_key(org_a, Role.partner)
    answer = client.put("/api/v1/organisations/cpts-a/webhook", json={"url": receiver.url}, headers=headers)
    assert answer.status_code == 200, answer.text
    return {"headers": headers, "key": answer.json()["signing_key"]}


def _verified(delivery: Delivery, key: str) -> dict:
    """What a partner does with a delivery: check the signature and its freshness, then read it."""
    fields = dict(part.split("=", 1) for part in delivery.headers["X-LAC-Signature"].split(","))
    expected = hmac.new(key.encode(), fields["t"].encode() + b"." + delivery.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected), "signature does not verify"
    assert abs(time.time() - int(fields["t"])) < 300, "stale timestamp"
    assert delivery.headers["Content-Type"] == "application/json"
    return json.loads(delivery.body)


def _changes(receiver: WebhookReceiver, key: str) -> list[tuple[int, str | None, str]]:
    events = [_verified(d, key) for d in receiver.accepted()]
    assert len({e["event_id"] for e in events}) == len(events)
    return sorted(((e["request_id"], e["from_status"], e["to_status"]) for e in events), key=str)


def _register(client, headers, name: str, phone: str, **patient) -> int:
    body = request_body(first_name=name, phone=phone, **{"email": None, **patient})
    answer = client.post("/api/v1/requests", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _webhook_rows(db) -> list[Notification]:
    db.expire_all()
    return list(db.scalars(sa.select(Notification).where(Notification.channel == Channel.webhook).order_by(Notification.id)))


def test_each_status_change_reaches_the_partner_once_signed(client, make_key, org_a, org_b, partner, receiver, dispatch):
    coordinator = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(batch_size=2), headers=coordinator)
    alice = _register(client, partner["headers"], "Alice", "0611111111")
    bruno = _register(client, coordinator, "Bruno", "0622222222")
    client.post("/api/v1/requests", json=request_body(first_name="Chloé", phone="0633333333", email=None),
                headers=make_key(org_b, Role.secretary))  # another organisation's: never sent to this partner
    run = client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()
    token = run["batches"][0]["offer_url"].rsplit("/", 1)[1]
    client.post(f"/api/v1/offers/{token}/responses", json={"request_id": alice, "decision": "accept"})
    client.post(f"/api/v1/offers/{token}/responses", json={"request_id": bruno, "decision": "decline", "reason": "too_far"})
    assert client.post(f"/api/v1/requests/{bruno}/withdraw", json={"reason": "moved"}, headers=coordinator).status_code == 200
    again = client.post(f"/api/v1/requests/{bruno}/withdraw", json={"reason": "moved"}, headers=coordinator)
    assert again.status_code == 200, "withdrawing twice changes nothing, and announces nothing"
    changed_mind = client.post(f"/api/v1/offers/{token}/responses",
                               json={"request_id": alice, "decision": "decline", "reason": "other"})
    assert changed_mind.status_code == 409, "a refused change is not announced"

    dispatch()
    assert dispatch().sent == 0
    assert len(receiver.deliveries) == 7
    assert _changes(receiver, partner["key"]) == sorted([
        (alice, None, "waiting"), (alice, "waiting", "offered"), (alice, "offered", "matched"),
        (bruno, None, "waiting"), (bruno, "waiting", "offered"), (bruno, "offered", "waiting"),
        (bruno, "waiting", "withdrawn"),
    ], key=str)
    events = [json.loads(d.body) for d in receiver.accepted()]
    declined = next(e for e in events if e["request_id"] == bruno and e["from_status"] == "offered")
    assert declined["reason"] == "declined:too_far" and declined["organisation"] == "cpts-a"
    assert {e["event"] for e in events} == {"request.status_changed"}
    assert all("Alice" not in d.body.decode() and "0611111111" not in d.body.decode() for d in receiver.deliveries)
    assert {d.path for d in receiver.deliveries} == {"/lac/events"}


def test_the_partner_that_registered_a_neighbours_patient_is_told_too(
    client, make_key, make_org, org_a, org_b, partner, receiver, dispatch,
):
    """The home is in cpts-b's territory: cpts-b holds the request and hears of it, and so does cpts-a, which
    registered it; cpts-b's own patients stay cpts-b's business."""
    admin = make_key(make_org("region"), Role.admin)
    territory = client.put("/api/v1/organisations/cpts-b/territory", json={"postal_codes": ["59650"]}, headers=admin)
    assert territory.status_code == 200, territory.text
    coordinator_b = make_key(org_b, Role.coordinator)
    with WebhookReceiver() as receiver_b:
        key_b = client.put("/api/v1/organisations/cpts-b/webhook", json={"url": receiver_b.url},
                           headers=coordinator_b).json()["signing_key"]
        villeneuve = {"address": {"line": "2 rue Paul Doumer", "postal_code": "59650", "city": "Villeneuve-d'Ascq"},
                      "location": {"lat": 50.6233, "lon": 3.1450}}
        ines = _register(client, partner["headers"], "Inès", "0644444444", **villeneuve)
        hugo = _register(client, coordinator_b, "Hugo", "0655555555", **villeneuve)
        client.post("/api/v1/cabinets", json=cabinet_body(location={"lat": 50.62, "lon": 3.14}), headers=coordinator_b)
        assert len(client.post("/api/v1/matching/runs", json={}, headers=coordinator_b).json()["batches"]) == 1

        dispatch()
        told_a = [_verified(d, partner["key"]) for d in receiver.accepted()]
        assert _changes(receiver, partner["key"]) == sorted([(ines, None, "waiting"), (ines, "waiting", "offered")],
                                                            key=str)
        assert {e["organisation"] for e in told_a} == {"cpts-b"}
        assert _changes(receiver_b, key_b) == sorted([(ines, None, "waiting"), (ines, "waiting", "offered"),
                                                      (hugo, None, "waiting"), (hugo, "waiting", "offered")], key=str)


def test_a_partner_error_is_retried_and_a_refusal_fails_once_with_a_notice(
    client, db, make_key, org_a, partner, receiver, dispatch
):
    """A 503, or a 401 while the partner installs its new key, is tried again; a 410 says "gone for good"."""
    receiver.script.extend([503, 401])
    _register(client, partner["headers"], "Alice", "0611111111")
    assert dispatch().retried == 2, "the patient's confirmation went; the webhook waits for its retries"
    assert len(receiver.deliveries) == 3 and len(receiver.accepted()) == 1
    assert len({delivery.body for delivery in receiver.deliveries}) == 1

    receiver.script.extend([410])
    _register(client, partner["headers"], "Bruno", "0622222222")
    stats = dispatch()
    assert stats.failed == 1 and len(receiver.deliveries) == 4, "a 410 is not retried"
    failed = [r for r in _webhook_rows(db) if r.status is NotificationStatus.failed]
    assert [r.error_code for r in failed] == ["webhook:410"]
    notice = db.scalar(sa.select(Notification).where(Notification.template == "delivery_failure"))
    assert notice.recipient == COORDINATOR and "webhook partenaire" in notice.body
    assert "organisation:" in notice.body


def test_a_delivery_whose_answer_never_came_is_sent_again_with_the_same_event_id(
    client, db, make_key, org_a, partner, receiver, session_factory, settings
):
    """The partner took longer than the timeout to answer: the event may have arrived, or not. It is sent again
    rather than lost; the partner recognises the second copy by its ``event_id``."""
    receiver.holds.append(1.0)
    _register(client, partner["headers"], "Alice", "0611111111")
    dispatcher = Dispatcher(session_factory, NotificationSettings(
        rate_per_s=1000, backoff_base_s=0, twilio_timeout_s=0.3, smtp_timeout_s=0.3, webhook_timeout_s=0.3,
        sending_timeout_s=5, coordinator_emails=[COORDINATOR]), secret_key=settings.secret)
    try:
        assert dispatcher.run_once().retried == 1
    finally:
        dispatcher.close()
    first, second = (_verified(delivery, partner["key"]) for delivery in receiver.deliveries)
    assert first == second and first["to_status"] == "waiting"
    (row,) = _webhook_rows(db)
    assert (row.status, row.attempts) == (NotificationStatus.sent, 2)


def test_a_delivery_a_dispatcher_died_holding_is_sent_again(client, db, make_key, org_a, partner, receiver,
                                                             session_factory, settings):
    """The dispatcher died with the event claimed, sent or not: once the claim is old enough, the event goes
    again, where an e-mail to a person would wait for a coordinator (``unknown``)."""
    _register(client, partner["headers"], "Alice", "0611111111")
    moment = {"now": utcnow()}
    dispatcher = Dispatcher(session_factory, NotificationSettings(
        rate_per_s=1000, twilio_timeout_s=2, smtp_timeout_s=2, webhook_timeout_s=2, sending_timeout_s=5,
        coordinator_emails=[COORDINATOR]), secret_key=settings.secret, clock=lambda: moment["now"])
    try:
        with session_scope(session_factory) as session:
            dispatcher.claim(session, 10)  # ...and the process died
        moment["now"] += timedelta(seconds=6)
        stats = dispatcher.run_once()
    finally:
        dispatcher.close()
    assert stats.resolved == 2, "the event, and the patient's confirmation, found at the (local) SMS provider"
    assert [_verified(d, partner["key"])["to_status"] for d in receiver.accepted()] == ["waiting"]
    (row,) = _webhook_rows(db)
    assert (row.status, row.attempts) == (NotificationStatus.sent, 2), "the lost attempt counts"


def test_a_rotated_key_signs_what_is_still_queued_and_a_removed_webhook_sends_nothing(
    client, db, make_key, org_a, partner, receiver, dispatch
):
    _register(client, partner["headers"], "Alice", "0611111111")
    rotated = client.put("/api/v1/organisations/cpts-a/webhook", json={"url": receiver.url, "rotate_key": True},
                         headers=partner["headers"]).json()
    assert rotated["signing_key"] != partner["key"]
    same = client.put("/api/v1/organisations/cpts-a/webhook", json={"url": receiver.url}, headers=partner["headers"])
    assert same.json()["signing_key"] == rotated["signing_key"], "changing nothing keeps the key"
    assert client.get("/api/v1/organisations/cpts-a/webhook", headers=partner["headers"]).json() == rotated

    dispatch()
    (delivery,) = receiver.accepted()
    assert _verified(delivery, rotated["signing_key"])["to_status"] == "waiting"
    with pytest.raises(AssertionError, match="signature"):
        _verified(delivery, partner["key"])

    _register(client, partner["headers"], "Bruno", "0622222222")
    assert client.delete("/api/v1/organisations/cpts-a/webhook", headers=partner["headers"]).status_code == 204
    _register(client, partner["headers"], "Chloé", "0633333333")
    dispatch()
    assert len(receiver.deliveries) == 1
    dropped = [r for r in _webhook_rows(db) if r.status is NotificationStatus.failed]
    assert [r.error_code for r in dropped] == ["webhook:unregistered"], "queued before removal, dropped; none after"
    assert db.scalar(sa.select(sa.func.count()).where(Notification.template == "delivery_failure")) == 0
    assert client.get("/api/v1/organisations/cpts-a/webhook", headers=partner["headers"]).status_code == 404


@pytest.mark.parametrize(("url", "field"), [
    ("ftp://partner.example/hook", "url"),
    ("https://user:secret@partner.example/hook", "url"),
    ("https://partner.example/" + "x" * 300, "url"),
    ("pas une adresse", "url"),
])
def test_a_bad_webhook_address_is_refused_and_nothing_is_registered(client, org_a, make_key, url, field):
    headers = make_key(org_a, Role.coordinator)
    answer = client.put("/api/v1/organisations/cpts-a/webhook", json={"url": url}, headers=headers)
    assert answer.status_code == 422 and answer.json()["field"] == field
    assert client.get("/api/v1/organisations/cpts-a/webhook", headers=headers).status_code == 404


def test_only_the_organisations_partner_or_coordinator_registers_and_production_wants_https(
    settings, engine, session_factory, client, make_key, org_a, org_b
):
    body = {"url": "https://93.184.215.14/hook"}  # a public address, which production needs
    assert client.put("/api/v1/organisations/cpts-a/webhook", json=body,
                      headers=make_key(org_a, Role.secretary)).status_code == 403
    assert client.put("/api/v1/organisations/cpts-a/webhook", json=body,
                      headers=make_key(org_b, Role.partner)).status_code == 404
    assert client.get("/api/v1/organisations/cpts-a/webhook",
                      headers=make_key(org_b, Role.coordinator)).status_code == 404

    production = settings.model_copy(update={"environment": Environment.production})
    from fastapi.testclient import TestClient

    with TestClient(create_app(production, engine=engine, session_factory=session_factory)) as prod:
        headers = make_key(org_a, Role.partner)
        plain = prod.put("/api/v1/organisations/cpts-a/webhook", json={"url": "http://partner.example/hook"}, headers=headers)
        assert plain.status_code == 422 and "https" in plain.json()["message"]
        assert prod.put("/api/v1/organisations/cpts-a/webhook", json=body, headers=headers).status_code == 200


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://10.0.0.5/hook", "https://192.168.1.20:8443/hook", "https://[::1]/hook",
    "https://169.254.169.254/latest/meta-data/", "https://[::ffff:127.0.0.1]/hook", "https://localhost/hook",
    "https://0.0.0.0/hook", "https://nulle-part.invalid/hook",
])
def test_in_production_a_webhook_may_not_point_inside_the_network(settings, engine, session_factory, make_key,
                                                                    org_a, org_b, url):
    from fastapi.testclient import TestClient

    production = settings.model_copy(update={"environment": Environment.production})
    with TestClient(create_app(production, engine=engine, session_factory=session_factory)) as prod:
        headers = make_key(org_a, Role.coordinator)
        answer = prod.put("/api/v1/organisations/cpts-a/webhook", json={"url": url}, headers=headers)
        assert answer.status_code == 422 and answer.json()["field"] == "url", answer.text
        assert "publique" in answer.json()["message"]
        assert prod.get("/api/v1/organisations/cpts-a/webhook", headers=headers).status_code == 404
        # Another organisation's partner is not told which names point inside: the organisation is not found.
        foreign = prod.put("/api/v1/organisations/cpts-a/webhook", json={"url": url},
                           headers=make_key(org_b, Role.partner))
        assert foreign.status_code == 404, foreign.text


def test_in_production_a_delivery_to_an_internal_address_is_refused_before_connecting(
    client, db, make_key, org_a, receiver, partner, production_dispatch
):
    """Registered while the name was public, say, then pointed inside: the check is made again at sending."""
    _register(client, make_key(org_a, Role.coordinator), "Awa", "0698765432")
    production_dispatch()
    assert receiver.deliveries == []
    assert [(r.status, r.error_code) for r in _webhook_rows(db)] == [
        (NotificationStatus.failed, "webhook:address_not_public")
    ]


def test_in_production_a_name_pointed_inside_after_its_check_is_not_followed(
    client, db, make_key, org_a, receiver, monkeypatch, production_dispatch
):
    """DNS rebinding: the partner's name is public when the delivery checks it, then answers the receiver's
    loopback address to anyone who asks again. The delivery goes to the address it checked, or nowhere."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/", 1)[0])
    headers = make_key(org_a, Role.partner)
    url = f"http://partner.example:{port}/lac/events"
    assert client.put("/api/v1/organisations/cpts-a/webhook", json={"url": url}, headers=headers).status_code == 200
    _register(client, make_key(org_a, Role.coordinator), "Awa", "0698765432")
    real, asked = socket.getaddrinfo, []

    def rebinding(host: str, *args: object, **kwargs: object) -> object:
        if host != "partner.example":
            return real(host, *args, **kwargs)
        asked.append(host)
        address = "93.184.215.14" if len(asked) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    connected = _connections(monkeypatch, refused={"93.184.215.14"})  # that public address is not ours to call
    assert production_dispatch().retried == 1
    assert asked == ["partner.example"] and connected == [("93.184.215.14", port)] and receiver.deliveries == []
    assert [(r.status, r.error_code) for r in _webhook_rows(db)] == [(NotificationStatus.created, "webhook:connect")]


def _connections(monkeypatch, *, refused: set[str]) -> list[tuple[str, int]]:
    """Where connections go (httpcore opens them with ``socket.create_connection``); those to ``refused``
    addresses are refused here, without reaching the network."""
    real, made = socket.create_connection, []

    def create_connection(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        made.append(address)
        if address[0] in refused:
            raise ConnectionRefusedError(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return made


def test_a_vetted_delivery_tries_each_address_and_keeps_the_partners_name(receiver, monkeypatch):
    """An address that refuses the connection (no IPv6 route, say) gives way to the next one; the partner's
    name stays in the Host header (and in TLS, to check its certificate)."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/", 1)[0])
    monkeypatch.setattr(webhook, "public_addresses", lambda host, _port: ["2001:db8::1", "127.0.0.1"])
    connected = _connections(monkeypatch, refused={"2001:db8::1"})
    with httpx.Client(transport=webhook._PublicOnly()) as client:
        answer = client.post(f"http://partner.example:{port}/lac/events", content=b"{}")
    assert [host for host, _ in connected] == ["2001:db8::1", "127.0.0.1"]
    assert answer.status_code == 200 and [d.headers["Host"] for d in receiver.deliveries] == [f"partner.example:{port}"]


def test_in_production_a_resolver_failing_at_delivery_is_retried_not_a_verdict(
    client, db, make_key, org_a, receiver, partner, monkeypatch, production_dispatch
):
    """A name that cannot be resolved for now (resolver down, SERVFAIL) says nothing about where it points:
    the delivery waits for its retry instead of failing for good."""
    _register(client, make_key(org_a, Role.coordinator), "Awa", "0698765432")

    def resolver_down(*_: object, **__: object) -> None:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", resolver_down)
    assert production_dispatch().retried == 1
    assert receiver.deliveries == []
    assert [(r.status, r.error_code) for r in _webhook_rows(db)] == [(NotificationStatus.created, "webhook:dns")]
