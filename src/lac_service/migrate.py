"""Alembic, driven from code: ``lac db upgrade`` and ``/readyz`` use the same configuration."""

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from lac_service.config import Settings
from lac_service.db import migrations_dir


# Tables that extensions own (PostGIS), which the models do not describe and migrations must not drop.
EXTENSION_TABLES = frozenset({"spatial_ref_sys"})


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "table" and name in EXTENSION_TABLES)


def alembic_config(settings: Settings, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir(settings.migrations_dir)))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """One transaction for the whole migration. On SQLite, foreign keys are off meanwhile (which SQLite allows
    only outside a transaction): a batch migration rebuilds a table by copying it and dropping the old one,
    and that drop would otherwise cascade to every row pointing to it (history, offers). They are checked
    before the commit instead."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                yield connection
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("the migration left rows pointing to rows that do not exist")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def upgrade(settings: Settings, engine: Engine, revision: str = "head") -> None:
    with _migrating(engine) as connection:
        command.upgrade(alembic_config(settings, connection), revision)


def downgrade(settings: Settings, engine: Engine, revision: str) -> None:
    with _migrating(engine) as connection:
        command.downgrade(alembic_config(settings, connection), revision)


def expected_heads(settings: Settings) -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config(settings)).get_heads())


def current_heads(connection: Connection) -> frozenset[str]:
    return frozenset(MigrationContext.configure(connection).get_current_heads())
