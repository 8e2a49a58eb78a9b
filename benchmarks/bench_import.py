"""Importing a 100,000-row waiting list: goal ≤ 30 s on SQLite and on PostgreSQL (``LAC_BENCH_POSTGRES_URL``,
which ``make bench`` sets), from the file's bytes to the commit. The baseline, measured in the same run, is
reading and checking the file alone (no database): the ratio says what writing costs on top. The same list
with its patients told (150,000 messages queued in their turns) is measured too, against the import alone:
goal ≤ 2×.

The file is what a French spreadsheet exports: Windows-1252, ``;``, dates as 14/03/1958, original request
dates over three years. One run each (a run writes 100,000 rows); ``BENCH_ROWS`` makes it smaller.
Run: ``.venv/bin/python benchmarks/bench_import.py``.
"""

import os
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from lac_service import migrate
from lac_service.auth.service import create_organisation
from lac_service.config import Environment, Settings
from lac_service.db import create_db_engine, create_session_factory
from lac_service.imports.files import read_requests
from lac_service.imports.service import Importer, import_requests
from lac_service.intake.models import PatientRequest
from lac_service.links import Links

from common import fresh_database  # benchmarks/, run as a script

ROWS = int(os.environ.get("BENCH_ROWS", 100_000))
GOAL_SECONDS = 30.0
TOLD_GOAL_RATIO = 2.0
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TOWNS = [("59000", "Lille"), ("59100", "Roubaix"), ("59200", "Tourcoing"), ("59650", "Villeneuve-d'Ascq"),
         ("59130", "Lambersart"), ("62000", "Arras"), ("80000", "Amiens"), ("60000", "Beauvais"), ("02100", "Saint-Quentin"),
         ("75011", "Paris"), ("69003", "Lyon"), ("13001", "Marseille"), ("33000", "Bordeaux"), ("44000", "Nantes")]
FIRST = ["Élodie", "Hugo", "Chloé", "Lucas", "Inès", "Gaëlle", "Noé", "Zoé", "Jérôme", "Anaïs"]
LAST = ["Lefèvre", "Martin", "Bernard", "Dubois", "Leroy", "Moreau", "Fournier", "Girard", "Brûlé", "Lambert"]


def the_file(rows: int) -> bytes:
    rng = random.Random(20261201)
    lines = ["type;prénom;nom;date de naissance;téléphone;e-mail;adresse;code postal;commune;ALD;date de la demande"]
    for i in range(rows):
        postal_code, city = rng.choice(TOWNS)
        speech = rng.random() < 0.3
        born = date(2014, 1, 1) + timedelta(days=rng.randint(0, 3000)) if speech else date(1930, 1, 1) + timedelta(
            days=rng.randint(0, 30000))
        asked = NOW - timedelta(days=rng.randint(1, 1095))
        email = f"patient{i}@exemple.fr" if i % 2 else ""
        lines.append(";".join([
            "bilan orthophonique" if speech else "médecin traitant", rng.choice(FIRST), f"{rng.choice(LAST)}-{i}",
            f"{born:%d/%m/%Y}", f"06 {i // 1_000_000:02d} {i // 10_000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d}",
            email, f"{rng.randint(1, 200)} rue de la Gare", postal_code, city, "oui" if rng.random() < 0.3 else "non",
            f"{asked.astimezone(UTC):%d/%m/%Y}",
        ]))
    return ("\n".join(lines) + "\n").encode("cp1252")


def run(url: str, content: bytes, label: str, *, told: bool = False) -> float:
    settings = Settings(environment=Environment.test, database_url=url, secret_key="bench-secret-key")
    engine = create_db_engine(url)
    migrate.upgrade(settings, engine)
    sessions = create_session_factory(engine)
    with sessions.begin() as session:
        organisation_id = create_organisation(session, slug="cpts-bench", name="CPTS", now=NOW).id
    started = time.perf_counter()
    with sessions.begin() as session:
        report = import_requests(
            session, content, importer=Importer(organisation_id, "bench", organisation_id),
            links=Links("https://lac.example.fr", b"bench"), now=NOW, dry_run=False,
            max_distance_km=settings.max_distance_default, notify_per_s=10 if told else None,
        )
    elapsed = time.perf_counter() - started
    with engine.connect() as connection:
        written = connection.scalar(sa.select(sa.func.count()).select_from(PatientRequest))
    engine.dispose()
    assert not report.errors and report.created == written == ROWS, (report.errors[:3], report.created, written)
    print(f"  {label}: {elapsed:.1f} s for {written:,} rows ({written / elapsed:,.0f} rows/s)")
    return elapsed


def main() -> int:
    content = the_file(ROWS)
    started = time.perf_counter()
    parsed = read_requests(content)
    baseline = time.perf_counter() - started
    assert not parsed.errors and len(parsed.rows) == ROWS, parsed.errors[:3]
    print(f"import of {ROWS:,} rows ({len(content) / 1e6:.1f} MB, Windows-1252, ';'); "
          f"baseline, reading and checking the file alone: {baseline:.1f} s")
    results, told = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        results["SQLite"] = run(f"sqlite:///{Path(folder) / 'import.db'}", content, "SQLite")
        told["SQLite"] = run(f"sqlite:///{Path(folder) / 'told.db'}", content, "SQLite, patients told", told=True)
    server = os.environ.get("LAC_BENCH_POSTGRES_URL")
    if server:
        results["PostgreSQL"] = run(fresh_database(server, "lac_bench_import"), content, "PostgreSQL")
        told["PostgreSQL"] = run(fresh_database(server, "lac_bench_import"), content, "PostgreSQL, patients told",
                                 told=True)
    else:
        print("  PostgreSQL: skipped (LAC_BENCH_POSTGRES_URL is not set; make bench sets it)")
    ok = all(seconds <= GOAL_SECONDS for seconds in results.values())
    ok_told = all(told[label] <= TOLD_GOAL_RATIO * seconds for label, seconds in results.items())
    for label, seconds in results.items():
        print(f"  {label}: import / reading alone = {seconds / baseline:.1f}x; "
              f"patients told / import alone = {told[label] / seconds:.2f}x")
    print(f"  goal: import <= {GOAL_SECONDS:.0f} s on each database: {'met' if ok else 'NOT MET'}; "
          f"patients told <= {TOLD_GOAL_RATIO:.0f}x the import alone: {'met' if ok_told else 'NOT MET'}")
    return 0 if ok and ok_told else 1


if __name__ == "__main__":
    sys.exit(main())
