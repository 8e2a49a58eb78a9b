"""A coordinator changes the priority rules on their page: every rule (age bands included) is saved as a new
version, the waiting queue is re-scored at once, a refused form names its field and changes nothing, and
a form filled before a colleague saved overwrites nothing."""

import html
import re

import pytest
import sqlalchemy as sa

from lac_service.auth.models import Role
from lac_service.intake.models import PatientRequest
from lac_service.policies.models import PolicyVersion
from tests.api.test_web_pages import csrf, log_in, staff  # noqa: F401  (staff: a fixture)
from tests.payloads import request_body

PAGE = "/equipe/priorites/medecin_traitant"


@pytest.fixture
def coordinator(client, staff):  # noqa: F811
    log_in(client, staff(Role.coordinator, "coordination@cpts-a.fr"))


def as_filled(page: str) -> dict[str, str]:
    """What the browser sends from the form left as it is."""
    form = page.split(f'action="{PAGE}"', 1)[1].split("</form>", 1)[0]
    fields = {name: html.unescape(value) for name, value in re.findall(r'name="([^"]+)"[^>]*value="([^"]*)"', form)}
    return fields | {"csrf_token": csrf(form)}


def shown(page: str) -> str:
    """The text as read, whatever the template's line breaks."""
    return " ".join(html.unescape(page).split())


def save(client, **changes: str):
    fields = as_filled(client.get(PAGE).text) | changes
    return client.post(PAGE, data=fields, follow_redirects=False)


def versions(db) -> list[int]:
    db.expire_all()
    return list(db.scalars(sa.select(PolicyVersion.version).order_by(PolicyVersion.version)))


def test_the_page_shows_the_rules_in_force_and_saving_them_as_they_are_changes_no_score(client, db, make_key, org_a,
                                                                                        coordinator):
    waiting = client.post("/api/v1/requests", headers=make_key(org_a, Role.secretary), json=request_body()).json()
    page = client.get(PAGE)
    assert page.status_code == 200
    fields = as_filled(page.text)
    assert {k: fields[k] for k in ("ald", "pregnancy", "urgency", "waited.points_per_month",
                                   "household_children.points", "household_children.under_years")} == {
        "ald": "50", "pregnancy": "50", "urgency": "80", "waited.points_per_month": "10",
        "household_children.points": "20", "household_children.under_years": "6"}
    assert (fields["age.bands.0.under_years"], fields["age.bands.0.points"]) == ("6", "30")
    assert (fields["age.bands.1.from_years"], fields["age.bands.1.points"]) == ("70", "40")
    assert fields["age.bands.2.points"] == "" and fields["age.bands.3.points"] == "", "two rows to add a band"
    assert "après 24 mois d'attente au plus" in shown(page.text)
    saved = save(client)
    assert saved.status_code == 303 and saved.headers["location"] == f"{PAGE}?enregistree=1"
    assert versions(db) == [1]
    record = db.get(PatientRequest, waiting["id"])
    assert (record.priority_points, record.priority_policy_version) == (waiting["priority"]["points"], 1)


def test_a_new_age_band_and_a_cap_are_saved_and_the_queue_is_rescored_at_once(client, db, make_key, org_a, clock,
                                                                                 coordinator):
    key = make_key(org_a, Role.secretary)
    teen = client.post("/api/v1/requests", headers=key, json=request_body(birth_date="2012-05-01") | {
        "criteria": {"ald": False}}).json()
    assert teen["priority"]["points"] == 0
    saved = save(client, **{"age.bands.2.from_years": "12", "age.bands.2.under_years": "18", "age.bands.2.points": "25",
                            "waited.max_months": "36", "ald": "0"})
    assert saved.status_code == 303 and saved.headers["location"] == f"{PAGE}?enregistree=1"
    page = shown(client.get(saved.headers["location"]).text)
    assert "Règles enregistrées (version 1) : 1 demande(s) en attente recalculée(s)." in page
    assert "Âge : de 12 à 17 ans : 25 points" in page and "pendant 36 mois au plus" in page
    db.expire_all()
    assert db.get(PatientRequest, teen["id"]).priority_points == 25
    assert client.get(f"/api/v1/requests/{teen['id']}", headers=key).json()["priority"]["reasons"] == [
        {"code": "age_12_to_17", "label": "Âge : de 12 à 17 ans", "points": 25}]
    rules = db.scalar(sa.select(PolicyVersion.rules))
    assert rules["ald"] is None and rules["waited"] == {"points_per_month": 10, "max_months": 36}
    assert "Sophie Martin" in page, "the history names who saved"


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"ald": "beaucoup"}, "ald", "nombre entier"),
    ({"ald": "²"}, "ald", "nombre entier"),
    ({"ald": "200000"}, "ald", "inférieure ou égale à 100000"),
    ({"urgency": ""}, "urgency", "Indiquez un nombre"),
    ({"age.bands.1.from_years": "3"}, "age", "se chevauchent"),
    ({"age.bands.0.from_years": "8", "age.bands.0.under_years": "6"}, "age.bands.0", "Tranche d'âge vide"),
    ({"age.bands.2.under_years": "12"}, "age.bands.2.points", "Indiquez un nombre"),
    ({"age.bands.1.from_years": "200"}, "age.bands.1.from_years", "inférieure ou égale à 150"),
    ({"household_children.under_years": "25"}, "household_children.under_years", "inférieure ou égale à 18"),
    ({"waited.max_months": "0"}, "waited.max_months", "supérieure ou égale à 1"),
])
def test_a_refused_rule_is_named_at_its_field_and_nothing_is_saved(client, db, coordinator, changes, field, words):
    answer = save(client, **changes)
    assert answer.status_code == 422
    assert f'<a href="#{field.replace(".", "-")}">' in answer.text and words in shown(answer.text)
    assert as_filled(answer.text) | changes == as_filled(answer.text), "what was typed is kept"
    assert versions(db) == []


def test_a_form_filled_before_a_colleague_saved_overwrites_nothing(client, db, coordinator):
    stale = as_filled(client.get(PAGE).text)
    assert save(client, ald="70").status_code == 303
    answer = client.post(PAGE, data=stale | {"ald": "10"}, follow_redirects=False)
    assert answer.status_code == 409
    assert "modifiées par quelqu'un d'autre (version 1)" in shown(answer.text)
    assert as_filled(answer.text)["ald"] == "70", "the page shows the rules now in force"
    assert versions(db) == [1]


def test_a_secretary_cannot_open_or_post_the_rules(client, db, staff):  # noqa: F811
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    assert client.get(PAGE).status_code == 403
    token = csrf(client.get("/equipe").text)
    assert client.post(PAGE, data={"csrf_token": token, "version": "0", "ald": "500"}).status_code == 403
    assert versions(db) == []


def test_the_dashboard_lists_the_rules_in_force_with_a_link_to_change_them(client, coordinator):
    page = shown(client.get("/equipe/tableau").text)
    assert "ALD (affection de longue durée) : 50 points" in page and "Âge : 70 ans ou plus : 40 points" in page
    assert f'href="{PAGE}"' in page and 'href="/equipe/priorites/bilan_orthophonique"' in page
