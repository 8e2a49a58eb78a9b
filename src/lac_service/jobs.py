"""The periodic work behind ``lac worker``: each organisation's rounds at its local times, offer expiry, nightly
re-scoring and message retention — alongside the notification dispatcher.

Each job is safe to run twice and from two workers at once: a round takes the round lock and a scheduled
round already recorded since its slot is not run again (so a restart does not repeat the day's round, and a
worker that was down at 08:00 runs it once when it comes back, the same day); expiry, re-scoring and the
blanking of old messages change only what is due.
"""

import logging
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from lac_service.auth.logins import forget_ended
from lac_service.auth.models import Organisation
from lac_service.config import Settings
from lac_service.db import create_db_engine, create_session_factory, read_scope, session_scope
from lac_service.errors import RoundRunning
from lac_service.geography.geocoder import forget_cached
from lac_service.idempotency import forget_expired
from lac_service.intake.purge import purge_closed
from lac_service.intake.ranking import rescore
from lac_service.intake.reconfirmation import Reconfirmed, reconfirm
from lac_service.kit.clock import utcnow
from lac_service.links import Links
from lac_service.matching.models import MatchingRound
from lac_service.matching.service import lock_rounds, run_scheduled_rounds
from lac_service.notifications import worker as notification_worker
from lac_service.notifications.outbox import blank_old
from lac_service.ratelimit import forget_before
from lac_service.offers.service import expire_offers
from lac_service.organisations.schedule import schedule_of

log = logging.getLogger("lac_service.jobs")
SCHEDULE_ACTOR = "schedule"


def owed_rounds(session: Session, settings: Settings, *, now: datetime) -> list[int]:
    """The organisations whose latest round time (theirs, or the deployment's) has passed, since their
    schedule was set, with no scheduled round of theirs since. Read in two queries, however many they are; one
    whose stored schedule this host cannot read (another tzdata) is skipped, not every other one with it."""
    slots = {}
    for organisation_id, match_at, timezone, since in session.execute(sa.select(
            Organisation.id, Organisation.match_at, Organisation.timezone,
            sa.func.coalesce(Organisation.schedule_set_at, Organisation.created_at))):
        try:
            slot = schedule_of(match_at, timezone, settings.jobs).last_slot(now)
        except (ValueError, TypeError, ZoneInfoNotFoundError, OSError):
            log.error("organisation %s: its round schedule cannot be read", organisation_id)
            continue
        if slot is not None and slot >= since:
            slots[organisation_id] = slot
    if not slots:
        return []
    ran = dict(session.execute(
        sa.select(MatchingRound.organisation_id, sa.func.max(MatchingRound.started_at))
        .where(MatchingRound.requested_by == SCHEDULE_ACTOR, MatchingRound.started_at >= min(slots.values()))
        .group_by(MatchingRound.organisation_id)
    ).all())
    return sorted(org for org, slot in slots.items() if org not in ran or ran[org] < slot)


def reconfirm_stale(session: Session, settings: Settings, *, now: datetime) -> Reconfirmed:
    """Nightly, and ``lac reconfirm``: re-confirmation with the configured rhythm."""
    return reconfirm(session, every_days=settings.requests.reconfirm_every_days,
                     grace_days=settings.requests.reconfirm_grace_days, links=Links.from_settings(settings),
                     per_s=settings.notifications.bulk_per_s, now=now)


class Retained(NamedTuple):
    purged: int  # requests closed for longer than the period, erased
    blanked: int  # settled messages that lost their recipient and text
    forgotten: int  # idempotency records past their time
    uncached: int  # addresses located by BAN more than a day ago


def retention(session: Session, settings: Settings, *, now: datetime) -> Retained:
    """Personal data of requests closed for longer than ``LAC_REQUESTS__PURGE_AFTER_DAYS`` is erased; settled
    messages lose their recipient and text after ``LAC_NOTIFICATIONS__KEEP_DAYS``; the answers kept for
    ``Idempotency-Key`` replays go past ``LAC_IDEMPOTENCY_TTL_HOURS``; BAN's answers after a day."""
    return Retained(
        purge_closed(session, closed_before=now - timedelta(days=settings.requests.purge_after_days), now=now),
        blank_old(session, before=now - timedelta(days=settings.notifications.keep_days)),
        forget_expired(session, before=now - settings.idempotency_ttl),
        forget_cached(session, now=now),
    )


@dataclass
class Jobs:
    """One worker's memory of what it ran; the database decides for rounds, so this only spares queries."""

    settings: Settings
    session_factory: sessionmaker[Session]
    last_expiry: datetime | None = None
    last_rescore: date | None = None
    ran: list[str] = field(default_factory=list)  # what the last tick did, for the log and the tests

    def tick(self, now: datetime) -> list[str]:
        self.ran = []
        if self.last_expiry is None or now - self.last_expiry >= timedelta(seconds=self.settings.jobs.expire_every_s):
            with session_scope(self.session_factory) as session:
                expired = expire_offers(session, now=now)
            self.last_expiry = now
            self.ran.append(f"expire:{expired}")
        self._rescore(now)
        self._round(now)
        return self.ran

    def _rescore(self, now: datetime) -> None:
        """Nightly: priorities that grew with the wait, retention, the housekeeping of ended logins and past
        rate-limit windows, then re-confirmation of stale entries."""
        local = now.astimezone(ZoneInfo(self.settings.jobs.timezone))
        if local.time() >= self.settings.jobs.rescore_at and self.last_rescore != local.date():
            with session_scope(self.session_factory) as session:
                changed = rescore(session, now=now)
                retained = retention(session, self.settings, now=now)
                forget_ended(session, now=now)
                forget_before(session, now - timedelta(days=1))
            with session_scope(self.session_factory) as session:
                done = reconfirm_stale(session, self.settings, now=now)
            self.last_rescore = local.date()
            self.ran += [f"rescore:{changed}", f"purge:{retained.purged}", f"blank_messages:{retained.blanked}",
                         f"idempotency_records:{retained.forgotten}", f"geocode_cache:{retained.uncached}",
                         f"reconfirm:{done.asked}:{done.archived}"]

    def _round(self, now: datetime) -> None:
        """Each organisation's round at its own times. Looked for without the rounds' lock, which a tick takes
        only when a round is owed; checked again under it: on SQLite a second worker waits for the lock rather
        than failing, and must then see the rounds the first one recorded."""
        with read_scope(self.session_factory) as session:
            if not owed_rounds(session, self.settings, now=now):
                return
        try:
            with session_scope(self.session_factory) as session:
                lock_rounds(session)
                owed = owed_rounds(session, self.settings, now=now)
                if not owed:
                    return
                batches = len(run_scheduled_rounds(
                    session, organisation_ids=owed, engine_name=self.settings.jobs.match_engine, now=now,
                    actor=SCHEDULE_ACTOR, offer_ttl=timedelta(days=self.settings.offer_ttl_days),
                    links=Links.from_settings(self.settings),
                ).batches)
        except RoundRunning:
            self.ran.append("round:busy")  # another round holds the lock; the next tick looks again
            return
        self.ran.append(f"round:{batches}")

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                done = self.tick(utcnow())
                if done:
                    log.info("jobs: %s", ", ".join(done))
            except Exception as error:  # a bad tick must not stop the worker; the next one tries again
                log.error("jobs: tick failed (%s)", type(error).__name__)
            stop.wait(self.settings.jobs.tick_s)


def run_worker(settings: Settings, *, once: bool, stop: threading.Event) -> None:
    """The jobs in this thread and the dispatcher in another, until ``stop``; ``once``: one tick, one
    dispatch pass (for cron and tests)."""
    engine = create_db_engine(settings.database_url)
    jobs = Jobs(settings, create_session_factory(engine))
    try:
        if once:
            log.info("jobs: %s", ", ".join(jobs.tick(utcnow())) or "nothing due")
            notification_worker.run(settings, once=True, stop=stop)
            return
        sender = threading.Thread(target=notification_worker.run, args=(settings,), kwargs={"once": False, "stop": stop})
        sender.start()
        try:
            jobs.run_forever(stop)
        finally:
            stop.set()
            sender.join()
    finally:
        engine.dispose()
