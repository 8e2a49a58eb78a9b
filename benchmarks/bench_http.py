"""HTTP load on loopback with wrk: registrations (``POST /api/v1/requests``), the public form page and a
practitioner's offer page, on SQLite and on PostgreSQL (``LAC_BENCH_POSTGRES_URL``, which ``make bench``
sets), each next to FastAPI alone answering the same shapes (``bare_app.py``), measured in the same run.

Goals, for each: at least 30% of the bare throughput, p99 at most 100 ms, no error (no 5xx, no refused
connection). 64 connections, ``BENCH_SECONDS`` (10) per measure, as many server processes as cores: the
servers, the database and wrk share the machine, as the ratio assumes. Rate limits are raised (every
request comes from one address here).
Run: ``.venv/bin/python benchmarks/bench_http.py``.
"""

import json
import math
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.load: the wrk driver the tests use

from lac_service import migrate  # noqa: E402
from lac_service.auth.models import Role  # noqa: E402
from lac_service.auth.service import create_api_key, create_organisation  # noqa: E402
from lac_service.config import Environment, Settings  # noqa: E402
from lac_service.db import create_db_engine, create_session_factory  # noqa: E402
from lac_service.organisations.service import set_territory  # noqa: E402
from tests.load import WrkResult, intake_script, serve, service_env, stop, wrk  # noqa: E402

from common import fresh_database  # noqa: E402  benchmarks/, run as a script

SECONDS = int(os.environ.get("BENCH_SECONDS", 10))
CONNECTIONS = 64
WORKERS = os.cpu_count() or 2
GOAL_RATIO, GOAL_P99_MS = 0.30, 100.0
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

GET = """
function request()
  return wrk.format("GET", PATH)
end
"""


def _get(path: str) -> str:
    return f"PATH = {json.dumps(path)}\n" + GET


def _territory(points: int = 5000) -> dict[str, object]:
    """Around Lille, drawn with as many points as a CPTS contour traced from the IGN's communes (~150 kB)."""
    ring = [[round(3.06 + 0.25 * math.cos(2 * math.pi * i / points), 6),
             round(50.63 + 0.16 * math.sin(2 * math.pi * i / points), 6)] for i in range(points)]
    return {"type": "Polygon", "coordinates": [ring + ring[:1]]}


def _prepare(url: str) -> str:
    """Migrated, with an organisation and its territory; returns a coordinator's key."""
    engine = create_db_engine(url)
    migrate.upgrade(Settings(environment=Environment.test, database_url=url, secret_key="bench"), engine)
    with create_session_factory(engine).begin() as session:
        organisation = create_organisation(session, slug="cpts-bench", name="CPTS", now=NOW)
        set_territory(session, organisation, geojson=_territory(), postal_codes=None, communes=None, now=NOW)
        key = create_api_key(session, organisation=organisation, role=Role.coordinator, name="bench", now=NOW).secret
    engine.dispose()
    return key


def _offer_path(base: str, key: str) -> str:
    """A cabinet and a round: the practitioner's page of the offer it made."""
    headers = {"Authorization": f"Bearer {key}"}
    cabinet = {"name": "Maison de santé", "kinds": ["medecin_traitant"], "radius_km": 10, "batch_size": 8,
               "address": {"line": "3 place de la Nouvelle Aventure", "postal_code": "59000", "city": "Lille"},
               "location": {"lat": 50.6285, "lon": 3.0485}, "channels": ["email"],
               "emails": ["accueil@msp.fr"], "cadence_days": 1}
    assert httpx.post(f"{base}/api/v1/cabinets", json=cabinet, headers=headers, timeout=30).status_code == 201
    run = httpx.post(f"{base}/api/v1/matching/runs", json={}, headers=headers, timeout=120).json()
    return "/o/" + run["batches"][0]["offer_url"].rsplit("/", 1)[1]


def _measure(label: str, result: WrkResult, bare: WrkResult) -> bool:
    errors = result.socket_errors + sum(n for status, n in result.statuses.items() if status >= 400)
    ratio = result.per_second / bare.per_second
    met = ratio >= GOAL_RATIO and result.p99_ms <= GOAL_P99_MS and errors == 0
    print(f"  {label}: {result.line()}")
    print(f"    {ratio:.0%} of bare, p99 {result.p99_ms:.0f} ms, {errors} errors: {'met' if met else 'NOT MET'}")
    return met


def _drained(result: WrkResult) -> WrkResult:
    """wrk stops with up to 64 requests still in the servers, which take about a p99 to finish: the next
    measure starts after them, not competing with them."""
    time.sleep(result.p99_ms / 1000 + 0.5)
    return result


def _service(name: str, url: str, bare: dict[str, WrkResult]) -> list[bool]:
    key = _prepare(url)
    server, base = serve(service_env(url), workers=WORKERS)
    try:
        print(f"{name} ({WORKERS} server processes)")
        registrations = _drained(
            wrk(f"{base}/api/v1/requests", intake_script(key), connections=CONNECTIONS, duration_s=SECONDS)
        )
        results = [_measure("POST /api/v1/requests (an API key)", registrations, bare["post"])]
        form = _drained(wrk(f"{base}/", _get("/"), connections=CONNECTIONS, duration_s=SECONDS))
        results.append(_measure("GET / (the public form)", form, bare["page"]))
        offer = _offer_path(base, key)
        page = wrk(f"{base}{offer}", _get(offer), connections=CONNECTIONS, duration_s=SECONDS)
        results.append(_measure("GET /o/{token} (an offer page)", page, bare["page"]))
    finally:
        stop(server)
    return results


def main() -> int:
    env = service_env("sqlite://")
    server, base = serve(env, workers=WORKERS, app="benchmarks.bare_app:create_app")
    try:
        bare = {"post": _drained(wrk(f"{base}/api/v1/requests", intake_script(None), connections=CONNECTIONS,
                                     duration_s=SECONDS)),
                "page": wrk(f"{base}/page", _get("/page"), connections=CONNECTIONS, duration_s=SECONDS)}
    finally:
        stop(server)
    print(f"bare FastAPI ({WORKERS} processes, {CONNECTIONS} connections, {SECONDS} s each)")
    print(f"  POST: {bare['post'].line()}")
    print(f"  page: {bare['page'].line()}")
    met: list[bool] = []
    with tempfile.TemporaryDirectory() as folder:
        met += _service("SQLite", f"sqlite:///{Path(folder) / 'http.db'}", bare)
    server_url = os.environ.get("LAC_BENCH_POSTGRES_URL")
    if server_url:
        met += _service("PostgreSQL", fresh_database(server_url, "lac_bench_http"), bare)
    else:
        print("PostgreSQL: skipped (LAC_BENCH_POSTGRES_URL is not set; make bench sets it)")
    print(f"goal: >= {GOAL_RATIO:.0%} of bare throughput, p99 <= {GOAL_P99_MS:.0f} ms, no error: "
          f"{sum(met)} of {len(met)} met")
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
