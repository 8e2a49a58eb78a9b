"""The HTTP composition root: ``create_app(settings)`` wires settings, database, routers and errors."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from lac_service import health, outbox_page
from lac_service.cabinets.router import router as cabinets_router
from lac_service.auth import logins
from lac_service.config import Settings, get_settings
from lac_service.db import create_db_engine, create_session_factory
from lac_service.geography import gazetteer
from lac_service.geography.geocoder import Geocoder
from lac_service.intake.policy_router import router as policies_router
from lac_service.matching.ask_router import router as ask_router
from lac_service.matching.router import router as matching_router
from lac_service.offers.practitioner_router import router as practitioner_router
from lac_service.offers.router import router as offers_router
from lac_service.imports.router import router as imports_router
from lac_service.intake.duplicates_router import router as duplicates_router
from lac_service.intake.router import router as requests_router
from lac_service.middleware import AccessLog, BodySizeLimit, SecurityHeaders, Unexpected, reject_unknown_query
from lac_service.migrate import expected_heads
from lac_service.organisations.audit_router import router as audit_router
from lac_service.organisations.router import router as organisations_router
from lac_service.organisations.service import Router
from lac_service.replies.router import router as twilio_router
from lac_service.stats.router import router as stats_router
from lac_service.web import (
    cabinet_pages, contact_pages, dashboard, duplicate_pages, import_pages, practitioner, priority_pages, public, rounds,
    secretary, staff, territory_pages,
)
from lac_service.web import errors as web_errors

DESCRIPTION = """
The LAC service runs a *liste d'attente commune*: patients without a GP of record or waiting for a
speech-therapy assessment register once, are ranked by need and offered in small batches to volunteering
cabinets. Partners authenticate with `Authorization: Bearer <api key>`. Errors share one shape:
`{"code", "message", "field"}`; `code` is stable, `message` is French and meant for people.
"""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The offline geography, and the hash an unknown e-mail is checked against (so that the first one costs
    what the others do), are made before the first request, not by it; the threads that run handlers are as
    many as the settings say (``Settings.threads``)."""
    to_thread.current_default_thread_limiter().total_tokens = app.state.settings.threads
    await run_in_threadpool(gazetteer.warm)
    await run_in_threadpool(logins.warm)
    if app.state.freeze_start_heap:
        # What start-up loaded (the gazetteer, the mappers: ~300,000 objects) lives as long as the process: out
        # of the garbage collector's reach, a full collection no longer walks it, which stopped every request
        # of the process for ~0.1 s each time.
        gc.collect()
        gc.freeze()
    yield


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None,
    session_factory: sessionmaker[Session] | None = None, freeze_start_heap: bool = False,
) -> FastAPI:
    """``engine`` and ``session_factory`` let tests hand in a connection-bound database; production builds
    both from the settings. ``freeze_start_heap``: a server process's (``lac serve``), not a test's, whose
    heap holds whatever the test made."""
    settings = settings or get_settings()
    engine = engine or create_db_engine(settings.database_url, echo=settings.database_echo)
    session_factory = session_factory or create_session_factory(engine)
    app = FastAPI(
        title="LAC service", version="1.0.0", description=DESCRIPTION,
        openapi_url="/api/v1/openapi.json", docs_url="/api/docs", redoc_url=None, lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.freeze_start_heap = freeze_start_heap
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.geocoder = Geocoder(settings.geocoder, session_factory)
    app.state.territory_router = Router()
    app.state.expected_heads = expected_heads(settings)
    app.include_router(health.router)
    for api in (requests_router, duplicates_router, imports_router, cabinets_router, organisations_router,
                audit_router, policies_router, matching_router, ask_router, offers_router, practitioner_router,
                twilio_router, stats_router):
        app.include_router(api, dependencies=[Depends(reject_unknown_query)])
    app.include_router(outbox_page.router)
    web_errors.install(app)  # the API's error handlers, and their pages for people
    staff.install(app)
    for pages in (public, practitioner, staff, secretary, import_pages, duplicate_pages, dashboard, rounds,
                  cabinet_pages, priority_pages, territory_pages, contact_pages):
        app.include_router(pages.router)
    file_paths = ("/api/v1/imports/", import_pages.PATH, territory_pages.PATH)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, files=(file_paths, settings.max_import_bytes))
    app.add_middleware(Unexpected)
    app.add_middleware(SecurityHeaders, hsts=settings.secure_cookies)
    if settings.cors_origins:
        # Bearer keys, never cookies, cross origins: no credentials mode.
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
                           expose_headers=["Retry-After"], max_age=600)
    app.add_middleware(AccessLog)
    return app
