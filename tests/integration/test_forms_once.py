"""A screen's form sent twice at the same moment (a double click the browser let through) makes its record
once: the second sending waits for the first and leads to what it made."""

import threading

import pytest
import sqlalchemy as sa

from lac_service.auth.service import create_organisation
from lac_service.cabinets.models import Cabinet
from lac_service.cabinets.schemas import CabinetCreate
from lac_service.cabinets.service import create_cabinet
from lac_service.db import session_scope
from lac_service.geography.geocoder import Located
from lac_service.idempotency import made_once
from lac_service.kit.clock import utcnow
from tests.conftest import until_one_waits_for_a_lock
from tests.payloads import cabinet_body


@pytest.mark.postgres_only
def test_two_sendings_in_flight_together_register_one_cabinet(committed, committed_url):
    if committed_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writing transaction at a time: the second reads the first's record")
    sessions, now = committed, utcnow()
    with session_scope(sessions) as session:
        organisation_id = create_organisation(session, slug="cpts-x", name="X", now=now).id

    def send(session) -> str:
        def make() -> str:
            cabinet = create_cabinet(session, organisation_id=organisation_id, now=now,
                                     place=Located(50.63, 3.06, "exact", "59"),
                                     data=CabinetCreate.model_validate(cabinet_body()))
            return f"cabinet:{cabinet.id}"
        return made_once(session, scope="form:user:1", key="the-page", make=make, now=now)

    answers: list[str] = []
    with session_scope(sessions) as first:
        answers.append(send(first))
        second = threading.Thread(target=lambda: answers.append(_in_own_session(sessions, send)))
        second.start()
        until_one_waits_for_a_lock(first, "the second sending")
    second.join(timeout=30)
    assert answers[0] == answers[1], "both lead to the cabinet the first made"
    with session_scope(sessions) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Cabinet)) == 1


def _in_own_session(sessions, send) -> str:
    with session_scope(sessions) as session:
        return send(session)
