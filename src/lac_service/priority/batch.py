"""Scoring a whole queue at once, for the daily refresh, the refresh before a matching round, and
the re-scoring of every waiting request when a coordinator changes a policy.

Each age test becomes one comparison of birth dates against a date computed once per batch ("aged at least N"
is "born on or before the day N years ago"), so a million rows cost a few array passes. The explanation is
left to ``score()``: a batch only needs the points, and a property test holds both paths equal row by row.
"""

from datetime import date, datetime

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lac_service.priority.policy import Policy
from lac_service.priority.rules import utc_date


def birth_cutoff(today: date, years: int) -> np.datetime64:
    """The latest birth date of someone aged at least ``years`` today. On a 29 February, ``years`` back may be a
    common year: 28 February is then the last birthday reached, as ``kit.dates.age_on`` counts it."""
    try:
        day = today.replace(year=today.year - years)
    except ValueError:
        day = date(today.year - years, 2, 28)
    return np.datetime64(day, "D")


def full_months_since(waiting_days: NDArray[np.datetime64], today: date) -> NDArray[np.int64]:
    """``rules.full_months_between`` for a column: month difference, less one while the day-of-month is ahead."""
    month_starts = waiting_days.astype("M8[M]")
    day_index = (waiting_days - month_starts.astype("M8[D]")).astype(np.int64)
    months = (np.datetime64(today, "M") - month_starts).astype(np.int64) - (today.day - 1 < day_index)
    return np.maximum(months, 0)


def score_many(
    policy: Policy,
    now: datetime,
    *,
    birth_dates: ArrayLike,
    ald: ArrayLike,
    pregnant: ArrayLike,
    urgent: ArrayLike,
    youngest_household_birth_dates: ArrayLike,
    waiting_since: ArrayLike,
) -> NDArray[np.int64]:
    """The points ``score()`` gives each row, as int64.

    Dates are ``datetime64`` (any unit, naive, UTC); a row with no household member has ``NaT`` as its youngest
    household birth date (only the youngest matters: one young child is enough for the household rule).
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    today = utc_date(now)
    born = np.asarray(birth_dates).astype("M8[D]", copy=False)
    youngest = np.asarray(youngest_household_birth_dates).astype("M8[D]", copy=False)
    waiting_days = np.asarray(waiting_since).astype("M8[D]", copy=False)
    flags = [np.asarray(column, dtype=bool) for column in (ald, pregnant, urgent)]
    columns = (born, youngest, waiting_days, *flags)
    if any(column.shape != born.shape for column in columns) or born.ndim != 1:
        raise ValueError("score_many needs one-dimensional columns of one length")

    total = np.zeros(born.shape, dtype=np.int64)
    rules = policy.rules
    for config, flag in zip((rules.ald, rules.pregnancy, rules.urgency), flags, strict=True):
        if config is not None:
            np.add(total, config.points, out=total, where=flag)
    if rules.age is not None:
        for band in rules.age.bands:
            in_band = born <= birth_cutoff(today, band.from_years)
            if band.under_years is not None:
                in_band &= born > birth_cutoff(today, band.under_years)
            np.add(total, band.points, out=total, where=in_band)
    if rules.household_children is not None:
        has_child = youngest > birth_cutoff(today, rules.household_children.under_years)
        np.add(total, rules.household_children.points, out=total, where=has_child)
    if rules.waited is not None:
        months = full_months_since(waiting_days, today)
        if rules.waited.max_months is not None:
            np.minimum(months, rules.waited.max_months, out=months)
        total += months * rules.waited.points_per_month
    return total

