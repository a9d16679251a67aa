"""Circle membership for zone triggers: WGS-84 geodesic distance, computed only when it matters.

The exact answer is ``geodesic(center, point).km <= radius_km`` on the WGS-84 ellipsoid,
but geopy's geodesic costs ~150 µs, and telemetry evaluates every zone trigger of every
monitor on each position. A great-circle (haversine) distance on the mean-radius sphere
is ~100x cheaper and differs from the geodesic one by less than 0.6 % (the ellipsoid's
radius of curvature ranges over 6335–6400 km against a mean of 6371 km), so it settles
every point except those in a thin band around the circle, where the geodesic decides.
"""

from __future__ import annotations

import math

from geopy.distance import geodesic

# IUGG mean Earth radius: the sphere that stays closest to WGS-84 in relative error.
EARTH_MEAN_RADIUS_KM = 6371.0088
# Above the 0.6 % worst-case sphere/ellipsoid discrepancy, so outside this band the
# haversine verdict equals the geodesic one.
SPHERE_ERROR_MARGIN = 0.007
_MARGIN_EPSILON_KM = 1e-6
# A point placed at exactly the radius (e.g. with geodesic().destination) measures back
# up to ~1e-11 km over it after float rounding of its coordinates; one micrometre of
# slack keeps "on the circle counts as inside" true while being far below GPS meaning.
BOUNDARY_TOLERANCE_KM = 1e-9


def haversine_km(latitude_a: float, longitude_a: float, latitude_b: float, longitude_b: float) -> float:
    """Great-circle distance on the mean-radius sphere; longitudes may straddle ±180°."""
    phi_a = math.radians(latitude_a)
    phi_b = math.radians(latitude_b)
    half_dphi = (phi_b - phi_a) / 2
    # sin² of half the longitude gap is periodic, so 179.9 vs -179.9 is a 0.2° gap.
    half_dlambda = math.radians(longitude_b - longitude_a) / 2
    h = math.sin(half_dphi) ** 2 + math.cos(phi_a) * math.cos(phi_b) * math.sin(half_dlambda) ** 2
    # Rounding can push h a hair above 1 for antipodal points, outside asin's domain.
    return 2 * EARTH_MEAN_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def is_inside_circle(
    *,
    latitude: float,
    longitude: float,
    center_latitude: float,
    center_longitude: float,
    radius_km: float,
) -> bool:
    """Whether the WGS-84 geodesic distance from the center is at most ``radius_km``."""
    approximate_km = haversine_km(center_latitude, center_longitude, latitude, longitude)
    margin_km = radius_km * SPHERE_ERROR_MARGIN + _MARGIN_EPSILON_KM
    if approximate_km < radius_km - margin_km:
        return True
    if approximate_km > radius_km + margin_km:
        return False
    exact_km = geodesic((center_latitude, center_longitude), (latitude, longitude)).km
    return exact_km <= radius_km + BOUNDARY_TOLERANCE_KM
