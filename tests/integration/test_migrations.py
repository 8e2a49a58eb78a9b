"""The migrations build the schema the models describe, on both databases, with one head."""

from datetime import timedelta

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
from lac_service.intake.models import Source, WithdrawReason
from lac_service.intake.schemas import RequestCreate
from lac_service.intake.service import SYSTEM, create_request, withdraw_request
from lac_service.links import Links
from lac_service.matching.service import run_round
from tests.conftest import NOW, create_postgres_database, drop_postgres_database
from tests.payloads import cabinet_body, request_body


def test_autogenerate_finds_no_difference_with_the_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": migrate.include_object}
        )
        assert compare_metadata(context, metadata) == []


def test_there_is_exactly_one_head(settings):
    assert len(ScriptDirectory.from_config(migrate.alembic_config(settings)).get_heads()) == 1


def test_upgrade_downgrade_upgrade_on_an_empty_database(settings, tmp_path, database_url):
    """Run on a database of its own: the shared one must stay at head for the other tests."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        url = create_postgres_database()
    engine = create_db_engine(url)
    own = settings.model_copy(update={"database_url": url})
    try:
        migrate.upgrade(own, engine)
        with engine.connect() as connection:
            assert migrate.current_heads(connection) == migrate.expected_heads(own)
        migrate.downgrade(own, engine, "base")
        with engine.connect() as connection:
            assert set(sa.inspect(connection).get_table_names()) <= {"alembic_version", "spatial_ref_sys"}
        migrate.upgrade(own, engine)
        with engine.connect() as connection:
            assert "requests" in sa.inspect(connection).get_table_names()
    finally:
        migrate.downgrade(own, engine, "base")
        engine.dispose()
        if not database_url.startswith("sqlite"):
            drop_postgres_database(url)


def test_rows_survive_the_migrations_that_rebuild_a_table(settings, tmp_path, database_url):
    """On SQLite a batch migration copies a table and drops the old one: with foreign keys on, the drop
    would take every row pointing to it along (a request's history)."""
    url = f"sqlite:///{tmp_path / 'kept.db'}" if database_url.startswith("sqlite") else create_postgres_database()
    engine = create_db_engine(url)
    own = settings.model_copy(update={"database_url": url})
    try:
        migrate.upgrade(own, engine)
        with session_scope(create_session_factory(engine)) as session:
            organisation = create_organisation(session, slug="cpts", name="CPTS", now=NOW)
            data = RequestCreate.model_validate(request_body())
            request, _ = create_request(
                session, data=data, home=Located(50.63, 3.06, "exact", "59"), organisation_id=organisation.id,
                outside_territory=False, source=Source.secretary, actor=SYSTEM, max_distance_km=30, now=NOW,
                links=Links.from_settings(own), notify=False,
            )
            withdraw_request(session, request, reason=WithdrawReason.moved, actor=SYSTEM, now=NOW)
        migrate.downgrade(own, engine, "0008")
        migrate.upgrade(own, engine)
        with engine.connect() as connection:
            history = connection.execute(sa.text("SELECT to_status FROM request_status_changes ORDER BY id")).scalars().all()
            assert history == ["waiting", "withdrawn"]
            assert connection.execute(sa.text("SELECT person_key FROM requests")).scalar_one() == "durand elodie lefevre"
    finally:
        migrate.downgrade(own, engine, "base")
        engine.dispose()
        if not database_url.startswith("sqlite"):
            drop_postgres_database(url)


def test_offers_made_before_0016_take_their_requests_points(settings, tmp_path, database_url):
    """0016 keeps each offer item's points of the day of the offer; items offered before it had none kept, so
    they take their request's points as they stand."""
    url = f"sqlite:///{tmp_path / 'offered.db'}" if database_url.startswith("sqlite") else create_postgres_database()
    engine = create_db_engine(url)
    own = settings.model_copy(update={"database_url": url})
    try:
        migrate.upgrade(own, engine)
        with session_scope(create_session_factory(engine)) as session:
            organisation = create_organisation(session, slug="cpts", name="CPTS", now=NOW)
            create_cabinet(session, organisation_id=organisation.id, now=NOW, place=Located(50.63, 3.06, "exact", "59"),
                           data=CabinetCreate.model_validate(cabinet_body(batch_size=2)))
            for first_name, phone in (("Alice", "0611111111"), ("Bruno", "0622222222")):
                create_request(
                    session, data=RequestCreate.model_validate(request_body(first_name=first_name, phone=phone)),
                    home=Located(50.63, 3.06, "exact", "59"), organisation_id=organisation.id, outside_territory=False,
                    source=Source.secretary, actor=SYSTEM, max_distance_km=30, now=NOW, links=Links.from_settings(own),
                    notify=False,
                )
            run_round(session, organisation_id=None, kind=None, engine_name="greedy", now=NOW, actor="test",
                      offer_ttl=timedelta(days=14), links=Links.from_settings(own))
        migrate.downgrade(own, engine, "0015")
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE requests SET priority_points = 40 + id"))
            ids = connection.execute(sa.text("SELECT request_id FROM offer_items ORDER BY request_id")).scalars().all()
        migrate.upgrade(own, engine)
        with engine.connect() as connection:
            points = connection.execute(sa.text("SELECT request_id, priority_points FROM offer_items")).all()
        assert len(ids) == 2 and sorted(points) == [(request_id, 40 + request_id) for request_id in ids]
    finally:
        migrate.downgrade(own, engine, "base")
        engine.dispose()
        if not database_url.startswith("sqlite"):
            drop_postgres_database(url)
