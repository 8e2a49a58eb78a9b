"""The dashboard's indicators: the list by status and kind, for the kind and period the coordinator chooses,
the CSV export saying the same, and a wrong choice said in French."""

import re
from datetime import timedelta

import pytest

from lac_service.auth.models import Role
from tests.api.test_web_pages import log_in, staff  # noqa: F401  (staff: a fixture)
from tests.payloads import request_body

STATUSES = ("En attente", "Proposée", "Prise en charge", "Retirée", "Archivée")


@pytest.fixture
def coordinator(client, clock, make_key, org_a, org_b, staff):  # noqa: F811
    secretary = make_key(org_a, Role.secretary)
    for first_name, phone, kind in (("Alice", "0611111111", "medecin_traitant"), ("Bruno", "0622222222", "medecin_traitant"),
                                    ("Chloé", "0633333333", "bilan_orthophonique")):
        body = request_body(first_name=first_name, phone=phone, email=None) | {"kind": kind}
        created = client.post("/api/v1/requests", json=body, headers=secretary)
        assert created.status_code == 201, created.text
    client.post(f"/api/v1/requests/{created.json()['id'] - 1}/withdraw", json={"reason": "moved"}, headers=secretary)
    foreign = request_body(first_name="Bérénice", phone="0644444444", email=None)
    assert client.post("/api/v1/requests", json=foreign, headers=make_key(org_b, Role.secretary)).status_code == 201
    log_in(client, staff(Role.coordinator, "coordination@cpts-a.fr"))


def by_status(page: str) -> dict[str, dict[str, int]]:
    """The table « Demandes par statut » as a person reads it: row → column → count."""
    table = page.split("Demandes par statut", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th>((?:<td>\d+</td>)+)</tr>', table)
    return {kind: dict(zip(STATUSES, map(int, re.findall(r"<td>(\d+)</td>", cells)), strict=True)) for kind, cells in rows}


def csv_link(page: str) -> str:
    return re.search(r'href="(/equipe/indicateurs\.csv[^"]*)"', page).group(1).replace("&amp;", "&")


def test_the_list_by_status_and_kind_is_the_organisations_own(client, coordinator):
    page = client.get("/equipe/tableau").text
    assert by_status(page) == {  # Bruno withdrawn; the other organisation's patient counted nowhere
        "Médecin traitant": dict(zip(STATUSES, (1, 0, 0, 1, 0), strict=True)),
        "Bilan orthophonique": dict(zip(STATUSES, (1, 0, 0, 0, 0), strict=True)),
    }
    assert "Tous types de demandes, du 23/11/2025 au 22/11/2026." in page, "by default the last 12 months"
    assert 'name="du" type="date" value="2025-11-23"' in page, "the period shown, ready to change one date"
    assert csv_link(page) == "/equipe/indicateurs.csv"
    assert "<dt>En attente ou proposées</dt><dd>2 demandes</dd>" in page
    assert "<dt>Attente de ceux qui attendent encore</dt><dd>0 jour (médiane), 0 jour au plus pour 9 sur 10</dd>" \
        in page, "registered today"


def test_the_wait_of_those_still_waiting_is_shown_in_days(client, coordinator, clock):
    clock["now"] += timedelta(days=45, hours=12)
    log_in(client, "coordination@cpts-a.fr")  # the morning's session ended long ago
    page = client.get("/equipe/tableau").text
    assert "<dt>Attente de ceux qui attendent encore</dt><dd>45,5 jours (médiane), 45,5 jours au plus pour 9 sur " \
           "10</dd>" in page
    assert "<dt>Attente médiane avant attribution</dt><dd>—</dd>" in page, "nobody found a cabinet yet"
    assert "(0 acceptation sur 0 réponse)" in page and "<p>0 cabinet.</p>" in page, "none is singular in French"


def test_a_chosen_kind_and_period_shape_the_figures_and_the_export(client, coordinator):
    page = client.get("/equipe/tableau", params={"type": "bilan_orthophonique", "du": "2026-11-01", "au": "2026-11-22"}).text
    assert "Bilan orthophonique, du 01/11/2026 au 22/11/2026." in page
    assert list(by_status(page)) == ["Bilan orthophonique"]
    assert '<option value="bilan_orthophonique" selected>' in page and 'value="2026-11-01"' in page, "the choice stays"
    link = csv_link(page)
    assert link == "/equipe/indicateurs.csv?type=bilan_orthophonique&du=2026-11-01&au=2026-11-22"
    lines = client.get(link).text.lstrip("\ufeff").splitlines()
    assert "demandes_registered;2026-11;bilan_orthophonique;1" in lines
    assert not [line for line in lines if "medecin_traitant" in line], "the other kind is left out"
    before = client.get("/equipe/tableau", params={"du": "2026-01-01", "au": "2026-10-31"}).text
    assert "Tous types de demandes, du 01/01/2026 au 31/10/2026." in before
    assert by_status(before)["Médecin traitant"]["En attente"] == 1, "the list as it stands, whatever the period"
    lines = client.get(csv_link(before)).text.splitlines()
    assert not [line for line in lines if line.startswith("demandes_registered")], "nobody registered in that period"


@pytest.mark.parametrize(("query", "field", "message"), [
    ({"type": "kinesitherapie"}, "type", "Type de demandes inconnu."),
    ({"du": "2026-13-01"}, "du", "Date invalide : attendue sous la forme AAAA-MM-JJ."),
    ({"au": "22/11/2026"}, "au", "Date invalide : attendue sous la forme AAAA-MM-JJ."),
    ({"du": "2026-11-22", "au": "2026-11-01"}, "du", "La date de début doit précéder la date de fin."),
    ({"du": "2010-01-01", "au": "2026-11-22"}, "du", "La période ne peut pas dépasser 10 ans."),
    ({"au": "9999-12-31"}, "au", "Choisissez une date entre le 01/01/2000 et le 31/12/2099."),
])
def test_a_wrong_choice_is_said_next_to_its_field_and_the_last_12_months_are_shown(client, coordinator, query, field,
                                                                                  message):
    page = client.get("/equipe/tableau", params=query)
    assert page.status_code == 200
    assert f'href="#{field}">{message}</a>' in page.text, "in the summary at the top, linked to the field"
    assert "Tous types de demandes, du 23/11/2025 au 22/11/2026." in page.text
    assert csv_link(page.text) == "/equipe/indicateurs.csv", "the export offered is what the page shows"
    refused = client.get("/equipe/indicateurs.csv", params=query)
    assert refused.status_code == 422 and message in refused.text and "text/html" in refused.headers["content-type"]
