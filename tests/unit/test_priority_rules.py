"""Each rule, one criterion at a time: the request that has it ranks first, and its explanation says why."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from lac_service.priority import PriorityInput, Rules, WaitedRule, default_policy, rank_key, score
from lac_service.priority.rules import RULES, full_months_between

NOW = datetime(2025, 6, 15, 10, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=10)


def adult(kind: str = "medecin_traitant") -> PriorityInput:
    return PriorityInput(
        kind=kind,
        birth_date=date(1985, 3, 2),
        ald=False,
        pregnant=False,
        urgent=False,
        household_birth_dates=(),
        waiting_since=SINCE,
    )


CASES = [
    ("medecin_traitant", {"ald": True}, "ald", "Affection de longue durée (ALD)", 50),
    ("medecin_traitant", {"pregnant": True}, "pregnancy", "Grossesse en cours", 50),
    ("medecin_traitant", {"birth_date": date(1950, 1, 1)}, "age_70_plus", "Âge : 70 ans ou plus", 40),
    ("medecin_traitant", {"birth_date": date(2022, 9, 1)}, "age_under_6", "Âge : moins de 6 ans", 30),
    (
        "medecin_traitant",
        {"household_birth_dates": (date(1987, 1, 1), date(2023, 1, 1))},
        "household_children",
        "Enfant de moins de 6 ans dans le foyer",
        20,
    ),
    ("medecin_traitant", {"urgent": True}, "urgency", "Situation urgente (évaluée lors d'un entretien)", 80),
    ("medecin_traitant", {"waiting_since": SINCE - timedelta(days=130)}, "waited", "Attente : 4 mois", 40),
    ("bilan_orthophonique", {"birth_date": date(2021, 1, 1)}, "age_under_6", "Âge : moins de 6 ans", 60),
    ("bilan_orthophonique", {"birth_date": date(2017, 1, 1)}, "age_6_to_11", "Âge : de 6 à 11 ans", 20),
    ("bilan_orthophonique", {"ald": True}, "ald", "Affection de longue durée (ALD)", 40),
    ("bilan_orthophonique", {"urgent": True}, "urgency", "Situation urgente (évaluée lors d'un entretien)", 80),
    ("bilan_orthophonique", {"waiting_since": SINCE - timedelta(days=400)}, "waited", "Attente : 13 mois", 130),
]


@pytest.mark.parametrize(("kind", "change", "code", "label", "points"), CASES)
def test_the_request_with_the_criterion_ranks_first_and_says_why(kind, change, code, label, points):
    policy = default_policy(kind)
    plain, marked = adult(kind), replace(adult(kind), **change)
    plain_score, marked_score = score(plain, policy, NOW), score(marked, policy, NOW)

    # The marked request has the higher id, so the id tie-break cannot be what puts it first.
    rows = {
        "plain": (plain_score.points, plain.waiting_since, 1),
        "marked": (marked_score.points, marked.waiting_since, 2),
    }
    assert sorted(rows, key=lambda name: rank_key(*rows[name])) == ["marked", "plain"]
    assert plain_score.reasons == ()
    assert [(r.code, r.label, r.points) for r in marked_score.reasons] == [(code, label, points)]
    assert marked_score.points == points


def test_a_pregnancy_is_not_a_speech_therapy_criterion_by_default():
    pregnant = replace(adult("bilan_orthophonique"), pregnant=True)
    assert score(pregnant, default_policy("bilan_orthophonique"), NOW).points == 0


def test_reasons_add_up_in_a_stable_order_and_dump_as_json():
    two_months_ago = SINCE - timedelta(days=60)
    subject = replace(adult(), birth_date=date(1950, 1, 1), ald=True, urgent=True, waiting_since=two_months_ago)
    result = score(subject, default_policy("medecin_traitant"), NOW)
    assert [r.code for r in result.reasons] == ["ald", "age_70_plus", "urgency", "waited"]
    assert result.points == 50 + 40 + 80 + 20 == sum(r.points for r in result.reasons)
    assert json.loads(json.dumps(result.as_dict()))["reasons"][3] == {
        "code": "waited",
        "label": "Attente : 2 mois",
        "points": 20,
    }


@pytest.mark.parametrize(
    ("birth_date", "today", "under_6"),
    [
        (date(2019, 6, 16), date(2025, 6, 15), True),  # sixth birthday tomorrow
        (date(2019, 6, 15), date(2025, 6, 15), False),  # sixth birthday today
        (date(2020, 2, 29), date(2026, 2, 28), True),  # born on 29 February: in common years, a year older on 1 March
        (date(2020, 2, 29), date(2026, 3, 1), False),
        (date(2018, 3, 1), date(2024, 2, 29), True),
        (date(2018, 2, 28), date(2024, 2, 29), False),
    ],
)
def test_age_counts_whole_years_with_the_birthday_reached(birth_date, today, under_6):
    subject = replace(adult(), birth_date=birth_date, waiting_since=datetime.combine(today, datetime.min.time(), UTC))
    result = score(subject, default_policy("medecin_traitant"), datetime.combine(today, datetime.max.time(), UTC))
    assert ("age_under_6" in [r.code for r in result.reasons]) is under_6


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (date(2025, 1, 31), date(2025, 2, 28), 0),
        (date(2025, 1, 31), date(2025, 3, 1), 1),
        (date(2025, 1, 15), date(2025, 2, 14), 0),
        (date(2025, 1, 15), date(2025, 2, 15), 1),
        (date(2024, 12, 20), date(2026, 1, 20), 13),
        (date(2025, 3, 1), date(2025, 2, 1), 0),  # a request dated in the future has not waited
    ],
)
def test_a_month_is_full_once_its_day_is_reached(start, end, months):
    assert full_months_between(start, end) == months


def test_waiting_points_use_utc_dates():
    paris_summer = timezone(timedelta(hours=2))
    # 00:30 on 15 March in Paris is still 14 March in UTC: one full month only from 14 April.
    subject = replace(adult(), waiting_since=datetime(2025, 3, 15, 0, 30, tzinfo=paris_summer))
    result = score(subject, default_policy("medecin_traitant"), datetime(2025, 4, 14, tzinfo=UTC))
    assert [r.label for r in result.reasons] == ["Attente : 1 mois"]


def test_capped_waiting_says_so_and_zero_points_are_not_a_reason():
    policy = default_policy("medecin_traitant").model_copy(
        update={"rules": Rules(waited=WaitedRule(points_per_month=10, max_months=6))}
    )
    subject = replace(adult(), ald=True, waiting_since=SINCE - timedelta(days=300))
    assert score(subject, policy, NOW).reasons[0].as_dict() == {
        "code": "waited",
        "label": "Attente : 10 mois (points plafonnés à 6 mois)",
        "points": 60,
    }
    nothing = policy.model_copy(update={"rules": Rules(waited=WaitedRule(points_per_month=0))})
    assert score(subject, nothing, NOW).reasons == ()


def test_ties_go_to_the_earliest_request_then_the_lowest_id():
    early, late = NOW - timedelta(days=3), NOW - timedelta(days=2)
    rows = [(10, late, 1), (10, early, 9), (10, early, 4), (20, late, 7)]
    assert [row[2] for row in sorted(rows, key=lambda row: rank_key(*row))] == [7, 4, 9, 1]


def test_misuse_fails_loudly():
    with pytest.raises(ValueError, match="cannot score"):
        score(adult("bilan_orthophonique"), default_policy("medecin_traitant"), NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        score(adult(), default_policy("medecin_traitant"), NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        replace(adult(), waiting_since=SINCE.replace(tzinfo=None))
    with pytest.raises(ValueError, match="unknown kind"):
        replace(adult(), kind="kinesitherapie")


def test_every_policy_rule_has_a_rule_function():
    assert list(RULES) == list(Rules.model_fields)
