"""Two organisations saving overlapping territories at the same moment: each would pass against the other's
old territory, and the overlap would be stored. The second waits for the first, then is refused."""

import threading

import pytest
import sqlalchemy as sa

from lac_service.auth.models import Organisation
from lac_service.auth.service import create_organisation
from lac_service.db import session_scope
from lac_service.errors import Conflict
from lac_service.kit.clock import utcnow
from lac_service.organisations.service import set_territory
from tests.conftest import until_one_waits_for_a_lock


@pytest.mark.postgres_only
def test_the_second_of_two_overlapping_territories_saved_at_once_waits_and_is_refused(committed, committed_url):
    if committed_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writing transaction at a time: the second reads after the first")
    factory, now = committed, utcnow()
    with session_scope(factory) as session:
        for slug in ("cpts-ouest", "cpts-est"):
            create_organisation(session, slug=slug, name=slug, now=now)
    second: list[str] = []

    def save(session, slug: str) -> None:  # type: ignore[no-untyped-def]
        organisation = session.scalars(sa.select(Organisation).where(Organisation.slug == slug)).one()
        set_territory(session, organisation, geojson=None, postal_codes=["59000"], communes=None, now=now)

    def other() -> None:
        try:
            with session_scope(factory) as session:
                save(session, "cpts-est")
            second.append("saved")
        except Conflict as refused:
            second.append(refused.detail)

    with session_scope(factory) as first:
        save(first, "cpts-ouest")
        thread = threading.Thread(target=other)
        thread.start()
        until_one_waits_for_a_lock(first, "the second")
    thread.join()
    assert second == ["Ce territoire chevauche celui de « cpts-ouest » (cpts-ouest) : le code postal 59000."]
