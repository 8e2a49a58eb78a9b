"""How patients reach their organisation: set by its coordinators (API and screen), shown on every tracking
page; a wrong number or address is refused with its field and changes nothing."""

import pytest

from lac_service.auth.models import Role
from tests.api.test_web_pages import csrf, log_in, staff  # noqa: F401  (staff: a fixture)
from tests.payloads import request_body

PATH = "/api/v1/organisations/cpts-a/contact"


@pytest.fixture
def coordinator(make_key, org_a):
    return make_key(org_a, Role.coordinator)


@pytest.fixture
def tracking(client, make_key, org_a) -> str:
    created = client.post("/api/v1/requests", json=request_body(), headers=make_key(org_a, Role.secretary))
    assert created.status_code == 201, created.text
    return "/" + created.json()["tracking_url"].split("/", 3)[3]


def who(page: str) -> str:
    """The section « Qui suit votre demande » as a patient reads it, tags and spacing aside."""
    section = page.split('id="who-title"', 1)[1].split("</section>", 1)[0]
    return " ".join(section.split("</h2>", 1)[1].replace("<p>", "").replace("</p>", "").split())


def test_the_tracking_page_names_the_organisation_and_how_to_reach_it(client, coordinator, tracking):
    assert who(client.get(tracking).text) == "CPTS cpts-a.", "nothing given: the name alone"
    saved = client.put(PATH, headers=coordinator, json={"phone": "03 20 12 34 56", "email": "accueil@cpts-a.fr"})
    assert saved.status_code == 200 and saved.json() == {"phone": "+33320123456", "email": "accueil@cpts-a.fr"}
    assert client.get("/api/v1/organisations/cpts-a", headers=coordinator).json()["contact"] == saved.json()
    assert who(client.get(tracking).text) == (
        'CPTS cpts-a. Pour une question ou un changement de situation : appelez le <a href="tel:+33320123456">03 20 12 '
        '34 56</a>, ou écrivez à <a href="mailto:accueil@cpts-a.fr">accueil@cpts-a.fr</a>.')
    client.put(PATH, headers=coordinator, json={"phone": None, "email": "accueil@cpts-a.fr"})
    assert who(client.get(tracking).text).endswith(': écrivez à <a href="mailto:accueil@cpts-a.fr">accueil@cpts-a.fr</a>.')


@pytest.mark.parametrize(("body", "field"), [
    ({"phone": "12", "email": None}, "phone"),
    ({"phone": None, "email": "accueil@"}, "email"),
    ({"phone": "03 20 12 34 56" * 3, "email": None}, "phone"),
    ({"phone": None}, "email"),
    ({"phone": None, "email": None, "fax": "03 20 00 00 00"}, "fax"),
])
def test_a_wrong_contact_is_refused_with_its_field_and_changes_nothing(client, coordinator, body, field):
    client.put(PATH, headers=coordinator, json={"phone": "0320123456", "email": None})
    refused = client.put(PATH, headers=coordinator, json=body)
    assert refused.status_code == 422 and field in {e["field"] for e in refused.json()["errors"]}
    assert client.get("/api/v1/organisations/cpts-a", headers=coordinator).json()["contact"]["phone"] == "+33320123456"


@pytest.mark.parametrize("role", [Role.secretary, Role.partner])
def test_only_coordinators_and_admins_set_it(client, make_key, org_a, role):
    refused = client.put(PATH, headers=make_key(org_a, role), json={"phone": "0320123456", "email": None})
    assert refused.status_code == 403
    admin = client.put(PATH, headers=make_key(org_a, Role.admin), json={"phone": "0320123456", "email": None})
    assert admin.status_code == 200 and admin.json()["phone"] == "+33320123456"


def test_a_coordinator_sets_it_on_a_screen(client, coordinator, tracking, staff):  # noqa: F811
    log_in(client, staff(Role.coordinator, "coordination@cpts-a.fr"))
    page = client.get("/equipe/tableau").text
    assert '<a href="/equipe/coordonnees">Coordonnées pour les patients</a>' in page
    form = client.get("/equipe/coordonnees").text
    refused = client.post("/equipe/coordonnees", data={"csrf_token": csrf(form), "phone": "03 20", "email": "x@"})
    assert refused.status_code == 422
    assert '<a href="#phone">Numéro de téléphone invalide' in refused.text and '<a href="#email">' in refused.text
    assert 'value="03 20"' in refused.text, "what was typed stays, to be corrected"
    assert "Pour une question" not in client.get(tracking).text, "nothing saved"
    saved = client.post("/equipe/coordonnees", data={"csrf_token": csrf(form), "phone": "0320123456", "email": ""})
    assert saved.status_code == 200 and "Les coordonnées sont enregistrées" in saved.text
    assert 'name="phone" type="tel" value="03 20 12 34 56"' in saved.text, "shown as people dial it"
    assert who(client.get(tracking).text) == ('CPTS cpts-a. Pour une question ou un changement de situation : appelez le '
                                              '<a href="tel:+33320123456">03 20 12 34 56</a>.')
    forged = client.post("/equipe/coordonnees", data={"csrf_token": "x" * 43, "phone": "", "email": ""})
    assert forged.status_code == 403


def test_an_address_with_signs_a_link_would_cut_still_opens_on_itself(client, coordinator, tracking):
    """``?``, ``#``, ``%``, ``&`` and ``/`` are legal before the ``@``; unencoded, a mail program would open on
    ``accueil`` with the rest read as a subject or dropped."""
    address = "accueil?rdv#1%b&c/d@cpts-a.fr"
    assert client.put(PATH, headers=coordinator, json={"phone": None, "email": address}).status_code == 200
    assert who(client.get(tracking).text).endswith(
        ': écrivez à <a href="mailto:accueil%3Frdv%231%25b%26c%2Fd@cpts-a.fr">accueil?rdv#1%b&amp;c/d@cpts-a.fr</a>.')
