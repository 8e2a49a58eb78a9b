"""The matching engine: pure columnar inputs in, batches and unmatched reasons out — no database, no HTTP.

The reference rule (issue 5, SPEC §3) is greedy: requests in rank order each take the *nearest* feasible
cabinet that still has room for all its people (a household is never split); feasible = same kind, distance
≤ both the cabinet's radius and the request's own maximum, cabinet not among those that declined it; equal
distances go to the lowest cabinet id. Distances are ``haversine_km`` (geopy's great circle), the one metric.

Why it is fast (1,000,000 requests × 20,000 cabinets in ~2 s): capacity is far smaller than demand, so most
requests only meet full cabinets. A grid of the cells that some open cabinet can still reach drops them in one
vectorised lookup; the others, in rank order and in batches, get their k nearest open cabinets in bulk from a
k-d tree, and a short Python loop applies the rule, asking the tree for a wider ball only when all k are full.
Distances inside ``DELTA_KM`` of a tie or a radius are recomputed with ``haversine_km``, so the assignment is
the reference rule's to the last bit, not an approximation of it (``space`` explains).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lac_service.matching.space import Coverage, KindIndex, Space, in_range

REASONS = ("no_cabinet_in_range", "all_in_range_full", "all_in_range_declined")
"""Unmatched reason codes, by index. A request with cabinets in range, some of which declined it and all the
others had no room for its people, is ``all_in_range_full``: capacity, not refusal, is what a coordinator can
act on. A cabinet with no capacity this round counts as in range and full."""
NO_CABINET_IN_RANGE, ALL_IN_RANGE_FULL, ALL_IN_RANGE_DECLINED = range(3)
GP, SPEECH_THERAPY = 0, 1  # request kinds; a cabinet's bit for kind k is 1 << k


def _columns(table: object, spec: dict[str, type]) -> None:
    """Coerces a table's columns to their dtypes (refusing values that do not fit) and checks what every
    table shares: equal lengths, unique ids, real coordinates."""
    name = type(table).__name__.lower()
    size = np.asarray(table.ids).shape[0] if np.ndim(table.ids) == 1 else -1
    for column, dtype in spec.items():
        array = np.asarray(getattr(table, column))
        converted = array.astype(dtype)
        if array.shape != (size,) or not np.array_equal(converted, array, equal_nan=True):
            raise ValueError(f"{name}.{column}: expected {size} values of type {np.dtype(dtype).name}")
        object.__setattr__(table, column, converted)
    _check(np.unique(table.ids).size == size, f"{name}.ids: duplicate id")
    _check((np.abs(table.lat) <= 90) & (np.abs(table.lon) <= 180), f"{name}.lat/lon: not a position")


def _check(ok: np.ndarray | bool, message: str) -> None:
    if not np.all(ok):
        raise ValueError(message)


@dataclass(frozen=True, eq=False)
class Requests:
    """Waiting requests, one row each; ``rank`` 0 is served first (ties broken by id)."""

    ids: NDArray[np.int64]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    kind: NDArray[np.int8]
    people: NDArray[np.int32]
    rank: NDArray[np.int64]
    max_km: NDArray[np.float64]
    declined: Mapping[int, frozenset[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _columns(self, {"ids": np.int64, "lat": np.float64, "lon": np.float64, "kind": np.int8, "people": np.int32,
                        "rank": np.int64, "max_km": np.float64})
        _check((self.kind == GP) | (self.kind == SPEECH_THERAPY), "requests.kind: 0 or 1 expected")
        _check(self.people >= 1, "requests.people: at least one person per request")
        _check(np.isfinite(self.max_km) & (self.max_km >= 0), "requests.max_km: a distance >= 0 expected")

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, eq=False)
class Cabinets:
    """Due cabinets: ``kinds`` is a bitmask (bit 0 GP, bit 1 speech therapy), ``capacity`` counts people."""

    ids: NDArray[np.int64]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    kinds: NDArray[np.uint8]
    radius_km: NDArray[np.float64]
    capacity: NDArray[np.int32]

    def __post_init__(self) -> None:
        _columns(self, {"ids": np.int64, "lat": np.float64, "lon": np.float64, "kinds": np.uint8,
                        "radius_km": np.float64, "capacity": np.int32})
        _check(np.isfinite(self.radius_km) & (self.radius_km >= 0), "cabinets.radius_km: a distance >= 0 expected")
        _check(self.capacity >= 0, "cabinets.capacity: people >= 0 expected")

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, eq=False)
class Assignment:
    """Matched pairs in rank order, then every unmatched request (rank order) with a code into ``REASONS``."""

    request_ids: NDArray[np.int64]
    cabinet_ids: NDArray[np.int64]
    distance_km: NDArray[np.float64]
    unmatched_ids: NDArray[np.int64]
    unmatched_codes: NDArray[np.int8]

    @property
    def unmatched_reasons(self) -> list[str]:
        return [REASONS[code] for code in self.unmatched_codes.tolist()]

    def batches(self) -> dict[int, NDArray[np.int64]]:
        """Cabinet id → the request ids offered to it, in rank order."""
        order = np.argsort(self.cabinet_ids, kind="stable")
        cabinets, starts = np.unique(self.cabinet_ids[order], return_index=True)
        return dict(zip(cabinets.tolist(), np.split(self.request_ids[order], starts[1:]), strict=False))


def rank_by_priority(priority: ArrayLike, ids: ArrayLike) -> NDArray[np.int64]:
    """Rank 0 for the most priority points; equal points are served by ascending id (the order is total)."""
    order = np.lexsort((np.asarray(ids, dtype=np.int64), -np.asarray(priority, dtype=np.int64)))
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return rank


def rank_order(requests: Requests) -> NDArray[np.intp]:
    """Row positions in serving order: rank, then id (O(n) when the ranks are 0..n-1, as they usually are)."""
    n, rank = len(requests), requests.rank
    if n and rank.min() == 0 and rank.max() == n - 1:
        order = np.full(n, -1, dtype=np.intp)
        order[rank] = np.arange(n)
        if order.min() >= 0:
            return order
    return np.lexsort((requests.ids, rank))


def unmatched_codes(space: Space, positions: NDArray[np.intp]) -> NDArray[np.int8]:
    """Why each of these requests got no seat; depends only on geography and refusals, not on who took the
    seats, so both engines explain the same way (a request that declined nothing is never ``declined``)."""
    codes = np.where(in_range(space, positions), ALL_IN_RANGE_FULL, NO_CABINET_IN_RANGE).astype(np.int8)
    declined, ids = space.declined, space.requests.ids
    refusers = np.flatnonzero(np.isin(ids[positions], np.fromiter(declined, np.int64, len(declined))))
    refusers = refusers[codes[refusers] == ALL_IN_RANGE_FULL]
    if not refusers.size:
        return codes
    # One more neighbour than the largest refusal: if they are all refusals, none is left beyond them.
    k = 1 + max(len(declined[int(i)]) for i in ids[positions[refusers]].tolist())
    flat, counts, truncated = space.everything.nearest_feasible(positions[refusers], k)
    flat, ends, cabinet_ids = flat.tolist(), np.cumsum(counts).tolist(), space.cabinets.ids.tolist()
    for s, at in enumerate(refusers.tolist()):
        refused = declined[int(ids[positions[at]])]
        if all(cabinet_ids[c] in refused for c in flat[ends[s] - counts[s]:ends[s]]):
            if truncated[s]:
                flat_s = space.everything.feasible_around(int(positions[at]))[0].tolist()
                if not all(cabinet_ids[c] in refused for c in flat_s):
                    continue
            codes[at] = ALL_IN_RANGE_DECLINED
    return codes


def assignment(space: Space, order: NDArray[np.intp], served: NDArray[np.intp],
               cabinets: NDArray[np.intp]) -> Assignment:
    """Packs matched row positions (any order) into an ``Assignment`` in rank ``order``, with exact distances."""
    requests = space.requests
    position_rank = np.empty(len(requests), dtype=np.int64)
    position_rank[order] = np.arange(len(requests))
    by_rank = np.argsort(position_rank[served], kind="stable")
    served, cabinets = served[by_rank], cabinets[by_rank]
    matched = np.zeros(len(requests), dtype=bool)
    matched[served] = True
    unmatched = order[~matched[order]]
    return Assignment(
        request_ids=requests.ids[served], cabinet_ids=space.cabinets.ids[cabinets],
        distance_km=np.asarray(space.distance(served, cabinets), dtype=np.float64),
        unmatched_ids=requests.ids[unmatched], unmatched_codes=unmatched_codes(space, unmatched),
    )


def match_greedy(requests: Requests, cabinets: Cabinets, *, k: int = 8, share: float = 0.125,
                 keep: float = 0.9) -> Assignment:
    """The reference rule (module docstring). ``k``, ``share`` and ``keep`` tune speed only, never the result.

    Requests that the coverage grid says some open cabinet may reach are served in batches of about ``share``
    of the seats still open, so that few of a batch's k candidates fill up before its last request (each one
    that does costs a slow wider look); the trees are rebuilt once less than ``keep`` of their cabinets is open.
    """
    space = Space(requests, cabinets)
    walk = _Walk(space, cabinets.capacity.astype(np.int64).tolist())
    open_ = cabinets.capacity > 0
    coverage, index = Coverage(space, open_), KindIndex(space, open_)
    order = rank_order(requests)
    seats, scanned = int(cabinets.capacity.sum()), 0
    pending = order[:0]
    while seats > 0 and (pending.size or scanned < order.size):
        batch_size = int(np.clip(seats * share, 256, 65536))
        while pending.size < batch_size and scanned < order.size:
            chunk = order[scanned:scanned + 65536]
            scanned += chunk.size
            pending = np.concatenate([pending, chunk[coverage.reachable(chunk)]])
        walk.serve(index, pending[:batch_size], k)
        remaining = np.asarray(walk.remaining)
        coverage.close(np.flatnonzero(open_ & (remaining == 0)))
        open_, seats = remaining > 0, int(remaining.sum())
        index.refresh(open_, keep)
        pending = pending[batch_size:]
        pending = pending[coverage.reachable(pending)]
    return assignment(space, order, np.asarray(walk.served, dtype=np.intp), np.asarray(walk.taken, dtype=np.intp))


class _Walk:
    """The sequential part of the rule, over plain Python lists (faster than numpy one element at a time)."""

    def __init__(self, space: Space, remaining: list[int]) -> None:
        self.space, self.remaining = space, remaining
        self.people = space.requests.people.tolist()
        self.cabinet_ids = space.cabinets.ids.tolist()
        self.refusers = np.sort(np.fromiter(space.declined, np.int64, len(space.declined)))
        self.served: list[int] = []
        self.taken: list[int] = []

    def serve(self, index: KindIndex, rows: NDArray[np.intp], k: int) -> None:
        """Applies the rule to ``rows`` (rank order) with each one's nearest open cabinets, exactly ordered."""
        flat, counts, truncated = self._candidates(index, rows, k)
        flat, ends, truncated = flat.tolist(), np.cumsum(counts).tolist(), truncated.tolist()
        remaining, people, cabinet_ids, declined = self.remaining, self.people, self.cabinet_ids, self.space.declined
        ids = self.space.requests.ids[rows]
        at = np.minimum(np.searchsorted(self.refusers, ids), max(self.refusers.size - 1, 0))
        refusing = (self.refusers[at] == ids).tolist() if self.refusers.size else [False] * rows.size
        ids, begin = ids.tolist(), 0
        for s, row in enumerate(rows.tolist()):
            need, end = people[row], ends[s]
            refused = declined[ids[s]] if refusing[s] else None
            for j in range(begin, end):
                cabinet = flat[j]
                if remaining[cabinet] >= need and (refused is None or cabinet_ids[cabinet] not in refused):
                    break
            else:
                cabinet = self._wider(index, row, need, refused or frozenset()) if truncated[s] else -1
            begin = end
            if cabinet >= 0:
                remaining[cabinet] -= need
                self.served.append(row)
                self.taken.append(cabinet)

    def _candidates(self, index: KindIndex, rows: NDArray[np.intp], k: int) -> tuple[NDArray, NDArray, NDArray]:
        """The k nearest feasible cabinets still open; 4k for a row whose k hold few seats for its people, as
        those are the rows whose list would run dry before their turn (and need the slow wider look)."""
        remaining = np.asarray(self.remaining)
        flat, counts, truncated = index.nearest_feasible(rows, k)
        owner = np.repeat(np.arange(rows.size), counts)
        seats = np.bincount(owner, weights=remaining[flat], minlength=rows.size)
        hot = np.flatnonzero(truncated & (seats < 4 * self.space.requests.people[rows]))
        if hot.size:
            deep, deep_counts, truncated[hot] = index.nearest_feasible(rows[hot], 4 * k)
            is_hot = np.zeros(rows.size, dtype=bool)
            is_hot[hot] = True
            cold = ~is_hot[owner]
            owner = np.concatenate([owner[cold], np.repeat(hot, deep_counts)])
            flat = np.concatenate([flat[cold], deep])
            by_row = np.argsort(owner, kind="stable")
            owner, flat = owner[by_row], flat[by_row]
        open_ = remaining[flat] > 0
        return flat[open_], np.bincount(owner[open_], minlength=rows.size), truncated

    def _wider(self, index: KindIndex, row: int, need: int, refused: frozenset[int]) -> int:
        """The rule on every open cabinet within the request's reach: the slow path when all k nearest are full."""
        cabinets, distances = index.feasible_around(row)
        for cabinet in cabinets[np.lexsort((self.space.cabinets.ids[cabinets], distances))].tolist():
            if self.remaining[cabinet] >= need and self.cabinet_ids[cabinet] not in refused:
                return int(cabinet)
        return -1


def __getattr__(name: str) -> object:
    """``engine.match_optimal``: the optimiser lives in ``optimal`` (which builds on this module)."""
    if name == "match_optimal":
        from lac_service.matching.optimal import match_optimal  # noqa: PLC0415 (import cycle)

        return match_optimal
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
