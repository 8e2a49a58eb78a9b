"""The audit log: every staff read and change of a patient record, through the API and the screens, who,
when, what and from which organisation — readable by the organisation's coordinators only."""

import re

import sqlalchemy as sa

from lac_service.audit import AuditEvent
from lac_service.auth.models import Role
from lac_service.auth.service import create_user
from tests.conftest import NOW
from tests.payloads import request_body


def events(client, headers, **params):
    answer = client.get("/api/v1/audit", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return [(e["actor"], e["action"], e["request_id"]) for e in answer.json()["items"]][::-1]


def test_each_read_and_change_through_the_api_is_logged(client, make_key, org_a):
    secretary, coordinator = make_key(org_a, Role.secretary), make_key(org_a, Role.coordinator)
    rid = client.post("/api/v1/requests", json=request_body(), headers=secretary).json()["id"]
    client.get(f"/api/v1/requests/{rid}", headers=secretary)
    client.get("/api/v1/requests", headers=secretary)
    client.patch(f"/api/v1/requests/{rid}", json={"criteria": {"pregnant": True}}, headers=secretary)
    client.post(f"/api/v1/requests/{rid}/withdraw", json={"reason": "moved"}, headers=secretary)
    client.delete(f"/api/v1/requests/{rid}", headers=secretary)
    logged = events(client, coordinator, request_id=rid)
    assert [(action, request_id) for _, action, request_id in logged] == [
        ("create", rid), ("read", rid), ("list", rid), ("update", rid), ("withdraw", rid), ("erase", rid),
    ]
    actors = {actor for actor, _, _ in logged}
    assert len(actors) == 1 and re.fullmatch(r"apikey:\d+", actors.pop()), "the secretary's key, by its number"
    refused = client.patch(f"/api/v1/requests/{rid}", json={"criteria": {"ald": False}}, headers=secretary)
    assert refused.status_code == 409
    assert len(events(client, coordinator, request_id=rid)) == 6, "a refused change leaves no trace of a change"


def test_the_screens_log_as_the_logged_in_user(client, db, make_key, org_a):
    rid = client.post("/api/v1/requests", json=request_body(), headers=make_key(org_a, Role.secretary)).json()["id"]
    user = create_user(db, organisation=org_a, email="sec@cpts-a.fr", full_name="Sophie", role=Role.secretary,
                       password="un mot de passe assez long", now=NOW)
    db.commit()
    page = client.get("/equipe/connexion")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/equipe/connexion", data={"csrf_token": token, "email": "sec@cpts-a.fr",
                                           "password": "un mot de passe assez long", "suite": "/equipe"},
                follow_redirects=False)
    client.get("/equipe")
    client.get(f"/equipe/demandes/{rid}")
    logged = events(client, make_key(org_a, Role.coordinator), actor=f"user:{user.id}")
    assert logged == [(f"user:{user.id}", "list", rid), (f"user:{user.id}", "read", rid)]


def test_a_coordinator_reads_only_their_organisations_log(client, db, make_key, org_a, org_b):
    client.post("/api/v1/requests", json=request_body(), headers=make_key(org_a, Role.secretary))
    b_request = client.post("/api/v1/requests", json=request_body(first_name="Autre", phone="0622222222"),
                            headers=make_key(org_b, Role.secretary)).json()["id"]
    a_log = client.get("/api/v1/audit", headers=make_key(org_a, Role.coordinator)).json()
    assert a_log["total"] == 1 and b_request not in [e["request_id"] for e in a_log["items"]]
    assert client.get("/api/v1/audit", headers=make_key(org_a, Role.secretary)).status_code == 403
    everything = client.get("/api/v1/audit", headers=make_key(org_a, Role.admin)).json()
    assert everything["total"] == 2
    db.expire_all()
    texts = " ".join(f"{e.actor} {e.action}" for e in db.scalars(sa.select(AuditEvent)))
    assert "Élodie" not in texts and "Autre" not in texts
