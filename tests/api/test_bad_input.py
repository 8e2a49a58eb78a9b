"""Every bad input answers 4xx with the offending field named, and writes nothing."""

import json
import logging
from datetime import UTC, datetime

import pytest

from lac_service.kit import fields
from tests.conftest import count_rows
from tests.payloads import cabinet_body, request_body


def _without(path: str) -> dict:
    body = request_body()
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    del target[last]
    return body


def _with(path: str, value: object) -> dict:
    body = request_body()
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    target[last] = value
    return body


BAD_REQUESTS = [
    pytest.param(_without("consent"), 422, "consent", id="missing-consent"),
    pytest.param(_with("consent", False), 422, "consent", id="consent-false"),
    pytest.param(_with("patient.birth_date", "2999-01-01"), 422, "patient.birth_date", id="born-in-future"),
    pytest.param(_with("patient.birth_date", "14/03/1958"), 422, "patient.birth_date", id="date-format"),
    pytest.param(_with("patient.birth_date", "1800-01-01"), 422, "patient.birth_date", id="born-1800"),
    pytest.param(_with("patient.birth_date", 0), 422, "patient.birth_date", id="date-as-a-number"),
    pytest.param(_with("patient.birth_date", "315532800"), 422, "patient.birth_date", id="date-as-seconds"),
    pytest.param(_with("kind", "dentiste"), 422, "kind", id="unknown-kind"),
    pytest.param(_with("unexpected", 1), 422, "unexpected", id="unknown-field"),
    pytest.param(_with("patient.nickname", "Lolo"), 422, "patient.nickname", id="unknown-nested-field"),
    pytest.param(_with("criteria.ald", "peut-être"), 422, "criteria.ald", id="bool-wrong-type"),
    pytest.param(_with("patient.first_name", 42), 422, "patient.first_name", id="name-wrong-type"),
    pytest.param(_with("patient.first_name", "   "), 422, "patient.first_name", id="name-blank"),
    pytest.param(_with("patient.first_name", "x" * 101), 422, "patient.first_name", id="name-too-long"),
    pytest.param(_with("patient", "Élodie"), 422, "patient", id="patient-not-object"),
    pytest.param(_with("patient.phone", "12"), 422, "patient.phone", id="phone-invalid"),
    pytest.param(_with("patient.email", "pas-une-adresse"), 422, "patient.email", id="email-invalid"),
    pytest.param(
        _with("patient.phone", None) | {"patient": request_body(phone=None, email=None)["patient"]},
        422, "patient.phone", id="no-contact",
    ),
    pytest.param(_with("patient.address.postal_code", "5900"), 422, "patient.address.postal_code", id="postal-4"),
    pytest.param(_without("patient.address"), 422, "patient.address", id="no-address"),
    pytest.param(_with("patient.location", {"lat": 95, "lon": 3}), 422, "patient.location.lat", id="lat-range"),
    pytest.param(_with("patient.address.postal_code", "99999"), 422, "patient.address.postal_code", id="postal-unknown"),
    pytest.param(_with("patient.address.city", "Marseille"), 422, "patient.address.city", id="city-mismatch"),
    pytest.param(
        _with("patient.location", {"lat": 50.8466, "lon": 4.3528}), 422, "patient.location", id="brussels"
    ),
    pytest.param(_with("patient.location", {"lat": 0, "lon": 0}), 422, "patient.location", id="null-island"),
    pytest.param(_with("max_distance_km", -5), 422, "max_distance_km", id="negative-distance"),
    pytest.param(_with("max_distance_km", "NaN"), 422, "max_distance_km", id="nan-distance"),
    pytest.param(_with("source", "fax"), 422, "source", id="unknown-source"),
    pytest.param(
        _with("kind", "bilan_orthophonique")
        | {"household": [{"first_name": "Théo", "last_name": "Durand", "birth_date": "2019-06-01"}]},
        422, "household", id="household-on-speech-therapy",
    ),
    pytest.param(
        _with("household", [{"first_name": "Théo", "last_name": "Durand", "birth_date": "2019-06-01"}] * 13),
        422, "household", id="household-too-big",
    ),
    pytest.param(_with("household", [{"first_name": "Théo"}]), 422, "household.0.last_name", id="member-partial"),
    pytest.param([request_body()], 422, "body", id="array-body"),
    pytest.param(_with("patient.email", "françoise@exemple.fr"), 422, "patient.email", id="accent-before-the-at"),
    # PostgreSQL refuses NUL in a text (a 500 once), SQLite would keep it: refused on both, field named.
    pytest.param(_with("patient.first_name", "Élo\x00die"), 422, "patient.first_name", id="nul-character"),
    pytest.param(_with("patient.address.line", "12 rue\x1b[2J Esquermoise"), 422, "patient.address.line",
                 id="escape-character"),
    pytest.param(_with("household", [{"first_name": "Th\x00éo", "last_name": "Durand", "birth_date": "2019-06-01"}]),
                 422, "household.0.first_name", id="nul-in-a-member"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_REQUESTS)
def test_bad_request_body_names_the_field_and_writes_nothing(client, connection, secretary_a, body, status, field):
    before = count_rows(connection)
    answer = client.post("/api/v1/requests", json=body, headers=secretary_a)
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert error["field"] == field
    assert error["code"] == "validation_error"
    assert error["message"]
    assert count_rows(connection) == before


def test_a_child_born_today_anywhere_in_france_can_be_registered_and_tomorrow_cannot(client, secretary_a, monkeypatch):
    """At 20:00 UTC it is already the next day in Nouméa (UTC+11): its newborns are not "born in the future"."""
    monkeypatch.setattr(fields, "utcnow", lambda: datetime(2026, 11, 22, 20, 0, tzinfo=UTC))
    body = request_body(birth_date="2026-11-23")
    assert client.post("/api/v1/requests", json=body, headers=secretary_a).status_code == 201
    refused = client.post("/api/v1/requests", json=request_body(first_name="Autre", phone="0699999999",
                                                                birth_date="2026-11-24"), headers=secretary_a)
    assert refused.status_code == 422 and refused.json()["field"] == "patient.birth_date"


def test_names_that_grow_when_folded_are_registered_and_still_found_again(client, secretary_a):
    """Folding for duplicates turns "ß" into "ss" and the ligature U+FDFA into 18 letters: a name of 100
    such letters must not overflow the keys' columns (PostgreSQL refuses what SQLite stores)."""
    body = request_body(first_name="\ufdfa" * 100, last_name="ß" * 100)
    created = client.post("/api/v1/requests", json=body, headers=secretary_a)
    assert created.status_code == 201, created.text
    again = client.post("/api/v1/requests", json=body | {"patient": body["patient"] | {"phone": "0699999999"}},
                        headers=secretary_a)
    assert again.status_code == 409 and again.json()["existing_request_id"] == created.json()["id"]


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b'{"kind": "medecin_traitant", ', "application/json"),
        (b"\xff\xfe not utf-8", "application/json"),
        (b"kind=medecin_traitant", "application/x-www-form-urlencoded"),
        (b"", "application/json"),
    ],
)
def test_malformed_bodies_are_refused_cleanly(client, connection, secretary_a, raw, content_type):
    before = count_rows(connection)
    answer = client.post(
        "/api/v1/requests", content=raw, headers=secretary_a | {"Content-Type": content_type}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "validation_error"
    assert answer.json()["field"] == "body"
    assert count_rows(connection) == before


def test_a_one_megabyte_body_is_refused_before_it_is_read(client, connection, secretary_a):
    before = count_rows(connection)
    body = request_body()
    body["patient"]["address"]["line"] = "x" * (1024 * 1024)
    answer = client.post("/api/v1/requests", content=json.dumps(body), headers=secretary_a)
    assert answer.status_code == 413
    assert answer.json()["code"] == "payload_too_large"
    assert count_rows(connection) == before


def test_a_streamed_form_cut_at_the_limit_is_a_413_and_no_unexpected_error(client, caplog):
    """Forms read their body as they go: the cut reaches the page's code, and must not be logged as a fault
    (anyone could fill the operators' alerts with it)."""
    caplog.set_level(logging.INFO)

    def chunks():
        for _ in range(64):
            yield b"x" * 16384

    answer = client.post("/", content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_streamed_body_without_length_is_cut_at_the_limit(client, connection, secretary_a):
    before = count_rows(connection)

    def chunks():
        yield b'{"kind": "medecin_traitant", "padding": "'
        for _ in range(64):
            yield b"x" * 16384
        yield b'"}'

    answer = client.post(
        "/api/v1/requests", content=chunks(), headers=secretary_a | {"Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert count_rows(connection) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"radius_km": 0}, "radius_km"),
        ({"radius_km": 1000}, "radius_km"),
        ({"batch_size": 0}, "batch_size"),
        ({"cadence_days": "souvent"}, "cadence_days"),
        ({"kinds": []}, "kinds"),
        ({"kinds": ["kine"]}, "kinds.0"),
        ({"channels": ["fax"]}, "channels.0"),
        ({"channels": ["sms"], "phones": []}, "phones"),
        ({"channels": ["email"], "emails": []}, "emails"),
        ({"phones": ["0"]}, "phones.0"),
        ({"address": {"line": "", "postal_code": "99999", "city": "Nulle-Part"}}, "address.postal_code"),
        ({"address": {"line": "", "postal_code": "59000", "city": "Marseille"}}, "address.city"),
        ({"location": {"lat": 50.8466, "lon": 4.3528}}, "location"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_cabinet_names_the_field_and_writes_nothing(client, connection, make_key, org_a, change, field):
    from lac_service.auth.models import Role

    coordinator = make_key(org_a, Role.coordinator)
    before = count_rows(connection)
    answer = client.post("/api/v1/cabinets", json=cabinet_body(**change), headers=coordinator)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert count_rows(connection) == before


@pytest.mark.parametrize(("path", "field"), [("/api/v1/requests?q=Du%00rand", "q"),
                                              ("/api/v1/requests?q=a@%00", "q"),
                                              ("/api/v1/audit?actor=%00", "actor")])
def test_a_control_character_in_a_query_is_refused_with_its_name(client, make_key, org_a, path, field):
    """PostgreSQL refuses NUL in a text: a search for one was a 500 there."""
    from lac_service.auth.models import Role

    answer = client.get(path, headers=make_key(org_a, Role.coordinator))
    assert answer.status_code == 422 and answer.json()["field"] == field, answer.text


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1000", "offset=-1", "status=lost", "kind=dentiste", "limit=abc"]
)
def test_bad_list_parameters_are_422(client, secretary_a, query):
    answer = client.get(f"/api/v1/requests?{query}", headers=secretary_a)
    assert answer.status_code == 422
    assert answer.json()["field"] == query.split("=")[0]


def test_unknown_route_and_method_keep_the_error_shape(client, secretary_a):
    assert client.get("/api/v1/nothing", headers=secretary_a).json()["code"] == "not_found"
    wrong_method = client.put("/api/v1/requests", headers=secretary_a)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"
    assert client.get("/api/v1/requests/abc", headers=secretary_a).json()["field"] == "request_id"


def test_a_misspelt_query_parameter_is_refused_not_ignored(client, secretary_a):
    client.post("/api/v1/requests", json=request_body(), headers=secretary_a)
    answer = client.get("/api/v1/requests?satus=withdrawn", headers=secretary_a)
    assert answer.status_code == 422
    assert answer.json()["field"] == "query"
    assert "satus" in answer.json()["message"]
    assert client.get("/api/v1/requests?status=withdrawn", headers=secretary_a).json()["total"] == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", f"/api/v1/requests/{2**31}", None, "request_id"),
        ("PATCH", f"/api/v1/requests/{2**63}", {}, "request_id"),
        ("GET", "/api/v1/cabinets/0", None, "cabinet_id"),
        ("POST", "/api/v1/duplicates/distinct", {"request_ids": [1, 2**63]}, "request_ids.1"),
        ("POST", "/api/v1/requests/1/merge", {"duplicate_id": 2**40}, "duplicate_id"),
        ("GET", f"/api/v1/matching/runs/{2**31}", None, "round_id"),
        ("GET", f"/api/v1/audit?request_id={2**31}", None, "request_id"),
        ("GET", "/api/v1/organisations/" + "a" * 65, None, "slug"),
    ],
)
def test_ids_and_slugs_beyond_their_bounds_are_422_not_a_crash(client, make_key, org_a, method, path, body, field):
    from lac_service.auth.models import Role

    answer = client.request(method, path, json=body, headers=make_key(org_a, Role.coordinator))
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field


def test_a_body_that_is_not_utf8_is_422_on_every_json_route(client, connection, make_key, org_a):
    from lac_service.auth.models import Role

    coordinator = make_key(org_a, Role.coordinator)
    before = count_rows(connection)
    answer = client.post(
        "/api/v1/duplicates/distinct", content=b'{"request_ids": [1, \x80]}',
        headers=coordinator | {"Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "validation_error"
    assert answer.json()["field"] == "body"
    assert answer.json()["message"] == "body : Le contenu envoyé n'est pas du JSON valide."
    assert count_rows(connection) == before


def test_a_policy_with_too_many_age_bands_is_refused(client, make_key, org_a):
    from lac_service.auth.models import Role

    coordinator = make_key(org_a, Role.coordinator)
    rules = client.get("/api/v1/priority-policies/medecin_traitant", headers=coordinator).json()["rules"]
    rules["age"]["bands"] = [{"from_years": i, "under_years": i + 1, "points": 1} for i in range(21)]
    answer = client.put("/api/v1/priority-policies/medecin_traitant", json={"rules": rules}, headers=coordinator)
    assert answer.status_code == 422 and answer.json()["field"] == "rules.age.bands", answer.text


@pytest.mark.parametrize("query", ["end=0.0", "start=1700000000", "end=2026-13-01", "start=01/12/2026"])
def test_indicator_periods_take_days_written_as_days(client, make_key, org_a, query):
    from lac_service.auth.models import Role

    answer = client.get(f"/api/v1/stats?{query}", headers=make_key(org_a, Role.coordinator))
    assert answer.status_code == 422 and answer.json()["field"] == query.split("=")[0], answer.text

