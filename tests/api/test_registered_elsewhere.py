"""A request registered by one CPTS for a patient whose home is in another's territory belongs to that other
one; the CPTS that registered it still follows its status (API and screen), never its record."""

import pytest
from fastapi.testclient import TestClient

from lac_service.auth.models import Role
from lac_service.main import create_app
from tests.api.test_web_pages import csrf, form, log_in, staff  # noqa: F401 (fixture)
from tests.payloads import cabinet_body, request_body

VILLENEUVE = {"line": "2 rue Paul Doumer", "postal_code": "59650", "city": "Villeneuve-d'Ascq"}


def _in_villeneuve(**patient):
    body = request_body(**patient)
    body["patient"]["address"] = VILLENEUVE
    body["patient"]["location"] = {"lat": 50.6233, "lon": 3.1450}
    return body


@pytest.fixture
def villeneuve(client, make_org, make_key, org_a, org_b):
    """cpts-b holds Villeneuve-d'Ascq; cpts-a, a neighbour, registers one of its patients."""
    admin = make_key(make_org("region"), Role.admin)
    answer = client.put("/api/v1/organisations/cpts-b/territory", json={"postal_codes": ["59650"]}, headers=admin)
    assert answer.status_code == 200, answer.text
    partner_a = make_key(org_a, Role.partner)
    created = client.post("/api/v1/requests", json=_in_villeneuve(first_name="Inès"), headers=partner_a)
    assert created.status_code == 201, created.text
    assert created.json()["organisation"] == "cpts-b"
    return {"id": created.json()["id"], "partner_a": partner_a, "coordinator_b": make_key(org_b, Role.coordinator)}


def test_the_partner_that_registered_it_follows_its_status_without_its_personal_data(client, villeneuve):
    request_id, partner_a = villeneuve["id"], villeneuve["partner_a"]
    assert client.get(f"/api/v1/requests/{request_id}", headers=partner_a).status_code == 404
    followed = client.get(f"/api/v1/requests/{request_id}/status", headers=partner_a)
    assert followed.status_code == 200, followed.text
    assert set(followed.json()) == {"id", "kind", "status", "organisation", "status_changed_at", "merged_into_id",
                                    "history"}
    assert followed.json()["organisation"] == "cpts-b" and followed.json()["status"] == "waiting"

    coordinator_b = villeneuve["coordinator_b"]
    client.post("/api/v1/cabinets", json=cabinet_body(location={"lat": 50.62, "lon": 3.14}), headers=coordinator_b)
    assert client.post("/api/v1/matching/runs", json={}, headers=coordinator_b).json()["batches"]
    now = client.get(f"/api/v1/requests/{request_id}/status", headers=partner_a).json()
    assert now["status"] == "offered"
    assert [(c["from_status"], c["to_status"]) for c in now["history"]] == [(None, "waiting"), ("waiting", "offered")]
    assert client.get(f"/api/v1/requests/{request_id}/status", headers=coordinator_b).json() == now


@pytest.mark.parametrize("role", [Role.partner, Role.secretary, Role.coordinator])
def test_the_registering_organisation_acts_on_nothing(client, villeneuve, make_key, org_a, org_b, role):
    """Every operation on a record answers as if it did not exist, the record and its look-alike unchanged."""
    request_id, coordinator_b = villeneuve["id"], villeneuve["coordinator_b"]
    twin = client.post("/api/v1/requests", json=_in_villeneuve(first_name="Durand-Lefèvre", last_name="Élodie"),
                       headers=coordinator_b).json()["id"]
    key = make_key(org_a, role)
    before = [client.get(f"/api/v1/requests/{i}", headers=coordinator_b).json() for i in (request_id, twin)]
    refused = [
        client.patch(f"/api/v1/requests/{request_id}", json={"criteria": {"ald": False}}, headers=key),
        client.patch(f"/api/v1/requests/{request_id}", json={"patient": {"location": {"lat": 50.63, "lon": 3.15}}},
                     headers=key),
        client.post(f"/api/v1/requests/{request_id}/withdraw", json={"reason": "moved"}, headers=key),
        client.delete(f"/api/v1/requests/{request_id}", headers=key),
        client.post(f"/api/v1/requests/{request_id}/merge", json={"duplicate_id": twin}, headers=key),
        client.post("/api/v1/duplicates/distinct", json={"request_ids": [request_id, twin]}, headers=key),
    ]
    assert [answer.status_code for answer in refused if answer.status_code not in (403, 404)] == []
    assert all("Inès" not in answer.text for answer in refused)
    assert [client.get(f"/api/v1/requests/{i}", headers=coordinator_b).json() for i in (request_id, twin)] == before


def test_a_third_organisation_or_no_key_cannot_follow_it(client, villeneuve, make_org, make_key):
    request_id = villeneuve["id"]
    third = make_key(make_org("cpts-c"), Role.partner)
    assert client.get(f"/api/v1/requests/{request_id}/status", headers=third).status_code == 404
    assert client.get(f"/api/v1/requests/{request_id}/status").status_code == 401


def test_once_erased_it_is_no_longer_followed(client, villeneuve):
    """The registering organisation knows whom the number stands for: erasure cuts that link too."""
    request_id = villeneuve["id"]
    assert client.delete(f"/api/v1/requests/{request_id}", headers=villeneuve["coordinator_b"]).status_code == 204
    assert client.get(f"/api/v1/requests/{request_id}/status", headers=villeneuve["partner_a"]).status_code == 404
    assert client.get(f"/api/v1/requests/{request_id}/status",
                      headers=villeneuve["coordinator_b"]).json()["status"] == "withdrawn"


def test_merged_into_the_holders_own_request_it_is_followed_there(client, villeneuve):
    request_id, partner_a, coordinator_b = villeneuve["id"], villeneuve["partner_a"], villeneuve["coordinator_b"]
    own = client.post("/api/v1/requests", json=_in_villeneuve(first_name="Ines", last_name="Durand"),
                      headers=coordinator_b).json()["id"]
    assert client.get(f"/api/v1/requests/{own}/status", headers=partner_a).status_code == 404
    merged = client.post(f"/api/v1/requests/{own}/merge", json={"duplicate_id": request_id}, headers=coordinator_b)
    assert merged.status_code == 200, merged.text
    left = client.get(f"/api/v1/requests/{request_id}/status", headers=partner_a).json()
    assert (left["status"], left["merged_into_id"]) == ("withdrawn", own)
    assert client.get(f"/api/v1/requests/{own}/status", headers=partner_a).json()["status"] == "waiting"


def _register_on_the_screen(client, first_name: str, phone: str, address: dict[str, str]):
    fields = form(client, **{"patient.first_name": first_name, "patient.phone": phone,
                             **{f"patient.address.{part}": value for part, value in address.items()}})
    fields["csrf_token"] = csrf(client.get("/equipe/demandes/nouvelle").text)
    return client.post("/equipe/demandes/nouvelle", data=fields)


def test_a_secretary_registering_a_neighbours_patient_on_the_screen_is_told_who_holds_it(
    client, villeneuve, staff, make_org,  # noqa: F811 (fixture)
):
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    page = _register_on_the_screen(client, "Jules", "06 98 76 54 32", VILLENEUVE)
    assert page.status_code == 200, page.text
    assert "transmise à « CPTS cpts-b »" in page.text and "dans le territoire de « CPTS cpts-b »" in page.text
    assert "reçoit son lien de suivi" in page.text and "Statut : en attente" in page.text
    assert "Jules" not in page.text and "06 98 76 54 32" not in page.text
    number = page.text.split("Demande n° ", 1)[1].split(" ", 1)[0]
    record = client.get(f"/api/v1/requests/{number}", headers=villeneuve["coordinator_b"]).json()
    assert (record["patient"]["first_name"], record["organisation"]) == ("Jules", "cpts-b")

    later = client.get(f"/equipe/demandes/{number}")
    assert later.status_code == 200 and "Statut : en attente" in later.text and "reçoit son lien" not in later.text
    token = csrf(later.text)
    for action in ("modifier", "retrait"):
        refused = client.post(f"/equipe/demandes/{number}/{action}", data={"csrf_token": token, "reason": "moved",
                                                                          "patient.first_name": "Julien"})
        assert refused.status_code == 404, action
    after = client.get(f"/api/v1/requests/{number}", headers=villeneuve["coordinator_b"]).json()
    assert (after["patient"]["first_name"], after["status"]) == ("Jules", "waiting")

    client.cookies.clear()
    log_in(client, staff(Role.secretary, "secretaire@cpts-c.fr", organisation=make_org("cpts-c")))
    assert client.get(f"/equipe/demandes/{number}").status_code == 404


def test_a_home_in_no_territory_is_said_to_be_followed_by_the_default_organisation(
    settings, engine, session_factory, villeneuve, staff,  # noqa: F811 (fixture)
):
    app = create_app(settings.model_copy(update={"default_organisation": "region"}), engine=engine,
                     session_factory=session_factory)
    with TestClient(app) as client:
        log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
        page = _register_on_the_screen(client, "Jules", "06 98 76 54 32",
                                       {"line": "1 boulevard Jacquard", "postal_code": "62100", "city": "Calais"})
        assert page.status_code == 200, page.text
        assert "aucune CPTS : la demande est suivie par « CPTS region »" in page.text
