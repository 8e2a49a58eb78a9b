"""Every French postal code located offline, from the GeoNames file shipped in ``data/`` (see README.md).

A postal code covers one commune or several; a home is placed on its commune when the city written in the
address names one, and on the mean of the code's communes otherwise. A city that names none of them is an
error, not a guess: the patient most likely mistyped one of the two, and placing them on the wrong one would
offer them to a practice 80 km away.
"""

import csv
import gzip
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, wraps
from importlib.resources import files
from typing import Literal, TypeVar

import numpy as np
import shapely
from numpy.typing import ArrayLike

from lac_service.errors import InvalidInput
from lac_service.geography.distance import haversine_km

DATA = files("lac_service.geography") / "data"
Precision = Literal["commune", "postal_code"]
# How far from the nearest French place a point still counts as France: the coast and its sea, and for
# Guyane the forest between riverside villages. Guadeloupe and Martinique have Dominica and Saint Lucia
# 30 km away, so they get less. Neighbouring countries in Europe are told apart by their own places.
REACH_KM = {"971": 15.0, "972": 15.0, "973": 60.0}
DEFAULT_REACH_KM = 30.0
MAX_REACH_KM = max(*REACH_KM.values(), DEFAULT_REACH_KM)


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    precision: Precision
    commune: str | None
    department: str


class UnknownPostalCode(InvalidInput):
    code = "unknown_postal_code"

    def __init__(self, postal_code: str) -> None:
        super().__init__(f"Le code postal « {postal_code} » n'existe pas.")
        self.postal_code = postal_code


class CityMismatch(InvalidInput):
    code = "city_mismatch"

    def __init__(self, postal_code: str, city: str, expected: tuple[str, ...]) -> None:
        super().__init__(
            f"La commune « {city} » ne correspond pas au code postal {postal_code}. "
            f"Ce code postal correspond à : {', '.join(expected)}."
        )
        self.postal_code, self.city, self.expected = postal_code, city, expected


@dataclass(frozen=True)
class _Gazetteer:
    """The file's columns; the build script sorts it by postal code, so a code's communes are one slice."""

    rows: dict[str, range]
    departments: dict[str, str]
    names: list[str]
    points: np.ndarray  # latitudes and longitudes, one column per row
    # Each code's centroid at the code's integer value: a bulk look-up is one array access.
    centroids: np.ndarray


def _read(file_name: str) -> Iterator[list[str]]:
    with DATA.joinpath(file_name).open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8", newline="") as text:
        reader = csv.reader(text)
        next(reader)
        yield from reader


_LOADING = threading.RLock()
T = TypeVar("T")


def _loaded_once(load: Callable[[], T]) -> Callable[[], T]:
    """Loaded on first use, by one thread at a time: the threads of a cold process meeting it together
    would otherwise each load the files, under the GIL, and the first requests would wait seconds."""
    done: list[T] = []

    @wraps(load)
    def loaded() -> T:
        if not done:  # once loaded, no lock: every registration reads the data
            with _LOADING:
                if not done:
                    done.append(load())
        return done[0]

    loaded.cache_clear = done.clear  # type: ignore[attr-defined]
    return loaded


def warm() -> None:
    """Loads the data now (a server's start) rather than on its first request."""
    _references()


@_loaded_once
def _gazetteer() -> _Gazetteer:
    # Rows are streamed into columns, not kept as 52,000 lists: the garbage collector walking such lists
    # took half of the load time.
    starts, departments, names, lats, lons = {}, {}, [], [], []
    for row, (code, name, lat, lon, department) in enumerate(_read("postal_codes.csv.gz")):
        if code not in starts:
            starts[code], departments[code] = row, department
        names.append(name)
        lats.append(float(lat))
        lons.append(float(lon))
    bounds, points = [*starts.values(), len(names)], np.array([lats, lons])
    centroids = np.full((2, 100_000), np.nan)
    centroids[:, [int(code) for code in starts]] = np.add.reduceat(points, bounds[:-1], axis=1) / np.diff(bounds)
    rows = {code: range(start, end) for code, start, end in zip(starts, bounds, bounds[1:], strict=False)}
    return _Gazetteer(rows, departments, names, points, centroids)


def known_postal_codes() -> frozenset[str]:
    return frozenset(_gazetteer().rows)


WORD = re.compile(r"[a-z0-9]+")
ORDINAL = re.compile(r"^0*(\d+)(?:er|e|eme|ieme)?$")
QUALIFIER = re.compile(r"\(.*?\)")
ARRONDISSEMENT = re.compile(r"\s\d+\s*$")
ABBREVIATIONS = {"st": "saint", "ste": "sainte"}


def _key(name: str) -> str:
    """Spelling-proof key: "ST-DENIS-LES-BOURG CEDEX 2" and "Saint-Denis-lès-Bourg" are one commune."""
    text = unicodedata.normalize("NFKD", name.casefold().replace("œ", "oe").replace("æ", "ae"))
    words = WORD.findall("".join(c for c in text if not unicodedata.combining(c)))
    if "cedex" in words:
        words = words[: words.index("cedex")]
    return "".join(ORDINAL.sub(r"\1", ABBREVIATIONS.get(word, word)) for word in words)


def _keys(name: str) -> tuple[str, str, str]:
    """The name, then without its "(Canton de …)" qualifier, then without an arrondissement ("Paris 15")."""
    bare = QUALIFIER.sub(" ", name)
    return (_key(name), _key(bare), _key(ARRONDISSEMENT.sub("", bare)))


@cache
def _spellings(code: str) -> tuple[tuple[tuple[str, str, str], str, float, float], ...]:
    """Keys of a known code's communes, computed once per code: the file has 52,000 names to fold."""
    names, (lat, lon) = _gazetteer().names, _gazetteer().points
    return tuple((_keys(names[row]), names[row], float(lat[row]), float(lon[row])) for row in _gazetteer().rows[code])


def _matching(code: str, wanted: tuple[str, str, str]) -> list[tuple[tuple[str, str, str], str, float, float]]:
    """Closest reading first: the exact name, then a commune known by a longer name, then a shorter city."""
    for accepts in (lambda keys: keys[0] == wanted[0], lambda keys: wanted[0] in keys, lambda keys: wanted[1] in keys):
        if found := [spelling for spelling in _spellings(code) if accepts(spelling[0])]:
            return found
    return []


def communes(code: str) -> tuple[str, ...]:
    """The communes a known postal code serves, each under its first spelling (none for an unknown code)."""
    if code not in _gazetteer().rows:
        return ()
    first_spelling: dict[str, str] = {}
    for keys, name, _, _ in _spellings(code):
        first_spelling.setdefault(keys[0], name)
    return tuple(first_spelling.values())


def commune_of(postal_code: str, city: str | None) -> str | None:
    """The commune of the code that ``city`` names, as ``locate`` spells it; None when it names none (or the
    code is unknown). How a territory given by communes and a home agree on a name, whoever typed them."""
    code = postal_code.strip()
    if not city or code not in _gazetteer().rows or not (wanted := _keys(city))[0]:
        return None
    return found[0][1] if (found := _matching(code, wanted)) else None


def locate(postal_code: str, city: str | None = None) -> Place:
    """Place a home on its commune, or on its postal code's centroid when no city tells which commune.

    A code with a single commune is that commune even without a city. When several spellings of one commune
    match (the data has old and new names), their mean is used.
    """
    gazetteer, code = _gazetteer(), postal_code.strip()
    if code not in gazetteer.rows:
        raise UnknownPostalCode(postal_code)
    department = gazetteer.departments[code]
    if city and (wanted := _keys(city))[0]:
        if not (found := _matching(code, wanted)):
            raise CityMismatch(code, city, communes(code))
        lat, lon = (sum(spelling[i] for spelling in found) / len(found) for i in (2, 3))
        return Place(lat, lon, "commune", found[0][1], department)
    lat, lon = map(float, gazetteer.centroids[:, int(code)])
    if len(names := communes(code)) == 1:
        return Place(lat, lon, "commune", names[0], department)
    return Place(lat, lon, "postal_code", None, department)


def locate_many(postal_codes: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Centroids of many codes at once (imports, benchmarks); NaN where a code is unknown or malformed."""
    codes = np.strings.strip(np.asarray(postal_codes, dtype=np.str_).reshape(-1))
    well_formed = np.strings.str_len(codes) == 5
    digits = codes.astype("<U5").view(np.uint32).reshape(-1, 5).astype(np.int64) - ord("0")
    well_formed &= ((digits >= 0) & (digits <= 9)).all(axis=1)
    index = np.where(well_formed, digits @ np.array([10_000, 1_000, 100, 10, 1]), 0)
    lat, lon = _gazetteer().centroids[:, index]
    lat[~well_formed] = lon[~well_formed] = np.nan
    return lat, lon


@_loaded_once
def _references() -> tuple[np.ndarray, np.ndarray, shapely.STRtree]:
    """French and foreign places, each with its reach in km (negative abroad), indexed by an STRtree."""
    gazetteer = _gazetteer()
    reach = np.empty(len(gazetteer.names))
    for code, rows in gazetteer.rows.items():
        reach[rows.start : rows.stop] = REACH_KM.get(gazetteer.departments[code], DEFAULT_REACH_KM)
    foreign = np.array([(float(lat), float(lon)) for _, lat, lon in _read("neighbours.csv.gz")])
    # French places first: where a French and a foreign place coincide, the French one is the nearest.
    points = np.concatenate([gazetteer.points, foreign.T], axis=1)
    reach = np.concatenate([reach, np.full(len(foreign), -1.0)])
    return points, reach, shapely.STRtree(shapely.points(points[1], points[0]))


def is_in_france(lat: float, lon: float) -> bool:
    """Metropolitan France, Corsica or one of the five overseas departments, with their coastal waters.

    The nearest known place decides: French and within reach means France; a place of a neighbouring country
    nearer than any French one means not France, so Geneva, Saarbrücken or Monaco are refused though they
    sit a few kilometres from French communes. Along the Maroni and the Oyapock, which have no foreign places
    in the data, the far bank counts as Guyane.
    """
    if not (np.isfinite(lat) and np.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return False
    points, reach, tree = _references()
    # A box at least as large as the reach: 110 km is a little less than one degree of latitude.
    dlat, dlon = MAX_REACH_KM / 110.0, MAX_REACH_KM / (110.0 * max(np.cos(np.radians(lat)), 0.05))
    candidates = tree.query(shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat))
    if candidates.size == 0:
        return False
    distances = haversine_km(lat, lon, *points[:, candidates])
    nearest = int(np.argmin(distances))
    return bool(distances[nearest] <= reach[candidates[nearest]])
