"""Limits per address on what anyone can reach without a key: the public registration and the link
routes (offers, practitioner pages), counted in the database across processes, with ``Retry-After``."""

from datetime import timedelta


from lac_service.auth.models import Role
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


def test_the_public_registration_through_the_api_counts_with_the_form(client, db, make_key, org_a, settings):
    for i in range(settings.web.form_per_minute):
        answer = client.post("/api/v1/requests", json=request_body(first_name=f"Nom{i}", phone=f"06123456{i:02d}"))
        assert answer.status_code == 201, answer.text
    refused = client.post("/api/v1/requests", json=request_body(first_name="Trop", phone="0698765432"))
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    with_key = client.post("/api/v1/requests", json=request_body(first_name="Clé", phone="0698765433"),
                           headers=make_key(org_a, Role.secretary))
    assert with_key.status_code == 201, "staff and partners are not limited here: they hold a key"
