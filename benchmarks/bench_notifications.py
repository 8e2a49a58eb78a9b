"""The dispatcher must not be the bottleneck: the provider's rate limit should be. Goal: 10,000 messages
(half SMS through the real Twilio client, half email through SMTP) dispatched at ≥ 300 messages/s with the
rate limit set high, median of three runs, on SQLite (the embedded default) and, when
``LAC_TEST_POSTGRES_URL`` is set, one run on PostgreSQL.

The fakes (Twilio HTTP, aiosmtpd) run in a child process, as a provider would run elsewhere, so they do not
compete with the dispatcher for the interpreter lock. Each run starts from a fresh database; every message
must arrive exactly once. Run: ``.venv/bin/python benchmarks/bench_notifications.py``.
"""

import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lac_service import migrate  # noqa: E402
from lac_service.config import NotificationSettings  # noqa: E402
from lac_service.db import create_db_engine, create_session_factory  # noqa: E402
from lac_service.notifications.dispatcher import Dispatcher  # noqa: E402
from lac_service.notifications.models import Channel, Notification, NotificationStatus  # noqa: E402
from lac_service.notifications.templates import render  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_MESSAGES", 10_000))
RUNS = int(os.environ.get("BENCH_RUNS", 3))
GOAL_PER_S = 300.0


def serve_fakes(requests: "multiprocessing.Queue[str]", answers: "multiprocessing.Queue[object]") -> None:
    from tests.fakes.smtp import FakeSmtp
    from tests.fakes.twilio import FakeTwilio

    with FakeTwilio() as twilio, FakeSmtp() as smtp:
        answers.put((twilio.base_url, smtp.port))
        while requests.get() == "count":
            answers.put((twilio.count_by_body(), Counter(r[0] for _, r in smtp.envelopes)))


def fill(url: str, run: int) -> None:
    now = datetime.now(UTC)
    bodies = {c: render(c, "reconfirmation", {"kind": "medecin_traitant", "link": "https://lac.example.fr/suivi/t"})
              for c in Channel}
    rows = []
    for i in range(MESSAGES):
        channel = Channel.sms if i % 2 else Channel.email
        rows.append({
            "channel": channel.value, "recipient": f"+336{run}{i:07d}" if i % 2 else f"p{run}-{i}@exemple.fr",
            "template": "reconfirmation", "subject": bodies[channel].subject,
            "body": bodies[channel].body.replace("/t", f"/{run}-{i}"), "status": "created", "attempts": 0,
            "next_attempt_at": now, "idempotency_key": f"bench:{i}", "created_at": now,
        })
    engine = create_db_engine(url)
    migrate.upgrade(_settings(url), engine)
    with engine.begin() as connection:
        connection.execute(sa.insert(Notification), rows)
    engine.dispose()


def _settings(url: str):  # type: ignore[no-untyped-def]
    from lac_service.config import Settings

    return Settings(database_url=url)


def one_run(url: str, run: int, settings: NotificationSettings) -> float:
    fill(url, run)
    engine = create_db_engine(url)
    dispatcher = Dispatcher(create_session_factory(engine), settings, secret_key=b"bench-secret")
    started = time.perf_counter()
    stats = dispatcher.run_once()
    elapsed = time.perf_counter() - started
    dispatcher.close()
    with engine.connect() as connection:
        states = dict(connection.execute(
            sa.select(Notification.status, sa.func.count()).group_by(Notification.status)).all())
    engine.dispose()
    assert stats.sent == MESSAGES and states == {NotificationStatus.sent: MESSAGES}, (stats, states)
    return MESSAGES / elapsed


def main() -> int:
    context = multiprocessing.get_context("spawn")
    requests, answers = context.Queue(), context.Queue()
    fakes = context.Process(target=serve_fakes, args=(requests, answers), daemon=True)
    fakes.start()
    twilio_url, smtp_port = answers.get(timeout=30)
    settings = NotificationSettings(
        sms_backend="twilio", twilio_account_sid="AC" + "0" * 32, twilio_auth_token="fake-auth-token",
        twilio_from="+33700000000", twilio_api_base_url=twilio_url, email_backend="smtp", smtp_host="127.0.0.1",
        smtp_port=smtp_port, smtp_security="none", rate_per_s=1000, concurrency=int(os.environ.get("BENCH_CONCURRENCY", 8)),
    )
    targets = [("sqlite", lambda d, i: f"sqlite:///{d}/bench{i}.db")] * RUNS
    pg = os.environ.get("LAC_TEST_POSTGRES_URL")
    results: dict[str, list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i, (name, make_url) in enumerate(targets):
                results.setdefault(name, []).append(one_run(make_url(tmp, i), i, settings))
                print(f"{name} run {len(results[name])}: {results[name][-1]:.0f} messages/s")
            if pg:
                from tests.conftest import create_postgres_database, drop_postgres_database

                url = create_postgres_database()
                try:
                    results["postgresql"] = [one_run(url, RUNS, settings)]
                finally:
                    drop_postgres_database(url)
                print(f"postgresql run 1: {results['postgresql'][0]:.0f} messages/s")
        requests.put("count")
        sms, mail = answers.get(timeout=30)
    finally:
        requests.put("stop")
        fakes.join(timeout=10)
    runs = len(results["sqlite"]) + len(results.get("postgresql", []))
    assert set(sms.values()) == {1} and set(mail.values()) == {1}, "a message arrived twice"
    assert sum(sms.values()) + sum(mail.values()) == runs * MESSAGES, "a message was lost"
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, value in medians.items():
        print(f"{name}: median {value:.0f} messages/s for {MESSAGES} messages (goal ≥ {GOAL_PER_S:.0f}/s)")
    return 0 if all(value >= GOAL_PER_S for value in medians.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
