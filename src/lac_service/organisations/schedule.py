"""When an organisation's daily rounds run: the times its coordinators chose, in its own time zone (a CPTS in
Martinique rounds at 08:00 Fort-de-France time, not Paris's), else the deployment's ``LAC_JOBS__MATCH_AT`` and
``LAC_JOBS__TIMEZONE``. Each choice stands alone: times of its own on the deployment's zone, or the reverse."""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from lac_service.auth.models import Organisation
from lac_service.config import JobSettings
from lac_service.kit.clock import DAYTIME

LATE_BY = timedelta(hours=1)  # how late an evening time chosen by the coordinators is still caught up


def clock_label(at: time) -> str:
    """A time as stored and in the API: "08:00", to the minute (pages write "08h00": ``clock_fr``)."""
    return f"{at:%H:%M}"


@dataclass(frozen=True)
class Schedule:
    times: tuple[time, ...]  # sorted; empty: no scheduled round
    timezone: str
    own_times: bool
    own_timezone: bool

    @property
    def labels(self) -> list[str]:
        return [clock_label(at) for at in self.times]

    def last_slot(self, now: datetime) -> datetime | None:
        """The latest round time at or before ``now`` on the same local day, in UTC, while it can still be caught
        up: a time missed while the worker was down runs when it comes back before the evening (20:00), or within
        ``LATE_BY`` of a time chosen in the evening, not at 23:40 when its batches would wake the practitioners.
        Compared in UTC: a time in the hour skipped in spring (02:30) takes the offset before the change (03:30
        after it), and is past once, not for an hour."""
        zone = ZoneInfo(self.timezone)
        today = now.astimezone(zone).date()
        slots = [datetime.combine(today, at, tzinfo=zone).astimezone(UTC) for at in self.times]
        past = [slot for slot in slots if slot <= now]
        if not past:
            return None
        evening = datetime.combine(today, DAYTIME[1], tzinfo=zone).astimezone(UTC)
        return max(past) if now < max(evening, max(past) + LATE_BY) else None


def schedule_of(match_at: list[str] | None, timezone: str | None, default: JobSettings) -> Schedule:
    """From an organisation's two columns, read without loading the organisation (the worker reads them all)."""
    times = sorted(time.fromisoformat(at) for at in match_at) if match_at is not None else sorted(default.match_at)
    return Schedule(tuple(times), timezone or default.timezone, match_at is not None, timezone is not None)


def zone_of(organisation: Organisation | None, default: JobSettings) -> ZoneInfo:
    """Where an organisation's days begin and end: its rounds' zone, else the deployment's (also for every
    organisation at once)."""
    return ZoneInfo(organisation.timezone if organisation is not None and organisation.timezone else default.timezone)


def set_schedule(session: Session, organisation: Organisation, *, match_at: list[time] | None,
                 timezone: str | None, now: datetime) -> None:
    """``None`` goes back to the deployment's; times are kept to the minute, once each, in order. A time
    already past today waits for tomorrow: saving is not running a round (``schedule_set_at``). Saved again
    unchanged, it cancels no round still owed."""
    stored = None if match_at is None else sorted({clock_label(at) for at in match_at})
    if (stored, timezone) != (organisation.match_at, organisation.timezone):
        organisation.match_at, organisation.timezone, organisation.schedule_set_at = stored, timezone, now
    session.flush()
