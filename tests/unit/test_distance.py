import numpy as np
import pytest
from geopy.distance import great_circle
from hypothesis import given
from hypothesis import strategies as st

from lac_service.geography.distance import display_distance_km, haversine_km

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
