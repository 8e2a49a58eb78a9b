"""Re-scoring a whole queue must stay cheap: a policy change re-scores every waiting request, and the
time-waited points change daily. Goal: 1,000,000 requests scored in at most 1 s with ``score_many``.

The baseline is ``score()`` called one request at a time in a Python loop, measured in the same run on a sample
and extrapolated per request, so the ratio does not depend on the machine. Run:
``.venv/bin/python benchmarks/bench_priority.py``.
"""

import statistics
import time
from datetime import UTC, date, datetime

import numpy as np

from lac_service.priority import PriorityInput, default_policy, rank_order, score, score_many

ROWS = 1_000_000
LOOP_SAMPLE = 20_000
REPEATS = 7
GOAL_SECONDS = 1.0
NOW = datetime(2025, 6, 15, 9, 30, tzinfo=UTC)


def synthetic_queue(rows: int, seed: int = 20250615) -> dict[str, np.ndarray]:
    """Rough field proportions: a quarter with an ALD, a few pregnancies and urgencies, up to three years waited."""
    rng = np.random.default_rng(seed)
    today = np.datetime64(NOW.date(), "D")
    now_us = np.datetime64(NOW.replace(tzinfo=None), "us")
    youngest = today - rng.integers(0, 18 * 365, rows).astype("m8[D]")
    return {
        "birth_dates": today - rng.integers(0, 100 * 365, rows).astype("m8[D]"),
        "ald": rng.random(rows) < 0.25,
        "pregnant": rng.random(rows) < 0.03,
        "urgent": rng.random(rows) < 0.05,
        "youngest_household_birth_dates": np.where(rng.random(rows) < 0.3, youngest, np.datetime64("NaT", "D")),
        "waiting_since": now_us - rng.integers(0, 3 * 365 * 86_400_000_000, rows).astype("m8[us]"),
    }


def as_inputs(queue: dict[str, np.ndarray], rows: int) -> list[PriorityInput]:
    def day(value: np.datetime64) -> date:
        return value.astype("M8[D]").astype(date)

    return [
        PriorityInput(
            kind="medecin_traitant",
            birth_date=day(queue["birth_dates"][i]),
            ald=bool(queue["ald"][i]),
            pregnant=bool(queue["pregnant"][i]),
            urgent=bool(queue["urgent"][i]),
            household_birth_dates=()
            if np.isnat(queue["youngest_household_birth_dates"][i])
            else (day(queue["youngest_household_birth_dates"][i]),),
            waiting_since=queue["waiting_since"][i].astype(datetime).replace(tzinfo=UTC),
        )
        for i in range(rows)
    ]


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    policy = default_policy("medecin_traitant")
    queue = synthetic_queue(ROWS)
    score_many(policy, NOW, **queue)  # warm-up: first-call costs are not what a daily job pays
    vector_runs = [timed(lambda: score_many(policy, NOW, **queue)) for _ in range(REPEATS)]
    vector_median = statistics.median(seconds for seconds, _ in vector_runs)
    points = vector_runs[0][1]

    sample = as_inputs(queue, LOOP_SAMPLE)
    loop_runs = [timed(lambda: [score(s, policy, NOW).points for s in sample]) for _ in range(3)]
    loop_median = statistics.median(seconds for seconds, _ in loop_runs) / LOOP_SAMPLE * ROWS
    if loop_runs[0][1] != points[:LOOP_SAMPLE].tolist():
        raise SystemExit("score_many and score disagree on the sample")

    rank_seconds, _ = timed(lambda: rank_order(points, queue["waiting_since"], np.arange(ROWS)))
    print(f"score_many, {ROWS:,} requests: median {vector_median:.3f} s over {REPEATS} runs")
    print(f"score() in a Python loop: {loop_median:.1f} s for {ROWS:,} (extrapolated from {LOOP_SAMPLE:,})")
    print(f"ratio: score_many is {loop_median / vector_median:,.0f}x faster")
    print(f"rank_order, {ROWS:,} requests: {rank_seconds:.3f} s (for information)")
    met = vector_median <= GOAL_SECONDS
    print(f"goal (<= {GOAL_SECONDS:.0f} s for {ROWS:,}): {'met' if met else 'NOT met'}")
    raise SystemExit(0 if met else 1)


if __name__ == "__main__":
    main()
