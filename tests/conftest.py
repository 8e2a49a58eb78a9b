"""Test fixtures: every database test runs on SQLite and on PostgreSQL, each built by the migrations.

``LAC_TEST_POSTGRES_URL`` (set by ``make test``) names a server whose ``lac_test`` database has PostGIS;
each run works in its own fresh database made from it. Each test runs inside a transaction that is
rolled back, so tests do not see each other's rows.
"""

import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from pydantic import SecretStr
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from twilio.request_validator import RequestValidator

from lac_service import migrate
from lac_service.auth import logins
from lac_service.auth.models import Organisation, Role
from lac_service.auth.service import create_api_key, create_organisation
from lac_service.config import Environment, NotificationSettings, Settings
from lac_service.db import create_db_engine, create_session_factory
from lac_service.kit.clock import request_time
from lac_service.main import create_app
from lac_service.notifications.channels import Backend, LocalBackend
from lac_service.notifications.dispatcher import Dispatcher, Stats
from lac_service.notifications.models import Channel
from tests.fakes.smtp import FakeSmtp
from tests.fakes.twilio import AUTH_TOKEN, FakeTwilio

BACKENDS = ["sqlite", "postgresql"]
PUBLIC_URL = "http://127.0.0.1:8000"  # the test app's LAC_PUBLIC_BASE_URL: the settings' default

# No time limit per example: speed is the benchmarks' business, and with one worker per core an example may
# wait for the processor.
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def _postgres_url() -> str:
    url = os.environ.get("LAC_TEST_POSTGRES_URL")
    if not url:
        pytest.fail("LAC_TEST_POSTGRES_URL is not set: run the suite with `make test`, which starts PostgreSQL.")
    return url


def _server_admin(url: str) -> Engine:
    return sa.create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def create_postgres_database(template: str | None = None) -> str:
    """A fresh database copied from ``template`` (default: the PostGIS-enabled ``lac_test``); returns its URL."""
    base = make_url(_postgres_url())
    name = f"lac_run_{uuid.uuid4().hex[:12]}"
    admin = _server_admin(_postgres_url())
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template or base.database}"')
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    admin = _server_admin(url)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """argon2id as the service runs it, at its lowest cost, in this process: hundreds of tests log in to read a
    page, and the production cost (0.2 s a hash on this machine) would add minutes without testing more.
    Subprocesses (``lac``, the served app of the screen tests) keep the real cost."""
    real = logins._hasher
    logins._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    logins._dummy_hash.cache_clear()
    yield
    logins._hasher = real
    logins._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


def make_settings(database_url: str, **overrides: object) -> Settings:
    return Settings(
        environment=Environment.test, database_url=database_url, secret_key="test-secret-key-not-for-production",
        **overrides,
    )


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'lac.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = create_db_engine(settings.database_url)
    migrate.upgrade(settings, engine)
    yield engine
    engine.dispose()


@pytest.fixture
def committed_url(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """A migrated database of its own whose transactions really commit, for tests of what one connection
    sees or waits for while another works, or of several processes."""
    sqlite = settings.database_url.startswith("sqlite")
    url = f"sqlite:///{tmp_path / 'committed.db'}" if sqlite else create_postgres_database()
    engine = create_db_engine(url)
    migrate.upgrade(settings.model_copy(update={"database_url": url}), engine)
    engine.dispose()
    yield url
    if not sqlite:
        drop_postgres_database(url)


@pytest.fixture
def committed(committed_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on ``committed_url``, each its own connection."""
    engine = create_db_engine(committed_url)
    yield create_session_factory(engine)
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[sa.Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def session_factory(connection: sa.Connection):  # type: ignore[no-untyped-def]
    """Sessions that commit into savepoints of the test's transaction."""
    return create_session_factory(connection, join_transaction_mode="create_savepoint")


@pytest.fixture
def db(session_factory) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        yield session
        session.commit()


@pytest.fixture
def app(settings: Settings, engine: Engine, session_factory):  # type: ignore[no-untyped-def]
    return create_app(settings, engine=engine, session_factory=session_factory)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def clock(app):
    """The app's "now", movable: ``clock["now"] += timedelta(days=90)``."""
    moment = {"now": NOW}
    app.dependency_overrides[request_time] = lambda: moment["now"]
    return moment


@pytest.fixture
def make_org(db: Session) -> Callable[[str], Organisation]:
    def make(slug: str) -> Organisation:
        organisation = create_organisation(db, slug=slug, name=f"CPTS {slug}", now=NOW)
        db.commit()
        return organisation

    return make


@pytest.fixture
def make_key(db: Session) -> Callable[[Organisation, Role], dict[str, str]]:
    """Authorization headers of a fresh API key with that role in that organisation."""

    def make(organisation: Organisation, role: Role) -> dict[str, str]:
        issued = create_api_key(db, organisation=organisation, role=role, name=role.value, now=NOW)
        db.commit()
        return {"Authorization": f"Bearer {issued.secret}"}

    return make


@pytest.fixture
def org_a(make_org) -> Organisation:  # type: ignore[no-untyped-def]
    return make_org("cpts-a")


@pytest.fixture
def org_b(make_org) -> Organisation:  # type: ignore[no-untyped-def]
    return make_org("cpts-b")


@pytest.fixture
def secretary_a(make_key, org_a) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return make_key(org_a, Role.secretary)


def count_rows(connection: sa.Connection) -> dict[str, int]:
    """Rows per table, to prove a refused input wrote nothing."""
    from lac_service.all_models import metadata

    return {
        table.name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        for table in metadata.sorted_tables
    }


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    """A local stand-in for Twilio's API, spoken to by the real client."""
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def twilio_app(app):  # type: ignore[no-untyped-def]
    """The app holding the fake's auth token: Twilio's webhooks (replies, delivery reports) are then checked
    against it."""
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={
        "notifications": settings.notifications.model_copy(update={"twilio_auth_token": SecretStr(AUTH_TOKEN)})
    })
    yield app
    app.state.settings = settings


def twilio_post(client: TestClient, path: str, fields: dict[str, str], *, signature: str | None = None,
                url: str | None = None) -> Any:
    """A webhook call as Twilio makes it: signed with the account's token over the public URL."""
    signature = signature or RequestValidator(AUTH_TOKEN).compute_signature(url or PUBLIC_URL + path, fields)
    return client.post(path, data=fields, headers={"X-Twilio-Signature": signature})


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    """A real SMTP server in the test process (aiosmtpd), recording what it accepts."""
    with FakeSmtp() as fake:
        yield fake


def dispatch(db: Session, now: datetime, *, sms: Backend | None = None, email: Backend | None = None,
             operator: Sequence[str] = (), **settings_: Any) -> Stats:
    """The dispatcher's pass at ``now`` on the test's own connection: what is due is sent, locally (or by
    ``sms`` and ``email``), and marked as production marks it; ``operator``: the deployment's addresses told of
    every failure; other keywords are its settings."""
    settings = NotificationSettings(rate_per_s=1000, backoff_base_s=0, coordinator_emails=list(operator), **settings_)
    dispatcher = Dispatcher(create_session_factory(db.get_bind(), join_transaction_mode="create_savepoint"),
                            settings, secret_key=b"k",
                            backends={Channel.sms: sms or LocalBackend(), Channel.email: email or LocalBackend()},
                            clock=lambda: now)
    try:
        return dispatcher.run_once()
    finally:
        dispatcher.close()


def until_one_waits_for_a_lock(session: Session, who: str, seconds: float = 10) -> None:
    """Returns once another connection to this PostgreSQL database waits for a lock ``session``'s transaction
    holds: proof that it waits, where a sleep would only hope so."""
    deadline = time.monotonic() + seconds
    while not session.execute(sa.text(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
            "and datname = current_database()")).scalar():
        assert time.monotonic() < deadline, f"{who} never waited"
        time.sleep(0.05)
        session.execute(sa.text("select pg_stat_clear_snapshot()"))  # else read once per transaction


REPO = Path(__file__).resolve().parents[1]
