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
from numpy.typing import ArrayLike

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
