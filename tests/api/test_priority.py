"""Explained priorities on requests, the queue in priority order, and policies a coordinator replaces."""

from datetime import timedelta

import pytest

from lac_service.auth.models import Role
from lac_service.errors import Conflict
from lac_service.kinds import Kind
from lac_service.policies import service as policies
from lac_service.intake.ranking import rescore
from lac_service.kit.clock import utcnow
from tests.payloads import request_body


def _register(client, headers, first_name, phone, **changes):
    body = request_body(first_name=first_name, phone=phone, email=None)
    for key, value in changes.items():
        if key == "birth_date":
            body["patient"]["birth_date"] = value
        else:
            body[key] = value
    answer = client.post("/api/v1/requests", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


@pytest.fixture
def queue(client, make_key, org_a):
    """Three GP requests: an elderly patient with an ALD, a pregnant adult, a plain adult."""
    coordinator = make_key(org_a, Role.coordinator)
    elderly = _register(client, coordinator, "Alice", "0611111111", birth_date="1950-01-01", criteria={"ald": True})
    pregnant = _register(
        client, coordinator, "Bea", "0622222222", birth_date="1995-05-05", criteria={"pregnant": True}
    )
    plain = _register(client, coordinator, "Chloé", "0633333333", birth_date="1990-02-02", criteria={})
    return {"headers": coordinator, "elderly": elderly, "pregnant": pregnant, "plain": plain}


def test_each_request_carries_its_score_and_why(queue):
    priority = queue["elderly"]["priority"]
    assert priority["points"] == 90
    assert priority["band"] == "high"
    assert priority["policy_version"] == 0
    assert [(r["code"], r["label"], r["points"]) for r in priority["reasons"]] == [
        ("ald", "Affection de longue durée (ALD)", 50),
        ("age_70_plus", "Âge : 70 ans ou plus", 40),
    ]
    assert queue["plain"]["priority"] == queue["plain"]["priority"] | {"points": 0, "reasons": [], "band": "low"}
    assert queue["pregnant"]["priority"]["band"] == "medium"


def test_the_queue_lists_in_priority_order_and_filters_by_band(client, queue):
    listed = client.get("/api/v1/requests", headers=queue["headers"]).json()["items"]
    assert [r["patient"]["first_name"] for r in listed] == ["Alice", "Bea", "Chloé"]
    oldest = client.get("/api/v1/requests?sort=oldest", headers=queue["headers"]).json()["items"]
    assert [r["patient"]["first_name"] for r in oldest] == ["Alice", "Bea", "Chloé"]
    newest = client.get("/api/v1/requests?sort=newest", headers=queue["headers"]).json()["items"]
    assert [r["patient"]["first_name"] for r in newest] == ["Chloé", "Bea", "Alice"]
    high = client.get("/api/v1/requests?priority_band=high", headers=queue["headers"]).json()["items"]
    assert [r["patient"]["first_name"] for r in high] == ["Alice"]
    low = client.get("/api/v1/requests?priority_band=low", headers=queue["headers"]).json()["items"]
    assert [r["patient"]["first_name"] for r in low] == ["Chloé"]


def test_a_change_of_criteria_rescores_at_once(client, queue):
    changed = client.patch(
        f"/api/v1/requests/{queue['plain']['id']}", json={"criteria": {"urgent": True, "urgent_reason": "Sortie d'hôpital"}},
        headers=queue["headers"],
    ).json()
    assert changed["priority"]["points"] == 80
    assert [r["code"] for r in changed["priority"]["reasons"]] == ["urgency"]


def test_default_policy_is_version_zero_with_its_bound(client, queue):
    policy = client.get("/api/v1/priority-policies/medecin_traitant", headers=queue["headers"]).json()
    assert (policy["version"], policy["organisation"], policy["months_to_overtake"]) == (0, "cpts-a", 24)
    assert policy["rules"]["ald"] == {"points": 50}
    speech = client.get("/api/v1/priority-policies/bilan_orthophonique", headers=queue["headers"]).json()
    assert speech["months_to_overtake"] == 18


NEW_RULES = {
    "rules": {
        "pregnancy": {"points": 100},
        "age": {"bands": [{"from_years": 70, "points": 10}]},
        "waited": {"points_per_month": 10},
    }
}


def test_a_coordinator_replaces_the_policy_and_the_queue_is_reranked(client, queue, make_key, org_b):
    replaced = client.put("/api/v1/priority-policies/medecin_traitant", json=NEW_RULES, headers=queue["headers"])
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["version"], replaced.json()["rescored"]) == (1, 3)
    assert replaced.json()["created_by"].startswith("apikey:")
    listed = client.get("/api/v1/requests", headers=queue["headers"]).json()["items"]
    assert [(r["patient"]["first_name"], r["priority"]["points"]) for r in listed] == [
        ("Bea", 100), ("Alice", 10), ("Chloé", 0)
    ]
    assert listed[0]["priority"]["policy_version"] == 1
    assert [r["code"] for r in listed[1]["priority"]["reasons"]] == ["age_70_plus"]

    versions = client.get("/api/v1/priority-policies/medecin_traitant/versions", headers=queue["headers"]).json()
    assert [v["version"] for v in versions["items"]] == [0, 1] and versions["total"] == 2
    old = client.get("/api/v1/priority-policies/medecin_traitant/versions/0", headers=queue["headers"]).json()
    assert old["rules"]["ald"] == {"points": 50}
    assert client.get("/api/v1/priority-policies/medecin_traitant/versions/7", headers=queue["headers"]).status_code == 404

    other = client.get("/api/v1/priority-policies/medecin_traitant", headers=make_key(org_b, Role.coordinator)).json()
    assert other["version"] == 0, "another organisation's policy is untouched"


def test_policy_versions_come_a_page_at_a_time(client, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    for points in (10, 20, 30):
        rules = {"rules": NEW_RULES["rules"] | {"ald": {"points": points}}}
        assert client.put("/api/v1/priority-policies/medecin_traitant", json=rules, headers=coordinator).status_code == 200
    pages = [client.get(f"/api/v1/priority-policies/medecin_traitant/versions?limit=3&offset={offset}",
                        headers=coordinator).json() for offset in (0, 3)]
    assert [[v["version"] for v in page["items"]] for page in pages] == [[0, 1, 2], [3]]
    assert [page["total"] for page in pages] == [4, 4]
    assert [v["rules"]["ald"]["points"] for v in pages[0]["items"] + pages[1]["items"]] == [50, 10, 20, 30]


def test_a_request_registered_after_a_policy_change_is_scored_with_it(client, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    assert client.put("/api/v1/priority-policies/medecin_traitant", json=NEW_RULES, headers=coordinator).status_code == 200
    created = _register(client, coordinator, "Bea", "0622222222", birth_date="1995-05-05", criteria={"pregnant": True})
    assert (created["priority"]["policy_version"], created["priority"]["points"]) == (1, 100)


@pytest.mark.parametrize("role", [Role.secretary, Role.partner])
def test_only_coordinators_and_admins_replace_a_policy(client, make_key, org_a, role):
    headers = make_key(org_a, role)
    assert client.get("/api/v1/priority-policies/medecin_traitant", headers=headers).status_code == 200
    refused = client.put("/api/v1/priority-policies/medecin_traitant", json=NEW_RULES, headers=headers)
    assert refused.status_code == 403
    assert client.get("/api/v1/priority-policies/medecin_traitant", headers=headers).json()["version"] == 0


@pytest.mark.parametrize(
    ("rules", "field", "fragment"),
    [
        ({"gentillesse": {"points": 5}}, "rules", "Règle inconnue"),
        ({"ald": {"points": -5}}, "rules.ald.points", "supérieure ou égale à 0"),
        ({"age": {"bands": [{"from_years": 10, "under_years": 5, "points": 5}]}}, "rules.age.bands.0", "vide"),
        ({"waited": {"points_per_month": "dix"}}, "rules.waited.points_per_month", "nombre entier"),
    ],
)
def test_an_invalid_policy_is_422_and_nothing_changes(client, make_key, org_a, rules, field, fragment):
    coordinator = make_key(org_a, Role.coordinator)
    answer = client.put("/api/v1/priority-policies/medecin_traitant", json={"rules": rules}, headers=coordinator)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert fragment in answer.json()["errors"][0]["message"]
    assert client.get("/api/v1/priority-policies/medecin_traitant", headers=coordinator).json()["version"] == 0


def test_admins_choose_the_organisation(client, make_key, org_a, org_b):
    admin = make_key(org_a, Role.admin)
    replaced = client.put(
        "/api/v1/priority-policies/bilan_orthophonique?organisation=cpts-b", json={"rules": {"urgency": {"points": 5}}},
        headers=admin,
    )
    assert replaced.json()["organisation"] == "cpts-b"
    coordinator = make_key(org_a, Role.coordinator)
    assert client.get(
        "/api/v1/priority-policies/bilan_orthophonique?organisation=cpts-b", headers=coordinator
    ).status_code == 403


def test_time_waited_lifts_a_request_after_the_daily_rescore(client, db, queue):
    later = utcnow() + timedelta(days=31 * 13)
    assert rescore(db, now=later) == 3
    db.commit()
    listed = client.get("/api/v1/requests", headers=queue["headers"]).json()["items"]
    plain = next(r for r in listed if r["patient"]["first_name"] == "Chloé")
    assert plain["priority"]["points"] == 130
    assert plain["priority"]["reasons"] == [{"code": "waited", "label": "Attente : 13 mois", "points": 130}]
    assert rescore(db, now=later) == 0, "a second run the same day writes nothing"


def test_a_version_saved_in_the_same_instant_is_a_conflict_that_leaves_the_session_usable(db, org_a, monkeypatch):
    """Two coordinators read version 0 and save together: the second's insert meets the first's version. The
    screen then shows the rules in force, which it reads in the same transaction."""
    kind, now = Kind.medecin_traitant, utcnow()
    read_before = policies.current_policy(db, organisation_id=org_a.id, kind=kind)
    policies.replace_policy(db, organisation_id=org_a.id, kind=kind, rules=read_before.policy.rules, actor="a", now=now)
    monkeypatch.setattr(policies, "current_policy", lambda *args, **kwargs: read_before)  # read before that save
    with pytest.raises(Conflict) as refused:
        policies.replace_policy(db, organisation_id=org_a.id, kind=kind, rules=read_before.policy.rules, actor="b",
                                now=now)
    assert refused.value.code == "changed_meanwhile", "read again, then decide"
    monkeypatch.undo()
    assert policies.current_policy(db, organisation_id=org_a.id, kind=kind).version == 1
