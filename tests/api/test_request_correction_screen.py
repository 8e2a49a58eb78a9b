"""A secretary corrects a request on its page, as the form comes filled: every detail typed at intake, a new
address located again, an unchanged one left as it was; a refused correction changes nothing and keeps what
was typed."""

import html
import json
import re

import pytest
import sqlalchemy as sa

from lac_service.audit import AuditEvent
from lac_service.auth.models import Role
from tests.api.test_web_pages import csrf, log_in, staff  # noqa: F401  (staff: a fixture)
from tests.payloads import cabinet_body, request_body


EMPTY_HOUSEHOLD = {f"household.{i}.{part}": "" for i in range(4) for part in ("first_name", "last_name", "birth_date")}


def _as_filled(page: str, request_id: int) -> dict[str, str]:
    """What a browser sends from the correction form left as it is: its fields, checked boxes and choices."""
    form = page.split(f'action="/equipe/demandes/{request_id}/modifier"', 1)[1].split("</form>", 1)[0]
    fields = {name: html.unescape(value) for name, value in
              re.findall(r'name="([^"]+)" type="(?:text|tel|email)" value="([^"]*)"', form)}
    fields |= {name: "on" for name in re.findall(r'name="([^"]+)" type="checkbox" value="on" checked', form)}
    fields |= {"max_distance_km": value for value in re.findall(r'<option value="([^"]+)" selected>', form)}
    shown = re.search(r'type="hidden" name="shown" value="([^"]*)"', form)
    return fields | {"csrf_token": csrf(form), "shown": html.unescape(shown[1]) if shown else ""}


@pytest.fixture
def registered(client, make_key, org_a, staff):  # noqa: F811
    """A request typed with mistakes at intake (through the API, coordinates given), and a secretary logged in
    on its page: the page path, the record as registered and the key to read it back."""
    key = make_key(org_a, Role.secretary)
    body = request_body(first_name="Elodei", birth_date="1958-04-13", email=None) | {"criteria": {"ald": False}}
    created = client.post("/api/v1/requests", json=body, headers=key).json()
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    return {"path": f"/equipe/demandes/{created['id']}", "created": created, "key": key}


def _correct(client, registered, **typed: str):
    """The form as filled, with ``typed`` over it (an empty value: a box unticked); the page it leads to."""
    path = registered["path"]
    filled = _as_filled(client.get(path).text, registered["created"]["id"]) | typed
    return client.post(f"{path}/modifier", data={k: v for k, v in filled.items() if v or not k.startswith("criteria.")
                                                  or k == "criteria.urgent_reason"})


def _record(client, registered) -> dict:
    return client.get(f"/api/v1/requests/{registered['created']['id']}", headers=registered["key"]).json()


def test_the_form_comes_filled_with_the_record(client, registered):
    filled = _as_filled(client.get(registered["path"]).text, registered["created"]["id"])
    assert {k: v for k, v in filled.items() if k not in ("csrf_token", "shown")} == {
        "patient.first_name": "Elodei", "patient.last_name": "Durand-Lefèvre", "patient.birth_date": "13/04/1958",
        "patient.phone": "06 12 34 56 78", "patient.email": "", "patient.address.line": "12 rue Esquermoise",
        "patient.address.postal_code": "59000", "patient.address.city": "Lille", "criteria.urgent_reason": "",
        "max_distance_km": "30", **EMPTY_HOUSEHOLD,
    }


def test_a_secretary_corrects_names_birth_date_address_criteria_and_distance(client, db, registered):
    corrected = _correct(client, registered, **{
        "patient.first_name": "Élodie", "patient.birth_date": "14/03/1958", "patient.address.line": "1 Grand Place",
        "patient.address.postal_code": "59100", "patient.address.city": "Roubaix", "criteria.ald": "on",
        "max_distance_km": "10",
    })
    assert corrected.status_code == 200 and "Les modifications sont enregistrées." in corrected.text
    assert corrected.history[0].status_code == 303, "a reload of the page does not send the correction again"
    assert "Élodie Durand-Lefèvre" in corrected.text and "1 Grand Place 59100 Roubaix" in corrected.text
    record, before = _record(client, registered), registered["created"]
    assert (record["patient"]["first_name"], record["patient"]["birth_date"]) == ("Élodie", "1958-03-14")
    assert record["patient"]["address"] == {"line": "1 Grand Place", "postal_code": "59100", "city": "Roubaix"}
    assert record["patient"]["location"] != before["patient"]["location"], "the new address is located"
    assert (record["criteria"]["ald"], record["max_distance_km"]) == (True, 10)
    assert record["priority"]["points"] > before["priority"]["points"], "ALD counts at once"
    assert [r["code"] for r in record["priority"]["reasons"]].count("ald") == 1
    logged = db.scalars(sa.select(AuditEvent.action).where(AuditEvent.request_id == before["id"],
                                                           AuditEvent.actor.like("user:%"))).all()
    assert logged.count("update") == 1, "the correction is in the audit log once, located address or not"


def test_a_change_made_elsewhere_after_the_page_opened_stands(client, registered, make_key, org_a):
    """The page was opened, then a partner's software added the ALD and a distance: the secretary's
    correction of the first name, from the page as it was, writes the first name only."""
    stale = _as_filled(client.get(registered["path"]).text, registered["created"]["id"])
    request_id = registered["created"]["id"]
    assert client.patch(f"/api/v1/requests/{request_id}", headers=make_key(org_a, Role.partner),
                        json={"criteria": {"ald": True}, "max_distance_km": 45}).status_code == 200
    corrected = client.post(f"{registered['path']}/modifier", data=stale | {"patient.first_name": "Élodie"})
    assert corrected.status_code == 200 and "Les modifications sont enregistrées." in corrected.text
    record = _record(client, registered)
    assert (record["patient"]["first_name"], record["criteria"]["ald"], record["max_distance_km"]) == ("Élodie", True, 45)


def test_the_form_sent_back_untouched_changes_nothing(client, db, registered):
    same = _correct(client, registered)
    assert same.status_code == 200 and "Aucune modification" in same.text
    assert _record(client, registered) == {k: v for k, v in registered["created"].items() if k != "tracking_url"}
    logged = db.scalars(sa.select(AuditEvent.action).where(AuditEvent.request_id == registered["created"]["id"],
                                                           AuditEvent.actor.like("user:%"))).all()
    assert "update" not in logged and logged.count("read") == 2, "the page, then the form sent back: two reads"


def test_a_correction_that_leaves_the_address_keeps_its_exact_location(client, registered):
    assert _correct(client, registered, **{"patient.first_name": "Élodie"}).status_code == 200
    assert _record(client, registered)["patient"]["location"] == registered["created"]["patient"]["location"]


@pytest.mark.parametrize(("typed", "field"), [
    ({"patient.first_name": ""}, "patient.first_name"),
    ({"patient.birth_date": "31/02/1958"}, "patient.birth_date"),
    ({"patient.birth_date": "14/03/2099"}, "patient.birth_date"),
    ({"patient.phone": "", "patient.email": ""}, "patient.phone"),
    ({"patient.phone": "12"}, "patient.phone"),
    ({"patient.address.postal_code": "99999"}, "patient.address.postal_code"),
    ({"patient.address.city": "Marseille"}, "patient.address.city"),
    ({"criteria.urgent": "on"}, "criteria.urgent_reason"),
    ({"max_distance_km": "5000"}, "max_distance_km"),
])
def test_a_refused_correction_changes_nothing_and_keeps_what_was_typed(client, registered, typed, field):
    refused = _correct(client, registered, **{"patient.last_name": "Nouveau-Nom"} | typed)
    assert refused.status_code == 422
    assert f'<a href="#{field.replace(".", "-")}">' in refused.text, "the error names its field"
    assert 'value="Nouveau-Nom"' in refused.text, "what was typed is kept"
    as_registered = {k: v for k, v in registered["created"].items() if k != "tracking_url"}
    assert _record(client, registered) == as_registered, "nothing changed, not even its date"


def test_a_correction_into_another_active_request_of_that_person_is_refused(client, registered):
    other = client.post("/api/v1/requests", json=request_body(first_name="Élodie", phone="0699999999", email=None),
                        headers=registered["key"]).json()
    refused = _correct(client, registered, **{"patient.first_name": "Élodie", "patient.birth_date": "14/03/1958"})
    assert refused.status_code == 409
    assert f"Une autre demande de ce type est en cours pour cette personne (n° {other['id']})" in refused.text
    assert _record(client, registered)["patient"]["first_name"] == "Elodei"


def test_unticking_a_box_and_emptying_a_field_are_corrections_too(client, registered):
    assert _correct(client, registered, **{"criteria.ald": "on", "patient.email": "elodie@exemple.fr"}).status_code == 200
    assert _correct(client, registered, **{"criteria.ald": "", "patient.email": "", "patient.address.line": ""}).status_code == 200
    record = _record(client, registered)
    assert (record["criteria"]["ald"], record["patient"]["email"], record["patient"]["address"]["line"]) == (False, None, "")


def test_urgency_needs_its_box_and_its_reason_and_unticking_it_clears_the_reason(client, registered):
    slip = _correct(client, registered, **{"criteria.urgent_reason": "Sortie d'hospitalisation"})
    assert slip.status_code == 422 and "Cochez « Demande urgente », ou videz le motif de l&#39;urgence." in slip.text
    marked = _correct(client, registered, **{"criteria.urgent": "on", "criteria.urgent_reason": "Sortie d'hospitalisation"})
    assert marked.status_code == 200 and _record(client, registered)["criteria"]["urgent"] is True
    assert _correct(client, registered, **{"criteria.urgent": ""}).status_code == 200
    criteria = _record(client, registered)["criteria"]
    assert (criteria["urgent"], criteria["urgent_reason"]) == (False, None)


@pytest.mark.parametrize("shown", ["", "{pas du json", "[" * 50_000, '["une liste"]'])
def test_a_form_without_what_it_showed_counts_every_field_as_typed(client, registered, shown):
    corrected = _correct(client, registered, **{"patient.first_name": "Élodie", "shown": shown})
    assert corrected.status_code == 200 and _record(client, registered)["patient"]["first_name"] == "Élodie"


@pytest.fixture
def family(client, make_key, org_a, staff):  # noqa: F811
    """A GP request for a father and his daughter born in 2016, and a secretary on its page."""
    key = make_key(org_a, Role.secretary)
    daughter = {"first_name": "Léa", "last_name": "Durand", "birth_date": "2016-05-04"}
    body = request_body(first_name="Marc", birth_date="1980-02-02") | {"criteria": {"ald": False}, "household": [daughter]}
    created = client.post("/api/v1/requests", json=body, headers=key).json()
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    return {"path": f"/equipe/demandes/{created['id']}", "created": created, "key": key}


def _household(client, family) -> list[dict]:
    return client.get(f"/api/v1/requests/{family['created']['id']}", headers=family["key"]).json()["household"]


def test_the_household_is_shown_and_a_member_added_or_corrected_counts_at_once(client, family):
    filled = _as_filled(client.get(family["path"]).text, family["created"]["id"])
    member = [filled[f"household.0.{part}"] for part in ("first_name", "last_name", "birth_date")]
    assert member == ["Léa", "Durand", "04/05/2016"]
    assert family["created"]["priority"]["points"] == 0, "Léa is 10: no young child yet"
    corrected = _correct(client, family, **{"household.0.birth_date": "04/05/2017", "household.1.first_name": "Noé",
                                            "household.1.last_name": "Durand", "household.1.birth_date": "01/09/2023"})
    assert corrected.status_code == 200 and "Les modifications sont enregistrées." in corrected.text
    assert [(m["first_name"], m["last_name"], m["birth_date"]) for m in _household(client, family)] == [
        ("Léa", "Durand", "2017-05-04"), ("Noé", "Durand", "2023-09-01")]
    record = client.get(f"/api/v1/requests/{family['created']['id']}", headers=family["key"]).json()
    assert record["people_count"] == 3
    assert [r["code"] for r in record["priority"]["reasons"]] == ["household_children"], "Noé is under 6"


def test_a_member_emptied_leaves_the_household(client, family):
    emptied = _correct(client, family, **{f"household.0.{p}": "" for p in ("first_name", "last_name", "birth_date")})
    assert emptied.status_code == 200 and "Les modifications sont enregistrées." in emptied.text
    assert _household(client, family) == []
    assert client.get(f"/api/v1/requests/{family['created']['id']}", headers=family["key"]).json()["people_count"] == 1


@pytest.mark.parametrize(("typed", "field"), [
    ({"household.1.first_name": "Noé", "household.1.last_name": "Durand", "household.1.birth_date": "31/02/2020"},
     "household.1.birth_date"),
    ({"household.1.first_name": "Noé"}, "household.1.last_name"),
    ({"household.0.birth_date": "04/05/2099"}, "household.0.birth_date"),
])
def test_a_wrong_member_is_named_and_the_household_is_left_as_it_was(client, family, typed, field):
    refused = _correct(client, family, **typed)
    assert refused.status_code == 422
    assert f'<a href="#{field.replace(".", "-")}">' in refused.text
    assert _household(client, family) == family["created"]["household"]


def test_a_household_being_offered_is_left_as_it_was_and_the_page_says_why(client, family, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator)
    assert client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()["requests_offered"] == 1
    assert "Un cabinet répond en ce moment pour ce foyer" in client.get(family["path"]).text
    refused = _correct(client, family, **{"household.1.first_name": "Noé", "household.1.last_name": "Durand",
                                          "household.1.birth_date": "01/09/2023"})
    assert refused.status_code == 409 and '<a href="#household">' in refused.text
    assert "modifiez le foyer après sa réponse" in refused.text and 'value="Noé"' in refused.text, "what was typed stays"
    assert _household(client, family) == family["created"]["household"]
    renamed = _correct(client, family, **{"patient.first_name": "Marc-Antoine"})
    assert renamed.status_code == 200 and "Les modifications sont enregistrées." in renamed.text, "the rest can change"


def test_a_form_that_did_not_show_the_household_leaves_it_alone(client, family):
    """A page opened before the household could be corrected: its fields were not there."""
    filled = _as_filled(client.get(family["path"]).text, family["created"]["id"])
    shown = {k: v for k, v in json.loads(filled["shown"]).items() if not k.startswith("household.")}
    old = {k: v for k, v in filled.items() if not k.startswith("household.")} | {
        "shown": json.dumps(shown), "patient.first_name": "Marc-Antoine"}
    assert client.post(f"{family['path']}/modifier", data=old).status_code == 200
    assert _household(client, family) == family["created"]["household"]


def test_a_speech_therapy_request_has_no_household_to_correct(client, registered, make_key, org_a):
    child = client.post("/api/v1/requests", headers=registered["key"], json=request_body(
        first_name="Chloé", birth_date="2019-01-01", phone="0698765432", email=None) | {
        "kind": "bilan_orthophonique"}).json()
    page = client.get(f"/equipe/demandes/{child['id']}").text
    assert "household." not in page and "Membres du foyer" not in page
