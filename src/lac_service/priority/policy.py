"""The priority policy of one kind: which rules count and how much, as data a coordinator may replace.

A policy is content only (no version, no author): the database versions the rows, so that every stored score
can name the policy that produced it. A rule left out of ``rules`` is off. Points are whole numbers so that a
score is an exact sum (the vectorised path then equals the explained one bit for bit) and reads plainly in
an explanation ("+50 points"). The defaults, and why, are in ``README.md`` next to this file.
"""

from math import ceil
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

Kind = Literal["medecin_traitant", "bilan_orthophonique"]
KINDS: tuple[Kind, ...] = get_args(Kind)

Points = Annotated[int, Field(ge=0, le=100_000)]
Years = Annotated[int, Field(ge=0, le=150)]


class _Content(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FlatRule(_Content):
    points: Points


class AgeBand(_Content):
    """Ages in whole years as people count them: ``from_years`` included, ``under_years`` excluded."""

    from_years: Years = 0
    under_years: Years | None = None
    points: Points

    @model_validator(mode="after")
    def _bounded(self) -> "AgeBand":
        if self.under_years is None and self.from_years == 0:
            raise PydanticCustomError("age_band_unbounded", "Une tranche d'âge doit avoir une borne basse ou haute.")
        if self.under_years is not None and self.under_years <= self.from_years:
            raise PydanticCustomError(
                "age_band_empty",
                "Tranche d'âge vide : « moins de {under} ans » doit dépasser « à partir de {start} ans ».",
                {"under": self.under_years, "start": self.from_years},
            )
        return self


class AgeRule(_Content):
    # Not Field(min_length=1): pydantic would then add a spurious "too short" to every error inside a band.
    bands: tuple[AgeBand, ...] = Field(max_length=20)

    @model_validator(mode="after")
    def _disjoint(self) -> "AgeRule":
        if not self.bands:
            raise PydanticCustomError("age_bands_missing", "La règle d'âge doit avoir au moins une tranche.")
        # Disjoint bands give one age one band, so an explanation never counts a person's age twice.
        ordered = sorted(self.bands, key=lambda band: band.from_years)
        for lower, upper in zip(ordered, ordered[1:], strict=False):
            if lower.under_years is None or lower.under_years > upper.from_years:
                raise PydanticCustomError(
                    "age_bands_overlap",
                    "Les tranches d'âge se chevauchent (à partir de {a} ans et à partir de {b} ans).",
                    {"a": lower.from_years, "b": upper.from_years},
                )
        return self


class HouseholdChildrenRule(_Content):
    points: Points
    under_years: Annotated[int, Field(ge=1, le=18)]


class WaitedRule(_Content):
    """Points per full month waited; ``max_months`` caps them (and may void the anti-starvation bound)."""

    points_per_month: Points
    max_months: Annotated[int, Field(ge=1, le=1200)] | None = None


class Rules(_Content):
    ald: FlatRule | None = None
    age: AgeRule | None = None
    pregnancy: FlatRule | None = None
    household_children: HouseholdChildrenRule | None = None
    urgency: FlatRule | None = None
    waited: WaitedRule | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_names(cls, data: Any) -> Any:
        # Named here rather than left to extra="forbid": a coordinator who mistypes a rule must learn which exist.
        if isinstance(data, dict):
            for name in data:
                if name not in cls.model_fields:
                    raise PydanticCustomError(
                        "unknown_rule",
                        "Règle inconnue : « {name} » (règles possibles : {known}).",
                        {"name": str(name), "known": ", ".join(cls.model_fields)},
                    )
        return data


class Policy(_Content):
    """``kind`` is kept inside so that a policy cannot silently score another kind's requests."""

    kind: Kind
    rules: Rules


def default_policy(kind: Kind) -> Policy:
    """Ten points are worth one month of waiting, so each weight reads as "months ahead in the queue"."""
    urgency, waited = FlatRule(points=80), WaitedRule(points_per_month=10)
    if kind == "medecin_traitant":
        rules = Rules(
            ald=FlatRule(points=50),
            age=AgeRule(bands=(AgeBand(under_years=6, points=30), AgeBand(from_years=70, points=40))),
            pregnancy=FlatRule(points=50),
            household_children=HouseholdChildrenRule(points=20, under_years=6),
            urgency=urgency,
            waited=waited,
        )
    elif kind == "bilan_orthophonique":
        rules = Rules(
            ald=FlatRule(points=40),
            age=AgeRule(
                bands=(AgeBand(under_years=6, points=60), AgeBand(from_years=6, under_years=12, points=20))
            ),
            urgency=urgency,
            waited=waited,
        )
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return Policy(kind=kind, rules=rules)


def max_criteria_points(policy: Policy) -> int:
    """The most a request can get from everything but waiting: the best age band plus every flat rule."""
    rules = policy.rules
    flat = (rules.ald, rules.pregnancy, rules.household_children, rules.urgency)
    best_band = max((band.points for band in rules.age.bands), default=0) if rules.age else 0
    return best_band + sum(rule.points for rule in flat if rule is not None)


def months_to_overtake(policy: Policy) -> int | None:
    """Full months after which a request ranks ahead of any request waiting less than a month, whatever either's
    criteria: ``ceil(max_criteria_points / points_per_month)``, at least 1 (a tie goes to the earlier request).

    None when the policy gives no such guarantee: waiting is not scored, or is capped below that bound.
    """
    waited = policy.rules.waited
    if waited is None or waited.points_per_month == 0:
        return None
    months = max(1, ceil(max_criteria_points(policy) / waited.points_per_month))
    if waited.max_months is not None and waited.max_months < months:
        return None
    return months
