"""Territories decide which organisation a new request belongs to; overlaps are refused."""

import json

import pytest
from fastapi.testclient import TestClient

from lac_service.auth.models import Role
from lac_service.main import create_app
from tests.api.test_web_pages import log_in, staff  # noqa: F401  (staff: a fixture)
from tests.payloads import request_body

WEST = {"type": "Polygon", "coordinates": [[[2.95, 50.55], [3.07, 50.55], [3.07, 50.72], [2.95, 50.72], [2.95, 50.55]]]}
EAST = {
    "type": "Feature", "properties": {"nom": "CPTS Est"},
    "geometry": {"type": "Polygon", "coordinates": [[[3.07, 50.55], [3.25, 50.55], [3.25, 50.72], [3.07, 50.72], [3.07, 50.55]]]},
}
ACROSS = {"type": "Polygon", "coordinates": [[[3.0, 50.6], [3.2, 50.6], [3.2, 50.7], [3.0, 50.7], [3.0, 50.6]]]}

LAMBERSART = {"line": "1 avenue de l'Hippodrome", "postal_code": "59130", "city": "Lambersart"}
VILLENEUVE = {"line": "2 rue Paul Doumer", "postal_code": "59650", "city": "Villeneuve-d'Ascq"}
CALAIS = {"line": "1 boulevard Jacquard", "postal_code": "62100", "city": "Calais"}


def _home(address, **patient):
    body = request_body(**patient)
    body["patient"]["address"] = address
    del body["patient"]["location"]
    return body


@pytest.fixture
def mapped(client, make_org, make_key, org_a, org_b):
    """cpts-a holds the west of Lille, cpts-b the east; "region" is the regional platform."""
    region = make_org("region")
    admin = make_key(region, Role.admin)
    assert client.put("/api/v1/organisations/cpts-a/territory", json={"geojson": WEST}, headers=admin).status_code == 200
    assert client.put("/api/v1/organisations/cpts-b/territory", json={"geojson": EAST}, headers=admin).status_code == 200
    return admin


def test_a_home_goes_to_the_organisation_whose_territory_holds_it(client, mapped, make_key, org_a):
    partner_a = make_key(org_a, Role.partner)
    west = client.post("/api/v1/requests", json=_home(LAMBERSART), headers=partner_a).json()
    east = client.post("/api/v1/requests", json=_home(VILLENEUVE, phone="0781234567", first_name="Paul"), headers=partner_a).json()
    assert (west["organisation"], west["outside_territory"]) == ("cpts-a", False)
    assert (east["organisation"], east["outside_territory"]) == ("cpts-b", False)
    assert [r["id"] for r in client.get("/api/v1/requests", headers=partner_a).json()["items"]] == [west["id"]]


def test_a_home_in_no_territory_goes_to_the_default_organisation_flagged(settings, engine, session_factory, mapped):
    app = create_app(
        settings.model_copy(update={"default_organisation": "region"}), engine=engine, session_factory=session_factory
    )
    with TestClient(app) as client:
        public = client.post("/api/v1/requests", json=_home(CALAIS))
        assert public.status_code == 201, public.text
        assert (public.json()["organisation"], public.json()["outside_territory"]) == ("region", True)
        inside = client.post("/api/v1/requests", json=_home(LAMBERSART, phone="0781234567", first_name="Paul"))
        assert (inside.json()["organisation"], inside.json()["outside_territory"]) == ("cpts-a", False)


def test_without_a_default_a_keyed_caller_keeps_a_home_outside_every_territory(client, mapped, make_key, org_b):
    created = client.post("/api/v1/requests", json=_home(CALAIS), headers=make_key(org_b, Role.secretary)).json()
    assert (created["organisation"], created["outside_territory"]) == ("cpts-b", True)


def test_a_home_outside_the_territory_is_flagged_to_the_staff_and_told_to_the_patient(client, mapped, make_key, org_b,
                                                                                        staff):
    """Registered all the same (a cabinet of the territory may still take them), but nobody is left waiting
    unawares: the staff can direct the patient to the CPTS of their commune."""
    secretary = make_key(org_b, Role.secretary)
    calais = client.post("/api/v1/requests", json=_home(CALAIS), headers=secretary).json()
    villeneuve = client.post("/api/v1/requests", json=_home(VILLENEUVE, phone="0781234567", first_name="Paul"),
                             headers=secretary).json()
    tracking = client.get(calais["tracking_url"].removeprefix("http://127.0.0.1:8000")).text
    assert "Votre domicile est en dehors du territoire que couvre CPTS cpts-b" in tracking
    assert "en dehors du territoire" not in client.get(villeneuve["tracking_url"].removeprefix("http://127.0.0.1:8000")).text
    log_in(client, staff(Role.secretary, "secretaire@cpts-b.fr", org_b))
    rows = client.get("/equipe").text.split("<tr>")
    (flagged,) = [row for row in rows if "Hors territoire" in row]
    assert f"/equipe/demandes/{calais['id']}" in flagged
    assert any(f"/equipe/demandes/{villeneuve['id']}" in row for row in rows)
    assert "Domicile hors du territoire" in client.get(f"/equipe/demandes/{calais['id']}").text
    assert "Domicile hors du territoire" not in client.get(f"/equipe/demandes/{villeneuve['id']}").text
    corrected = client.patch(f"/api/v1/requests/{calais['id']}", headers=secretary,
                             json={"patient": {"address": VILLENEUVE, "location": None}})
    assert corrected.status_code == 200 and corrected.json()["outside_territory"] is False, "a mistyped address put right"
    assert "en dehors du territoire" not in client.get(calais["tracking_url"].removeprefix("http://127.0.0.1:8000")).text
    moved = client.patch(f"/api/v1/requests/{villeneuve['id']}", headers=secretary,
                         json={"patient": {"address": LAMBERSART, "location": None}})
    assert moved.json()["outside_territory"] is True, "moved into another CPTS's territory: the staff see it"


def test_postal_codes_make_a_territory_too(client, mapped, make_org, make_key):
    make_org("cpts-calaisis")
    answer = client.put(
        "/api/v1/organisations/cpts-calaisis/territory", json={"postal_codes": ["62100", "62730"]}, headers=mapped
    )
    assert answer.json()["territory"] == {"geojson": None, "postal_codes": ["62100", "62730"], "communes": []}
    assert client.post("/api/v1/requests", json=_home(CALAIS), headers=mapped).json()["organisation"] == "cpts-calaisis"


def test_two_cpts_share_a_postal_code_by_its_communes(client, make_org, make_key):
    """59320 serves Haubourdin and Emmerin, whose patients go to two different CPTS."""
    weppes = make_org("cpts-weppes")
    make_org("cpts-sud")
    admin = make_key(make_org("region"), Role.admin)
    answer = client.put("/api/v1/organisations/cpts-weppes/territory", headers=admin, json={"communes": [
        {"postal_code": "59320", "city": "HAUBOURDIN"}, {"postal_code": "59320", "city": "Sequedin"}]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["territory"]["communes"] == [{"postal_code": "59320", "city": "Haubourdin"},
                                                      {"postal_code": "59320", "city": "Sequedin"}]
    assert client.put("/api/v1/organisations/cpts-sud/territory", headers=admin, json={
        "communes": [{"postal_code": "59320", "city": "Emmerin"}]}).status_code == 200
    home = {"line": "1 rue de l'Église", "postal_code": "59320"}
    partner = make_key(weppes, Role.partner)
    in_haubourdin = client.post("/api/v1/requests", json=_home(home | {"city": "Haubourdin"}), headers=partner).json()
    in_emmerin = client.post("/api/v1/requests", json=_home(home | {"city": "emmerin"}, phone="0781234567",
                                                                first_name="Paul"), headers=partner).json()
    assert (in_haubourdin["organisation"], in_emmerin["organisation"]) == ("cpts-weppes", "cpts-sud")
    assert in_emmerin["outside_territory"] is False
    clash = client.put("/api/v1/organisations/cpts-sud/territory", headers=admin, json={"postal_codes": ["59320"]})
    assert clash.status_code == 409 and clash.json()["message"] == (
        "Ce territoire chevauche celui de « CPTS cpts-weppes » (cpts-weppes) : le code postal 59320, qui dessert la "
        "commune Haubourdin.")
    wrong = client.put("/api/v1/organisations/cpts-sud/territory", headers=admin, json={
        "communes": [{"postal_code": "59320", "city": "Lille"}]})
    assert wrong.status_code == 422 and "Commune introuvable : 59320 Lille" in wrong.json()["message"]
    assert client.get("/api/v1/organisations/cpts-sud", headers=admin).json()["territory"]["communes"] == [
        {"postal_code": "59320", "city": "Emmerin"}], "nothing changed"


def test_overlapping_territories_are_refused_and_nothing_changes(client, mapped, make_org):
    make_org("cpts-c")
    answer = client.put("/api/v1/organisations/cpts-c/territory", json={"geojson": ACROSS}, headers=mapped)
    assert answer.status_code == 409
    assert answer.json()["code"] == "overlapping_territories"
    assert answer.json()["field"] == "territory"
    assert "cpts-a" in answer.json()["message"]
    assert client.get("/api/v1/organisations/cpts-c", headers=mapped).json()["territory"] is None
    same_code = client.put("/api/v1/organisations/cpts-c/territory", json={"postal_codes": ["59000"]}, headers=mapped)
    assert same_code.status_code == 200
    clash = client.put("/api/v1/organisations/cpts-a/territory", json={"geojson": WEST, "postal_codes": ["59000"]},
                       headers=mapped)
    assert clash.status_code == 409 and clash.json()["message"].endswith("(cpts-c) : le code postal 59000.")


def test_two_territories_stored_overlapping_stop_neither_registrations_nor_a_third_organisation(client, db, mapped,
                                                                                               make_org, caplog):
    """Saved before the check existed, or by hand: homes are still routed, a third organisation is judged on
    its own territory only, and the overlap is logged for the operator."""
    for slug in ("cpts-c", "cpts-d"):
        make_org(slug).territory_postal_codes = ["59650"]
    db.commit()
    make_org("cpts-e")
    answer = client.put("/api/v1/organisations/cpts-e/territory", json={"postal_codes": ["59790"]}, headers=mapped)
    assert answer.status_code == 200 and answer.json()["territory"]["postal_codes"] == ["59790"]
    assert "overlap: le code postal 59650" in caplog.text
    routed = client.post("/api/v1/requests", json=_home(VILLENEUVE), headers=mapped)
    assert routed.status_code == 201 and routed.json()["organisation"] == "cpts-c", \
        "registrations go on: what both hold goes to the older organisation, as on a border"
    clash = client.put("/api/v1/organisations/cpts-e/territory", json={"postal_codes": ["59650"]}, headers=mapped)
    assert clash.status_code == 409
    assert clash.json()["message"] == "Ce territoire chevauche celui de « CPTS cpts-c » (cpts-c) : le code postal 59650."
    assert client.get("/api/v1/organisations/cpts-e", headers=mapped).json()["territory"]["postal_codes"] == ["59790"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"geojson": {"type": "Point", "coordinates": [3.0, 50.6]}}, "Point"),
        ({"geojson": {"type": "Polygon", "coordinates": [[[50.6, 3.0], [50.7, 3.0], [50.7, 3.1], [50.6, 3.0]]]}}, "longitude"),
        ({"geojson": {"type": "Polygon", "coordinates": "nope"}}, "mal formées"),
        ({"postal_codes": ["99999"]}, "99999"),
    ],
)
def test_invalid_territories_are_422_with_a_french_message(client, mapped, body, fragment):
    answer = client.put("/api/v1/organisations/cpts-a/territory", json=body, headers=mapped)
    assert answer.status_code == 422, answer.text
    assert fragment in answer.json()["message"]
    assert client.get("/api/v1/organisations/cpts-a", headers=mapped).json()["territory"]["geojson"] == WEST


def test_who_may_set_a_territory(client, make_key, org_a, org_b):
    assert client.put(
        "/api/v1/organisations/cpts-a/territory", json={"geojson": WEST}, headers=make_key(org_a, Role.secretary)
    ).status_code == 403
    assert client.put(
        "/api/v1/organisations/cpts-b/territory", json={"geojson": EAST}, headers=make_key(org_a, Role.coordinator)
    ).status_code == 404
    own = client.put(
        "/api/v1/organisations/cpts-a/territory", json={"geojson": WEST}, headers=make_key(org_a, Role.coordinator)
    )
    assert own.status_code == 200


def test_lac_org_create_with_a_territory_file(tmp_path):
    import os
    import subprocess
    import sys

    env = os.environ | {"LAC_DATABASE_URL": f"sqlite:///{tmp_path / 'geo.db'}", "LAC_ENVIRONMENT": "development"}

    def lac(*args):
        return subprocess.run([sys.executable, "-m", "lac_service.cli", *args], env=env, capture_output=True, text=True, check=False)

    (tmp_path / "west.geojson").write_text(json.dumps(WEST))
    (tmp_path / "across.geojson").write_text(json.dumps(ACROSS))
    (tmp_path / "codes.txt").write_text("62100; 62730\n62100")
    assert lac("db", "upgrade").returncode == 0
    assert lac("org", "create", "cpts-a", "--name", "A", "--territory", str(tmp_path / "west.geojson")).returncode == 0
    refused = lac("org", "create", "cpts-c", "--name", "C", "--territory", str(tmp_path / "across.geojson"))
    assert refused.returncode == 1 and "chevauche" in refused.stderr
    assert lac("org", "create", "cpts-c", "--name", "C", "--territory", str(tmp_path / "codes.txt")).returncode == 0
