"""Database plumbing: the declarative base, engines, and the only two places that commit.

``get_session`` gives one session per HTTP request, committed when the handler succeeds and rolled back
when it raises; ``session_scope`` does the same for jobs and commands. Services only flush.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite has no time zones and would hand back naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


_SQLITE_BEGIN = "lac_sqlite_begin"
SQLITE_BUSY_TIMEOUT_MS = 5000


def _configure_sqlite(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, open transactions (so SAVEPOINT and transactional DDL work), and
    turn on foreign keys and WAL, which SQLite leaves off by default.

    The sessions' transactions begin ``IMMEDIATE`` (``create_session_factory``): they take SQLite's one write
    lock at their start, waiting for it up to the busy timeout. A deferred transaction that reads and then
    writes cannot wait: if another wrote in between, SQLite refuses it at once ("database is locked"), which
    under concurrent requests was a 500. Plain connections (the readiness probe) and ``read_scope`` stay
    deferred readers."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get(_SQLITE_BEGIN) == "immediate"
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    """``hide_parameters`` keeps patient data out of error messages and logs."""
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def create_session_factory(bind: Engine | sa.Connection, **kwargs: Any) -> sessionmaker[Session]:
    """Sessions of an engine write, so on SQLite they begin ``IMMEDIATE``; bound to a connection (the tests'
    rolled-back transaction), they join what it began."""
    if isinstance(bind, Engine) and bind.dialect.name == "sqlite":
        bind = bind.execution_options(**{_SQLITE_BEGIN: "immediate"})
    return sessionmaker(bind=bind, expire_on_commit=False, **kwargs)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work for commands and jobs: commit on success, roll back on any error."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """For reads only (an API key, a password's hash): nothing is committed at its end. On SQLite it begins
    deferred: it neither takes the database's one write lock nor queues for it, since in WAL mode a reader
    sees the last commit while a writer works. On PostgreSQL it runs in autocommit (a write there would
    last at once): a lookup costs no ``BEGIN`` and ``ROLLBACK`` round trips, and the connection goes back
    to the pool in its usual mode."""
    with factory() as session:
        bind = session.get_bind()
        if isinstance(bind, Engine):
            sqlite = bind.dialect.name == "sqlite"
            options = {_SQLITE_BEGIN: "deferred"} if sqlite else {"isolation_level": "AUTOCOMMIT"}
            session.connection(execution_options=options)
        yield session


def insert_on_conflict(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can end in ``ON CONFLICT``: both backends have it, each with its own construct."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.session_factory) as session:
        yield session


# scope="function": commit before the response leaves, so a failed commit is never answered with a 2xx.
DbSession = Annotated[Session, Depends(get_session, scope="function")]


def migrations_dir(configured: str | None) -> Path:
    """The repository's ``migrations/`` next to ``src/`` unless the deployment says where it put them."""
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "migrations"
