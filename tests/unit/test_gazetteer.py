import csv
import gzip
import time
from importlib.resources import files

import numpy as np
import pytest

from lac_service.errors import InvalidInput
from lac_service.geography import gazetteer
from lac_service.geography.distance import haversine_km
from lac_service.geography.gazetteer import (
    CityMismatch,
    Place,
    UnknownPostalCode,
    is_in_france,
    known_postal_codes,
    locate,
    locate_many,
)

# Commune centres (town hall or historic centre) from the French Wikipedia infoboxes, rounded to 4 decimals;
# independent of GeoNames, the source of the shipped file.
ISSUE_PLACES = [
    ("59000", "Lille", (50.6292, 3.0573)),
    ("62100", "Calais", (50.9513, 1.8587)),
    ("75015", "Paris", (48.8566, 2.3522)),
    ("13001", "Marseille", (43.2965, 5.3698)),
    ("97400", "Saint-Denis", (-20.8789, 55.4481)),
    ("97300", "Cayenne", (4.9372, -52.3260)),
    ("20000", "Ajaccio", (41.9192, 8.7386)),
    ("01000", "Bourg-en-Bresse", (46.2052, 5.2255)),
]


def shipped_rows() -> list[dict[str, str]]:
    data = files("lac_service.geography") / "data" / "postal_codes.csv.gz"
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8", newline="") as text:
        return list(csv.DictReader(text))


@pytest.mark.parametrize(("postal_code", "city", "centre"), ISSUE_PLACES)
@pytest.mark.parametrize("with_city", [True, False])
def test_issue_places_land_within_5_km_of_their_commune_centre(postal_code, city, centre, with_city):
    place = locate(postal_code, city if with_city else None)

    assert haversine_km(place.lat, place.lon, *centre) < 5


def test_every_code_and_commune_of_the_file_round_trips():
    rows = shipped_rows()
    assert {row["postal_code"] for row in rows} == known_postal_codes()
    for row in rows:
        place = locate(row["postal_code"], row["commune"])
        assert place.precision == "commune"
        assert place.department == row["department"]
        # Spellings of one commune (old and new names) are merged; they lie within a kilometre of each other.
        assert abs(place.lat - float(row["lat"])) < 0.01 and abs(place.lon - float(row["lon"])) < 0.01


def test_every_code_alone_locates_in_france_and_like_in_bulk():
    codes = sorted(known_postal_codes())
    assert all(len(code) == 5 and code.isdigit() for code in codes)
    lat, lon = locate_many(codes)
    for i, code in enumerate(codes):
        place = locate(code)
        assert (place.lat, place.lon) == (lat[i], lon[i])
    assert not np.isnan(lat).any() and not np.isnan(lon).any()


def test_no_commune_is_placed_far_from_its_code_s_other_communes():
    # GeoNames puts a few communes at a homonym's position (17220 "Le Pin" was 107 km off); the build moves them.
    by_code: dict[str, list[tuple[float, float]]] = {}
    for row in shipped_rows():
        by_code.setdefault(row["postal_code"], []).append((float(row["lat"]), float(row["lon"])))
    for code, points in by_code.items():
        if len(points) >= 3:
            lat, lon = np.array(points).T
            assert haversine_km(np.median(lat), np.median(lon), lat, lon).max() <= 30, code


def test_a_shared_code_resolves_to_the_named_commune_or_to_the_centroid():
    named = locate("01000", "Saint-Denis-lès-Bourg")
    alone = locate("01000")

    assert named == Place(46.2022, 5.1892, "commune", "Saint-Denis-lès-Bourg", "01")
    assert alone.precision == "postal_code" and alone.commune is None
    assert (alone.lat, alone.lon) == pytest.approx(((46.2057 + 46.2022) / 2, (5.2258 + 5.1892) / 2))


def test_a_code_with_one_commune_names_it_without_a_city():
    assert locate("59000") == Place(50.633, 3.0586, "commune", "Lille", "59")


@pytest.mark.parametrize(
    ("postal_code", "city", "commune"),
    [
        ("01000", "ST DENIS LES BOURG", "Saint-Denis-lès-Bourg"),
        ("01000", "saint-denis-lès-bourg cedex 3", "Saint-Denis-lès-Bourg"),
        ("01000", "  Bourg en Bresse ", "Bourg-en-Bresse"),
        ("69110", "Ste Foy les Lyon", "Sainte-Foy-lès-Lyon"),
        ("94240", "L HAY LES ROSES", "L'Haÿ-les-Roses"),
        ("14113", "Cricqueboeuf", "Cricquebœuf"),
        ("97400", "St-Denis", "Saint-Denis"),
        ("97400", "Saint-Denis (Réunion)", "Saint-Denis"),
        ("75015", "Paris", "Paris 15"),
        ("75015", "PARIS 15E", "Paris 15"),
        ("13001", "Marseille 1er", "Marseille 01"),
        ("16360", "Bors", "Bors (Canton de Charente-Sud)"),
    ],
)
def test_city_matching_forgives_spelling(postal_code, city, commune):
    place = locate(postal_code, city)

    assert (place.precision, place.commune) == ("commune", commune)


def test_a_city_of_another_code_is_refused_naming_the_code_s_communes():
    with pytest.raises(CityMismatch) as raised:
        locate("01000", "Lyon")

    assert raised.value.expected == ("Bourg-en-Bresse", "Saint-Denis-lès-Bourg")
    assert "Ce code postal correspond à : Bourg-en-Bresse, Saint-Denis-lès-Bourg." in str(raised.value)
    assert raised.value.status_code == 422


@pytest.mark.parametrize("postal_code", ["00000", "99999", "5900", "590000", "59 000", "abcde", "", "５９０００"])
def test_unknown_or_malformed_codes_are_refused(postal_code):
    with pytest.raises(UnknownPostalCode) as raised:
        locate(postal_code, "Lille")

    assert isinstance(raised.value, InvalidInput)
    assert raised.value.code == "unknown_postal_code"


def test_bulk_location_gives_nan_for_unknown_codes():
    lat, lon = locate_many(["59000", " 01000 ", "00000", "5900", "590000", "abcde", "５９０００"])

    assert (lat[0], lon[0]) == (50.633, 3.0586)
    assert (lat[1], lon[1]) == (locate("01000").lat, locate("01000").lon)
    assert np.isnan(lat[2:]).all() and np.isnan(lon[2:]).all()


def test_the_file_loads_in_under_a_second():
    gazetteer._gazetteer.cache_clear()
    started = time.perf_counter()
    known_postal_codes()
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (50.6292, 3.0573),  # Lille
        (48.5734, 7.7521),  # Strasbourg, 4 km from Kehl
        (42.6887, 2.8948),  # Perpignan
        (42.6973, 9.4509),  # Bastia
        (48.3904, -4.4861),  # Brest
        (48.35, -4.85),  # at sea off Brest
        (43.20, 5.35),  # at sea off Marseille
        (46.1934, 6.2342),  # Annemasse, next to Geneva
        (4.9372, -52.3260),  # Cayenne
        (3.64, -54.03),  # Maripasoula, deep in Guyane
        (16.2422, -61.5343),  # Pointe-à-Pitre
        (-20.8789, 55.4481),  # Saint-Denis (Réunion)
        (-12.7806, 45.2278),  # Mamoudzou
    ],
)
def test_french_points_are_in_france(lat, lon):
    assert is_in_france(lat, lon)


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (50.8503, 4.3517),  # Brussels
        (46.2044, 6.1432),  # Geneva
        (41.3874, 2.1686),  # Barcelona
        (51.5074, -0.1278),  # London
        (49.2402, 6.9969),  # Saarbrücken
        (48.5728, 7.8152),  # Kehl
        (43.7384, 7.4246),  # Monaco
        (49.2138, -2.1358),  # Jersey
        (15.3010, -61.3881),  # Roseau, Dominica, between Guadeloupe and Martinique
        (-12.17, 44.40),  # Anjouan, Comoros, next to Mayotte
        (40.7128, -74.0060),  # New York
        (float("nan"), 2.0),
        (91.0, 2.0),
    ],
)
def test_foreign_points_are_not(lat, lon):
    assert not is_in_france(lat, lon)


def test_threads_meeting_a_cold_gazetteer_load_it_once(monkeypatch):
    """The first requests of a fresh process arrive together: they wait for one load, not each do their own."""
    import threading

    reads = []
    real_read = gazetteer._read
    monkeypatch.setattr(gazetteer, "_read", lambda name: (reads.append(name), real_read(name))[1])
    gazetteer._references.cache_clear()
    gazetteer._gazetteer.cache_clear()
    start = threading.Barrier(16)
    answers = []

    def ask():
        start.wait()
        answers.append(gazetteer.is_in_france(50.63, 3.06))

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [True] * 16
    assert sorted(reads) == ["neighbours.csv.gz", "postal_codes.csv.gz"]
