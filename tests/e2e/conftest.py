"""End-to-end: the real service on a loopback port (SQLite and PostgreSQL, each built by the migrations),
driven by Debian's headless Chromium through Playwright, as a person would click and type.

Screenshots: every step named with ``shot`` is saved when ``LAC_SCREENSHOTS`` names a folder (``make
screenshots``); the page of a failed test is always saved, to ``LAC_SCREENSHOTS`` or ``screenshots/``.
"""

import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy.orm import Session, sessionmaker

from lac_service import migrate
from lac_service.auth.models import Organisation, Role
from lac_service.auth.service import create_organisation, create_user
from lac_service.config import Settings
from lac_service.db import create_db_engine, create_session_factory, session_scope
from lac_service.main import create_app
from tests.conftest import BACKENDS, REPO, create_postgres_database, drop_postgres_database, make_settings
from tests.fakes.smtp import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PASSWORD = "un mot de passe assez long"
PHONE = {"width": 360, "height": 740}


@dataclass
class Service:
    url: str
    sessions: sessionmaker[Session]
    organisation_id: int

    def user(self, email: str, role: Role, *, organisation: str | None = None) -> str:
        """A login of that role (in this service's organisation, or another one); returns its e-mail."""
        with session_scope(self.sessions) as session:
            org = session.get(Organisation, self.organisation_id)
            if organisation is not None:
                org = create_organisation(session, slug=organisation, name=f"CPTS {organisation}", now=datetime.now(UTC))
            assert org is not None
            create_user(session, organisation=org, email=email, full_name=email.split("@")[0].title(), role=role,
                        password=PASSWORD, now=datetime.now(UTC))
        return email


@pytest.fixture(scope="session", params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    port = free_port()
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'lac.db'}"
    else:
        url = create_postgres_database()
    settings: Settings = make_settings(url, public_base_url=f"http://127.0.0.1:{port}")
    engine = create_db_engine(url)
    migrate.upgrade(settings, engine)
    sessions = create_session_factory(engine)
    with session_scope(sessions) as session:
        organisation_id = create_organisation(session, slug="cpts-e2e", name="CPTS de Lille", now=datetime.now(UTC)).id
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    yield Service(f"http://127.0.0.1:{port}", sessions, organisation_id)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()
    if request.param != "sqlite":
        drop_postgres_database(url)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()
_SHOTS = os.environ.get("LAC_SCREENSHOTS")


def _folder() -> Path:
    folder = Path(_SHOTS or REPO / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _name(node: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node)[:120]


@pytest.fixture
def pages(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """New pages, each in its own browser context (its own cookies: one person each)."""
    opened: list[Page] = []

    def open_page(viewport: dict[str, int] | None = None) -> Page:
        context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900}, locale="fr-FR")
        page = context.new_page()
        page.set_default_timeout(10_000)
        opened.append(page)
        return page

    yield open_page
    failed = request.node.stash.get(_FAILED, True)
    for index, page in enumerate(opened):
        if failed:
            page.screenshot(path=_folder() / f"FAILED-{_name(request.node.name)}-{index}.png", full_page=True)
        page.context.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], None]:
    counter = iter(range(1000))

    def take(page: Page, step: str) -> None:
        if _SHOTS:
            page.screenshot(path=_folder() / f"{_name(request.node.name)}-{next(counter):02d}-{step}.png", full_page=True)

    return take


_axe = Axe()


def assert_accessible(page: Page) -> None:
    """axe-core on the page as it stands: no serious or critical violation."""
    violations = _axe.run(page).response["violations"]
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in violations
           if v["impact"] in ("serious", "critical")]
    assert not bad, f"accessibility violations on {page.url}: {bad}"


def tab_to(page: Page, selector: str, *, limit: int = 80) -> None:
    """Moves the keyboard focus forward with Tab until ``selector`` has it."""
    target = page.locator(selector)
    for _ in range(limit):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


def log_in(page: Page, service: Service, email: str) -> None:
    page.goto(f"{service.url}/equipe/connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
