"""Where requests and cabinets are, for the engines: k-d trees per kind, a coverage grid, and ``in_range``.

Why 3-D points: a k-d tree on latitude/longitude would be wrong (a degree of longitude shrinks with latitude);
on points of a sphere of radius R, the straight chord grows with the great-circle arc, so the tree's nearest
neighbours are the great-circle nearest. The arc derived from a chord differs from ``haversine_km`` by ~1e-12
km; every comparison keeps a ``DELTA_KM`` margin and recomputes ``haversine_km`` inside it, so both engines
decide exactly as the one metric does.
"""

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from lac_service.geography.distance import EARTH_RADIUS_KM, cap_extent, haversine_km

DELTA_KM = 1e-6  # far above the chord/haversine disagreement (~1e-12 km), far below what a radius means
CELL_DEGREES = 0.1  # coverage grid: ~11 km; finer costs more cells per cabinet than it saves
WITNESS_DEGREES = 0.05  # in_range: cells small next to the 5-50 km radii, so most get a sure witness
MAX_CELLS = 4_000_000


def unit_km(lat: NDArray, lon: NDArray) -> NDArray[np.float64]:
    phi, lam = np.radians(lat), np.radians(lon)
    return EARTH_RADIUS_KM * np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


def chord_of(km: NDArray | float) -> NDArray | float:
    """Chord length for an arc, inflated so that a ball of this chord surely holds every point of the arc."""
    half_angle = np.minimum(np.asarray(km, dtype=np.float64) / EARTH_RADIUS_KM, np.pi) / 2
    return 2 * EARTH_RADIUS_KM * np.sin(half_angle) * (1 + 1e-9) + 1e-9


def arc_of(chord: NDArray) -> NDArray:
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(chord / (2 * EARTH_RADIUS_KM), 1.0))


class Space:
    """The two tables of one round, with the derived columns and the index of all cabinets."""

    def __init__(self, requests, cabinets) -> None:  # engine.Requests, engine.Cabinets (no import cycle)
        self.requests, self.cabinets = requests, cabinets
        self.cabinet_points = unit_km(cabinets.lat, cabinets.lon)
        self.declined = requests.declined
        top = float(requests.max_km.max()) if len(requests) else 0.0
        self.reach = np.minimum(cabinets.radius_km, top)  # nobody is served farther than this from a cabinet
        self._everything: KindIndex | None = None

    def points(self, rows: NDArray[np.intp]) -> NDArray[np.float64]:
        return unit_km(self.requests.lat[rows], self.requests.lon[rows])

    def distance(self, rows: NDArray[np.intp], cabinets: NDArray[np.intp]) -> NDArray[np.float64]:
        r, c = self.requests, self.cabinets
        return np.asarray(haversine_km(r.lat[rows], r.lon[rows], c.lat[cabinets], c.lon[cabinets]), dtype=np.float64)

    @property
    def everything(self) -> "KindIndex":
        if self._everything is None:
            self._everything = KindIndex(self, np.ones(len(self.cabinets), dtype=bool))
        return self._everything


class KindIndex:
    """One k-d tree per kind over a subset of cabinets (the open ones), rebuilt once a quarter has closed."""

    def __init__(self, space: Space, members: NDArray[np.bool_]) -> None:
        self.space = space
        self._build(members)

    def _build(self, members: NDArray[np.bool_]) -> None:
        self.built_with = int(members.sum())
        self.trees = []
        for kind in (0, 1):
            rows = np.flatnonzero(members & ((self.space.cabinets.kinds & (1 << kind)) != 0))
            points = self.space.cabinet_points[rows]
            self.trees.append((rows, cKDTree(points, balanced_tree=False, compact_nodes=False) if rows.size else None))

    def refresh(self, members: NDArray[np.bool_], keep: float = 0.75) -> None:
        if members.sum() < keep * self.built_with:
            self._build(members)

    def nearest_feasible(self, rows: NDArray[np.intp], k: int) -> tuple[NDArray, NDArray, NDArray[np.bool_]]:
        """Each request's k nearest members in exact (distance, id) order, kept if within both radii.

        Returns the kept cabinets concatenated row after row, how many per row, and whether the row may miss
        a feasible cabinet beyond the k (then only the ones surely nearer than any missed one are kept)."""
        requests, cabinets = self.space.requests, self.space.cabinets
        if not len(cabinets):
            return np.empty(0, dtype=np.intp), np.zeros(rows.size, dtype=np.intp), np.zeros(rows.size, dtype=bool)
        found = np.full((rows.size, k), -1, dtype=np.intp)
        arc = np.full((rows.size, k), np.inf)
        for kind, (members, tree) in enumerate(self.trees):
            sel = np.flatnonzero(requests.kind[rows] == kind)
            if tree is None or not sel.size:
                continue
            kk = min(k, members.size)
            chord, j = (np.reshape(a, (-1, kk)) for a in tree.query(
                self.space.points(rows[sel]), k=kk, workers=-1,
                distance_upper_bound=float(chord_of(requests.max_km[rows[sel]].max()))))
            hit = j < members.size
            found[sel[:, None], np.arange(kk)] = np.where(hit, members[np.minimum(j, members.size - 1)], -1)
            arc[sel[:, None], np.arange(kk)] = np.where(hit, arc_of(np.where(hit, chord, 0.0)), np.inf)
        hit = found >= 0
        limit = np.minimum(cabinets.radius_km[found], requests.max_km[rows][:, None])
        feasible = hit & (arc <= limit - DELTA_KM)
        band = hit & (np.abs(arc - limit) <= DELTA_KM)
        exact = np.where(hit, arc, np.inf)
        near = hit[:, 1:] & (np.diff(np.where(hit, arc, 0.0), axis=1) <= 2 * DELTA_KM)
        redo = band | (near.any(axis=1)[:, None] & hit)
        r_idx, c_idx = np.nonzero(redo)
        exact[r_idx, c_idx] = self.space.distance(rows[r_idx], found[r_idx, c_idx])
        feasible[band] = exact[band] <= limit[band]
        tied = np.flatnonzero(near.any(axis=1))
        if tied.size:  # equal distances: lowest cabinet id first
            ids = np.where(hit[tied], cabinets.ids[found[tied]], np.iinfo(np.int64).max)
            order = np.lexsort((ids, exact[tied]), axis=-1)
            for table in (found, arc, feasible):
                table[tied] = np.take_along_axis(table[tied], order, axis=1)
        truncated = hit[:, -1] & (arc[:, -1] <= requests.max_km[rows] + 2 * DELTA_KM)
        threshold = np.where(truncated, arc[:, -1] - 2 * DELTA_KM, np.inf)
        safe = np.logical_and.accumulate(arc < threshold[:, None], axis=1)
        keep = feasible & safe
        return found[keep], keep.sum(axis=1), truncated

    def feasible_around(self, row: int) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """Every member feasible for one request (kind, both radii), with its exact distance: the slow path."""
        requests, cabinets = self.space.requests, self.space.cabinets
        members, tree = self.trees[int(requests.kind[row])]
        if tree is None:
            return np.empty(0, dtype=np.intp), np.empty(0)
        near = members[np.asarray(tree.query_ball_point(self.space.points(np.array([row]))[0],
                                                        float(chord_of(requests.max_km[row]))), dtype=np.intp)]
        distance = self.space.distance(np.full(near.size, row), near)
        ok = distance <= np.minimum(cabinets.radius_km[near], requests.max_km[row])
        return near[ok], distance[ok]


class Coverage:
    """Grid cells that some open cabinet of each kind may reach — a superset of their disks — so that one
    lookup per request drops the requests no open cabinet can serve: most of them, once capacity is gone."""

    def __init__(self, space: Space, open_: NDArray[np.bool_]) -> None:
        requests, cabinets = space.requests, space.cabinets
        self.requests, self.kinds = requests, cabinets.kinds
        lat, lon = (requests.lat, requests.lon) if len(requests) else (np.zeros(1), np.zeros(1))
        self.origin = float(lat.min()), float(lon.min())
        spans = float(lat.max()) - self.origin[0] + 1e-6, float(lon.max()) - self.origin[1] + 1e-6
        self.step = max(CELL_DEGREES, float(np.sqrt(spans[0] * spans[1] / MAX_CELLS)))
        self.shape = int(spans[0] // self.step) + 1, int(spans[1] // self.step) + 1
        dlat, dlon, around = cap_extent(cabinets.lat, cabinets.lon, space.reach)
        i_lo = np.maximum(self._cell(cabinets.lat - dlat, 0), 0)
        i_hi = np.minimum(self._cell(cabinets.lat + dlat, 0), self.shape[0] - 1)
        j_lo = np.where(around, 0, np.maximum(self._cell(cabinets.lon - dlon, 1), 0))
        j_hi = np.where(around, self.shape[1] - 1, np.minimum(self._cell(cabinets.lon + dlon, 1), self.shape[1] - 1))
        wide = np.maximum(j_hi - j_lo + 1, 0)
        sizes = np.maximum(i_hi - i_lo + 1, 0) * wide
        self.start = np.concatenate([[0], np.cumsum(sizes)])
        owner = np.repeat(np.arange(sizes.size), sizes)
        local = np.arange(self.start[-1]) - self.start[owner]
        self.cells = (i_lo[owner] + local // wide[owner]) * self.shape[1] + j_lo[owner] + local % wide[owner]
        self.count = np.zeros(2 * self.shape[0] * self.shape[1], dtype=np.int64)
        for kind in (0, 1):
            mine = (open_ & ((self.kinds & (1 << kind)) != 0))[owner]
            self.count += np.bincount(self._key(kind, self.cells[mine]), minlength=self.count.size)

    def _cell(self, degrees: NDArray, axis: int) -> NDArray[np.int64]:
        return np.floor((degrees - self.origin[axis]) / self.step).astype(np.int64)

    def _key(self, kind: int | NDArray, cells: NDArray) -> NDArray[np.int64]:
        return kind * (self.shape[0] * self.shape[1]) + cells

    def reachable(self, rows: NDArray[np.intp]) -> NDArray[np.bool_]:
        """False only where no open cabinet of the request's kind can possibly reach it."""
        i = np.minimum(self._cell(self.requests.lat[rows], 0), self.shape[0] - 1)
        j = np.minimum(self._cell(self.requests.lon[rows], 1), self.shape[1] - 1)
        return self.count[self._key(self.requests.kind[rows].astype(np.int64), i * self.shape[1] + j)] > 0

    def close(self, cabinets: NDArray[np.intp]) -> None:
        """Cabinets that became full: their cells lose them."""
        sizes = self.start[cabinets + 1] - self.start[cabinets]
        owner = np.repeat(np.arange(cabinets.size), sizes)
        at = self.start[cabinets][owner] + np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        for kind in (0, 1):
            mine = ((self.kinds[cabinets] & (1 << kind)) != 0)[owner]
            np.subtract.at(self.count, self._key(kind, self.cells[at[mine]]), 1)


def in_range(space: Space, rows: NDArray[np.intp]) -> NDArray[np.bool_]:
    """Whether each request has a cabinet of its kind (open or full) within both radii.

    Most answers come from a witness per small cell: from the cell's centre o (half-diagonal h), a cabinet at
    distance D with D + h <= its radius and <= the request's maximum serves every point of the cell (triangle
    inequality). Requests without a witness are checked one by one against their nearest cabinets."""
    requests, everything = space.requests, space.everything
    answer = np.zeros(rows.size, dtype=bool)
    if not rows.size:
        return answer
    i = np.floor(requests.lat[rows] / WITNESS_DEGREES).astype(np.int64)
    j = np.floor(requests.lon[rows] / WITNESS_DEGREES).astype(np.int64)
    key = (requests.kind[rows].astype(np.int64) * 4000 + i + 2000) * 8000 + j + 4000
    keys, inverse = np.unique(key, return_inverse=True)
    kind, i, j = keys // 32_000_000, (keys // 8000) % 4000 - 2000, keys % 8000 - 4000
    centre = np.clip((i + 0.5) * WITNESS_DEGREES, -90, 90), (j + 0.5) * WITNESS_DEGREES
    corners = [(np.clip(a * WITNESS_DEGREES, -90, 90), b * WITNESS_DEGREES) for a in (i, i + 1) for b in (j, j + 1)]
    half = np.max([haversine_km(*centre, *corner) for corner in corners], axis=0) * 1.001 + DELTA_KM
    witness = np.full(keys.size, np.inf)
    for k, (members, tree) in enumerate(everything.trees):
        sel = np.flatnonzero(kind == k)
        if tree is None or not sel.size:
            continue
        kk = min(16, members.size)
        bound = float(chord_of(space.cabinets.radius_km[members].max() + half[sel].max()))
        chord, near = (np.reshape(a, (-1, kk)) for a in tree.query(
            unit_km(centre[0][sel], centre[1][sel]), k=kk, distance_upper_bound=bound, workers=-1))
        hit = near < members.size
        reach = arc_of(np.where(hit, chord, 0.0)) + half[sel][:, None]
        ok = hit & (reach <= space.cabinets.radius_km[members[np.minimum(near, members.size - 1)]] - DELTA_KM)
        witness[sel] = np.where(ok, reach, np.inf).min(axis=1)
    answer[witness[inverse] <= requests.max_km[rows] - DELTA_KM] = True
    unsure = np.flatnonzero(~answer)
    _, counts, truncated = everything.nearest_feasible(rows[unsure], 16)
    answer[unsure[counts > 0]] = True
    for s in np.flatnonzero((counts == 0) & truncated).tolist():
        answer[unsure[s]] = everything.feasible_around(int(rows[unsure[s]]))[0].size > 0
    return answer
