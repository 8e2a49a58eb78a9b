"""Retention: after the period, no personal data of a closed request is left in any table — every text
column of every table is scanned for the patients' names, numbers and addresses — while open requests
and recent ones are untouched, and the indicators read the same."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lac_service.all_models import metadata
from lac_service.auth.models import Role
from lac_service.intake.models import PatientRequest
from lac_service.intake.reconfirmation import reconfirm
from lac_service.jobs import retention
from lac_service.kit.clock import request_time
from lac_service.links import Links
from tests.conftest import dispatch
from tests.payloads import cabinet_body, request_body

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
PURGE = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
PEOPLE = {  # name, phone, e-mail, what happens
    "Adélaïde": ("0611111111", "adelaide@exemple.fr", "matched early"),
    "Barnabé": ("0622222222", "barnabe@exemple.fr", "withdrawn early"),
    "Clotilde": ("0633333333", "clotilde@exemple.fr", "archived early"),
    "Dorothée": ("0644444444", "dorothee@exemple.fr", "still waiting"),
    "Eudoxie": ("0655555555", "eudoxie@exemple.fr", "matched recently"),
}


def _traces(connection, needles: list[str]) -> list[str]:
    """Every string or JSON column of every table that holds one of ``needles``."""
    found = []
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, (sa.String, sa.Text, sa.JSON))]
        for column in columns:
            for value in connection.execute(sa.select(column)).scalars():
                text = str(value).casefold()
                found += [f"{table.name}.{column.name}: {n}" for n in needles if n.casefold() in text]
    return found


def _needles(name: str) -> list[str]:
    phone, email, _ = PEOPLE[name]
    return [name, "+33" + phone[1:], email]


@pytest.fixture
def history(app, client, db, settings, make_key, org_a):
    moment = {"now": START}
    app.dependency_overrides[request_time] = lambda: moment["now"]
    secretary, coordinator = make_key(org_a, Role.secretary), make_key(org_a, Role.coordinator)
    ids = {}
    for name, (phone, email, _) in PEOPLE.items():
        if name == "Eudoxie":
            moment["now"] = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
        body = request_body(first_name=name, last_name="Témoin", phone=phone, email=email,
                            address={"line": f"{len(name)} rue {name}", "postal_code": "59000", "city": "Lille"})
        answer = client.post("/api/v1/requests", json=body, headers=secretary, params={})
        assert answer.status_code == 201, answer.text
        ids[name] = answer.json()["id"]
    moment["now"] = START + timedelta(days=2)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(channels=["sms"], batch_size=1), headers=coordinator).json()
    run = client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()
    token = run["batches"][0]["offer_url"].rsplit("/", 1)[1]
    assert run["batches"][0]["request_ids"] == [ids["Adélaïde"]]
    client.post(f"/api/v1/offers/{token}/responses", json={"request_id": ids["Adélaïde"], "decision": "accept"})
    client.post(f"/api/v1/requests/{ids['Barnabé']}/withdraw", json={"reason": "moved"}, headers=secretary)
    links = Links.from_settings(settings)
    # Clotilde is asked on day 90 and archived on day 111; Dorothée answers the question, so she stays.
    reconfirm(db, every_days=90, grace_days=21, links=links, per_s=10, now=START + timedelta(days=90))
    db.commit()
    dispatch(db, START + timedelta(days=90))
    for name in ("Dorothée", "Eudoxie"):
        request = db.get(PatientRequest, ids[name])
        request.confirmed_at = START + timedelta(days=100)
    db.commit()
    reconfirm(db, every_days=90, grace_days=21, links=links, per_s=10, now=START + timedelta(days=111))
    db.commit()
    moment["now"] = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
    client.patch(f"/api/v1/cabinets/{cabinet['id']}", json={"batch_size": 5}, headers=coordinator)
    run = client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()  # its cadence long elapsed
    token = run["batches"][0]["offer_url"].rsplit("/", 1)[1]
    for name in ("Dorothée", "Eudoxie"):
        decision = {"decision": "accept"} if name == "Eudoxie" else {"decision": "decline", "reason": "other"}
        client.post(f"/api/v1/offers/{token}/responses", json={"request_id": ids[name], **decision})
    moment["now"] = PURGE
    return {"ids": ids, "coordinator": coordinator}


def test_after_the_period_nothing_personal_of_a_closed_request_is_left(client, db, connection, settings, history):
    statuses = dict(db.execute(sa.select(PatientRequest.first_name, PatientRequest.status)).all())
    assert statuses == {"Adélaïde": "matched", "Barnabé": "withdrawn", "Clotilde": "archived",
                        "Dorothée": "waiting", "Eudoxie": "matched"}
    gone = ["Adélaïde", "Barnabé", "Clotilde"]
    assert _traces(connection, [n for name in gone for n in _needles(name)]), "the scan finds them before the purge"
    period = {"start": "2025-01-01", "end": "2026-11-22"}
    before = client.get("/api/v1/stats", params=period, headers=history["coordinator"]).json()

    purged = retention(db, settings, now=PURGE).purged
    db.commit()
    assert purged == 3
    assert _traces(connection, [n for name in gone for n in _needles(name)]) == []
    for name in ("Dorothée", "Eudoxie"):
        assert _traces(connection, _needles(name)), f"{name}'s request is open or recent: kept"
    after = client.get("/api/v1/stats", params=period, headers=history["coordinator"]).json()
    assert after == before, "the anonymous record keeps every figure"
    assert retention(db, settings, now=PURGE).purged == 0, "nothing left to purge"
