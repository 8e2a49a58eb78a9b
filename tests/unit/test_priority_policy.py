"""A policy is data a coordinator sends: it must refuse nonsense with a message they can act on, and survive JSON."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from lac_service.priority import (
    KINDS,
    Policy,
    PriorityInput,
    default_policy,
    max_criteria_points,
    months_to_overtake,
    rank_key,
    score,
)

NOW = datetime(2025, 6, 15, 10, 0, tzinfo=UTC)


def gp(**rules: object) -> dict:
    return {"kind": "medecin_traitant", "rules": rules}


def only_error(data: dict) -> dict:
    with pytest.raises(ValidationError) as caught:
        Policy.model_validate(data)
    (error,) = caught.value.errors()
    return error


@pytest.mark.parametrize("kind", KINDS)
def test_the_default_policy_round_trips_through_json(kind):
    policy = default_policy(kind)
    assert Policy.model_validate_json(policy.model_dump_json()) == policy
    assert Policy.model_validate(json.loads(json.dumps(policy.model_dump(mode="json")))) == policy


def test_a_sparse_policy_from_a_coordinator_is_read_with_absent_rules_off():
    policy = Policy.model_validate_json('{"kind": "bilan_orthophonique", "rules": {"urgency": {"points": 5}}}')
    assert policy.rules.urgency.points == 5
    assert policy.rules.ald is None and policy.rules.waited is None


def test_an_unknown_rule_is_named_with_the_known_ones():
    error = only_error(gp(ald={"points": 1}, revenu={"points": 3}))
    assert error["type"] == "unknown_rule"
    assert error["loc"] == ("rules",)
    assert error["msg"] == (
        "Règle inconnue : « revenu » (règles possibles : ald, age, pregnancy, household_children, urgency, waited)."
    )


@pytest.mark.parametrize(
    ("rules", "loc"),
    [
        ({"ald": {"points": -1}}, ("rules", "ald", "points")),
        ({"urgency": {"points": -80}}, ("rules", "urgency", "points")),
        ({"waited": {"points_per_month": -10}}, ("rules", "waited", "points_per_month")),
        ({"age": {"bands": [{"under_years": 6, "points": -5}]}}, ("rules", "age", "bands", 0, "points")),
        ({"household_children": {"points": -2, "under_years": 6}}, ("rules", "household_children", "points")),
    ],
)
def test_a_negative_weight_is_refused_where_it_is(rules, loc):
    error = only_error(gp(**rules))
    assert (error["type"], error["loc"]) == ("greater_than_equal", loc)


@pytest.mark.parametrize(
    ("bands", "error_type", "message"),
    [
        (
            [{"under_years": 6, "points": 1}, {"from_years": 3, "under_years": 10, "points": 1}],
            "age_bands_overlap",
            "Les tranches d'âge se chevauchent (à partir de 0 ans et à partir de 3 ans).",
        ),
        (
            [{"from_years": 70, "points": 1}, {"from_years": 80, "points": 1}],
            "age_bands_overlap",
            "Les tranches d'âge se chevauchent (à partir de 70 ans et à partir de 80 ans).",
        ),
        (
            [{"from_years": 12, "under_years": 6, "points": 1}],
            "age_band_empty",
            "Tranche d'âge vide : « moins de 6 ans » doit dépasser « à partir de 12 ans ».",
        ),
        ([{"points": 1}], "age_band_unbounded", "Une tranche d'âge doit avoir une borne basse ou haute."),
        ([{"from_years": -1, "under_years": 6, "points": 1}], "greater_than_equal", None),
        ([], "age_bands_missing", "La règle d'âge doit avoir au moins une tranche."),
    ],
)
def test_incoherent_age_bands_are_refused(bands, error_type, message):
    error = only_error(gp(age={"bands": bands}))
    assert error["type"] == error_type
    if message is not None:
        assert error["msg"] == message


def test_adjacent_bands_are_coherent():
    bands = [{"under_years": 6, "points": 1}, {"from_years": 6, "under_years": 12, "points": 1}]
    assert len(Policy.model_validate(gp(age={"bands": bands})).rules.age.bands) == 2


@pytest.mark.parametrize(
    ("data", "error_type"),
    [
        (gp(ald={"points": 5, "weight": 5}), "extra_forbidden"),
        ({"kind": "medecin_traitant", "rules": {}, "version": 3}, "extra_forbidden"),
        ({"kind": "kinesitherapie", "rules": {}}, "literal_error"),
        (gp(household_children={"points": 5, "under_years": 0}), "greater_than_equal"),
        (gp(waited={"points_per_month": 5, "max_months": 0}), "greater_than_equal"),
    ],
)
def test_other_nonsense_is_refused(data, error_type):
    assert only_error(data)["type"] == error_type


def test_an_unknown_kind_has_no_default():
    with pytest.raises(ValueError, match="unknown kind"):
        default_policy("kinesitherapie")


@pytest.mark.parametrize(("kind", "months"), [("medecin_traitant", 24), ("bilan_orthophonique", 18)])
def test_default_bounds(kind, months):
    assert months_to_overtake(default_policy(kind)) == months


@pytest.mark.parametrize(
    ("rules", "most", "months"),
    [
        ({"ald": {"points": 25}, "waited": {"points_per_month": 10}}, 25, 3),
        ({"waited": {"points_per_month": 10}}, 0, 1),  # nothing to overtake: the earlier request wins the tie
        (
            {
                "age": {"bands": [{"under_years": 6, "points": 30}, {"from_years": 70, "points": 40}]},
                "waited": {"points_per_month": 10, "max_months": 4},
            },
            40,
            4,
        ),
        ({"ald": {"points": 25}, "waited": {"points_per_month": 10, "max_months": 2}}, 25, None),
        ({"ald": {"points": 25}, "waited": {"points_per_month": 0}}, 25, None),
        ({"ald": {"points": 25}}, 25, None),
    ],
)
def test_months_to_overtake_follows_the_formula(rules, most, months):
    policy = Policy.model_validate(gp(**rules))
    assert max_criteria_points(policy) == most
    assert months_to_overtake(policy) == months


@pytest.mark.parametrize(("months", "old_first"), [(23, False), (24, True)])
def test_the_gp_bound_is_tight(months, old_first):
    fresh_with_everything = PriorityInput(
        kind="medecin_traitant",
        birth_date=date(1950, 1, 1),
        ald=True,
        pregnant=True,
        urgent=True,
        household_birth_dates=(date(2024, 1, 1),),
        waiting_since=NOW,
    )
    old_with_nothing = replace(
        fresh_with_everything,
        birth_date=date(1985, 1, 1),
        ald=False,
        pregnant=False,
        urgent=False,
        household_birth_dates=(),
        waiting_since=NOW.replace(year=2023, month=6) if months == 24 else NOW.replace(year=2023, month=7),
    )
    policy = default_policy("medecin_traitant")
    old, fresh = score(old_with_nothing, policy, NOW), score(fresh_with_everything, policy, NOW)
    assert (fresh.points, old.points) == (240, months * 10)
    keys = rank_key(old.points, old_with_nothing.waiting_since, 2), rank_key(fresh.points, NOW, 1)
    assert (keys[0] < keys[1]) is old_first
