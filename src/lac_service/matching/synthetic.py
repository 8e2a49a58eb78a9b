"""Seeded synthetic rounds over France, for the engine's tests, the benchmark and demos.

Why this shape: real waiting lists cluster where people live, and capacity is scarce (one CPTS sends about
ten patients every six weeks to each volunteering practice), so the engine is measured on requests and
cabinets gathered around real towns (spread with their size), with 5-50 km radii, 5-15 seats, ~15 % of GP
requests carrying a household of 2-4, ~2 % of requests already declined by a cabinet of their town, and a few
requests and cabinets in the countryside or overseas, far from everything.
"""

import numpy as np

from lac_service.matching.engine import GP, SPEECH_THERAPY, Cabinets, Requests, rank_by_priority

# Town hall coordinates (rounded) and population in thousands, which sets each town's share and spread.
TOWNS = [
    ("Paris", 48.857, 2.352, 2100), ("Marseille", 43.297, 5.370, 870), ("Lyon", 45.764, 4.836, 520),
    ("Toulouse", 43.605, 1.444, 500), ("Nice", 43.710, 7.262, 340), ("Nantes", 47.218, -1.554, 320),
    ("Montpellier", 43.611, 3.877, 300), ("Strasbourg", 48.573, 7.752, 290), ("Bordeaux", 44.838, -0.579, 260),
    ("Lille", 50.629, 3.057, 235), ("Rennes", 48.117, -1.678, 225), ("Reims", 49.258, 4.032, 180),
    ("Toulon", 43.124, 5.928, 180), ("Saint-Étienne", 45.440, 4.387, 175), ("Le Havre", 49.494, 0.108, 165),
    ("Grenoble", 45.189, 5.725, 160), ("Dijon", 47.322, 5.042, 160), ("Angers", 47.478, -0.563, 155),
    ("Nîmes", 43.837, 4.360, 150), ("Clermont-Ferrand", 45.777, 3.087, 147), ("Le Mans", 48.006, 0.200, 145),
    ("Aix-en-Provence", 43.530, 5.447, 145), ("Brest", 48.390, -4.486, 140), ("Tours", 47.394, 0.685, 137),
    ("Amiens", 49.894, 2.296, 134), ("Limoges", 45.834, 1.261, 130), ("Annecy", 45.899, 6.129, 130),
    ("Perpignan", 42.689, 2.895, 120), ("Metz", 49.119, 6.176, 117), ("Besançon", 47.238, 6.024, 117),
    ("Orléans", 47.903, 1.909, 116), ("Rouen", 49.443, 1.100, 114), ("Mulhouse", 47.751, 7.336, 108),
    ("Caen", 49.183, -0.371, 106), ("Nancy", 48.692, 6.184, 104), ("Avignon", 43.949, 4.806, 91),
    ("Poitiers", 46.580, 0.340, 89), ("La Rochelle", 46.160, -1.151, 77), ("Pau", 43.295, -0.371, 76),
    ("Calais", 50.951, 1.859, 67), ("Bayonne", 43.493, -1.475, 52), ("Valence", 44.933, 4.892, 65),
    ("Quimper", 47.996, -4.102, 63), ("Troyes", 48.297, 4.074, 62), ("Chambéry", 45.565, 5.918, 60),
    ("Lorient", 47.748, -3.370, 57), ("Niort", 46.324, -0.459, 60), ("Ajaccio", 41.919, 8.739, 72),
    ("Arras", 50.291, 2.778, 42), ("Saint-Denis (La Réunion)", -20.879, 55.448, 153),
]
KM_PER_DEGREE = 111.2


def _around(rng: np.random.Generator, town: np.ndarray, spread_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points scattered around their towns (normal, ``spread_km`` standard deviation); 5 % out in the country."""
    lat0, lon0 = TOWNS_LAT[town], TOWNS_LON[town]
    spread = spread_km[town] * np.where(rng.random(town.size) < 0.05, 3.0, 1.0)
    lat = lat0 + rng.normal(0, 1, town.size) * spread / KM_PER_DEGREE
    lon = lon0 + rng.normal(0, 1, town.size) * spread / (KM_PER_DEGREE * np.cos(np.radians(lat0)))
    return np.clip(lat, -90, 90), (lon + 180) % 360 - 180


TOWNS_LAT = np.array([t[1] for t in TOWNS])
TOWNS_LON = np.array([t[2] for t in TOWNS])
_POPULATION = np.array([t[3] for t in TOWNS], dtype=np.float64)
_SHARE = _POPULATION / _POPULATION.sum()
_SPREAD_KM = 6 + 14 * np.sqrt(_POPULATION / _POPULATION.max())  # Paris ~20 km, a small town ~8 km


def synthetic_round(n_requests: int, n_cabinets: int, seed: int) -> tuple[Requests, Cabinets, np.ndarray]:
    """A round and the requests' priority points (their rank follows from them, ties by id)."""
    rng = np.random.default_rng(seed)
    town = rng.choice(len(TOWNS), size=n_requests, p=_SHARE)
    lat, lon = _around(rng, town, _SPREAD_KM)
    kind = np.where(rng.random(n_requests) < 0.7, GP, SPEECH_THERAPY).astype(np.int8)
    household = (kind == GP) & (rng.random(n_requests) < 0.15)
    people = np.where(household, rng.integers(2, 5, n_requests), 1).astype(np.int32)
    default_km = np.where(kind == GP, 30.0, 50.0)
    max_km = np.where(rng.random(n_requests) < 0.2, rng.uniform(5, default_km), default_km).round(1)
    priority = rng.integers(0, 40, n_requests) * 5 + np.where(rng.random(n_requests) < 0.2, 100, 0)
    ids = rng.permutation(n_requests).astype(np.int64) + 1

    c_town = rng.choice(len(TOWNS), size=n_cabinets, p=_SHARE)
    c_lat, c_lon = _around(rng, c_town, _SPREAD_KM)
    kinds = rng.choice(np.array([1, 2, 3], dtype=np.uint8), size=n_cabinets, p=[0.65, 0.30, 0.05])
    cabinets = Cabinets(
        ids=rng.permutation(n_cabinets).astype(np.int64) + 1, lat=c_lat, lon=c_lon, kinds=kinds,
        radius_km=rng.uniform(5, 50, n_cabinets).round(1), capacity=rng.integers(5, 16, n_cabinets).astype(np.int32),
    )
    declined = _declined(rng, ids, town, c_town, cabinets.ids)
    requests = Requests(ids=ids, lat=lat, lon=lon, kind=kind, people=people, rank=rank_by_priority(priority, ids),
                        max_km=max_km, declined=declined)
    return requests, cabinets, priority


def _declined(rng: np.random.Generator, ids: np.ndarray, town: np.ndarray, c_town: np.ndarray,
              cabinet_ids: np.ndarray) -> dict[int, frozenset[int]]:
    """~2 % of requests declined by one to three cabinets of their own town (so, most often, in range)."""
    by_town = [cabinet_ids[c_town == t] for t in range(len(TOWNS))]
    declined = {}
    for row in np.flatnonzero(rng.random(ids.size) < 0.02).tolist():
        pool = by_town[town[row]]
        if pool.size:
            chosen = rng.choice(pool, size=min(pool.size, int(rng.integers(1, 4))), replace=False)
            declined[int(ids[row])] = frozenset(chosen.tolist())
    return declined
