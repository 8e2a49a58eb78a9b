"""The rules: each turns one fact about a request into points and a reason people can read.

A rule gives its points or none (no partial credit), so raising a weight can never lower a score, and every
point in a score is traceable to one line of its explanation. Dates are UTC calendar dates: the score is
refreshed daily, and a birthday or a month reached a few hours early or late in France changes nothing worth
a time zone database in the vectorised path.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from lac_service.kit.dates import age_on
from lac_service.priority.policy import KINDS, AgeBand, AgeRule, FlatRule, HouseholdChildrenRule, Kind, WaitedRule


@dataclass(frozen=True, slots=True)
class PriorityInput:
    """What the rules may look at; ``waiting_since`` is the original request date (kept across re-offers)."""

    kind: Kind
    birth_date: date
    ald: bool
    pregnant: bool
    urgent: bool
    household_birth_dates: tuple[date, ...]
    waiting_since: datetime

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")
        if self.waiting_since.utcoffset() is None:
            raise ValueError("waiting_since must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    label: str
    points: int

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "label": self.label, "points": self.points}


def utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def full_months_between(start: date, end: date) -> int:
    """Counted like an age: a month is full once its day-of-month is reached (from 31 January, on 1 March)."""
    months = (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day)
    return max(0, months)


def _under(years: int) -> str:
    return "moins d'un an" if years == 1 else f"moins de {years} ans"


def band_reason(band: AgeBand) -> tuple[str, str]:
    if band.under_years is None:
        return f"age_{band.from_years}_plus", f"Âge : {band.from_years} ans ou plus"
    if band.from_years == 0:
        return f"age_under_{band.under_years}", f"Âge : {_under(band.under_years)}"
    last = band.under_years - 1
    if last == band.from_years:
        return f"age_{last}", f"Âge : {last} ans"
    return f"age_{band.from_years}_to_{last}", f"Âge : de {band.from_years} à {last} ans"


def ald(subject: PriorityInput, rule: FlatRule, today: date) -> Reason | None:
    """A long-term condition needs a GP to write and follow its care protocol, and regular follow-up."""
    return Reason("ald", "Affection de longue durée (ALD)", rule.points) if subject.ald else None


def age(subject: PriorityInput, rule: AgeRule, today: date) -> Reason | None:
    """Bands are per kind: what makes an age urgent differs between a GP of record and a speech assessment."""
    years = age_on(subject.birth_date, today)
    for band in rule.bands:
        if band.from_years <= years and (band.under_years is None or years < band.under_years):
            return Reason(*band_reason(band), band.points)
    return None


def pregnancy(subject: PriorityInput, rule: FlatRule, today: date) -> Reason | None:
    """A pregnancy has a deadline: the GP is worth most if found well before the birth."""
    return Reason("pregnancy", "Grossesse en cours", rule.points) if subject.pregnant else None


def household_children(subject: PriorityInput, rule: HouseholdChildrenRule, today: date) -> Reason | None:
    """Young children in a household taken together need frequent check-ups and vaccines, not only the requester."""
    if any(age_on(born, today) < rule.under_years for born in subject.household_birth_dates):
        return Reason("household_children", f"Enfant de {_under(rule.under_years)} dans le foyer", rule.points)
    return None


def urgency(subject: PriorityInput, rule: FlatRule, today: date) -> Reason | None:
    """Staff mark it after talking with the patient: the one rule that sees what the form cannot ask."""
    label = "Situation urgente (évaluée lors d'un entretien)"
    return Reason("urgency", label, rule.points) if subject.urgent else None


def waited(subject: PriorityInput, rule: WaitedRule, today: date) -> Reason | None:
    """Points grow with each full month so that every request eventually rises: nobody waits forever."""
    months = full_months_between(utc_date(subject.waiting_since), today)
    counted = months if rule.max_months is None else min(months, rule.max_months)
    label = f"Attente : {months} mois"
    if counted < months:
        label += f" (points plafonnés à {counted} mois)"
    return Reason("waited", label, counted * rule.points_per_month) if months else None


# In the order reasons are explained; the keys are the rule names of ``policy.Rules``.
RULES: dict[str, Callable[[PriorityInput, Any, date], Reason | None]] = {
    "ald": ald,
    "age": age,
    "pregnancy": pregnancy,
    "household_children": household_children,
    "urgency": urgency,
    "waited": waited,
}
