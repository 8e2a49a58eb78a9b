"""Limits per address on what anyone can reach without a key: the public registration and the link
routes (offers, practitioner pages), counted in the database across processes, with ``Retry-After``."""

from datetime import timedelta

from lac_service.auth.models import Role
from tests.api.test_web_pages import csrf
from tests.payloads import request_body


def test_guessing_link_tokens_is_slowed_down(client, clock, settings):
    guesses = settings.web.token_page_per_minute
    for i in range(guesses):
        assert client.get(f"/api/v1/offers/{'A' * 40}{i:03d}").status_code == 404
    refused = client.get("/api/v1/practitioner/" + "B" * 43)
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_requests"
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert client.post(f"/api/v1/offers/{'C' * 43}/responses", json={"request_id": 1, "decision": "accept"}).status_code == 429
    clock["now"] += timedelta(minutes=1)
    assert client.get("/api/v1/offers/" + "D" * 43).status_code == 404, "a new minute, a new count"


def test_the_public_registration_through_the_api_counts_with_the_form(client, clock, make_key, org_a, settings):
    for i in range(settings.web.form_per_minute):
        answer = client.post("/api/v1/requests", json=request_body(first_name=f"Nom{i}", phone=f"06123456{i:02d}"))
        assert answer.status_code == 201, answer.text
    refused = client.post("/api/v1/requests", json=request_body(first_name="Trop", phone="0698765432"))
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    with_key = client.post("/api/v1/requests", json=request_body(first_name="Clé", phone="0698765433"),
                           headers=make_key(org_a, Role.secretary))
    assert with_key.status_code == 201, "staff and partners are not limited here: they hold a key"


def _send(client, method: str, path: str, form: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.get(path) if method == "get" else client.post(path, data=form)


def test_every_screen_reached_by_a_link_counts_reads_and_answers_alike(client, clock, settings):
    """Guessing a token by posting an answer, a confirmation or a pause costs as much as opening the page;
    the refusal is a page in French that says when to come back."""
    form = {"csrf_token": csrf(client.get("/").text)}
    token = "E" * 43
    guesses = [("get", f"/o/{token}"), ("post", f"/o/{token}/reponse"), ("get", f"/praticien/{token}"),
               ("post", f"/praticien/{token}/pause"), ("post", f"/praticien/{token}/lot"), ("get", f"/suivi/{token}"),
               ("post", f"/suivi/{token}/confirmation"), ("post", f"/suivi/{token}/contact"),
               ("post", f"/suivi/{token}/retrait")]
    for i in range(settings.web.token_page_per_minute):
        method, path = guesses[i % len(guesses)]
        assert _send(client, method, path, form).status_code == 404, path
    for method, path in guesses:
        refused = _send(client, method, path, form)
        assert refused.status_code == 429, path
        assert "Trop de tentatives" in refused.text and "patientez une minute" in refused.text
        assert 0 < int(refused.headers["retry-after"]) <= 60
    clock["now"] += timedelta(minutes=1)
    assert client.get(f"/suivi/{token}").status_code == 404, "a new minute, a new count"


def test_logins_are_limited_with_a_time_to_come_back(client, clock, settings):
    attempt = {"csrf_token": csrf(client.get("/").text), "email": "x@exemple.fr", "password": "pas le bon mot de passe"}
    for _ in range(settings.web.login_per_minute):
        assert client.post("/equipe/connexion", data=attempt).status_code == 401
    refused = client.post("/equipe/connexion", data=attempt)
    assert refused.status_code == 429 and "Trop de tentatives" in refused.text
    assert 0 < int(refused.headers["retry-after"]) <= 60
