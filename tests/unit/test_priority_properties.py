"""What must hold for every policy a coordinator may write and every request, not only the defaults."""

from datetime import UTC, date, datetime, time, timedelta, timezone

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from lac_service.kit.dates import age_on
from lac_service.priority import (
    KINDS,
    AgeBand,
    AgeRule,
    FlatRule,
    HouseholdChildrenRule,
    Policy,
    PriorityInput,
    Rules,
    WaitedRule,
    months_to_overtake,
    rank_key,
    rank_order,
    score,
    score_many,
)
from lac_service.priority.batch import birth_cutoff, full_months_since
from lac_service.priority.rules import full_months_between

TRICKY_DAYS = [date(2024, 2, 29), date(2025, 2, 28), date(2025, 3, 1), date(2028, 2, 29), date(2025, 1, 31)]

points = st.integers(0, 200)
flat_rules = st.builds(FlatRule, points=points)


@st.composite
def age_rules(draw):
    bounds = sorted(draw(st.sets(st.integers(0, 110), min_size=2, max_size=6)))
    spans = [*zip(bounds, bounds[1:], strict=False), (bounds[-1], None)]
    chosen = draw(st.lists(st.sampled_from(spans), min_size=1, unique=True))
    return AgeRule(bands=tuple(AgeBand(from_years=a, under_years=b, points=draw(points)) for a, b in chosen))


def switched(strategy):
    """Rules mostly on: a rule that is off tests nothing."""
    return st.none() | strategy | strategy | strategy


policies = st.builds(
    Policy,
    kind=st.sampled_from(KINDS),
    rules=st.builds(
        Rules,
        ald=switched(flat_rules),
        age=switched(age_rules()),
        pregnancy=switched(flat_rules),
        household_children=switched(st.builds(HouseholdChildrenRule, points=points, under_years=st.integers(1, 18))),
        urgency=switched(flat_rules),
        waited=switched(
            st.builds(WaitedRule, points_per_month=st.integers(0, 50), max_months=st.none() | st.integers(1, 240))
        ),
    ),
)

nows = st.datetimes(datetime(2000, 1, 1), datetime(2040, 12, 31), timezones=st.just(UTC)) | st.builds(
    lambda day, moment: datetime.combine(day, moment, UTC), st.sampled_from(TRICKY_DAYS), st.times()
)


def boundary_ages(policy):
    rules, ages = policy.rules, {0, 1, 70}
    if rules.age is not None:
        ages |= {band.from_years for band in rules.age.bands}
        ages |= {band.under_years for band in rules.age.bands if band.under_years is not None}
    if rules.household_children is not None:
        ages.add(rules.household_children.under_years)
    return sorted(ages)


@st.composite
def birth_dates(draw, today, ages):
    """Mostly within a day or two of the birthday that moves someone across a band of the policy."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.dates(date(1900, 1, 1), today) | st.sampled_from(TRICKY_DAYS))
    years = draw(st.sampled_from(ages))
    return date(today.year - years, today.month, min(today.day, 28)) + timedelta(draw(st.integers(-1, 4)))


def months_before(moment, months):
    """Midnight UTC exactly ``months`` full months before ``moment`` (day 28 at most, so always reached)."""
    index = moment.year * 12 + moment.month - 1 - months
    return datetime.combine(date(index // 12, index % 12 + 1, min(moment.day, 28)), time(), UTC)


@st.composite
def waiting_sinces(draw, now):
    """Mostly within hours of a month boundary, in the time zones of mainland and overseas France."""
    around = draw(st.sampled_from([months_before(now, draw(st.integers(0, 120))), now]))
    moment = around + timedelta(minutes=draw(st.integers(-3 * 24 * 60, 3 * 24 * 60)))
    return moment.astimezone(timezone(timedelta(hours=draw(st.sampled_from([0, 1, 2, 4, -4])))))


@st.composite
def subjects(draw, policy, now, waiting_since=None):
    today, ages = now.date(), boundary_ages(policy)
    return PriorityInput(
        kind=policy.kind,
        birth_date=draw(birth_dates(today, ages)),
        ald=draw(st.booleans()),
        pregnant=draw(st.booleans()),
        urgent=draw(st.booleans()),
        household_birth_dates=tuple(draw(st.lists(birth_dates(today, ages), max_size=3))),
        waiting_since=draw(waiting_sinces(now)) if waiting_since is None else waiting_since,
    )


def columns(queue):
    def naive_utc(moment):
        return moment.astimezone(UTC).replace(tzinfo=None)

    return {
        "birth_dates": np.array([s.birth_date for s in queue], dtype="M8[D]"),
        "ald": np.array([s.ald for s in queue], dtype=bool),
        "pregnant": np.array([s.pregnant for s in queue], dtype=bool),
        "urgent": np.array([s.urgent for s in queue], dtype=bool),
        "youngest_household_birth_dates": np.array(
            [max(s.household_birth_dates, default=None) for s in queue], dtype="M8[D]"
        ),
        "waiting_since": np.array([naive_utc(s.waiting_since) for s in queue], dtype="M8[us]"),
    }


@st.composite
def queues(draw):
    policy, now = draw(policies), draw(nows)
    return policy, now, draw(st.lists(subjects(policy, now), min_size=1, max_size=40))


todays = st.dates(date(2000, 1, 1), date(2040, 12, 31)) | st.sampled_from(TRICKY_DAYS)


@given(todays, st.integers(0, 150))
def test_the_birth_cutoff_is_the_last_birthday_reached(today, years):
    # The vectorised age test rests on this: "aged at least N" is exactly "born on or before the cutoff".
    cutoff = birth_cutoff(today, years).astype(date)
    assert age_on(cutoff, today) >= years > age_on(cutoff + timedelta(days=1), today)


@given(st.lists(st.dates(date(1990, 1, 1), date(2040, 12, 31)) | st.sampled_from(TRICKY_DAYS), min_size=1), todays)
def test_months_are_counted_alike_one_by_one_and_by_column(starts, today):
    expected = [full_months_between(start, today) for start in starts]
    assert full_months_since(np.array(starts, dtype="M8[D]"), today).tolist() == expected


@given(queues())
def test_score_many_gives_every_row_the_points_of_score(case):
    policy, now, queue = case
    expected = [score(subject, policy, now).points for subject in queue]
    assert score_many(policy, now, **columns(queue)).tolist() == expected


@given(policies, nows, st.data(), st.randoms(use_true_random=False))
def test_ranking_is_a_deterministic_total_order_whatever_the_input_order(policy, now, data, random):
    # Few distinct request dates, so that ties on points and on date both happen and the id must decide.
    dates = st.sampled_from([now - timedelta(days=days) for days in (0, 45, 400)])
    queue = data.draw(st.lists(dates.flatmap(lambda day: subjects(policy, now, waiting_since=day)), min_size=1))
    ids = data.draw(st.lists(st.integers(1, 10**9), min_size=len(queue), max_size=len(queue), unique=True))
    scores = [score(subject, policy, now) for subject in queue]
    assert scores == [score(subject, policy, now) for subject in queue]
    rows = [(sc.points, s.waiting_since, request_id) for sc, s, request_id in zip(scores, queue, ids, strict=True)]

    ranked = sorted(rows, key=lambda row: rank_key(*row))
    keys = [rank_key(*row) for row in ranked]
    assert all(before < after for before, after in zip(keys, keys[1:], strict=False))  # strict: no two tie
    shuffled = rows[:]
    random.shuffle(shuffled)
    assert sorted(shuffled, key=lambda row: rank_key(*row)) == ranked

    table = columns(queue)
    order = rank_order(score_many(policy, now, **table), table["waiting_since"], np.array(ids))
    assert [ids[i] for i in order] == [row[2] for row in ranked]


def weight_paths(dumped):
    rules = dumped["rules"]
    for name in ("ald", "pregnancy", "household_children", "urgency"):
        if rules[name] is not None:
            yield (name, "points")
    if rules["waited"] is not None:
        yield ("waited", "points_per_month")
    if rules["age"] is not None:
        yield from (("age", "bands", i, "points") for i in range(len(rules["age"]["bands"])))


@given(queues(), st.integers(1, 1000), st.data())
def test_raising_any_weight_never_lowers_any_score(case, raise_by, data):
    policy, now, queue = case
    dumped = policy.model_dump()
    paths = list(weight_paths(dumped))
    assume(paths)
    *parents, leaf = data.draw(st.sampled_from(paths))
    target = dumped["rules"]
    for key in parents:
        target = target[key]
    target[leaf] += raise_by
    raised = Policy.model_validate(dumped)
    for subject in queue:
        assert score(subject, raised, now).points >= score(subject, policy, now).points


@given(policies, nows, st.integers(0, 24), st.integers(0, 27 * 24 * 60), st.data())
def test_after_the_bound_a_request_ranks_ahead_of_any_fresh_one(policy, now, extra_months, fresh_age, data):
    months = months_to_overtake(policy)
    assume(months is not None and months <= 600)
    old = data.draw(subjects(policy, now, waiting_since=months_before(now, months + extra_months)))
    fresh = data.draw(subjects(policy, now, waiting_since=now - timedelta(minutes=fresh_age)))
    old_key = rank_key(score(old, policy, now).points, old.waiting_since, 2)
    fresh_key = rank_key(score(fresh, policy, now).points, fresh.waiting_since, 1)
    assert old_key < fresh_key
