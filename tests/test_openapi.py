"""The committed OpenAPI document is the one the code serves: partners build on the file."""

import json

from lac_service.main import create_app
from tests.conftest import REPO, make_settings


def test_committed_openapi_matches_the_code():
    committed = json.loads((REPO / "openapi" / "openapi.json").read_text())
    assert create_app(make_settings("sqlite://")).openapi() == committed, "run `lac openapi` and commit"


def test_every_operation_documents_its_errors():
    document = create_app(make_settings("sqlite://")).openapi()
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, operation in operations.items():
            assert "422" in operation["responses"], (method, path)
            assert operation["responses"]["404"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"
            }


def test_the_document_says_which_operations_a_caller_without_a_key_may_use():
    """Clients generated from the file must not demand a key for the public form's operation."""
    document = create_app(make_settings("sqlite://")).openapi()
    keyless = {(method.upper(), path) for path, operations in document["paths"].items()
               for method, operation in operations.items() if {} in operation.get("security", [{}])}
    assert {("POST", "/api/v1/requests"), ("GET", "/api/v1/offers/{token}"), ("GET", "/healthz")} <= keyless
    assert ("GET", "/api/v1/requests") not in keyless and ("DELETE", "/api/v1/requests/{request_id}") not in keyless
