"""Priority bands for lists and indicators. Thresholds are in points, that is in months of waiting ahead
(ten points a month): ``high`` from 80 (urgency alone, or two strong criteria), ``medium`` from 30."""

from enum import StrEnum


class Band(StrEnum):
    high = "high"
    medium = "medium"
    low = "low"


BAND_FLOORS = {Band.high: 80, Band.medium: 30, Band.low: 0}


def band_of(points: int) -> Band:
    return next(band for band, floor in BAND_FLOORS.items() if points >= floor)


def band_range(band: Band) -> tuple[int, int | None]:
    """Points from (included) and up to (excluded, None for no ceiling)."""
    floors = list(BAND_FLOORS.items())
    index = next(i for i, (b, _) in enumerate(floors) if b is band)
    return floors[index][1], floors[index - 1][1] if index > 0 else None
