"""Distances in kilometres: one metric for matching, the ellipsoid for what people read.

Matching compares a distance with two radii (the cabinet's and the patient's own maximum), so every module
must measure the same way, or a patient could be within 50 km in one place and beyond it in another:
``haversine_km`` is that one metric. It uses geopy's mean Earth radius, so it agrees with
``geopy.distance.great_circle``, and it broadcasts over numpy arrays so that a round compares every waiting
patient with every cabinet in one call. Over 50 km the sphere differs from the WGS-84 ellipsoid by less than
0.5 %, far below the precision of a home located by its postal code.
"""

import numpy as np
from geopy.distance import geodesic
from numpy.typing import ArrayLike, NDArray

# geopy.distance.EARTH_RADIUS, the IUGG mean radius: the same number keeps both libraries in agreement.
EARTH_RADIUS_KM = 6371.009


def haversine_km(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> np.ndarray | np.float64:
    """Great-circle distance, degrees in, km out; scalars or any broadcastable arrays.

    Written in the atan2 form of the great-circle distance (the form geopy uses), which is the haversine
    distance exactly but keeps full precision between nearly antipodal points, where ``asin`` does not.
    """
    phi1, lambda1, phi2, lambda2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lat1, lon1, lat2, lon2))
    sin_phi1, cos_phi1 = np.sin(phi1), np.cos(phi1)
    sin_phi2, cos_phi2 = np.sin(phi2), np.cos(phi2)
    delta = lambda2 - lambda1
    sin_delta, cos_delta = np.sin(delta), np.cos(delta)
    across = np.sqrt((cos_phi2 * sin_delta) ** 2 + (cos_phi1 * sin_phi2 - sin_phi1 * cos_phi2 * cos_delta) ** 2)
    along = sin_phi1 * sin_phi2 + cos_phi1 * cos_phi2 * cos_delta
    return EARTH_RADIUS_KM * np.arctan2(across, along)


def display_distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance on the WGS-84 ellipsoid, for the figure a person reads next to a map; never for matching."""
    return float(geodesic((lat1, lon1), (lat2, lon2)).km)


def cap_extent(lat: ArrayLike, lon: ArrayLike, km: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                                                       NDArray[np.bool_]]:
    """Half-height and half-width, in degrees, of the points within ``km`` of each centre by ``haversine_km``,
    and whether that cap reaches a pole or the antimeridian (no longitude can then be left out).

    Exact on the sphere, plus a hair for rounding: the circle touches its east and west sides poleward of its
    centre, at ``asin(sin d / cos lat)`` of longitude — wider than the point due east."""
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    angle = np.asarray(km, dtype=np.float64) / EARTH_RADIUS_KM
    cos_lat = np.cos(np.radians(lat))
    half_height = np.degrees(angle) + 1e-9
    half_width = np.degrees(np.arcsin(np.minimum(np.sin(angle) / np.maximum(cos_lat, 1e-12), 1.0))) + 1e-9
    pole = (angle >= np.pi / 2) | (cos_lat <= np.sin(angle))  # |lat| + d reaches 90°
    around = pole | (lon - half_width < -180) | (lon + half_width > 180)
    return half_height, half_width, around


def bounding_box(lat: float, lon: float, km: float) -> tuple[float, float, float, float] | None:
    """(south, north, west, east): what a query can filter on before measuring; None where every longitude
    may be reached."""
    half_height, half_width, around = cap_extent(lat, lon, km)
    if around:
        return None
    return lat - float(half_height), lat + float(half_height), lon - float(half_width), lon + float(half_width)
