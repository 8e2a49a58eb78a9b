"""The optimising engine: more priority served, then shorter trips, than the greedy reference — measured.

What it optimises, in this order (lexicographically):

1. **Priority mass** = Σ over served requests of ``people × (n − position) / n``, where ``position`` is the
   request's place in rank order (0 = first) among the ``n`` of the round: each seat counts for whom it
   serves, from 1 for the top-ranked request's people down to 1/n for the last. With single-person requests
   the best set for this mass is the best for *every* weight decreasing with rank (the feasible sets form a
   transversal matroid), so "more mass" means "higher-ranked people served", not a trade-off of our choosing.
2. **Total trip** (sum of great-circle distances) for that set of served requests — with single-person
   requests the set of maximal mass is unique, so this is the shortest trip among all solutions of maximal mass.

How: the feasibility graph (request–cabinet pairs of the same kind, within both radii, not declined) splits
into independent components — towns far apart share no cabinet. Each component is a 0-1 program (a seat
capacity per cabinet, at most one cabinet per request, households whole) solved by HiGHS through
``scipy.optimize.milp``: first the maximal mass (proven optimal unless ``time_limit`` stops the solver), then
the minimal trip serving that same set (within ``TRIP_GAP``). Small components are packed into problems of up
to ``max_pairs`` pairs. To keep them tractable, each request considers its ``candidates`` nearest feasible
cabinets plus the one greedy gave it, so the optimum is over that candidate set. Sized for a territory or a
region of some ten thousand requests (~20 s for 10,000 × 1,000 here); for a larger round, use greedy.

Guarantees: every constraint holds (checked before returning); in every component, hence in total, the mass
served is at least greedy's, and when it is equal the total trip is at most greedy's. A component above
``max_pairs`` pairs, or one the solver does not finish within ``time_limit`` seconds with a solution as good as
greedy's, keeps greedy's answer improved by local moves that never lower the mass: serve a waiting request by
moving a served one to another cabinet with room, then move people to nearer cabinets with room.
Not guaranteed: greedy's order property (a lower-ranked request may take a seat a higher-ranked one could have
had, when that serves more mass), nor a shorter *mean* trip when more people are served; no optimality beyond
each request's candidate set or for components that fell back.
"""

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from lac_service.matching.engine import Assignment, Cabinets, Requests, assignment, match_greedy, rank_order
from lac_service.matching.space import Space

TRIP_GAP = 1e-3  # stage 2 may stop within 0.1 % of the shortest total trip: a few metres a trip


def match_optimal(requests: Requests, cabinets: Cabinets, *, candidates: int = 16, max_pairs: int = 20_000,
                  time_limit: float = 10.0) -> Assignment:
    """Maximal priority mass, then minimal total trip (module docstring); never worse than ``match_greedy``."""
    space, order = Space(requests, cabinets), rank_order(requests)
    greedy = match_greedy(requests, cabinets)
    n, m = len(requests), len(cabinets)
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    weight = requests.people.astype(np.int64) * (n - position)  # the mass, times n: integers, exact
    row_of = _rows_by_id(requests.ids, greedy.request_ids)
    greedy_cab = np.full(n, -1, dtype=np.intp)
    greedy_cab[row_of] = _rows_by_id(cabinets.ids, greedy.cabinet_ids)
    rows, cabs = _pairs(space, candidates, greedy_cab)
    dist = space.distance(rows, cabs)
    graph = coo_array((np.ones(rows.size), (rows, n + cabs)), shape=(n + m, n + m))
    label = connected_components(graph, directed=False)[1][rows]
    by_component = np.argsort(label, kind="stable")
    served, taken = [], []
    for part in _bins(np.split(by_component, np.flatnonzero(np.diff(label[by_component])) + 1), max_pairs):
        problem = _Component(rows[part], cabs[part], dist[part], weight, requests.people, cabinets.capacity)
        chosen = problem.solve(time_limit) if part.size <= max_pairs else None
        baseline = np.flatnonzero(greedy_cab[problem.rows] == problem.cabs)
        if chosen is None or problem.worse(chosen, baseline):
            chosen = baseline
        chosen = problem.improve(chosen)
        served.append(problem.rows[chosen])
        taken.append(problem.cabs[chosen])
    served_rows = np.concatenate(served) if served else np.empty(0, dtype=np.intp)
    taken_cabs = np.concatenate(taken) if taken else np.empty(0, dtype=np.intp)
    check(requests, cabinets, served_rows, taken_cabs, space)
    return assignment(space, order, served_rows, taken_cabs)


def _bins(components: list[NDArray[np.intp]], max_pairs: int) -> list[NDArray[np.intp]]:
    """Components packed into problems of at most ``max_pairs`` pairs (one solver call each, not thousands);
    a component larger than that is a problem of its own."""
    bins, current, size = [], [], 0
    for part in components:
        if not part.size:
            continue
        if current and size + part.size > max_pairs:
            bins.append(np.concatenate(current))
            current, size = [], 0
        current.append(part)
        size += part.size
    return [*bins, np.concatenate(current)] if current else bins


def _rows_by_id(ids: NDArray[np.int64], wanted: NDArray[np.int64]) -> NDArray[np.intp]:
    sorter = np.argsort(ids)
    return sorter[np.searchsorted(ids, wanted, sorter=sorter)]


def _pairs(space: Space, candidates: int, greedy_cab: NDArray[np.intp]) -> tuple[NDArray, NDArray]:
    """Each request's nearest feasible cabinets that can hold its people and did not decline it, plus greedy's."""
    requests, cabinets = space.requests, space.cabinets
    every = np.arange(len(requests))
    flat, counts, _ = space.everything.nearest_feasible(every, candidates)
    rows = np.concatenate([np.repeat(every, counts), np.flatnonzero(greedy_cab >= 0)])
    cabs = np.concatenate([flat, greedy_cab[greedy_cab >= 0]])
    key = np.unique(rows.astype(np.int64) * len(cabinets) + cabs)
    rows, cabs = key // len(cabinets), key % len(cabinets)
    keep = cabinets.capacity[cabs] >= requests.people[rows]
    if space.declined:
        pairs = zip(requests.ids[rows].tolist(), cabinets.ids[cabs].tolist(), strict=True)
        keep &= np.fromiter((c not in space.declined.get(r, ()) for r, c in pairs), dtype=bool, count=rows.size)
    return rows[keep].astype(np.intp), cabs[keep].astype(np.intp)


class _Component:
    """One independent part of the round: its pairs, and a choice of pairs as indices into them."""

    def __init__(self, rows, cabs, dist, weight, people, capacity) -> None:
        self.rows, self.cabs, self.dist = rows, cabs, dist
        self.request, self.local_rows = np.unique(rows, return_inverse=True)
        self.cabinet, self.local_cabs = np.unique(cabs, return_inverse=True)
        self.gain, self.people, self.capacity = weight[rows], people[rows].astype(np.int64), capacity[self.cabinet]

    def mass(self, chosen: NDArray[np.intp]) -> int:
        return int(self.gain[chosen].sum())

    def worse(self, chosen: NDArray[np.intp], than: NDArray[np.intp]) -> bool:
        mass, other = self.mass(chosen), self.mass(than)
        return mass < other or (mass == other and self.dist[chosen].sum() > self.dist[than].sum())

    def solve(self, time_limit: float) -> NDArray[np.intp] | None:
        """Stage 1: maximal mass; stage 2: the shortest trips for the same requests. None if the solver finds
        nothing in time (the caller then keeps greedy's answer)."""
        p, r = self.rows.size, self.request.size
        columns = np.arange(p)
        a = coo_array((np.concatenate([np.ones(p), self.people]),
                       (np.concatenate([self.local_rows, r + self.local_cabs]), np.concatenate([columns, columns]))),
                      shape=(r + self.cabinet.size, p)).tocsr()
        upper = np.concatenate([np.ones(r), self.capacity]).astype(np.float64)
        total = float(self.gain.sum())
        # The mass is an integer, so a gap below a quarter of a unit proves it optimal.
        first = milp(-self.gain.astype(np.float64), constraints=[LinearConstraint(a, -np.inf, upper)],
                     integrality=np.ones(p), bounds=Bounds(0, 1),
                     options={"time_limit": time_limit, "mip_rel_gap": 0.25 / max(total, 1)})
        if first.x is None:
            return None
        chosen = np.flatnonzero(first.x > 0.5)
        if not self.feasible(chosen):
            return None
        # Stage 2: the same requests, each exactly once, at least total trip (within TRIP_GAP).
        served = np.zeros(r, dtype=bool)
        served[self.local_rows[chosen]] = True
        bounds = np.concatenate([served, np.full(self.cabinet.size, -np.inf)]), np.concatenate([served, upper[r:]])
        second = milp(self.dist, constraints=[LinearConstraint(a, *bounds)], integrality=np.ones(p),
                      bounds=Bounds(0, served[self.local_rows].astype(float)),
                      options={"time_limit": time_limit, "mip_rel_gap": TRIP_GAP})
        if second.x is not None:
            trip = np.flatnonzero(second.x > 0.5)
            if self.feasible(trip) and not self.worse(trip, chosen):
                chosen = trip
        return chosen

    def feasible(self, chosen: NDArray[np.intp]) -> bool:
        once = np.bincount(self.local_rows[chosen], minlength=self.request.size) <= 1
        load = np.bincount(self.local_cabs[chosen], weights=self.people[chosen], minlength=self.cabinet.size)
        return bool(once.all() and (load <= self.capacity).all())

    def improve(self, chosen: NDArray[np.intp]) -> NDArray[np.intp]:
        """Greedy's answer improved by moves that never lower the mass: a waiting request (highest weight
        first) takes a seat freed by moving one served request to another cabinet with room; then each served
        request moves to its nearest cabinet with room, if nearer."""
        by_request = np.lexsort((self.dist, self.local_rows))
        options = [o.tolist() for o in np.split(by_request, np.cumsum(np.bincount(self.local_rows))[:-1])]
        cab, people, dist = self.local_cabs.tolist(), self.people.tolist(), self.dist.tolist()
        pick = [-1] * self.request.size
        room = (self.capacity - np.bincount(self.local_cabs[chosen], weights=self.people[chosen],
                                            minlength=self.cabinet.size)).astype(np.int64).tolist()
        seated: list[set[int]] = [set() for _ in range(self.cabinet.size)]
        for pair in chosen.tolist():
            pick[self.local_rows[pair]] = pair
            seated[cab[pair]].add(pair)

        def move(request: int, pair: int) -> None:
            if pick[request] >= 0:
                room[cab[pick[request]]] += people[pick[request]]
                seated[cab[pick[request]]].discard(pick[request])
            room[cab[pair]] -= people[pair]
            seated[cab[pair]].add(pair)
            pick[request] = pair

        def elsewhere(pair: int) -> int:
            return next((q for q in options[self.local_rows[pair]] if q != pair and room[cab[q]] >= people[q]), -1)

        # Only requests next to a cabinet with room, or to one holding a request that could move to one, can gain.
        spare = np.asarray(room)[self.local_cabs] >= self.people
        hopeful = np.zeros(self.request.size, dtype=bool)
        hopeful[self.local_rows[spare]] = True
        relay = np.zeros(self.cabinet.size, dtype=bool)
        relay[[cab[p] for p in chosen.tolist() if hopeful[self.local_rows[p]]]] = True
        waiting = np.zeros(self.request.size, dtype=bool)
        waiting[self.local_rows[relay[self.local_cabs] | spare]] = True
        gain = np.zeros(self.request.size, dtype=np.int64)
        gain[self.local_rows] = self.gain
        for request in np.flatnonzero(waiting)[np.argsort(-gain[waiting], kind="stable")].tolist():
            if pick[request] >= 0:
                continue
            for pair in options[request]:
                for other in sorted(seated[cab[pair]], key=lambda q: -people[q]):
                    if room[cab[pair]] >= people[pair] or room[cab[pair]] + people[other] < people[pair]:
                        continue
                    target = elsewhere(other)
                    if target >= 0:
                        move(int(self.local_rows[other]), target)
                if room[cab[pair]] >= people[pair]:
                    move(request, pair)
                    break
        for request, current in enumerate(pick):
            if current >= 0:
                nearer = next((q for q in options[request]
                               if dist[q] < dist[current] and room[cab[q]] >= people[q]), -1)
                if nearer >= 0:
                    move(request, nearer)
        return np.sort(np.asarray([p for p in pick if p >= 0], dtype=np.intp))


def check(requests: Requests, cabinets: Cabinets, rows: NDArray[np.intp], cabs: NDArray[np.intp],
          space: Space) -> None:
    """Raises if an answer breaks a rule: one seat per request, capacity in people, kind, radii, refusals."""
    problems = []
    if np.unique(rows).size != rows.size:
        problems.append("a request is in two batches")
    load = np.bincount(cabs, weights=requests.people[rows], minlength=len(cabinets))
    if np.any(load > cabinets.capacity):
        problems.append("a cabinet gets more people than its capacity")
    if np.any((cabinets.kinds[cabs] & (1 << requests.kind[rows].astype(np.uint8))) == 0):
        problems.append("a cabinet gets a request of another kind")
    if np.any(space.distance(rows, cabs) > np.minimum(cabinets.radius_km[cabs], requests.max_km[rows])):
        problems.append("a request is beyond a radius")
    if any(c in requests.declined.get(r, ()) for r, c in zip(requests.ids[rows].tolist(),
                                                            cabinets.ids[cabs].tolist(), strict=True)):
        problems.append("a request goes to a cabinet that declined it")
    if problems:
        raise AssertionError("; ".join(problems))
