"""The migrations build the schema the models describe, on both databases, with one head."""

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from lac_service import migrate
from lac_service.all_models import metadata
from lac_service.auth.service import create_organisation
from lac_service.cabinets.schemas import CabinetCreate
from lac_service.cabinets.service import create_cabinet
from lac_service.db import create_db_engine, create_session_factory, session_scope
from lac_service.geography.geocoder import Located
from lac_service.intake.models import PatientRequest, Source, WithdrawReason
from lac_service.intake.schemas import RequestCreate
from lac_service.intake.service import SYSTEM, create_request, withdraw_request
from lac_service.links import Links
from lac_service.matching.service import run_round
from lac_service.notifications.models import Notification
from tests.conftest import NOW
from tests.payloads import cabinet_body, request_body


def test_autogenerate_finds_no_difference_with_the_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": migrate.include_object}
        )
        assert compare_metadata(context, metadata) == []


def test_there_is_exactly_one_head(settings):
    assert len(ScriptDirectory.from_config(migrate.alembic_config(settings)).get_heads()) == 1


@pytest.fixture
def own(settings, committed_url):
    """A database of its own, built from empty by the migrations: the shared one must stay at head for the
    other tests."""
    engine = create_db_engine(committed_url)
    yield settings.model_copy(update={"database_url": committed_url}), engine
    engine.dispose()


def test_upgrade_downgrade_upgrade(own):
    settings, engine = own
    with engine.connect() as connection:
        assert migrate.current_heads(connection) == migrate.expected_heads(settings)
    migrate.downgrade(settings, engine, "base")
    with engine.connect() as connection:
        assert set(sa.inspect(connection).get_table_names()) <= {"alembic_version", "spatial_ref_sys"}
    migrate.upgrade(settings, engine)
    with engine.connect() as connection:
        assert "requests" in sa.inspect(connection).get_table_names()


def _register(session, settings, organisation_id: int, **patient) -> PatientRequest:  # type: ignore[no-untyped-def]
    request, _ = create_request(
        session, data=RequestCreate.model_validate(request_body(**patient)), home=Located(50.63, 3.06, "exact", "59"),
        organisation_id=organisation_id, outside_territory=False, source=Source.secretary, actor=SYSTEM,
        max_distance_km=30, now=NOW, links=Links.from_settings(settings), notify=False,
    )
    return request


def test_rows_survive_the_migrations_that_rebuild_a_table(own):
    """On SQLite a batch migration copies a table and drops the old one: with foreign keys on, the drop
    would take every row pointing to it along (a request's history)."""
    settings, engine = own
    with session_scope(create_session_factory(engine)) as session:
        organisation = create_organisation(session, slug="cpts", name="CPTS", now=NOW)
        request = _register(session, settings, organisation.id)
        withdraw_request(session, request, reason=WithdrawReason.moved, actor=SYSTEM, now=NOW)
    migrate.downgrade(settings, engine, "0008")
    migrate.upgrade(settings, engine)
    with engine.connect() as connection:
        history = connection.execute(sa.text("SELECT to_status FROM request_status_changes ORDER BY id")).scalars().all()
        assert history == ["waiting", "withdrawn"]
        assert connection.execute(sa.text("SELECT person_key FROM requests")).scalar_one() == "durand elodie lefevre"


def test_offers_made_before_0016_take_their_requests_points(own):
    """0016 keeps each offer item's points of the day of the offer; items offered before it had none kept, so
    they take their request's points as they stand."""
    settings, engine = own
    with session_scope(create_session_factory(engine)) as session:
        organisation = create_organisation(session, slug="cpts", name="CPTS", now=NOW)
        create_cabinet(session, organisation_id=organisation.id, now=NOW, place=Located(50.63, 3.06, "exact", "59"),
                       data=CabinetCreate.model_validate(cabinet_body(batch_size=2)))
        gone = _register(session, settings, organisation.id, first_name="Zoé", phone="0633333333")
        withdraw_request(session, gone, reason=WithdrawReason.moved, actor=SYSTEM, now=NOW)  # ids: items ≠ requests
        _register(session, settings, organisation.id, first_name="Alice", phone="0611111111")
        _register(session, settings, organisation.id, first_name="Bruno", phone="0622222222")
        run_round(session, organisation_id=None, kind=None, engine_name="greedy", now=NOW, actor="test",
                  offer_ttl=timedelta(days=14), links=Links.from_settings(settings))
    migrate.downgrade(settings, engine, "0015")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE requests SET priority_points = 40 + id"))
        ids = connection.execute(sa.text("SELECT request_id FROM offer_items ORDER BY request_id")).scalars().all()
    migrate.upgrade(settings, engine)
    with engine.connect() as connection:
        points = connection.execute(sa.text("SELECT request_id, priority_points FROM offer_items")).all()
    assert len(ids) == 2 and sorted(points) == [(request_id, 40 + request_id) for request_id in ids]


def test_0019_drops_the_asks_kept_by_cabinets_in_browse_mode(own):
    """Nothing would tell such a cabinet of the batch its old ask would bring."""
    settings, engine = own
    with session_scope(create_session_factory(engine)) as session:
        organisation = create_organisation(session, slug="cpts", name="CPTS", now=NOW)
        for name, channels in (("browse", []), ("told", ["email"])):
            create_cabinet(session, organisation_id=organisation.id, now=NOW, place=Located(50.63, 3.06, "exact", "59"),
                           data=CabinetCreate.model_validate(cabinet_body(name=name, channels=channels)))
    migrate.downgrade(settings, engine, "0018")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE cabinets SET batch_requested_at = CURRENT_TIMESTAMP"))
    migrate.upgrade(settings, engine)
    with engine.connect() as connection:
        asks = connection.execute(sa.text("SELECT name, batch_requested_at FROM cabinets")).all()
    assert {name: at is not None for name, at in asks} == {"browse": False, "told": True}


def test_0021_gives_the_messages_that_may_still_fail_their_organisation(own):
    """A failure queued before 0021 is still told to the right coordinators; settled messages are left be."""
    settings, engine = own
    with session_scope(create_session_factory(engine)) as session:
        organisation = create_organisation(session, slug="cpts", name="CPTS", now=NOW)
        cabinet = create_cabinet(session, organisation_id=organisation.id, now=NOW,
                                 place=Located(50.63, 3.06, "exact", "59"), data=CabinetCreate.model_validate(cabinet_body()))
        request = _register(session, settings, organisation.id)
        rows = {  # key → (resource, channel, status, delivery report)
            "queued": (f"request:{request.id}", "sms", "created", None),
            "being_sent": (f"cabinet:{cabinet.id}", "email", "sending", None),
            "webhook": (f"organisation:{organisation.id}", "webhook", "created", None),
            "awaiting_report": (f"request:{request.id}", "sms", "sent", None),
            "delivered": (f"request:{request.id}", "sms", "sent", "delivered"),
            "emailed": (f"request:{request.id}", "email", "sent", None),
        }
        for key, (resource, channel, status, report) in rows.items():
            session.add(Notification(channel=channel, recipient="x", template="t", body="", status=status, attempts=0,
                                     next_attempt_at=NOW, idempotency_key=key, resource=resource, created_at=NOW,
                                     delivery_status=report))
    migrate.downgrade(settings, engine, "0020")
    migrate.upgrade(settings, engine)
    with engine.connect() as connection:
        owners = dict(connection.execute(sa.text("SELECT idempotency_key, organisation_id FROM notifications")).all())
    o = organisation.id
    assert owners == {"queued": o, "being_sent": o, "webhook": o, "awaiting_report": o, "delivered": None, "emailed": None}


def test_0022_rewrites_the_overseas_landlines_stored_as_mainland_numbers(own):
    """Typed "0596 30 12 34" before, stored +33 5 96…: the Martinique line it is, so that a reply from it is found."""
    settings, engine = own
    with session_scope(create_session_factory(engine)) as session:
        organisation = create_organisation(session, slug="cpts", name="CPTS", now=NOW)
        create_cabinet(session, organisation_id=organisation.id, now=NOW, place=Located(50.63, 3.06, "exact", "59"),
                       data=CabinetCreate.model_validate(cabinet_body()))
        for first_name in ("Martinique", "Mainland", "Lille", "Réunion"):
            _register(session, settings, organisation.id, first_name=first_name, phone="0612345678")
    migrate.downgrade(settings, engine, "0021")
    stored = {"Martinique": "+33596301234", "Mainland": "+33597301234", "Lille": "+33612345678", "Réunion": "+33262301234"}
    with engine.begin() as connection:
        for first_name, phone in stored.items():
            connection.execute(sa.text("UPDATE requests SET phone = :phone WHERE first_name = :name"),
                               {"phone": phone, "name": first_name})
        connection.execute(sa.text("UPDATE cabinets SET phones = :phones, patient_phone = '+33590301234'"),
                           {"phones": '["+33596301234", "+33620123456"]'})
    migrate.upgrade(settings, engine)
    with engine.connect() as connection:
        phones = dict(connection.execute(sa.text("SELECT first_name, phone FROM requests")).all())
        cabinet = connection.execute(sa.text("SELECT CAST(phones AS TEXT), patient_phone FROM cabinets")).one()
    assert phones == {"Martinique": "+596596301234", "Mainland": "+33597301234", "Lille": "+33612345678",
                      "Réunion": "+262262301234"}, "a mainland 05 97 number, read again, stays; so do mobiles"
    assert json.loads(cabinet[0]) == ["+596596301234", "+33620123456"] and cabinet[1] == "+590590301234"
