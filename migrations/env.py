"""Alembic environment: runs on the connection handed in by ``lac db upgrade`` or the tests, else on the
URL of the settings."""

from alembic import context

from lac_service.all_models import metadata
from lac_service.config import get_settings
from lac_service.db import create_db_engine
from lac_service.migrate import include_object

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_db_engine(config.get_main_option("sqlalchemy.url") or get_settings().database_url)
        with engine.begin() as own_connection:
            _run(own_connection)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported: run `lac db upgrade`.")
run_migrations_online()
