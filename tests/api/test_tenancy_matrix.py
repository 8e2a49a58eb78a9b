"""Every staff operation of the OpenAPI document × every role of organisation A × organisation B's records.

An operation that names one of B's records (in its path or its body) answers 403 or 404 and changes nothing;
every other answer (lists, indicators, audit, a round, an import) holds none of B's rows. The operations
are read from ``openapi/openapi.json``, so a new endpoint fails this test until it is placed in the matrix.
Admins are left out on purpose: they operate the platform and see every organisation
(``test_tenancy.py::test_admin_sees_every_organisation_and_may_filter``).
"""

import json
from typing import NamedTuple

import pytest

from lac_service.auth.models import Role
from tests.conftest import REPO
from tests.payloads import cabinet_body, request_body

DOCUMENT = json.loads((REPO / "openapi" / "openapi.json").read_text())
STAFF_OPERATIONS = sorted(
    (method.upper(), path)
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
    if operation.get("security")
)
ROLES = [Role.partner, Role.secretary, Role.coordinator]
# What only B's records carry: none of it may reach A (an error may echo the slug A itself sent).
B_MARKERS = ("Bérénice", "Étrangère", "Cabinet du Nord", '"organisation":"cpts-b"', "partenaire-b.example")
CSV = "type;prenom;nom;date_naissance;code_postal;commune\nmedecin_traitant;Awa;Diallo;1990-02-01;59000;Lille\n"


class Call(NamedTuple):
    url: str
    body: dict | str | None = None
    at_b: bool = False


@pytest.fixture
def b(client, make_key, org_b):
    """Organisation B with a request, its look-alike, a cabinet, an offer from a round, a policy version,
    a territory and a webhook."""
    key = make_key(org_b, Role.coordinator)

    def post(path, body, status=201):
        answer = client.post(path, json=body, headers=key)
        assert answer.status_code == status, answer.text
        return answer.json()

    first = post("/api/v1/requests", request_body(first_name="Bérénice", last_name="Étrangère", email=None))
    twin = post("/api/v1/requests", request_body(first_name="Étrangère", last_name="Bérénice", phone="0699887766",
                                                 email=None))
    cabinet = post("/api/v1/cabinets", cabinet_body(name="Cabinet du Nord", batch_size=1))
    run = post("/api/v1/matching/runs", {})
    rules = client.get("/api/v1/priority-policies/medecin_traitant", headers=key).json()["rules"]
    rules["ald"]["points"] += 1
    assert client.put("/api/v1/priority-policies/medecin_traitant", json={"rules": rules}, headers=key).status_code == 200
    assert client.put("/api/v1/organisations/cpts-b/territory", json={"postal_codes": ["59000"]},
                      headers=key).status_code == 200
    assert client.put("/api/v1/organisations/cpts-b/webhook", json={"url": "https://partenaire-b.example/lac"},
                      headers=key).status_code == 200
    return {"key": key, "request": first["id"], "twin": twin["id"], "cabinet": cabinet["id"], "round": run["id"],
            "rules": rules}


def _calls(b) -> dict[tuple[str, str], Call]:
    """Each operation as A would call it; ``at_b``: the call names one of B's records, or B itself."""
    request, cabinet, round_id = b["request"], b["cabinet"], b["round"]
    policy = "/api/v1/priority-policies/medecin_traitant"
    return {
        ("POST", "/api/v1/requests"): Call("/api/v1/requests", request_body(
            first_name="Awa", last_name="Diallo", address={"line": "", "postal_code": "59100", "city": "Roubaix"},
            location={"lat": 50.6942, "lon": 3.1746})),  # outside B's territory: the request stays A's
        ("GET", "/api/v1/requests"): Call("/api/v1/requests?q=Bérénice&limit=200"),
        ("GET", "/api/v1/requests/{request_id}"): Call(f"/api/v1/requests/{request}", at_b=True),
        ("GET", "/api/v1/requests/{request_id}/status"): Call(f"/api/v1/requests/{request}/status", at_b=True),
        ("POST", "/api/v1/requests/{request_id}/tracking-link"): Call(f"/api/v1/requests/{request}/tracking-link",
                                                                      at_b=True),
        ("PATCH", "/api/v1/requests/{request_id}"): Call(f"/api/v1/requests/{request}", {"max_distance_km": 5}, True),
        ("DELETE", "/api/v1/requests/{request_id}"): Call(f"/api/v1/requests/{request}", at_b=True),
        ("POST", "/api/v1/requests/{request_id}/withdraw"): Call(f"/api/v1/requests/{request}/withdraw",
                                                                 {"reason": "moved"}, True),
        ("GET", "/api/v1/duplicates"): Call("/api/v1/duplicates"),
        ("POST", "/api/v1/duplicates/distinct"): Call("/api/v1/duplicates/distinct",
                                                      {"request_ids": [request, b["twin"]]}, True),
        ("POST", "/api/v1/requests/{request_id}/merge"): Call(f"/api/v1/requests/{request}/merge",
                                                              {"duplicate_id": b["twin"]}, True),
        ("POST", "/api/v1/imports/requests"): Call("/api/v1/imports/requests?organisation=cpts-b", CSV, True),
        ("POST", "/api/v1/imports/cabinets"): Call("/api/v1/imports/cabinets?organisation=cpts-b", CSV, True),
        ("POST", "/api/v1/cabinets"): Call("/api/v1/cabinets", cabinet_body(name="Cabinet A")),
        ("GET", "/api/v1/cabinets"): Call("/api/v1/cabinets?limit=200"),
        ("GET", "/api/v1/cabinets/{cabinet_id}"): Call(f"/api/v1/cabinets/{cabinet}", at_b=True),
        ("PATCH", "/api/v1/cabinets/{cabinet_id}"): Call(f"/api/v1/cabinets/{cabinet}", {"paused": True}, True),
        ("DELETE", "/api/v1/cabinets/{cabinet_id}"): Call(f"/api/v1/cabinets/{cabinet}", at_b=True),
        ("POST", "/api/v1/cabinets/{cabinet_id}/batch-request"): Call(f"/api/v1/cabinets/{cabinet}/batch-request",
                                                                      at_b=True),
        ("GET", "/api/v1/cabinets/{cabinet_id}/link"): Call(f"/api/v1/cabinets/{cabinet}/link", at_b=True),
        ("DELETE", "/api/v1/cabinets/{cabinet_id}/link"): Call(f"/api/v1/cabinets/{cabinet}/link", at_b=True),
        ("GET", "/api/v1/organisations/{slug}"): Call("/api/v1/organisations/cpts-b", at_b=True),
        ("PUT", "/api/v1/organisations/{slug}/territory"): Call("/api/v1/organisations/cpts-b/territory",
                                                                {"postal_codes": ["13001"]}, True),
        ("GET", "/api/v1/organisations/{slug}/webhook"): Call("/api/v1/organisations/cpts-b/webhook", at_b=True),
        ("PUT", "/api/v1/organisations/{slug}/webhook"): Call("/api/v1/organisations/cpts-b/webhook",
                                                              {"url": "https://attacker.example/hook"}, True),
        ("DELETE", "/api/v1/organisations/{slug}/webhook"): Call("/api/v1/organisations/cpts-b/webhook", at_b=True),
        ("PUT", "/api/v1/organisations/{slug}/contact"): Call("/api/v1/organisations/cpts-b/contact",
                                                             {"phone": None, "email": "accueil@cpts-a.fr"}, True),
        ("GET", "/api/v1/organisations/{slug}/schedule"): Call("/api/v1/organisations/cpts-b/schedule", at_b=True),
        ("PUT", "/api/v1/organisations/{slug}/schedule"): Call("/api/v1/organisations/cpts-b/schedule",
                                                              {"match_at": ["03:00"], "timezone": None}, True),
        ("GET", "/api/v1/audit"): Call("/api/v1/audit?limit=200"),
        ("GET", "/api/v1/priority-policies/{kind}"): Call(f"{policy}?organisation=cpts-b", at_b=True),
        ("PUT", "/api/v1/priority-policies/{kind}"): Call(f"{policy}?organisation=cpts-b", {"rules": b["rules"]},
                                                          True),
        ("GET", "/api/v1/priority-policies/{kind}/versions"): Call(f"{policy}/versions?organisation=cpts-b",
                                                                   at_b=True),
        ("GET", "/api/v1/priority-policies/{kind}/versions/{version}"): Call(
            f"{policy}/versions/1?organisation=cpts-b", at_b=True),
        ("POST", "/api/v1/matching/runs"): Call("/api/v1/matching/runs", {}),
        ("GET", "/api/v1/matching/runs/{round_id}"): Call(f"/api/v1/matching/runs/{round_id}", at_b=True),
        ("GET", "/api/v1/matching/runs/{round_id}/unmatched"): Call(f"/api/v1/matching/runs/{round_id}/unmatched",
                                                                    at_b=True),
        ("GET", "/api/v1/offers"): Call("/api/v1/offers?limit=200"),
        ("GET", "/api/v1/stats"): Call("/api/v1/stats"),
        ("GET", "/api/v1/stats.csv"): Call("/api/v1/stats.csv"),
    }


def _b_as_b_sees_it(client, b) -> str:
    key = b["key"]
    return json.dumps([
        client.get(f"/api/v1/requests/{b['request']}", headers=key).json(),
        client.get(f"/api/v1/requests/{b['twin']}", headers=key).json(),
        client.get(f"/api/v1/cabinets/{b['cabinet']}", headers=key).json(),
        client.get(f"/api/v1/matching/runs/{b['round']}", headers=key).json(),
        client.get("/api/v1/organisations/cpts-b", headers=key).json(),
        client.get("/api/v1/organisations/cpts-b/webhook", headers=key).json(),
        client.get("/api/v1/organisations/cpts-b/schedule", headers=key).json(),
        client.get("/api/v1/priority-policies/medecin_traitant/versions", headers=key).json(),
        client.get("/api/v1/requests?limit=200", headers=key).json()["total"],
    ], sort_keys=True, default=str)


def test_the_matrix_covers_every_staff_operation():
    """Only the operations are compared: no records of B are needed."""
    assert set(_calls({"request": 0, "twin": 0, "cabinet": 0, "round": 0, "rules": {}})) == set(STAFF_OPERATIONS)


@pytest.mark.parametrize("role", ROLES)
def test_no_role_of_a_reaches_b(client, make_key, org_a, b, role):
    key = make_key(org_a, role)
    before = _b_as_b_sees_it(client, b)
    for (method, template), call in _calls(b).items():
        if isinstance(call.body, str):
            answer = client.request(method, call.url, content=call.body, headers=key | {"Content-Type": "text/csv"})
        else:
            answer = client.request(method, call.url, json=call.body, headers=key)
        where = f"{role.value} {method} {template}: {answer.status_code} {answer.text[:200]}"
        assert answer.status_code < 500, where
        if call.at_b:
            assert answer.status_code in (403, 404), where
        for marker in B_MARKERS:
            assert marker not in answer.text, where
    assert _b_as_b_sees_it(client, b) == before
