"""Who is served first, and why: rules turn a request's facts into points, a policy per kind says how many.

Pure on purpose (no database, no web framework): the same functions score one request with its explanation
for a patient, re-score a whole queue when a coordinator changes a policy, and run in property tests. The
database stores policies as versioned rows and each score with the version that produced it.
"""

from lac_service.priority.bands import Band, band_of, band_range
from lac_service.priority.batch import score_many
from lac_service.priority.policy import (
    KINDS,
    AgeBand,
    AgeRule,
    FlatRule,
    HouseholdChildrenRule,
    Kind,
    Policy,
    Rules,
    WaitedRule,
    default_policy,
    max_criteria_points,
    months_to_overtake,
)
from lac_service.priority.rules import PriorityInput, Reason
from lac_service.priority.scoring import Score, rank_key, rank_order, score

__all__ = [
    "KINDS",
    "Band",
    "AgeBand",
    "AgeRule",
    "FlatRule",
    "HouseholdChildrenRule",
    "Kind",
    "Policy",
    "PriorityInput",
    "Reason",
    "Rules",
    "Score",
    "WaitedRule",
    "band_of",
    "band_range",
    "default_policy",
    "max_criteria_points",
    "months_to_overtake",
    "rank_key",
    "rank_order",
    "score",
    "score_many",
]
