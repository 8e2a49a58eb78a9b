import json

import numpy as np
import pytest
import shapely

from lac_service.errors import InvalidInput
from lac_service.geography.territories import (
    NO_ORGANISATION,
    InvalidTerritory,
    OverlappingTerritories,
    Territory,
    TerritoryIndex,
)

# Two neighbouring CPTS sharing the meridian 3.12° E: one around Lille, one around Roubaix-Tourcoing.
LILLE_CPTS = {
    "type": "Polygon",
    "coordinates": [[[2.9, 50.55], [3.12, 50.55], [3.12, 50.72], [2.9, 50.72], [2.9, 50.55]]],
}
ROUBAIX_CPTS = {
    "type": "Polygon",
    "coordinates": [[[3.12, 50.55], [3.30, 50.55], [3.30, 50.78], [3.12, 50.78], [3.12, 50.55]]],
}
LILLE = (50.6292, 3.0573)
ROUBAIX = (50.6942, 3.1746)
CALAIS = (50.9513, 1.8587)


def square(west: float, south: float, east: float, north: float) -> Territory:
    return Territory(geometry=shapely.box(west, south, east, north))


@pytest.fixture
def index() -> TerritoryIndex:
    return TerritoryIndex({1: Territory.from_geojson(LILLE_CPTS), 2: Territory.from_geojson(ROUBAIX_CPTS)})


def test_each_home_goes_to_the_territory_it_is_in(index):
    assert index.route(*LILLE) == 1
    assert index.route(*ROUBAIX) == 2
    assert index.route(*CALAIS) is None


def test_routing_many_homes_agrees_with_routing_one(index):
    lats, lons = zip(LILLE, ROUBAIX, CALAIS, (float("nan"), float("nan")), strict=True)

    routed = index.route_many(lats, lons)

    assert routed.tolist() == [1, 2, NO_ORGANISATION, NO_ORGANISATION]


def test_a_home_on_the_shared_border_goes_to_the_smaller_id(index):
    assert index.route(50.6, 3.12) == 1


def test_overlapping_territories_are_refused_naming_both():
    with pytest.raises(OverlappingTerritories) as raised:
        TerritoryIndex({7: square(2.9, 50.5, 3.2, 50.7), 3: square(3.1, 50.5, 3.4, 50.7)})

    assert (raised.value.first, raised.value.second) == (3, 7)
    assert "3 et 7 se chevauchent : leurs contours se recouvrent" in str(raised.value)
    assert raised.value.status_code == 409


def test_a_territory_inside_another_is_an_overlap():
    with pytest.raises(OverlappingTerritories):
        TerritoryIndex({1: square(2.9, 50.5, 3.2, 50.7), 2: square(3.0, 50.6, 3.1, 50.65)})


def test_touching_territories_and_digitising_slivers_are_accepted():
    TerritoryIndex({1: square(2.9, 50.5, 3.1, 50.7), 2: square(3.1, 50.5, 3.3, 50.7)})
    TerritoryIndex({1: square(2.9, 50.5, 3.1, 50.7), 2: square(3.1 - 1e-9, 50.5, 3.3, 50.7)})


def test_a_postal_code_territory_wins_over_polygons_when_the_code_is_known(index):
    with_codes = TerritoryIndex(
        {1: Territory.from_geojson(LILLE_CPTS), 5: Territory.from_postal_codes(["59100", " 59200 "])}
    )

    assert with_codes.route(*ROUBAIX, postal_code="59100") == 5
    assert with_codes.route(*LILLE, postal_code="59000") == 1
    assert with_codes.route(*ROUBAIX) is None
    assert with_codes.route_many([50.70, 50.63], [3.16, 3.05], postal_codes=["59200", None]).tolist() == [5, 1]


def test_a_postal_code_in_two_territories_is_an_overlap_that_names_it():
    with pytest.raises(OverlappingTerritories) as overlap:
        TerritoryIndex({1: Territory.from_postal_codes(["59000"]), 2: Territory.from_postal_codes(["59100", "59000"])})
    assert overlap.value.where == "le code postal 59000"


def test_a_postal_code_serving_two_cpts_is_shared_by_its_communes_however_people_write_them():
    """59320 serves nine communes of the Weppes and the edge of Lille: Haubourdin's CPTS is not Emmerin's."""
    weppes = Territory.from_communes([("59320", "HAUBOURDIN"), (" 59320 ", "hallennes lez haubourdin")])
    assert weppes.communes == {("59320", "Haubourdin"), ("59320", "Hallennes-lez-Haubourdin")}
    emmerin, roubaix = Territory.from_communes([("59320", "Emmerin")]), Territory.from_postal_codes(["59100"])
    index = TerritoryIndex({1: Territory.from_geojson(LILLE_CPTS), 3: weppes, 4: emmerin, 5: roubaix})
    haubourdin = (50.6083, 2.9914)
    assert index.route(*haubourdin, postal_code="59320", city="Haubourdin") == 3
    assert index.route(*haubourdin, postal_code="59320", city="Hallennes-lez-Haubourdin") == 3
    assert index.route(*haubourdin, postal_code="59320", city="emmerin") == 4
    assert index.route(*haubourdin, postal_code="59320", city="Englos") == 1, "a commune no CPTS lists: the polygon"
    assert index.route(*haubourdin, postal_code="59320") == 1, "no city: no commune"
    assert index.route_many([50.6, 50.69, 50.6], [2.99, 3.17, 2.99], postal_codes=["59320", "59100", "59320"],
                            cities=["Haubourdin", "Roubaix", None]).tolist() == [3, 5, 1]


def test_a_commune_in_two_territories_or_of_a_code_held_whole_is_an_overlap():
    haubourdin = Territory.from_communes([("59320", "Haubourdin")])
    with pytest.raises(OverlappingTerritories) as overlap:
        TerritoryIndex({1: haubourdin, 2: Territory.from_communes([("59320", "haubourdin"), ("59320", "Emmerin")])})
    assert overlap.value.where == "la commune Haubourdin (59320)"
    with pytest.raises(OverlappingTerritories) as overlap:
        TerritoryIndex({7: Territory.from_postal_codes(["59320"]), 2: haubourdin})
    assert (overlap.value.first, overlap.value.second) == (2, 7)
    assert overlap.value.where == "le code postal 59320, qui dessert la commune Haubourdin"
    TerritoryIndex({1: haubourdin, 2: Territory.from_communes([("59320", "Emmerin")])})  # neighbours: accepted


def test_a_stored_name_is_read_again_as_the_gazetteer_spells_it():
    """A territory saved under an older spelling keeps its homes."""
    index = TerritoryIndex({3: Territory(communes=frozenset({("59320", "HALLENNES LEZ HAUBOURDIN")}))})
    assert index.route(50.61, 2.97, postal_code="59320", city="Hallennes-lez-Haubourdin") == 3
    assert index.route_many([50.61] * 3, [2.97] * 3, postal_codes=["59320", "59320", "59000"],
                            cities=["hallennes lez haubourdin", "Emmerin", "Hallennes-lez-Haubourdin"]).tolist() == [
        3, NO_ORGANISATION, NO_ORGANISATION]


@pytest.mark.parametrize(("entries", "message"), [
    ([("59320", "Haubourdn")], "Commune introuvable : 59320 Haubourdn (communes du code postal 59320 : Emmerin,"),
    ([("00000", "Nulle-Part")], "Commune introuvable : 00000 Nulle-Part (code postal 00000 inconnu)."),
    ([("59320", "Lille"), ("59000", "Roubaix")], "Commune introuvable : 59320 Lille (communes du code postal 59320"),
    ([], "La liste de communes est vide."),
])
def test_a_commune_that_is_not_one_of_its_codes_makes_an_invalid_territory(entries, message):
    with pytest.raises(InvalidTerritory) as refused:
        Territory.from_communes(entries)
    assert refused.value.detail.startswith(message)
    assert ("et 1 autre(s)." in refused.value.detail) == (len(entries) == 2)


def test_unknown_postal_codes_make_an_invalid_territory():
    with pytest.raises(InvalidTerritory, match="Codes postaux inconnus : 00000"):
        Territory.from_postal_codes(["59000", "00000"])


@pytest.mark.parametrize(
    "document",
    [
        LILLE_CPTS,
        json.dumps(LILLE_CPTS),
        {"type": "Feature", "properties": {"nom": "CPTS Lille"}, "geometry": LILLE_CPTS},
        {"type": "MultiPolygon", "coordinates": [LILLE_CPTS["coordinates"]]},
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {}, "geometry": LILLE_CPTS},
                {"type": "Feature", "properties": {}, "geometry": ROUBAIX_CPTS},
            ],
        },
    ],
)
def test_geojson_polygons_in_any_wrapping_are_accepted(document):
    territory = Territory.from_geojson(document)

    assert territory.geometry is not None and territory.geometry.covers(shapely.Point(LILLE[1], LILLE[0]))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "n'est pas du JSON valide"),
        ([1, 2], "Type GeoJSON non accepté"),
        ({"type": "Point", "coordinates": [3.05, 50.63]}, "Type GeoJSON non accepté : 'Point'"),
        ({"type": "FeatureCollection", "features": []}, "aucun polygone"),
        ({"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[3, 50], [3.1, 50.1]]}}, "LineString"),
        ({"type": "Polygon", "coordinates": [[[3.0, 50.6], [3.1]]]}, "mal formées"),
        ({"type": "Polygon", "coordinates": "x"}, "mal formées"),
        ({"type": "Polygon"}, "mal formées"),
        ({"type": "Polygon", "coordinates": []}, "vide"),
        (
            {"type": "Polygon", "coordinates": [[[3.0, 50.6], [3.1, 50.7], [3.1, 50.6], [3.0, 50.7], [3.0, 50.6]]]},
            "n'est pas valide (Self-intersection",
        ),
        ({"type": "Polygon", "coordinates": [[[3.0, 50.6], [3.1, 50.6], [3.1, 95.0], [3.0, 50.6]]]}, "hors limites"),
        (
            {"type": "Polygon", "coordinates": [[[lat, lon] for lon, lat in LILLE_CPTS["coordinates"][0]]]},
            "longitude, latitude",
        ),
    ],
)
def test_invalid_geojson_is_refused_with_a_message(document, message):
    with pytest.raises(InvalidTerritory) as raised:
        Territory.from_geojson(document)

    assert message in str(raised.value)
    assert isinstance(raised.value, InvalidInput)


def test_no_territory_routes_nowhere():
    assert TerritoryIndex({}).route_many(np.array([50.63]), np.array([3.06])).tolist() == [NO_ORGANISATION]
