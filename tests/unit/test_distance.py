import numpy as np
import pytest
from geopy.distance import great_circle
from hypothesis import given
from hypothesis import strategies as st

from lac_service.geography.distance import bounding_box, display_distance_km, haversine_km

# Town-hall / city-centre coordinates as given in the French Wikipedia infoboxes, rounded to 4 decimals.
LILLE = (50.6292, 3.0573)
ROUBAIX = (50.6942, 3.1746)
PARIS = (48.8566, 2.3522)
MARSEILLE = (43.2965, 5.3698)
SAINT_DENIS_REUNION = (-20.8789, 55.4481)
SAINT_PIERRE_REUNION = (-21.3393, 55.4781)


@pytest.mark.parametrize(
    ("a", "b", "expected_km"),
    [
        (LILLE, ROUBAIX, 11.0),
        (PARIS, MARSEILLE, 660.0),
        # The issue says "≈ 45 km", but the towns are 28' of latitude apart (51-52 km in a straight line);
        # 45 km is Saint-Denis–Saint-Louis. The true great-circle distance is pinned.
        (SAINT_DENIS_REUNION, SAINT_PIERRE_REUNION, 51.3),
    ],
)
def test_known_distances_within_one_percent(a, b, expected_km):
    assert haversine_km(*a, *b) == pytest.approx(expected_km, rel=0.01)
    assert display_distance_km(*a, *b) == pytest.approx(expected_km, rel=0.01)


latitudes = st.floats(min_value=-90, max_value=90)
longitudes = st.floats(min_value=-180, max_value=180)


@given(latitudes, longitudes, latitudes, longitudes)
def test_same_distance_as_geopy_great_circle(lat1, lon1, lat2, lon2):
    assert haversine_km(lat1, lon1, lat2, lon2) == pytest.approx(
        great_circle((lat1, lon1), (lat2, lon2)).km, abs=1e-9
    )


def test_arrays_broadcast_to_the_distance_of_every_pair():
    patients_lat = np.array([[50.63], [48.86], [-20.88]])
    patients_lon = np.array([[3.06], [2.35], [55.45]])
    cabinets_lat = np.array([50.69, 43.30, -21.34, 4.94])
    cabinets_lon = np.array([3.17, 5.37, 55.48, -52.33])

    matrix = haversine_km(patients_lat, patients_lon, cabinets_lat, cabinets_lon)

    assert matrix.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            expected = haversine_km(patients_lat[i, 0], patients_lon[i, 0], cabinets_lat[j], cabinets_lon[j])
            assert matrix[i, j] == pytest.approx(expected, abs=1e-9)


def test_a_scalar_distance_is_a_float():
    assert isinstance(haversine_km(*LILLE, *ROUBAIX), float)
    assert isinstance(display_distance_km(*LILLE, *ROUBAIX), float)


def test_sphere_and_ellipsoid_agree_at_matching_scale():
    # Matching uses the sphere, people read the ellipsoid: over a 50 km radius they must not tell apart.
    assert haversine_km(*LILLE, 51.0, 3.5) == pytest.approx(display_distance_km(*LILLE, 51.0, 3.5), rel=0.005)


@given(st.floats(min_value=-75, max_value=75), st.floats(min_value=-150, max_value=150),
       st.floats(min_value=0.1, max_value=300), st.floats(min_value=0, max_value=1), st.floats(min_value=0, max_value=360))
def test_every_point_within_reach_is_in_the_box(lat, lon, km, share, bearing):
    """What a cabinet's round loads: a patient left out of the box would never be offered to it."""
    point = great_circle(kilometers=km * share).destination((lat, lon), bearing)
    assert haversine_km(lat, lon, point.latitude, point.longitude) <= km + 1e-9
    south, north, west, east = bounding_box(lat, lon, km)  # these circles reach neither a pole nor ±180°
    assert south <= point.latitude <= north and west <= point.longitude <= east


@pytest.mark.parametrize("centre", [LILLE, SAINT_DENIS_REUNION, (64.1, -21.9)])
def test_the_box_is_tight_and_wider_than_due_east(centre):
    """The circle's easternmost point lies poleward of due east: a box cut there would miss patients."""
    km = 50
    south, north, west, east = bounding_box(*centre, km)
    rim = [great_circle(kilometers=km).destination(centre, bearing) for bearing in np.arange(0, 360, 0.01)]
    due_east = great_circle(kilometers=km).destination(centre, 90).longitude
    assert max(p.longitude for p in rim) > due_east
    assert max(p.longitude for p in rim) == pytest.approx(east, abs=1e-6)
    assert min(p.longitude for p in rim) == pytest.approx(west, abs=1e-6)
    assert (min(p.latitude for p in rim), max(p.latitude for p in rim)) == pytest.approx((south, north), abs=1e-6)


@pytest.mark.parametrize(("lat", "lon", "km"), [(89.9, 0, 50), (-89.9, 10, 50), (0, 179.9, 50), (0, -179.9, 50),
                                                 (0, 0, 20_000)])
def test_no_box_where_every_longitude_may_be_reached(lat, lon, km):
    assert bounding_box(lat, lon, km) is None
