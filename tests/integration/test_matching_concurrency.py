"""Two rounds at the same time on one database: never a request in two pending offers. On PostgreSQL the
second is refused (409); on SQLite it waits for the first, then finds every cabinet served."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lac_service.auth.service import create_organisation
from lac_service.cabinets.schemas import CabinetCreate
from lac_service.cabinets.service import create_cabinet
from lac_service.db import create_db_engine, create_session_factory, session_scope
from lac_service.errors import Conflict
from lac_service.geography.geocoder import Located
from lac_service.intake.models import Source
from lac_service.intake.schemas import RequestCreate
from lac_service.intake.service import Actor, create_request
from lac_service.kit.clock import utcnow
from lac_service.links import Links
from lac_service.matching.service import run_round
from lac_service.offers.models import ItemStatus, OfferItem
from tests.payloads import cabinet_body, request_body


@pytest.fixture
def committed(committed_url):
    engine = create_db_engine(committed_url)
    yield create_session_factory(engine)
    engine.dispose()


def test_two_concurrent_rounds_never_offer_a_request_twice(committed):
    now = utcnow()
    with session_scope(committed) as session:
        organisation = create_organisation(session, slug="cpts-x", name="X", now=now)
        for index in range(20):
            create_cabinet(
                session, organisation_id=organisation.id, now=now, place=Located(50.63 + index / 1000, 3.06, "exact", "59"),
                data=CabinetCreate.model_validate(cabinet_body(batch_size=5, radius_km=30)),
            )
        for index in range(300):
            body = request_body(first_name=f"P{index}", phone=f"06{index:08d}", email=None)
            create_request(
                session, data=RequestCreate.model_validate(body), home=Located(50.60 + index / 5000, 3.05, "exact", "59"),
                organisation_id=organisation.id, outside_territory=False, source=Source.secretary,
                actor=Actor("test", True), max_distance_km=30, now=now, links=Links("http://lac.test", b"k"), notify=False,
            )
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def round_() -> None:
        barrier.wait()
        try:
            with session_scope(committed) as session:
                result = run_round(
                    session, organisation_id=None, kind=None, engine_name="greedy", now=now, actor="test",
                    offer_ttl=timedelta(days=14), links=Links("http://lac.test", b"k"),
                )
                outcomes.append(f"ran:{len(result.batches)}")
        except Conflict:
            outcomes.append("409")

    threads = [threading.Thread(target=round_) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes)[0] in ("409", "ran:0") and len(outcomes) == 2, outcomes
    with session_scope(committed) as session:
        pending = session.execute(
            sa.select(OfferItem.request_id, sa.func.count()).where(OfferItem.status == ItemStatus.pending)
            .group_by(OfferItem.request_id)
        ).all()
        assert len(pending) == 100, "20 cabinets × 5 seats"
        assert all(count == 1 for _, count in pending)
