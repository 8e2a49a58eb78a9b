"""Geography at scale: route 100,000 homes to 300 territories and geocode 100,000 postal codes, each in < 2 s.

Why: a matching round and a waiting-list import locate and route every home at once, and a region holds
hundreds of CPTS. Each timing is the median of a few repeats; each ratio is against a plain Python loop
measured in the same run (on a sample, extrapolated), so ratios compare across machines where seconds do not.
The routing loop tests the same polygons, prepared by the index, so its ratio measures the spatial index and
the vectorisation alone.
Run: ``.venv/bin/python benchmarks/bench_geography.py``.
"""

import statistics
import time
from collections.abc import Callable

import numpy as np
import shapely

from lac_service.geography.gazetteer import known_postal_codes, locate, locate_many
from lac_service.geography.territories import Territory, TerritoryIndex

SEED = 20261122
POINTS = 100_000
TERRITORIES = 300
REPEATS = 5
LOOP_SAMPLE = 1_000
GOAL_SECONDS = 2.0
METROPOLE = (-4.8, 42.3, 8.2, 51.1)  # west, south, east, north
# Real CPTS borders follow communes: a vertex every ~1 km gives each synthetic cell a few hundred.
VERTEX_SPACING_DEGREES = 0.01


def median_seconds(work: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def synthetic_territories(rng: np.random.Generator) -> dict[int, Territory]:
    """Voronoi cells of seeded points over metropolitan France: neighbours that touch and never overlap."""
    west, south, east, north = METROPOLE
    seeds = shapely.multipoints(
        np.column_stack([rng.uniform(west, east, TERRITORIES), rng.uniform(south, north, TERRITORIES)])
    )
    frame = shapely.box(*METROPOLE)
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame)), frame)
    cells = shapely.segmentize(cells, VERTEX_SPACING_DEGREES)
    return {org: Territory(geometry=cell) for org, cell in enumerate(cells, start=1)}


def report(name: str, seconds: float, baseline_seconds: float, baseline: str) -> None:
    verdict = "met" if seconds < GOAL_SECONDS else "NOT MET"
    print(f"{name}: median {seconds:.3f} s; {baseline}: {baseline_seconds:.2f} s (extrapolated), "
          f"ratio x{baseline_seconds / seconds:,.0f}; goal < {GOAL_SECONDS:.0f} s: {verdict}")


def bench_routing(rng: np.random.Generator) -> None:
    territories = synthetic_territories(rng)
    started = time.perf_counter()
    index = TerritoryIndex(territories)
    built = time.perf_counter() - started
    vertices = int(np.mean([shapely.get_num_coordinates(t.geometry) for t in territories.values()]))
    print(f"{len(territories)} territories, {vertices} vertices each on average; "
          f"index with overlap check built in {built:.3f} s")

    west, south, east, north = METROPOLE
    lats, lons = rng.uniform(south - 0.5, north + 0.5, POINTS), rng.uniform(west - 0.5, east + 0.5, POINTS)
    routed = index.route_many(lats, lons)
    seconds = median_seconds(lambda: index.route_many(lats, lons))

    sample = range(LOOP_SAMPLE)
    shapes = list(territories.items())

    def plain_loop() -> list[int]:
        found = []
        for i in sample:
            point = shapely.Point(lons[i], lats[i])
            found.append(next((org for org, t in shapes if shapely.contains(t.geometry, point)), -1))
        return found

    started = time.perf_counter()
    looped = plain_loop()
    loop_seconds = (time.perf_counter() - started) * POINTS / LOOP_SAMPLE
    assert looped == routed[:LOOP_SAMPLE].tolist(), "the index and the plain loop disagree"
    print(f"  {np.count_nonzero(routed == -1):,} of {POINTS:,} points fall outside every territory")
    report(f"route {POINTS:,} points", seconds, loop_seconds, "loop over shapely.contains")


def bench_geocoding(rng: np.random.Generator) -> None:
    started = time.perf_counter()
    codes = np.array(sorted(known_postal_codes()))
    print(f"gazetteer loaded in {time.perf_counter() - started:.3f} s ({codes.size:,} postal codes)")
    wanted = rng.choice(codes, POINTS)
    wanted[rng.choice(POINTS, POINTS // 100, replace=False)] = "00000"  # 1 % unknown codes
    seconds = median_seconds(lambda: locate_many(wanted))
    lat, _ = locate_many(wanted)
    print(f"  {np.count_nonzero(np.isnan(lat)):,} unknown codes located as NaN")

    started = time.perf_counter()
    for code in wanted[:LOOP_SAMPLE * 10]:
        if code != "00000":
            locate(code)
    loop_seconds = (time.perf_counter() - started) * POINTS / (LOOP_SAMPLE * 10)
    report(f"geocode {POINTS:,} postal codes", seconds, loop_seconds, "loop over locate()")


def main() -> None:
    rng = np.random.default_rng(SEED)
    bench_routing(rng)
    bench_geocoding(rng)


if __name__ == "__main__":
    main()
