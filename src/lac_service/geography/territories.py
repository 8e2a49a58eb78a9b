"""Which organisation a home belongs to: the CPTS territories, as GeoJSON polygons, postal codes or communes.

A territory given as postal codes is matched by the address's postal code, never by a shape drawn around
the codes' points: such a shape would cut communes in two and leave gaps between neighbouring CPTS. Where a
postal code serves communes of two CPTS (rural codes serve up to a dozen), each lists its communes: a commune
is its postal code and its name, matched by the address's postal code and city as the gazetteer reads them.
The commune is tried first, then the postal code, then the polygons; so an organisation may be given any of
the three, and a home placed by exact coordinates with no postal code reaches only polygons.

Territories may share a border but not overlap: a home inside two of them would belong to two CPTS, and
each would see a patient the other also offers to its practices. Polygons are checked against polygons,
codes and communes against codes and communes; a code list cannot be checked against a polygon without
commune outlines, which the offline data does not have, and there the code wins.
"""

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon, shape

from lac_service.errors import Conflict, InvalidInput
from lac_service.geography.gazetteer import commune_of, communes, is_in_france, known_postal_codes

NO_ORGANISATION = -1
# Neighbouring borders digitised separately rarely coincide to the last decimal: an intersection smaller
# than this share of the smaller territory is a shared border, not an overlap.
OVERLAP_TOLERANCE = 1e-6


class InvalidTerritory(InvalidInput):
    code = "invalid_territory"
    message = "Le territoire n'est pas valide."


class OverlappingTerritories(Conflict):
    """``where``: what both hold, in words a coordinator can act on (a postal code, a commune, the outlines);
    ``message``: the same, told to the organisation whose saving it refuses."""
    code = "overlapping_territories"

    def __init__(self, first: int, second: int, where: str, *, message: str | None = None,
                 field: str | None = None) -> None:
        super().__init__(message or f"Les territoires des organisations {first} et {second} se chevauchent : {where}.",
                         field=field)
        self.first, self.second, self.where = first, second, where


_LIST_SEPARATORS = re.compile(r"[\s,;]+")


def listed_codes(text: str) -> list[str]:
    """Postal codes as people list them (spaces, commas, semicolons or lines), each once, in order."""
    return list(dict.fromkeys(code for code in _LIST_SEPARATORS.split(text) if code))


@dataclass(frozen=True)
class Territory:
    """Polygons in GeoJSON order (longitude, latitude), postal codes, communes, or several of them."""

    geometry: Polygon | MultiPolygon | None = None
    postal_codes: frozenset[str] = frozenset()
    communes: frozenset[tuple[str, str]] = frozenset()  # (postal code, the commune as the gazetteer spells it)

    @classmethod
    def from_geojson(cls, document: str | Mapping[str, Any]) -> "Territory":
        """A Polygon or MultiPolygon, bare or in a Feature or FeatureCollection (whose parts are united)."""
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except json.JSONDecodeError as error:
                raise InvalidTerritory(f"Le fichier n'est pas du JSON valide (ligne {error.lineno}).") from error
        parts = [_polygonal(geometry) for geometry in _geometries(document)]
        if not parts:
            raise InvalidTerritory("Le GeoJSON ne contient aucun polygone.")
        geometry = shapely.union_all(parts)
        if not is_in_france(geometry.representative_point().y, geometry.representative_point().x):
            raise InvalidTerritory(
                "Le territoire n'est pas en France. Le GeoJSON attend les coordonnées dans l'ordre "
                "longitude, latitude."
            )
        return cls(geometry=geometry)

    @classmethod
    def from_postal_codes(cls, postal_codes: Iterable[str]) -> "Territory":
        codes = frozenset(code.strip() for code in postal_codes)
        if not codes:
            raise InvalidTerritory("La liste de codes postaux est vide.")
        if unknown := sorted(codes - known_postal_codes()):
            raise InvalidTerritory(f"Codes postaux inconnus : {', '.join(unknown[:10])}.")
        return cls(postal_codes=codes)

    @classmethod
    def from_communes(cls, entries: Iterable[tuple[str, str]]) -> "Territory":
        """(postal code, commune name as people write it) pairs; each must name one of the code's communes."""
        found: set[tuple[str, str]] = set()
        unknown: list[tuple[str, str]] = []
        for code, city in entries:
            if (name := commune_of(code, city)) is None:
                unknown.append((code.strip(), city.strip()))
            else:
                found.add((code.strip(), name))
        if unknown:
            code, city = unknown[0]
            known = communes(code)
            hint = (f" (communes du code postal {code} : {', '.join(known)})" if known
                    else f" (code postal {code} inconnu)")
            others = f" et {len(unknown) - 1} autre(s)" if len(unknown) > 1 else ""
            raise InvalidTerritory(f"Commune introuvable : {code} {city}{hint}{others}.")
        if not found:
            raise InvalidTerritory("La liste de communes est vide.")
        return cls(communes=frozenset(found))


def _geometries(document: Any) -> list[Any]:
    kind = document.get("type") if isinstance(document, Mapping) else None
    if kind == "FeatureCollection" and isinstance(document.get("features"), list):
        return [geometry for feature in document["features"] for geometry in _geometries(feature)]
    if kind == "Feature" and isinstance(document.get("geometry"), Mapping):
        return [document["geometry"]]
    if kind in ("Polygon", "MultiPolygon"):
        return [document]
    raise InvalidTerritory(
        f"Type GeoJSON non accepté : {kind!r}. Un territoire est un Polygon ou un MultiPolygon, "
        "seul ou dans une Feature ou une FeatureCollection."
    )


def _polygonal(geometry: Mapping[str, Any]) -> Polygon | MultiPolygon:
    try:
        parsed = shape(geometry)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, GEOSException) as error:
        raise InvalidTerritory("Les coordonnées du polygone sont mal formées.") from error
    if not isinstance(parsed, Polygon | MultiPolygon):
        raise InvalidTerritory(f"Type GeoJSON non accepté : {parsed.geom_type}.")
    if parsed.is_empty:
        raise InvalidTerritory("Le polygone est vide.")
    if not parsed.is_valid:
        raise InvalidTerritory(f"Le polygone n'est pas valide ({shapely.is_valid_reason(parsed)}).")
    minx, miny, maxx, maxy = parsed.bounds
    if not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
        raise InvalidTerritory("Coordonnées hors limites : longitude entre -180 et 180, latitude entre -90 et 90.")
    return parsed


class TerritoryIndex:
    """All territories at once, checked for overlaps and indexed for routing many homes in one call.

    Organisation ids are non-negative; ``NO_ORGANISATION`` (-1) stands for a home in no territory. Where two
    polygons share a border, a home exactly on it goes to the smaller organisation id.
    """

    def __init__(self, territories: Mapping[int, Territory], *, refuse_overlaps: bool = True) -> None:
        """``refuse_overlaps=False`` routes what two organisations both hold to the smaller id, as a border: a
        router must go on placing homes even if an overlap was stored (by hand, or before the check)."""
        self._by_code: dict[str, int] = {}
        self._by_commune: dict[tuple[str, str], int] = {}

        def overlap(first: int, second: int, where: str) -> None:
            if refuse_overlaps:
                raise OverlappingTerritories(first, second, where)

        for org, territory in sorted(territories.items()):
            for code in sorted(territory.postal_codes):
                if (other := self._by_code.setdefault(code, org)) != org:
                    overlap(other, org, f"le code postal {code}")
            for code, name in sorted(territory.communes):
                # Read again as today's gazetteer spells it: a stored name must keep matching after a data update.
                commune = (code, commune_of(code, name) or name)
                if (other := self._by_commune.setdefault(commune, org)) != org:
                    overlap(other, org, f"la commune {commune[1]} ({code})")
        self._split_codes = frozenset(code for code, _ in self._by_commune)
        for (code, name), org in self._by_commune.items():  # a commune of a code another organisation holds whole
            if (other := self._by_code.get(code, org)) != org:
                overlap(min(org, other), max(org, other), f"le code postal {code}, qui dessert la commune {name}")
        shaped = [(org, t.geometry) for org, t in sorted(territories.items()) if t.geometry is not None]
        self._orgs = np.array([org for org, _ in shaped], dtype=np.int64)
        self._geometries = np.array([geometry for _, geometry in shaped], dtype=object)
        self._tree = shapely.STRtree(self._geometries)
        shapely.prepare(self._geometries)
        if refuse_overlaps:
            self._refuse_overlaps()

    def _refuse_overlaps(self) -> None:
        first, second = self._tree.query(self._geometries, predicate="intersects")
        first, second = first[first < second], second[first < second]
        shared = shapely.area(shapely.intersection(self._geometries[first], self._geometries[second]))
        smaller = np.minimum(shapely.area(self._geometries[first]), shapely.area(self._geometries[second]))
        if (overlapping := np.flatnonzero(shared > OVERLAP_TOLERANCE * smaller)).size:
            pair = overlapping[0]
            raise OverlappingTerritories(int(self._orgs[first[pair]]), int(self._orgs[second[pair]]),
                                         "leurs contours se recouvrent")

    def route(self, lat: float, lon: float, postal_code: str | None = None, city: str | None = None) -> int | None:
        codes = None if postal_code is None else [postal_code]
        org = int(self.route_many([lat], [lon], postal_codes=codes, cities=None if codes is None else [city])[0])
        return None if org == NO_ORGANISATION else org

    def route_many(
        self, lats: ArrayLike, lons: ArrayLike, postal_codes: Iterable[str | None] | None = None,
        cities: Iterable[str | None] | None = None,
    ) -> np.ndarray:
        """Organisation id per home, ``NO_ORGANISATION`` where none; a matching commune (``postal_codes`` and
        ``cities`` side by side; no cities without codes), then a matching postal code, win over the polygons."""
        lats, lons = np.asarray(lats, dtype=np.float64), np.asarray(lons, dtype=np.float64)
        # Bounding boxes from the tree, then the exact test on prepared polygons: 2-3 times faster than
        # a predicate inside the tree query, which re-reads every polygon's vertices.
        home, territory = self._tree.query(shapely.points(lons, lats))
        inside = shapely.intersects_xy(self._geometries[territory], lons[home], lats[home])
        home, territory = home[inside], territory[inside]
        nearest = np.full(lats.shape[0], len(self._orgs), dtype=np.int64)
        # Indexes follow ascending organisation ids, so the minimum is the documented tie-break.
        np.minimum.at(nearest, home, territory)
        routed = np.append(self._orgs, NO_ORGANISATION)[nearest]
        codes = None if postal_codes is None else [(code or "").strip() for code in postal_codes]
        if codes is not None and self._by_code:
            by_code = np.fromiter((self._by_code.get(code, NO_ORGANISATION) for code in codes), np.int64)
            routed = np.where(by_code != NO_ORGANISATION, by_code, routed)
        if codes is not None and cities is not None and self._by_commune:
            by_commune = np.fromiter(self._commune_owners(codes, cities), np.int64)
            routed = np.where(by_commune != NO_ORGANISATION, by_commune, routed)
        return routed

    def _commune_owners(self, codes: list[str], cities: Iterable[str | None]) -> Iterator[int]:
        """Names are read only where a territory splits the code, once per spelling: a file of 100,000 homes
        names a few hundred communes."""
        read: dict[tuple[str, str | None], int] = {}
        for code, city in zip(codes, cities, strict=True):
            if code not in self._split_codes:
                yield NO_ORGANISATION
                continue
            if (code, city) not in read:
                read[code, city] = self._by_commune.get((code, commune_of(code, city) or ""), NO_ORGANISATION)
            yield read[code, city]
