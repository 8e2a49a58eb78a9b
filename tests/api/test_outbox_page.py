"""``/outbox`` in development: what the local backend "sent", for an admin only, and nowhere else."""

import base64

import pytest

from lac_service.auth.models import Role
from lac_service.config import Environment
from tests.conftest import twilio_post
from tests.payloads import request_body


@pytest.fixture
def development(app):
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"environment": Environment.development})
    yield app
    app.state.settings = settings


def _basic(key_headers):
    key = key_headers["Authorization"].removeprefix("Bearer ")
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{key}".encode()).decode()}


def test_an_admin_reads_the_messages_a_patient_would_have_received(client, development, make_key, org_a):
    secretary = make_key(org_a, Role.secretary)
    created = client.post("/api/v1/requests", json=request_body(), headers=secretary).json()
    admin = make_key(org_a, Role.admin)
    for headers in (admin, _basic(admin)):
        page = client.get("/outbox", headers=headers)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "+33612345678" in page.text and "elodie.durand@exemple.fr" in page.text
        assert created["tracking_url"] in page.text
        assert "2 message(s)" in page.text


def test_others_get_the_browser_login_prompt(client, development, make_key, org_a):
    for headers in ({}, make_key(org_a, Role.coordinator), {"Authorization": "Basic !!!"}, _basic({"Authorization": "Bearer lac_x_y"})):
        answer = client.get("/outbox", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"].startswith("Basic")
        assert "+33" not in answer.text


def test_the_page_does_not_exist_outside_development(client, make_key, org_a):
    assert client.get("/outbox", headers=make_key(org_a, Role.admin)).status_code == 404


def test_an_sms_received_is_listed_with_its_sender(client, development, twilio_app, make_key, org_a):
    client.post("/api/v1/requests", json=request_body(), headers=make_key(org_a, Role.secretary))
    twilio_post(client, "/api/v1/twilio/messages", {"From": "+33612345678", "Body": "OUI", "MessageSid": "SM" + "5" * 32})
    page = client.get("/outbox", headers=make_key(org_a, Role.admin)).text
    assert "<td>de +33612345678</td>" in page and "<pre>OUI</pre>" in page and "sent (received)" in page
    assert page.count("<td>+33612345678</td>") == 2, "the confirmation and the answer, to the patient"
