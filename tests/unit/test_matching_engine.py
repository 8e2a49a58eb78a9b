"""The greedy reference rule, case by case: each row of a table is a small round around one point."""

import math

import numpy as np
import pytest

from lac_service.geography.distance import haversine_km
from lac_service.matching.engine import (
    Assignment,
    Cabinets,
    Requests,
    match_greedy,
    rank_by_priority,
    rank_order,
)
from lac_service.matching.optimal import check, match_optimal
from lac_service.matching.space import Space
from lac_service.matching.synthetic import synthetic_round

ORIGIN = (45.764, 4.836)  # Lyon
GP, SPEECH = 1, 2  # cabinet bitmasks


def at(east_km: float, north_km: float = 0.0) -> tuple[float, float]:
    lat = ORIGIN[0] + north_km / 111.2
    return lat, ORIGIN[1] + east_km / (111.2 * math.cos(math.radians(ORIGIN[0])))


def request(id: int, east_km: float = 0.0, *, kind: int = 0, people: int = 1, max_km: float = 50.0,
            declined: tuple[int, ...] = ()) -> dict:
    return {"id": id, "where": at(east_km), "kind": kind, "people": people, "max_km": max_km, "declined": declined}


def cabinet(id: int, east_km: float, *, kinds: int = GP | SPEECH, radius_km: float = 30.0, capacity: int = 10,
            north_km: float = 0.0) -> dict:
    return {"id": id, "where": at(east_km, north_km), "kinds": kinds, "radius_km": radius_km, "capacity": capacity}


def build(requests: list[dict], cabinets: list[dict]) -> tuple[Requests, Cabinets]:
    """Requests are ranked in the order listed."""
    r_where = np.array([r["where"] for r in requests]).reshape(-1, 2)
    c_where = np.array([c["where"] for c in cabinets]).reshape(-1, 2)
    return (
        Requests(ids=[r["id"] for r in requests], lat=r_where[:, 0], lon=r_where[:, 1],
                 kind=[r["kind"] for r in requests], people=[r["people"] for r in requests],
                 rank=np.arange(len(requests)), max_km=[r["max_km"] for r in requests],
                 declined={r["id"]: frozenset(r["declined"]) for r in requests if r["declined"]}),
        Cabinets(ids=[c["id"] for c in cabinets], lat=c_where[:, 0], lon=c_where[:, 1],
                 kinds=[c["kinds"] for c in cabinets], radius_km=[c["radius_km"] for c in cabinets],
                 capacity=[c["capacity"] for c in cabinets]),
    )


def outcome(result: Assignment) -> dict[int, int | str]:
    """Request id → cabinet id, or the unmatched reason."""
    matched = dict(zip(result.request_ids.tolist(), result.cabinet_ids.tolist(), strict=True))
    return matched | dict(zip(result.unmatched_ids.tolist(), result.unmatched_reasons, strict=True))


CASES = {
    "nearest feasible wins": ([request(1)], [cabinet(10, 3.0), cabinet(11, 1.0), cabinet(12, -2.0)], {1: 11}),
    "equal distances: lowest id": ([request(1)], [cabinet(12, 2.0), cabinet(7, 2.0), cabinet(9, 2.0)], {1: 7}),
    "mirror positions tie too": ([request(1)], [cabinet(8, 2.0), cabinet(5, -2.0)], {1: 5}),
    "kind respected": (
        [request(1, kind=0), request(2, kind=1)],
        [cabinet(10, 1.0, kinds=SPEECH), cabinet(11, 2.0, kinds=GP)], {1: 11, 2: 10}),
    "a cabinet of both kinds serves both": (
        [request(1, kind=0), request(2, kind=1)], [cabinet(10, 1.0, kinds=GP | SPEECH, capacity=2)], {1: 10, 2: 10}),
    "cabinet radius respected": ([request(1)], [cabinet(10, 6.0, radius_km=5.0), cabinet(11, 8.0)], {1: 11}),
    "request's own maximum respected": ([request(1, max_km=5.0)], [cabinet(10, 6.0)], {1: "no_cabinet_in_range"}),
    "both radii: the smaller one counts": (
        [request(1, max_km=20.0)], [cabinet(10, 12.0, radius_km=10.0), cabinet(11, 15.0, radius_km=30.0)], {1: 11}),
    "household kept whole, never over capacity": (
        [request(1, people=4)], [cabinet(10, 1.0, capacity=3), cabinet(11, 5.0, capacity=4)], {1: 11}),
    "household too big for every cabinet": (
        [request(1, people=4)], [cabinet(10, 1.0, capacity=3)], {1: "all_in_range_full"}),
    "a household that does not fit does not block a smaller request behind it": (
        [request(1), request(2, people=3), request(3)], [cabinet(10, 1.0, capacity=2)],
        {1: 10, 2: "all_in_range_full", 3: 10}),
    "rank order: the first takes the last seat": (
        [request(2, 5.0), request(1, 0.0)], [cabinet(10, 1.0, capacity=1)], {2: 10, 1: "all_in_range_full"}),
    "the nearest full, the next one": (
        [request(1), request(2)], [cabinet(10, 1.0, capacity=1), cabinet(11, 4.0)], {1: 10, 2: 11}),
    "decliner skipped": ([request(1, declined=(11,))], [cabinet(11, 1.0), cabinet(10, 3.0)], {1: 10}),
    "no cabinet in range": ([request(1)], [cabinet(10, 40.0)], {1: "no_cabinet_in_range"}),
    "no cabinet of the kind": ([request(1, kind=1)], [cabinet(10, 1.0, kinds=GP)], {1: "no_cabinet_in_range"}),
    "all in range full": ([request(1), request(2)], [cabinet(10, 1.0, capacity=1)], {1: 10, 2: "all_in_range_full"}),
    "no capacity this round is full": ([request(1)], [cabinet(10, 1.0, capacity=0)], {1: "all_in_range_full"}),
    "all in range declined": (
        [request(1, declined=(10, 11))], [cabinet(10, 1.0), cabinet(11, 2.0), cabinet(12, 40.0)],
        {1: "all_in_range_declined"}),
    "partly declined, partly full: full": (
        [request(1), request(2, declined=(11,))], [cabinet(10, 1.0, capacity=1), cabinet(11, 2.0)],
        {1: 10, 2: "all_in_range_full"}),
    "declined out of range does not count": (
        [request(1, declined=(12,))], [cabinet(10, 1.0, capacity=0), cabinet(12, 40.0)], {1: "all_in_range_full"}),
}


@pytest.mark.parametrize(("requests", "cabinets", "expected"), CASES.values(), ids=CASES.keys())
def test_reference_rule(requests, cabinets, expected):
    built = build(requests, cabinets)
    result = match_greedy(*built)
    assert outcome(result) == expected
    check(*built, *_rows(built, result), Space(*built))


@pytest.mark.parametrize(("requests", "cabinets", "expected"), CASES.values(), ids=CASES.keys())
def test_optimal_keeps_every_rule_and_explains_the_same_way(requests, cabinets, expected):
    built = build(requests, cabinets)
    result = match_optimal(*built)
    check(*built, *_rows(built, result), Space(*built))
    assert result.unmatched_reasons == brute_force_reasons(*built, result.unmatched_ids.tolist())
    assert result.request_ids.size >= sum(not isinstance(v, str) for v in expected.values())


def test_optimal_moves_a_request_to_serve_one_more():
    # Greedy seats 1 at its nearest and leaves 2, who declined the other cabinet; the optimiser serves both.
    built = build([request(1), request(2, declined=(11,))], [cabinet(10, 1.0, capacity=1), cabinet(11, 2.0)])
    assert outcome(match_greedy(*built)) == {1: 10, 2: "all_in_range_full"}
    assert outcome(match_optimal(*built)) == {1: 11, 2: 10}


def test_exactly_at_the_radius_is_in_range():
    requests, cabinets = build([request(1)], [cabinet(10, 7.0)])
    exact = float(haversine_km(requests.lat[0], requests.lon[0], cabinets.lat[0], cabinets.lon[0]))
    at_radius = Cabinets(ids=cabinets.ids, lat=cabinets.lat, lon=cabinets.lon, kinds=cabinets.kinds,
                         radius_km=[exact], capacity=cabinets.capacity)
    assert outcome(match_greedy(requests, at_radius)) == {1: 10}
    nearly = Cabinets(ids=cabinets.ids, lat=cabinets.lat, lon=cabinets.lon, kinds=cabinets.kinds,
                      radius_km=[np.nextafter(exact, 0)], capacity=cabinets.capacity)
    assert outcome(match_greedy(requests, nearly)) == {1: "no_cabinet_in_range"}


def test_distances_are_haversine_km_and_pairs_come_in_rank_order():
    requests, cabinets = build([request(3, 2.0), request(1, 0.0), request(2, 1.0)], [cabinet(10, 5.0)])
    result = match_greedy(requests, cabinets)
    assert result.request_ids.tolist() == [3, 1, 2]
    expected = haversine_km(requests.lat, requests.lon, cabinets.lat[0], cabinets.lon[0])
    assert result.distance_km.tolist() == expected.tolist()
    assert {k: v.tolist() for k, v in result.batches().items()} == {10: [3, 1, 2]}


def test_rank_by_priority_most_points_first_then_lowest_id():
    assert rank_by_priority([10, 50, 10, 50], [4, 9, 2, 3]).tolist() == [3, 1, 2, 0]


def test_equal_ranks_are_served_by_id():
    requests, cabinets = build([request(5), request(2)], [cabinet(10, 1.0, capacity=1)])
    tied = Requests(ids=requests.ids, lat=requests.lat, lon=requests.lon, kind=requests.kind, people=requests.people,
                    rank=[0, 0], max_km=requests.max_km)
    assert rank_order(tied).tolist() == [1, 0]
    assert outcome(match_greedy(tied, cabinets)) == {2: 10, 5: "all_in_range_full"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ids": [1, 1]}, "duplicate id"),
        ({"lat": [91.0, 45.0]}, "not a position"),
        ({"kind": [0, 2]}, "requests.kind"),
        ({"people": [0, 1]}, "requests.people"),
        ({"max_km": [float("nan"), 1.0]}, "requests.max_km"),
        ({"people": [1.5, 1]}, "requests.people"),
        ({"rank": [0]}, "requests.rank"),
    ],
)
def test_bad_requests_are_refused(change, message):
    columns = {"ids": [1, 2], "lat": [45.0, 45.1], "lon": [5.0, 5.0], "kind": [0, 1], "people": [1, 2],
               "rank": [0, 1], "max_km": [10.0, 10.0]}
    with pytest.raises(ValueError, match=message):
        Requests(**columns | change)


# Few candidates and tiny batches force every slow path (the wider look, the tree rebuilds, the grid).
@pytest.mark.parametrize(("k", "share"), [(1, 0.001), (2, 0.01), (8, 0.125)])
def test_france_wide_round_equals_the_brute_force_rule(k, share):
    requests, cabinets, _ = synthetic_round(1500, 120, seed=5)
    result = match_greedy(requests, cabinets, k=k, share=share)
    assert list(zip(result.request_ids.tolist(), result.cabinet_ids.tolist(), strict=True)) == brute_force_greedy(
        requests, cabinets)
    assert result.unmatched_reasons == brute_force_reasons(requests, cabinets, result.unmatched_ids.tolist())
    assert set(result.unmatched_reasons) == {"no_cabinet_in_range", "all_in_range_full", "all_in_range_declined"}


def test_same_assignment_as_a_loop_over_geopy_great_circle():
    from geopy.distance import great_circle

    requests, cabinets, _ = synthetic_round(400, 40, seed=9)
    remaining = cabinets.capacity.astype(int).tolist()
    expected = []
    for r in rank_order(requests).tolist():
        best = None
        for c in range(len(cabinets)):
            km = great_circle((requests.lat[r], requests.lon[r]), (cabinets.lat[c], cabinets.lon[c])).km
            ok = (cabinets.kinds[c] >> requests.kind[r]) & 1 and km <= min(cabinets.radius_km[c], requests.max_km[r])
            ok = ok and remaining[c] >= requests.people[r]
            ok = ok and int(cabinets.ids[c]) not in requests.declined.get(int(requests.ids[r]), ())
            if ok and (best is None or (km, cabinets.ids[c]) < best[0]):
                best = ((km, cabinets.ids[c]), c)
        if best is not None:
            remaining[best[1]] -= int(requests.people[r])
            expected.append((int(requests.ids[r]), int(cabinets.ids[best[1]])))
    result = match_greedy(requests, cabinets)
    assert list(zip(result.request_ids.tolist(), result.cabinet_ids.tolist(), strict=True)) == expected


def brute_force_greedy(requests: Requests, cabinets: Cabinets) -> list[tuple[int, int]]:
    """The rule as written, over every pair: (request id, cabinet id) in rank order."""
    remaining = cabinets.capacity.astype(int).tolist()
    matched = []
    for r in rank_order(requests).tolist():
        distance = haversine_km(requests.lat[r], requests.lon[r], cabinets.lat, cabinets.lon)
        refused = requests.declined.get(int(requests.ids[r]), frozenset())
        best = None
        for c in range(len(cabinets)):
            if ((int(cabinets.kinds[c]) >> int(requests.kind[r])) & 1
                    and distance[c] <= min(cabinets.radius_km[c], requests.max_km[r])
                    and remaining[c] >= requests.people[r] and int(cabinets.ids[c]) not in refused
                    and (best is None or (distance[c], cabinets.ids[c]) < (distance[best], cabinets.ids[best]))):
                best = c
        if best is not None:
            remaining[best] -= int(requests.people[r])
            matched.append((int(requests.ids[r]), int(cabinets.ids[best])))
    return matched


def brute_force_reasons(requests: Requests, cabinets: Cabinets, unmatched_ids: list[int]) -> list[str]:
    rows = {request_id: row for row, request_id in enumerate(requests.ids.tolist())}
    reasons = []
    for request_id in unmatched_ids:
        r = rows[request_id]
        distance = haversine_km(requests.lat[r], requests.lon[r], cabinets.lat, cabinets.lon)
        in_range = {int(cabinets.ids[c]) for c in range(len(cabinets))
                    if (int(cabinets.kinds[c]) >> int(requests.kind[r])) & 1
                    and distance[c] <= min(cabinets.radius_km[c], requests.max_km[r])}
        refused = requests.declined.get(request_id, frozenset())
        reasons.append("no_cabinet_in_range" if not in_range
                       else "all_in_range_declined" if in_range <= refused else "all_in_range_full")
    return reasons


def _rows(built: tuple[Requests, Cabinets], result: Assignment) -> tuple[np.ndarray, np.ndarray]:
    requests, cabinets = built
    rows = np.array([requests.ids.tolist().index(i) for i in result.request_ids.tolist()], dtype=np.intp)
    cabs = np.array([cabinets.ids.tolist().index(i) for i in result.cabinet_ids.tolist()], dtype=np.intp)
    return rows, cabs
