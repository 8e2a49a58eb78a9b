"""``python -m lac_service.notifications.worker [--once] [--database-url URL]``: the dispatcher as a process.

Settings come from the environment (``LAC_NOTIFICATIONS__…``). ``--once`` settles stuck claims, sends what
is due and exits (for cron, ``lac dispatch`` and tests); without it the worker polls until SIGTERM/SIGINT,
after which it claims nothing new and records what is in flight before exiting. A ``kill -9`` is the case
the outbox is built for: see ``resolver``.
"""

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from lac_service.config import Environment, Settings, get_settings
from lac_service.db import create_db_engine, create_session_factory
from lac_service.notifications.dispatcher import Dispatcher

log = logging.getLogger("lac_service.notifications.worker")


def run(settings: Settings, *, once: bool, stop: threading.Event | None = None) -> int:
    engine = create_db_engine(settings.database_url)
    dispatcher = Dispatcher(
        create_session_factory(engine), settings.notifications,
        secret_key=settings.secret_key.get_secret_value().encode(),
        public_webhooks_only=settings.environment is Environment.production,
    )
    try:
        if once:
            stats = dispatcher.run_once(stop)
            log.info(
                "dispatch: %d sent, %d to retry, %d failed, %d in doubt, %d stuck claims settled, %d redacted",
                stats.sent, stats.retried, stats.failed, stats.in_doubt, stats.resolved, stats.redacted,
            )
        else:
            dispatcher.run_forever(stop or threading.Event())
    finally:
        dispatcher.close()
        engine.dispose()
    return 0


def stop_on_signals() -> threading.Event:
    """Set by SIGTERM or SIGINT: the loops finish what is in flight and return."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lac_service.notifications.worker", description=__doc__)
    parser.add_argument("--once", action="store_true", help="send what is due, then exit")
    parser.add_argument("--database-url", help="overrides LAC_DATABASE_URL")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.database_url:
        settings = settings.model_copy(update={"database_url": args.database_url})
    return run(settings, once=args.once, stop=stop_on_signals())


if __name__ == "__main__":
    sys.exit(main())
