"""Ages from birth dates, counted as people count them (the birthday must have been reached)."""

from datetime import date


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))
