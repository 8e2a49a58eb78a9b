"""What must hold for every round, on random small ones: around a town, overseas, across the antimeridian and
near a pole; with shared positions (exact ties), households, empty capacities, refusals and equal ranks."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lac_service.geography.distance import haversine_km
from lac_service.matching.engine import Assignment, Cabinets, Requests, match_greedy, rank_order
from lac_service.matching.optimal import check, match_optimal
from lac_service.matching.space import Space

from .test_matching_engine import brute_force_greedy, brute_force_reasons

PLACES = [(45.764, 4.836), (-21.115, 55.536), (-17.5, 179.95), (89.7, 0.0)]  # Lyon, La Réunion, Fiji side, Arctic


@st.composite
def rounds(draw) -> tuple[Requests, Cabinets]:
    lat0, lon0 = draw(st.sampled_from(PLACES))
    spots = draw(st.lists(st.tuples(st.floats(-30, 30), st.floats(-30, 30)), min_size=1, max_size=5))
    offsets = st.sampled_from(spots) | st.tuples(st.floats(-30, 30), st.floats(-30, 30))

    def places(count: int) -> tuple[np.ndarray, np.ndarray]:
        east, north = np.array([draw(offsets) for _ in range(count)]).reshape(-1, 2).T
        lat = np.clip(lat0 + north / 111.2, -90, 90)
        lon = lon0 + east / (111.2 * max(math.cos(math.radians(lat0)), 0.05))
        return lat, (lon + 180) % 360 - 180

    n, m = draw(st.integers(0, 25)), draw(st.integers(0, 7))
    c_lat, c_lon = places(m)
    cabinet_ids = draw(st.lists(st.integers(1, 60), min_size=m, max_size=m, unique=True))
    cabinets = Cabinets(ids=cabinet_ids, lat=c_lat, lon=c_lon,
                        kinds=draw(st.lists(st.sampled_from([1, 2, 3]), min_size=m, max_size=m)),
                        radius_km=draw(st.lists(st.floats(0, 40), min_size=m, max_size=m)),
                        capacity=draw(st.lists(st.integers(0, 5), min_size=m, max_size=m)))
    r_lat, r_lon = places(n)
    ids = draw(st.lists(st.integers(1, 500), min_size=n, max_size=n, unique=True))
    ranks = draw(st.permutations(range(n)) | st.lists(st.integers(0, 4), min_size=n, max_size=n))
    declined = {i: frozenset(draw(st.sets(st.sampled_from(cabinet_ids), max_size=3)))
                for i in ids if cabinet_ids and draw(st.booleans())}
    requests = Requests(ids=ids, lat=r_lat, lon=r_lon, kind=draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)),
                        people=draw(st.lists(st.integers(1, 4), min_size=n, max_size=n)), rank=list(ranks),
                        max_km=draw(st.lists(st.floats(0, 40), min_size=n, max_size=n)), declined=declined)
    return requests, cabinets


def rows_of(requests: Requests, cabinets: Cabinets, result: Assignment) -> tuple[np.ndarray, np.ndarray]:
    r = {i: row for row, i in enumerate(requests.ids.tolist())}
    c = {i: row for row, i in enumerate(cabinets.ids.tolist())}
    return (np.array([r[i] for i in result.request_ids.tolist()], dtype=np.intp),
            np.array([c[i] for i in result.cabinet_ids.tolist()], dtype=np.intp))


def pairs(result: Assignment) -> list[tuple[int, int]]:
    return list(zip(result.request_ids.tolist(), result.cabinet_ids.tolist(), strict=True))


def mass(requests: Requests, result: Assignment) -> int:
    """Priority mass times n: each served person weighs n - (its request's position in rank order)."""
    position = np.empty(len(requests), dtype=np.int64)
    position[rank_order(requests)] = np.arange(len(requests))
    row = {request_id: row for row, request_id in enumerate(requests.ids.tolist())}
    rows = np.array([row[i] for i in result.request_ids.tolist()], dtype=np.intp)
    return int((requests.people[rows].astype(np.int64) * (len(requests) - position[rows])).sum())


@settings(max_examples=200)
@given(rounds())
def test_greedy_keeps_every_rule_and_is_the_brute_force_rule(round_):
    requests, cabinets = round_
    result = match_greedy(requests, cabinets)
    check(requests, cabinets, *rows_of(requests, cabinets, result), Space(requests, cabinets))
    assert pairs(result) == brute_force_greedy(requests, cabinets)
    assert result.unmatched_reasons == brute_force_reasons(requests, cabinets, result.unmatched_ids.tolist())
    assert sorted([*result.request_ids.tolist(), *result.unmatched_ids.tolist()]) == sorted(requests.ids.tolist())


@settings(max_examples=200)
@given(rounds())
def test_greedy_never_gives_a_seat_away_from_a_higher_ranked_request(round_):
    """For each request r and each cabinet c feasible for r (kind, both radii, not declined), let ``before`` be
    the people that requests ranked before r were given at c. If r is unmatched, r did not fit at any such c:
    before + people(r) > capacity(c) — seats that lower-ranked requests hold do not count against r. If r got
    c*, the same holds for every feasible c strictly nearer than c* (or as near with a lower id)."""
    requests, cabinets = round_
    result = match_greedy(requests, cabinets)
    given_to = dict(zip(*rows_of(requests, cabinets, result), strict=True))
    before = np.zeros(len(cabinets), dtype=np.int64)
    for r in rank_order(requests).tolist():
        distance = np.atleast_1d(haversine_km(requests.lat[r], requests.lon[r], cabinets.lat, cabinets.lon))
        refused = requests.declined.get(int(requests.ids[r]), frozenset())
        feasible = [c for c in range(len(cabinets))
                    if (int(cabinets.kinds[c]) >> int(requests.kind[r])) & 1 and int(cabinets.ids[c]) not in refused
                    and distance[c] <= min(cabinets.radius_km[c], requests.max_km[r])]
        mine = given_to.get(r)
        ahead = [c for c in feasible
                 if mine is None or (distance[c], cabinets.ids[c]) < (distance[mine], cabinets.ids[mine])]
        assert all(before[c] + requests.people[r] > cabinets.capacity[c] for c in ahead)
        if mine is not None:
            assert mine in feasible
            before[mine] += requests.people[r]


@settings(max_examples=100)
@given(rounds(), st.randoms(use_true_random=False))
def test_deterministic_and_independent_of_row_order(round_, random):
    requests, cabinets = round_
    first, again = match_greedy(requests, cabinets), match_greedy(requests, cabinets)
    r, c = list(range(len(requests))), list(range(len(cabinets)))
    random.shuffle(r)
    random.shuffle(c)
    shuffled = match_greedy(
        Requests(ids=requests.ids[r], lat=requests.lat[r], lon=requests.lon[r], kind=requests.kind[r],
                 people=requests.people[r], rank=requests.rank[r], max_km=requests.max_km[r],
                 declined=requests.declined),
        Cabinets(ids=cabinets.ids[c], lat=cabinets.lat[c], lon=cabinets.lon[c], kinds=cabinets.kinds[c],
                 radius_km=cabinets.radius_km[c], capacity=cabinets.capacity[c]))
    for other in (again, shuffled):
        assert pairs(other) == pairs(first)
        assert other.distance_km.tolist() == first.distance_km.tolist()
        assert other.unmatched_ids.tolist() == first.unmatched_ids.tolist()
        assert other.unmatched_reasons == first.unmatched_reasons


@settings(max_examples=60)
@given(rounds())
def test_optimal_keeps_every_rule_and_serves_at_least_greedys_priority_mass(round_):
    requests, cabinets = round_
    greedy, optimal = match_greedy(requests, cabinets), match_optimal(requests, cabinets)
    check(requests, cabinets, *rows_of(requests, cabinets, optimal), Space(requests, cabinets))
    assert optimal.unmatched_reasons == brute_force_reasons(requests, cabinets, optimal.unmatched_ids.tolist())
    assert mass(requests, optimal) >= mass(requests, greedy)
    if mass(requests, optimal) == mass(requests, greedy):
        assert optimal.distance_km.sum() <= greedy.distance_km.sum() + 1e-9
    assert pairs(match_optimal(requests, cabinets)) == pairs(optimal)
