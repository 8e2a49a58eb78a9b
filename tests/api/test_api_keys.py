"""API keys end: revoked at once, or rotated with an overlap so a partner deploys the new one without an
outage. Nothing but the key's own state decides, checked at every call."""

from datetime import timedelta

import pytest

from lac_service.auth.models import Role
from lac_service.auth.service import create_api_key, get_api_key, revoke_api_key, rotate_api_key
from lac_service.errors import Conflict, NotFound
from tests.conftest import NOW


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _status(client, secret: str) -> int:
    return client.get("/api/v1/requests", headers=_bearer(secret)).status_code


@pytest.fixture
def issued(db, org_a):
    key = create_api_key(db, organisation=org_a, role=Role.partner, name="logiciel Doctolib-like", now=NOW)
    db.commit()
    return key


def test_a_revoked_key_stops_at_once(client, db, clock, issued):
    assert _status(client, issued.secret) == 200
    revoke_api_key(db, get_api_key(db, issued.api_key.prefix), at=NOW)
    db.commit()
    answer = client.get("/api/v1/requests", headers=_bearer(issued.secret))
    assert answer.status_code == 401 and answer.json()["code"] == "unauthenticated"


def test_a_rotated_key_overlaps_then_stops_and_the_new_one_keeps_its_rights(client, db, clock, issued):
    old = get_api_key(db, issued.secret)
    new = rotate_api_key(db, old, now=NOW, overlap=timedelta(days=7))
    db.commit()
    assert new.api_key.role is Role.partner and new.api_key.name == "logiciel Doctolib-like"
    assert new.api_key.organisation_id == old.organisation_id and new.secret != issued.secret
    clock["now"] = NOW + timedelta(days=7) - timedelta(seconds=1)
    assert _status(client, issued.secret) == 200 and _status(client, new.secret) == 200
    clock["now"] = NOW + timedelta(days=7)
    assert _status(client, issued.secret) == 401
    assert _status(client, new.secret) == 200
    created = client.post("/api/v1/requests", json={}, headers=_bearer(new.secret))
    assert created.status_code == 422, "the new key is a partner's: it may register (the body is what is wrong)"


def test_a_revoked_key_cannot_be_rotated_and_revoking_never_extends(db, issued):
    old = get_api_key(db, issued.api_key.prefix)
    rotate_api_key(db, old, now=NOW, overlap=timedelta(days=7))
    revoke_api_key(db, old, at=NOW + timedelta(days=30))
    assert old.revoked_at == NOW + timedelta(days=7)
    revoke_api_key(db, old, at=NOW)
    with pytest.raises(Conflict):
        rotate_api_key(db, old, now=NOW + timedelta(seconds=1), overlap=timedelta(days=7))


def test_an_unknown_key_is_named_not_found(db):
    with pytest.raises(NotFound):
        get_api_key(db, "0123456789ab")
