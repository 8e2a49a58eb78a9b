"""Every operation of the checked-in OpenAPI document, fuzzed in-process by schemathesis with each role's key.

The service must never answer 5xx, and every answer must match what the document promises (status, content
type, headers, body), so partners can generate clients from it and trust them. Invalid input must be refused.

One check is left out: ``positive_data_acceptance`` expects every schema-valid body to be accepted, but
some rules cannot live in a JSON schema (a birth date in the past, a phone number that exists, coordinates in
France, a period of at most ten years). Those are refused with a 422 naming the field, which is what the
check would count as a failure.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis.specs.openapi.checks import positive_data_acceptance

from lac_service.auth.models import Role
from tests.conftest import REPO
from tests.payloads import cabinet_body, request_body

schema = schemathesis.openapi.from_path(REPO / "openapi" / "openapi.json")
schema.config.update(base_url="http://testserver")


@pytest.fixture
def fuzzed_app(app, client, make_key, org_a):  # type: ignore[no-untyped-def]
    """The app with Twilio configured (else its webhooks answer 503 by design), a waiting request and a
    cabinet for the generated ids to sometimes hit, and a key per role (``None``: no key)."""
    settings_ = app.state.settings
    app.state.settings = settings_.model_copy(update={
        "notifications": settings_.notifications.model_copy(update={"twilio_auth_token": SecretStr("fuzz")})
    })
    headers: dict[Role | None, dict[str, str]] = {role: make_key(org_a, role) for role in Role}
    headers[None] = {}
    client.post("/api/v1/requests", json=request_body(), headers=headers[Role.coordinator])
    client.post("/api/v1/cabinets", json=cabinet_body(), headers=headers[Role.coordinator])
    yield headers
    app.state.settings = settings_


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    # The same examples on every run, so that CI is repeatable; LAC_FUZZ_EXAMPLES=500 explores further.
    max_examples=int(os.environ.get("LAC_FUZZ_EXAMPLES", 25)), derandomize="LAC_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_error_and_every_answer_as_documented(case, data, app, fuzzed_app):  # type: ignore[no-untyped-def]
    role = data.draw(st.sampled_from([*Role, None]), label="role")
    headers = dict(case.headers or {})
    if "Authorization" in headers:  # generated, so replaced by a real key; absent: a case without one, kept so
        headers.pop("Authorization")
        headers |= fuzzed_app[role]
    case.operation.schema.app = app  # this test's app, also for the checks' own probes (e.g. without the key)
    case.call_and_validate(headers=headers, app=app, excluded_checks=[positive_data_acceptance])
