"""Matching at scale, on seeded synthetic France-wide rounds (``lac_service.matching.synthetic``).

Goals (issue 5): at 10,000 requests × 1,000 cabinets, the greedy engine at least 100× faster than a naive greedy
looping over every (request, cabinet) pair with geopy's ``great_circle``, with the same assignment; at
1,000,000 × 20,000, at most 3 s of matching and at most 1 GiB peak memory; the optimiser serving at least
greedy's priority mass. Each time is a median of repeats; the naive loop is measured in the same run on the
first requests in rank order (greedy decides them first, so their assignment is final) and extrapolated per
request. Exit code 1 if a goal is missed. Run: ``.venv/bin/python benchmarks/bench_matching.py``.
"""

import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
from geopy.distance import great_circle

from lac_service.geography.distance import haversine_km
from lac_service.matching.engine import Assignment, Cabinets, Requests, match_greedy, rank_order
from lac_service.matching.optimal import match_optimal
from lac_service.matching.synthetic import synthetic_round

SEED = 20261122
NAIVE_SAMPLE = 500
GOAL_RATIO, GOAL_SECONDS, GOAL_BYTES = 100, 3.0, 1 << 30
missed: list[str] = []


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def verdict(ok: bool, goal: str) -> str:
    if not ok:
        missed.append(goal)
    return "met" if ok else "NOT MET"


def pairs(result: Assignment) -> list[tuple[int, int]]:
    return list(zip(result.request_ids.tolist(), result.cabinet_ids.tolist(), strict=True))


def naive_greedy(requests: Requests, cabinets: Cabinets, rows: list[int]) -> list[tuple[int, int]]:
    """The rule as anyone would first write it (skipping only other kinds' pairs, which flatters it)."""
    remaining = cabinets.capacity.astype(int).tolist()
    c_lat, c_lon, c_ids = cabinets.lat.tolist(), cabinets.lon.tolist(), cabinets.ids.tolist()
    kinds, radius = cabinets.kinds.tolist(), cabinets.radius_km.tolist()
    matched = []
    for r in rows:
        home, bit, need = (requests.lat[r], requests.lon[r]), 1 << int(requests.kind[r]), int(requests.people[r])
        limit, refused = float(requests.max_km[r]), requests.declined.get(int(requests.ids[r]), frozenset())
        best = None
        for c in range(len(c_ids)):
            if not kinds[c] & bit:
                continue
            km = great_circle(home, (c_lat[c], c_lon[c])).km
            if km <= min(radius[c], limit) and remaining[c] >= need and c_ids[c] not in refused:
                if best is None or (km, c_ids[c]) < best[0]:
                    best = ((km, c_ids[c]), c)
        if best is not None:
            remaining[best[1]] -= need
            matched.append((int(requests.ids[r]), c_ids[best[1]]))
    return matched


def reference_greedy(requests: Requests, cabinets: Cabinets) -> list[tuple[int, int]]:
    """The rule over every pair again, vectorised per request: the full assignment to compare with."""
    remaining = cabinets.capacity.astype(np.int64)
    bits = cabinets.kinds.astype(np.int64)
    matched = []
    for r in rank_order(requests).tolist():
        km = haversine_km(requests.lat[r], requests.lon[r], cabinets.lat, cabinets.lon)
        ok = ((bits >> int(requests.kind[r])) & 1).astype(bool)
        ok &= km <= np.minimum(cabinets.radius_km, requests.max_km[r])
        ok &= remaining >= requests.people[r]
        ok &= ~np.isin(cabinets.ids, list(requests.declined.get(int(requests.ids[r]), ())))
        if ok.any():
            best = np.flatnonzero(ok)[np.lexsort((cabinets.ids[ok], km[ok]))[0]]
            remaining[best] -= requests.people[r]
            matched.append((int(requests.ids[r]), int(cabinets.ids[best])))
    return matched


def bench_against_naive() -> None:
    requests, cabinets, _ = synthetic_round(10_000, 1_000, SEED)
    result = match_greedy(requests, cabinets)
    seconds = median_seconds(lambda: match_greedy(requests, cabinets), 7)
    sample = rank_order(requests)[:NAIVE_SAMPLE].tolist()
    started = time.perf_counter()
    naive = naive_greedy(requests, cabinets, sample)
    naive_seconds = (time.perf_counter() - started) * len(requests) / NAIVE_SAMPLE
    decided = set(requests.ids[sample].tolist())
    same_prefix = naive == [p for p in pairs(result) if p[0] in decided]
    same_all = pairs(result) == reference_greedy(requests, cabinets)
    ratio = naive_seconds / seconds
    print(f"10,000 requests x 1,000 cabinets: engine median {seconds * 1000:.1f} ms; naive geopy greedy "
          f"{naive_seconds:.1f} s (first {NAIVE_SAMPLE} in rank order, extrapolated): ratio x{ratio:,.0f}; "
          f"goal >= x{GOAL_RATIO}: {verdict(ratio >= GOAL_RATIO, 'ratio against naive')}")
    print(f"  {result.request_ids.size:,} matched; same assignment as the naive loop on its {NAIVE_SAMPLE}: "
          f"{verdict(same_prefix, 'same as naive')}; as the vectorised reference on all 10,000: "
          f"{verdict(same_all, 'same as reference')}")


def bench_region() -> None:
    started = time.perf_counter()
    requests, cabinets, _ = synthetic_round(1_000_000, 20_000, SEED)
    print(f"1,000,000 requests x 20,000 cabinets ({int(cabinets.capacity.sum()):,} seats, "
          f"{int(requests.people.sum()):,} people) generated in {time.perf_counter() - started:.1f} s")
    result = match_greedy(requests, cabinets)
    seconds = median_seconds(lambda: match_greedy(requests, cabinets), 3)
    other = match_greedy(requests, cabinets, k=3, share=0.03)
    reasons = dict(zip(*np.unique(result.unmatched_reasons, return_counts=True), strict=True))
    print(f"  engine median {seconds:.2f} s; goal <= {GOAL_SECONDS:.0f} s: "
          f"{verdict(seconds <= GOAL_SECONDS, '1M time')}; {result.request_ids.size:,} matched; unmatched: "
          + ", ".join(f"{k} {v:,}" for k, v in reasons.items()))
    same = pairs(other) == pairs(result) and other.unmatched_reasons == result.unmatched_reasons
    print(f"  same result with other speed settings (k=3, smaller batches): {verdict(same, '1M stable')}")
    measured = subprocess.run([sys.executable, __file__, "--memory"], capture_output=True, text=True, check=True)
    peak_rss, before_rss, traced = (int(v) for v in measured.stdout.split())
    print(f"  peak memory (a fresh process that builds the round and matches it): RSS {peak_rss / 2**20:,.0f} MiB "
          f"(ru_maxrss; {before_rss / 2**20:,.0f} MiB held before matching), numpy and Python allocations during "
          f"matching {traced / 2**20:,.0f} MiB (tracemalloc peak); goal <= 1 GiB: "
          f"{verdict(peak_rss <= GOAL_BYTES, '1M memory')}")


def memory_probe() -> None:
    """Run in a subprocess, so that its peak RSS is the round's alone."""
    import tracemalloc

    requests, cabinets, _ = synthetic_round(1_000_000, 20_000, SEED)
    with open("/proc/self/statm") as statm:
        before = int(statm.read().split()[1]) * resource.getpagesize()
    tracemalloc.start()
    match_greedy(requests, cabinets)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, before, traced)


def bench_optimal() -> None:
    requests, cabinets, _ = synthetic_round(10_000, 1_000, SEED + 1)
    position = np.empty(len(requests), dtype=np.int64)
    position[rank_order(requests)] = np.arange(len(requests))
    row = {request_id: r for r, request_id in enumerate(requests.ids.tolist())}
    print(f"optimiser vs greedy, 10,000 requests x 1,000 cabinets ({int(cabinets.capacity.sum()):,} seats, "
          f"{int(requests.people.sum()):,} people):")
    figures = {}
    for name, engine in (("greedy", match_greedy), ("optimal", match_optimal)):
        started = time.perf_counter()
        result = engine(requests, cabinets)
        seconds = time.perf_counter() - started
        rows = np.array([row[i] for i in result.request_ids.tolist()], dtype=np.intp)
        mass = float((requests.people[rows] * (len(requests) - position[rows])).sum()) / len(requests)
        figures[name] = mass, int(requests.people[rows].sum()), result.distance_km
        trips = result.distance_km
        print(f"  {name:8} {seconds:6.2f} s: priority mass {mass:,.1f}, {rows.size:,} requests and "
              f"{figures[name][1]:,} people served, trip mean {trips.mean():.2f} km, 90th percentile "
              f"{np.percentile(trips, 90):.2f} km, total {trips.sum():,.0f} km")
    (g_mass, g_people, _), (o_mass, o_people, _) = figures["greedy"], figures["optimal"]
    print(f"  optimal/greedy: mass x{o_mass / g_mass:.4f}, people {o_people - g_people:+,}; goal mass >= greedy's: "
          f"{verdict(o_mass >= g_mass, 'optimal mass')}")


def main() -> None:
    if sys.argv[1:] == ["--memory"]:
        memory_probe()
        return
    started = time.perf_counter()
    bench_against_naive()
    bench_region()
    bench_optimal()
    outcome = f"MISSED: {', '.join(missed)}" if missed else "every goal met"
    print(f"bench_matching: {time.perf_counter() - started:.0f} s; {outcome}")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
