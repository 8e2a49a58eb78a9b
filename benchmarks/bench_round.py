"""A full matching round read from and written to PostgreSQL, at 100,000 waiting requests × 5,000 cabinets.

Goal (issue 5): the whole round — lock, re-scoring of every active request, loading the queue and the due
cabinets, the engine, and writing the round, its offers, items, status changes and the cabinets' messages —
within 60 s on this 2-core machine. The baseline measured in the same run is the engine alone on the same
queue held in memory: the ratio shows what the database part costs.

Then the wave comes back: past the deadline, every patient of the round is returned to the queue
(``expire_offers``). Goal: in less time than the round took to offer them, since it writes about as much.

Each round runs in a transaction rolled back afterwards, so the repeats start from the same queue; medians
are printed. Exit code 1 if a goal is missed. Needs a PostgreSQL server: ``LAC_BENCH_POSTGRES_URL``
(``make bench`` starts one).
"""

import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import sqlalchemy as sa

from lac_service import migrate
from lac_service.auth.service import create_organisation
from lac_service.cabinets.models import Cabinet
from lac_service.config import Environment, Settings
from lac_service.db import create_db_engine, create_session_factory
from lac_service.intake.models import PatientRequest, Source, Status
from lac_service.links import Links
from lac_service.matching.engine import match_greedy
from lac_service.matching.service import run_round
from lac_service.matching.synthetic import synthetic_round
from lac_service.offers.service import expire_offers

from common import fresh_database  # benchmarks/, run as a script

N_REQUESTS, N_CABINETS, SEED, REPEATS, GOAL_SECONDS = 100_000, 5_000, 20261201, 3, 60.0
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
KINDS = ("medecin_traitant", "bilan_orthophonique")


def load(engine: sa.Engine, session_factory) -> None:  # type: ignore[no-untyped-def]
    """The synthetic France-wide round as rows: one regional organisation, SMS cabinets."""
    requests, cabinets, _ = synthetic_round(N_REQUESTS, N_CABINETS, SEED)
    rng = np.random.default_rng(SEED)
    with session_factory() as session:
        organisation_id = create_organisation(session, slug="region", name="Plateforme régionale", now=NOW).id
        session.commit()
    waited = rng.integers(0, 730, N_REQUESTS)
    with engine.begin() as connection:
        connection.execute(sa.insert(Cabinet.__table__), [
            {"id": int(cabinets.ids[c]), "organisation_id": organisation_id, "name": f"Cabinet {c}",
             "kinds": [k for bit, k in enumerate(KINDS) if int(cabinets.kinds[c]) >> bit & 1],
             "address_line": "", "postal_code": "75001", "city": "Paris", "lat": float(cabinets.lat[c]),
             "lon": float(cabinets.lon[c]), "location_precision": "exact", "radius_km": float(cabinets.radius_km[c]),
             "batch_size": int(cabinets.capacity[c]), "cadence_days": 28, "channels": ["sms"],
             "phones": [f"+3361{c:07d}"], "emails": [], "paused": False, "created_at": NOW, "updated_at": NOW}
            for c in range(N_CABINETS)
        ])
        connection.execute(sa.insert(PatientRequest.__table__), [
            {"id": int(requests.ids[r]), "organisation_id": organisation_id, "kind": KINDS[int(requests.kind[r])],
             "status": Status.waiting.value, "source": Source.import_.value,
             "birth_year": 1950 + int(r % 70), "birth_date": datetime(1950 + int(r % 70), 1 + int(r % 12), 1).date(),
             "department": "75", "lat": float(requests.lat[r]), "lon": float(requests.lon[r]),
             "location_precision": "exact", "ald": bool(r % 5 == 0), "max_distance_km": float(requests.max_km[r]),
             "people_count": int(requests.people[r]), "priority_scored_at": NOW,
             "waiting_since": NOW - timedelta(days=int(waited[r])), "consent_at": NOW, "created_at": NOW,
             "updated_at": NOW, "status_changed_at": NOW}
            for r in range(N_REQUESTS)
        ])


def main() -> int:
    server = os.environ.get("LAC_BENCH_POSTGRES_URL") or os.environ.get("LAC_TEST_POSTGRES_URL")
    if not server:
        print("LAC_BENCH_POSTGRES_URL is not set: run `make bench`, which starts PostgreSQL.")
        return 1
    url = fresh_database(server, "lac_bench_round")
    settings = Settings(environment=Environment.test, database_url=url, secret_key="bench-secret")
    engine = create_db_engine(url)
    migrate.upgrade(settings, engine)
    session_factory = create_session_factory(engine)
    started = time.perf_counter()
    load(engine, session_factory)
    print(f"{N_REQUESTS:,} waiting requests x {N_CABINETS:,} cabinets written in {time.perf_counter() - started:.1f} s")

    requests, cabinets, _ = synthetic_round(N_REQUESTS, N_CABINETS, SEED)
    engine_times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        match_greedy(requests, cabinets)
        engine_times.append(time.perf_counter() - started)

    round_times, expiry_times, offered = [], [], 0
    for _ in range(REPEATS):
        with session_factory() as session:
            started = time.perf_counter()
            result = run_round(
                session, organisation_id=None, kind=None, engine_name="greedy", now=NOW, actor="bench",
                offer_ttl=timedelta(days=14), links=Links("https://lac.example.fr", b"bench"),
            )
            session.flush()
            round_times.append(time.perf_counter() - started)
            offered = sum(len(b.request_ids) for b in result.batches)
            # Two weeks later, autovacuum has long counted the new rows; here they are a moment old.
            session.execute(sa.text("ANALYZE offers, offer_items, requests, cabinets"))
            started = time.perf_counter()
            assert expire_offers(session, now=NOW + timedelta(days=15), wait=True) == offered
            expiry_times.append(time.perf_counter() - started)
            session.rollback()
    engine.dispose()
    engine_s, round_s = statistics.median(engine_times), statistics.median(round_times)
    expiry_s = statistics.median(expiry_times)
    round_ok, expiry_ok = round_s <= GOAL_SECONDS, expiry_s < round_s
    print(f"full round from PostgreSQL: median {round_s:.1f} s over {REPEATS} ({offered:,} requests offered to "
          f"{len(result.batches):,} cabinets); engine alone in memory: median {engine_s:.2f} s; "
          f"round / engine = {round_s / engine_s:.0f}x")
    print(f"  goal: round <= {GOAL_SECONDS:.0f} s: {'met' if round_ok else 'NOT MET'}")
    print(f"the {offered:,} patients back in the queue past the deadline: median {expiry_s:.1f} s; "
          f"expiry / round = {expiry_s / round_s:.2f}")
    print(f"  goal: expiry < round: {'met' if expiry_ok else 'NOT MET'}")
    return 0 if round_ok and expiry_ok else 1


if __name__ == "__main__":
    sys.exit(main())
