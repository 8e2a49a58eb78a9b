"""An organisation's daily round times and time zone: set by its coordinators, the deployment's otherwise;
a wrong time or zone is refused with its field and changes nothing."""

import pytest

from lac_service.auth.models import Role
from tests.api.test_web_pages import csrf, log_in, staff  # noqa: F401  (staff: a fixture)

PATH = "/api/v1/organisations/cpts-a/schedule"
DEFAULT = {"match_at": ["08:00"], "timezone": "Europe/Paris", "own_times": False, "own_timezone": False}


@pytest.fixture
def coordinator(make_key, org_a):
    return make_key(org_a, Role.coordinator)


def test_the_deployments_times_until_the_organisation_chooses_its_own(client, coordinator):
    assert client.get(PATH, headers=coordinator).json() == DEFAULT
    chosen = client.put(PATH, headers=coordinator, json={"match_at": ["14h30", "8:00", "08:00"], "timezone": None})
    assert chosen.status_code == 200
    assert chosen.json() == {"match_at": ["08:00", "14:30"], "timezone": "Europe/Paris", "own_times": True,
                             "own_timezone": False}, "in order, once each, as a timetable writes them"
    assert client.get(PATH, headers=coordinator).json() == chosen.json()
    none = client.put(PATH, headers=coordinator, json={"match_at": [], "timezone": "Indian/Reunion"}).json()
    assert none == {"match_at": [], "timezone": "Indian/Reunion", "own_times": True, "own_timezone": True}, \
        "no scheduled round: the coordination runs them"
    assert client.put(PATH, headers=coordinator, json={"match_at": None, "timezone": None}).json() == DEFAULT


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"match_at": ["25:00"], "timezone": None}, "match_at.0", "Heure invalide"),
    ({"match_at": ["08:00", "midi"], "timezone": None}, "match_at.1", "Heure invalide"),
    ({"match_at": [800], "timezone": None}, "match_at.0", "Heure invalide"),
    ({"match_at": ["08:00:30"], "timezone": None}, "match_at.0", "Heure invalide"),
    ({"match_at": [f"{h:02d}:00" for h in range(24)] + ["23:30"], "timezone": None}, "match_at", "Trop d'éléments"),
    ({"match_at": None, "timezone": "Europe/Lile"}, "timezone", "Fuseau horaire inconnu"),
    ({"match_at": None, "timezone": "Europe"}, "timezone", "Fuseau horaire inconnu"),
    ({"match_at": None, "timezone": "localtime"}, "timezone", "Fuseau horaire inconnu"),
    ({"match_at": None, "timezone": "../../etc/passwd"}, "timezone", "Fuseau horaire inconnu"),
    ({"match_at": None, "timezone": "x" * 65}, "timezone", "trop long"),
    ({"match_at": None}, "timezone", "obligatoire"),
    ({"match_at": None, "timezone": None, "every_days": 2}, "every_days", "pas reconnu"),
])
def test_a_wrong_schedule_is_refused_with_its_field_and_changes_nothing(client, coordinator, body, field, message):
    client.put(PATH, headers=coordinator, json={"match_at": ["09:15"], "timezone": None})
    refused = client.put(PATH, headers=coordinator, json=body)
    assert refused.status_code == 422
    errors = {e["field"]: e["message"] for e in refused.json()["errors"]}
    assert field in errors and message in errors[field], errors
    assert client.get(PATH, headers=coordinator).json()["match_at"] == ["09:15"]


@pytest.mark.parametrize("role", [Role.secretary, Role.partner])
def test_only_coordinators_and_admins_set_the_schedule(client, make_key, org_a, role):
    key = make_key(org_a, role)
    assert client.get(PATH, headers=key).status_code == 403
    assert client.put(PATH, headers=key, json={"match_at": ["03:00"], "timezone": None}).status_code == 403
    admin = make_key(org_a, Role.admin)
    assert client.put(PATH, headers=admin, json={"match_at": ["07:45"], "timezone": None}).json()["match_at"] == ["07:45"]


def test_a_coordinator_sets_the_times_on_the_dashboard(client, coordinator, staff):  # noqa: F811
    log_in(client, staff(Role.coordinator, "coordination@cpts-a.fr"))
    page = client.get("/equipe/tableau").text
    assert ("Tournées automatiques de CPTS cpts-a chaque jour à 08h00 (fuseau horaire : Métropole), les horaires du "
            "service.") in page
    assert 'id="mode-service" name="mode" value="service" checked' in page and 'name="horaires" type="text" value=""' in page
    form = {"csrf_token": csrf(page), "mode": "propres", "horaires": "14:00, 18h30 et 7:05",
            "fuseau": "America/Martinique"}
    assert client.post("/equipe/tableau/horaires", data=form | {"csrf_token": "x" * 43}).status_code == 403
    saved = client.post("/equipe/tableau/horaires", data=form, follow_redirects=False)
    assert saved.status_code == 303
    page = client.get(saved.headers["location"]).text
    assert "Les horaires des tournées automatiques sont enregistrés." in page
    assert ("Tournées automatiques de CPTS cpts-a chaque jour à 07h05, 14h00 et 18h30 (fuseau horaire : "
            "Martinique).") in page
    assert 'name="horaires" type="text" value="07h05, 14h00, 18h30"' in page, "written as the page writes times"
    assert client.get(PATH, headers=coordinator).json()["match_at"] == ["07:05", "14:00", "18:30"], \
        "the API reads the same"


@pytest.mark.parametrize(("typed", "field", "message"), [
    ({"mode": "propres", "horaires": "14:00, midi"}, "horaires",
     "« midi » : Heure invalide (exemples : 08:00, 8h30)."),
    ({"mode": "propres", "horaires": ""}, "horaires", "Indiquez au moins une heure, ou choisissez une autre option."),
    ({"mode": "souvent", "horaires": "09:00"}, "mode", "Choisissez quand ont lieu les tournées automatiques."),
    ({"horaires": "09:00"}, "mode", "Choisissez quand ont lieu les tournées automatiques."),
    ({"mode": "service", "fuseau": "Europe"}, "fuseau", "Fuseau horaire inconnu (exemple : America/Martinique)."),
])
def test_a_wrong_choice_on_the_dashboard_is_said_and_changes_nothing(client, coordinator, staff, typed, field,  # noqa: F811
                                                                     message):
    client.put(PATH, headers=coordinator, json={"match_at": ["09:15"], "timezone": None})
    log_in(client, staff(Role.coordinator, "coordination@cpts-a.fr"))
    page = client.get("/equipe/tableau").text
    refused = client.post("/equipe/tableau/horaires", data={"csrf_token": csrf(page), "fuseau": ""} | typed)
    assert refused.status_code == 422
    assert f'<a href="#{field}">{message}</a>' in refused.text
    if typed.get("horaires"):
        assert f'value="{typed["horaires"]}"' in refused.text, "what was typed stays, to be corrected"
    assert client.get(PATH, headers=coordinator).json()["match_at"] == ["09:15"], "nothing changed"


def test_none_then_the_services_times_again_from_the_dashboard(client, coordinator, staff):  # noqa: F811
    log_in(client, staff(Role.coordinator, "coordination@cpts-a.fr"))
    page = client.get("/equipe/tableau").text
    none = client.post("/equipe/tableau/horaires", data={"csrf_token": csrf(page), "mode": "aucune", "horaires": "",
                                                         "fuseau": "Indian/Reunion"})
    assert "Aucune tournée automatique pour CPTS cpts-a : lancez-les ci-dessous." in none.text
    assert 'id="mode-aucune" name="mode" value="aucune" checked' in none.text
    assert client.get(PATH, headers=coordinator).json() == {"match_at": [], "timezone": "Indian/Reunion",
                                                            "own_times": True, "own_timezone": True}
    back = client.post("/equipe/tableau/horaires", data={"csrf_token": csrf(page), "mode": "service",
                                                         "horaires": "07:00", "fuseau": ""})
    assert "chaque jour à 08h00 (fuseau horaire : Métropole), les horaires du service." in back.text, \
        "the times typed beside another choice are not kept"
    assert client.get(PATH, headers=coordinator).json() == DEFAULT
