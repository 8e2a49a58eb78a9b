"""A coordinator sets the territory on its page: postal codes typed as people type them (each shown with its
communes), an outline sent as a GeoJSON file, kept or removed; new requests follow it at once; a wrong code,
an unreadable file or an overlap with another CPTS is named and nothing changes."""

import html
import json

import pytest

from lac_service.auth.models import Role
from tests.api.test_territories import LAMBERSART, WEST, _home
from tests.api.test_web_pages import csrf, log_in, staff  # noqa: F401  (staff: a fixture)

PAGE = "/equipe/territoire"


@pytest.fixture
def coordinator(client, staff):  # noqa: F811
    log_in(client, staff(Role.coordinator, "coordination@cpts-a.fr"))


def shown(page) -> str:
    return " ".join(html.unescape(page.text).split())


def send(client, codes: str = "", outline: dict | bytes | None = None, **fields: str):
    data = {"csrf_token": csrf(client.get(PAGE).text), "codes": codes, **fields}
    content = outline if isinstance(outline, bytes) else json.dumps(outline).encode() if outline else b""
    files = {"contour": ("territoire.geojson" if outline is not None else "", content, "application/geo+json")}
    return client.post(PAGE, data=data, files=files, follow_redirects=False)


def territory(client, key) -> dict:
    return client.get("/api/v1/organisations/cpts-a", headers=key).json()["territory"]


def test_codes_typed_any_way_are_saved_shown_with_their_communes_and_route_new_requests(client, make_key, org_a,
                                                                                        coordinator):
    key = make_key(org_a, Role.coordinator)
    saved = send(client, "59130, 59000;\n59000  59100")
    assert saved.status_code == 303 and saved.headers["location"] == f"{PAGE}?enregistre=1"
    assert territory(client, key) == {"geojson": None, "postal_codes": ["59000", "59100", "59130"], "communes": []}
    page = client.get(saved.headers["location"])
    assert "Territoire enregistré" in shown(page)
    assert "<td>59130</td><td>Lambersart</td>" in page.text and "<td>59100</td><td>Roubaix</td>" in page.text
    partner = make_key(org_a, Role.partner)
    routed = client.post("/api/v1/requests", json=_home(LAMBERSART), headers=partner).json()
    assert (routed["organisation"], routed["outside_territory"]) == ("cpts-a", False)


def test_an_outline_is_saved_kept_with_new_codes_offered_for_download_and_removed_on_request(client, make_key, org_a,
                                                                                             coordinator):
    key = make_key(org_a, Role.coordinator)
    assert send(client, "", WEST).status_code == 303
    assert territory(client, key)["geojson"] == WEST
    assert client.get(f"{PAGE}/contour.geojson").json() == WEST
    assert send(client, "59000").status_code == 303, "no file sent: the outline stays"
    assert territory(client, key) == {"geojson": WEST, "postal_codes": ["59000"], "communes": []}
    assert send(client, "59000", sans_contour="on").status_code == 303
    assert territory(client, key) == {"geojson": None, "postal_codes": ["59000"], "communes": []}
    assert client.get(f"{PAGE}/contour.geojson").status_code == 404


@pytest.mark.parametrize(("codes", "outline", "field", "words"), [
    ("59000 5900", None, "codes", "mal écrits : 5900"),
    ("59000 00000", None, "codes", "inconnus : 00000"),
    ("", None, "codes", "un territoire vide"),
    ("2A004", None, "codes", "mal écrits : 2A004"),
    ("59000", b"[" * 100_000, "contour", "GeoJSON lisible"),
    ("59000", b'{"type": "Feature", "properties": {"aire": NaN}, "geometry": null}', "contour", "GeoJSON lisible"),
    ("59000", b"{pas du json", "contour", "GeoJSON lisible"),
    ("59000", [1, 2], "contour", "décrire un polygone"),
    ("59000", {"type": "Point", "coordinates": [3.06, 50.63]}, "contour", "non accepté : 'Point'"),
    ("59000", {"type": "Polygon", "coordinates": [[[50.55, 2.95], [50.55, 3.07], [50.72, 3.07], [50.55, 2.95]]]},
     "contour", "longitude, latitude"),
])
def test_a_wrong_code_or_file_is_named_at_its_field_and_nothing_changes(client, make_key, org_a, coordinator, codes,
                                                                        outline, field, words):
    key = make_key(org_a, Role.coordinator)
    assert send(client, "59130").status_code == 303
    answer = send(client, codes, json.dumps(outline).encode() if isinstance(outline, list) else outline)
    assert answer.status_code == 422
    assert f'<a href="#{field}">' in answer.text and words in shown(answer)
    assert f">{codes}</textarea>" in answer.text, "what was typed is kept"
    assert territory(client, key) == {"geojson": None, "postal_codes": ["59130"], "communes": []}


def test_an_overlap_with_another_cpts_is_refused_by_name(client, make_key, org_a, org_b, coordinator):
    admin = make_key(org_b, Role.admin)
    assert client.put("/api/v1/organisations/cpts-b/territory", json={"postal_codes": ["59100"]},
                      headers=admin).status_code == 200
    answer = send(client, "59000 59100")
    assert answer.status_code == 409
    assert "Ce territoire chevauche celui de « CPTS cpts-b » (cpts-b) : le code postal 59100." in shown(answer)
    assert territory(client, make_key(org_a, Role.coordinator)) is None


def test_a_secretary_cannot_open_or_change_the_territory(client, make_key, org_a, staff):  # noqa: F811
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    assert client.get(PAGE).status_code == 403
    token = csrf(client.get("/equipe").text)
    assert client.post(PAGE, data={"csrf_token": token, "codes": "59000"}).status_code == 403
    assert territory(client, make_key(org_a, Role.coordinator)) is None


def test_a_refused_form_keeps_the_outline_removal_ticked(client, coordinator):
    assert send(client, "59000", WEST).status_code == 303
    refused = send(client, "5900", sans_contour="on")
    assert refused.status_code == 422
    assert 'name="sans_contour" type="checkbox" value="on" checked' in refused.text


def test_communes_of_a_shared_postal_code_are_typed_one_a_line(client, make_key, org_a, coordinator):
    key = make_key(org_a, Role.coordinator)
    saved = send(client, "59000", communes="59320 haubourdin\n\n59320;Sequedin  ")
    assert saved.status_code == 303
    assert territory(client, key)["communes"] == [{"postal_code": "59320", "city": "Haubourdin"},
                                                  {"postal_code": "59320", "city": "Sequedin"}]
    assert ">59320 Haubourdin\n59320 Sequedin</textarea>" in client.get(PAGE).text, "as the gazetteer spells them"
    for typed, words in (("Haubourdin", "écrivez le code postal puis le nom"),
                         ("59320 Lille", "Commune introuvable : 59320 Lille (communes du code postal 59320 : Emmerin"),
                         ("59320 " + "x" * 120, "Nom de commune trop long")):
        refused = send(client, "59000", communes=typed)
        assert refused.status_code == 422 and '<a href="#communes">' in refused.text and words in shown(refused)
        assert f">{typed}</textarea>" in refused.text
    assert len(territory(client, key)["communes"]) == 2, "nothing changed"
    token = csrf(client.get(PAGE).text)
    older_page = client.post(PAGE, data={"csrf_token": token, "codes": "59000 59100"}, files={"contour": ("", b"")},
                             follow_redirects=False)
    assert older_page.status_code == 303
    assert len(territory(client, key)["communes"]) == 2, "a form without the communes field leaves them"
