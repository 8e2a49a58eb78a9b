"""Alembic, driven from code: ``lac db upgrade`` and ``/readyz`` use the same configuration."""

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


def upgrade(settings: Settings, engine: Engine) -> None:
    with engine.begin() as connection:
        command.upgrade(alembic_config(settings, connection), "head")


def expected_heads(settings: Settings) -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config(settings)).get_heads())


def current_heads(connection: Connection) -> frozenset[str]:
    return frozenset(MigrationContext.configure(connection).get_current_heads())
