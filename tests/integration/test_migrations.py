"""The migrations build the schema the models describe, on both databases, with one head."""

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from lac_service import migrate
from lac_service.all_models import metadata
from lac_service.db import create_db_engine
from tests.conftest import create_postgres_database, drop_postgres_database


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
        with engine.begin() as connection:
            command.downgrade(migrate.alembic_config(own, connection), "base")
        with engine.connect() as connection:
            assert set(sa.inspect(connection).get_table_names()) <= {"alembic_version", "spatial_ref_sys"}
        migrate.upgrade(own, engine)
        with engine.connect() as connection:
            assert "requests" in sa.inspect(connection).get_table_names()
    finally:
        with engine.begin() as connection:
            command.downgrade(migrate.alembic_config(own, connection), "base")
        engine.dispose()
        if not database_url.startswith("sqlite"):
            drop_postgres_database(url)
