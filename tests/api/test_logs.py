"""No personal data in the application logs, on success, on refusal and on an unexpected failure."""

import logging

import pytest
from fastapi.testclient import TestClient

from lac_service.auth.models import Role
from lac_service.intake import service
from tests.payloads import request_body

PERSONAL = ["Élodie", "Durand", "Lefèvre", "+33612345678", "06 12 34 56 78", "elodie.durand", "Esquermoise", "1958-03-14"]


def _assert_clean(caplog, *secrets: str):
    # httpx/httpcore records are the test client's own, not the service's.
    records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(record.getMessage() + " " + repr(record.args) + " " + (record.exc_text or "") for record in records)
    assert records, "nothing was logged: the check would prove nothing"
    for value in (*PERSONAL, *secrets):
        assert value not in logged, value


def test_a_whole_request_life_logs_no_personal_data(client, make_key, org_a, caplog):
    caplog.set_level(logging.DEBUG)
    coordinator = make_key(org_a, Role.coordinator)
    created = client.post("/api/v1/requests", json=request_body(), headers=coordinator).json()
    client.post("/api/v1/requests", json=request_body(), headers=coordinator)  # 409
    client.post("/api/v1/requests", json=request_body(phone="06 12 34 56 78 99"), headers=coordinator)  # 422
    client.get("/api/v1/requests", params={"q": "Élodie Durand"}, headers=coordinator)
    client.patch(f"/api/v1/requests/{created['id']}", json={"patient": {"email": None}}, headers=coordinator)
    client.delete(f"/api/v1/requests/{created['id']}", headers=coordinator)
    _assert_clean(caplog)
    assert any("/api/v1/requests/{request_id}" in r.getMessage() for r in caplog.records)


def _explode(*args, data, **kwargs):
    raise RuntimeError(f"boom for {data.patient.first_name} {data.patient.last_name} {data.patient.phone}")


def test_an_unexpected_failure_logs_no_personal_data_and_answers_in_french(
    client, make_key, org_a, caplog, monkeypatch
):
    monkeypatch.setattr(service, "create_request", _explode)
    caplog.set_level(logging.DEBUG)
    answer = client.post("/api/v1/requests", json=request_body(), headers=make_key(org_a, Role.secretary))
    assert answer.status_code == 500
    assert answer.json() == {
        "code": "internal_error", "message": "Une erreur inattendue est survenue. Réessayez plus tard."
    }
    _assert_clean(caplog)
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)


def test_an_unexpected_failure_ends_in_the_service_not_in_the_servers_log(app, make_key, org_a, caplog, monkeypatch):
    """A server logs, traceback and message, whatever error an application lets out (uvicorn's "Exception in
    ASGI application"): the service answers it and lets nothing out. This client raises what would escape."""
    monkeypatch.setattr(service, "create_request", _explode)
    caplog.set_level(logging.DEBUG)
    with TestClient(app, raise_server_exceptions=True) as strict:
        answer = strict.post("/api/v1/requests", json=request_body(), headers=make_key(org_a, Role.secretary))
    assert answer.status_code == 500 and answer.json()["code"] == "internal_error"
    assert answer.headers["x-content-type-options"] == "nosniff", "with the security headers of every answer"
    _assert_clean(caplog)


@pytest.mark.parametrize("path", ["/api/v1/requests?q=Durand", "/api/v1/requests/999999"])
def test_access_log_has_the_route_not_the_raw_path(client, secretary_a, caplog, path):
    caplog.set_level(logging.INFO, logger="lac_service.access")
    client.get(path, headers=secretary_a)
    lines = [r.getMessage() for r in caplog.records if r.name == "lac_service.access"]
    assert lines and "Durand" not in lines[0] and "999999" not in lines[0]


def test_the_screens_and_the_links_log_no_personal_data_nor_tokens(client, make_key, org_a, caplog):
    """The public form, the tracking page, a round, the practitioner's offer page and an accepted patient."""
    from tests.api.test_web_pages import form
    from tests.payloads import cabinet_body

    caplog.set_level(logging.DEBUG)
    coordinator = make_key(org_a, Role.coordinator)
    registered = client.post("/", data=form(client, **{
        "patient.first_name": "Élodie", "patient.last_name": "Durand-Lefèvre", "patient.email": "elodie.durand@exemple.fr",
        "patient.address.line": "12 rue Esquermoise"}), follow_redirects=False)
    tracking = registered.headers["location"].split("?")[0]
    assert "elodie.durand@exemple.fr" in client.get(tracking).text
    client.post("/", data=form(client, **{"patient.birth_date": "14/03/2999"}))  # refused, with its errors shown
    client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator)
    offer = client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()["batches"][0]["offer_url"]
    token = offer.rsplit("/", 1)[1]
    request_id = client.get(f"/api/v1/offers/{token}").json()["items"][0]["request_id"]
    accepted = client.post(f"/api/v1/offers/{token}/responses", json={"request_id": request_id, "decision": "accept"})
    assert "Durand-Lefèvre" in accepted.text, "the practitioner sees who was accepted: the log must not"
    _assert_clean(caplog, token, tracking.rsplit("/", 1)[1])
