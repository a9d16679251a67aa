from __future__ import annotations

from unittest import mock

import pytest
from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from monitors import zones
from monitors.zones import BOUNDARY_TOLERANCE_KM, haversine_km, is_inside_circle

PARIS = (48.866667, 2.333333)


def inside(point: tuple[float, float], center: tuple[float, float], radius_km: float) -> bool:
    return is_inside_circle(
        latitude=point[0],
        longitude=point[1],
        center_latitude=center[0],
        center_longitude=center[1],
        radius_km=radius_km,
    )


def destination(center: tuple[float, float], km: float, bearing: float) -> tuple[float, float]:
    point = geodesic(kilometers=km).destination(center, bearing)
    return point.latitude, point.longitude


# --- the boundary -------------------------------------------------------------------


@pytest.mark.parametrize("bearing", [0, 45, 90, 135, 180, 225, 270, 315])
def test_point_exactly_on_the_circle_is_inside(bearing):
    assert inside(destination(PARIS, 20, bearing), PARIS, 20)


@pytest.mark.parametrize("bearing", [0, 90, 180, 270])
def test_point_one_metre_inside_the_circle_is_inside(bearing):
    assert inside(destination(PARIS, 20 - 0.001, bearing), PARIS, 20)


@pytest.mark.parametrize("bearing", [0, 90, 180, 270])
def test_point_one_metre_outside_the_circle_is_outside(bearing):
    assert not inside(destination(PARIS, 20 + 0.001, bearing), PARIS, 20)


@pytest.mark.parametrize(
    ("latitude", "bearing", "geodesic_km"),
    [
        (0.0, 0, 99.9),  # the meridian is flatter at the equator: the sphere says outside
        (0.0, 90, 100.1),  # the equator is longer on the ellipsoid: the sphere says inside
        (70.0, 0, 100.1),
        (70.0, 90, 100.1),
    ],
)
def test_near_the_boundary_the_ellipsoid_overrules_the_sphere(latitude, bearing, geodesic_km):
    center = (latitude, 10.0)
    point = destination(center, geodesic_km, bearing)
    on_sphere_inside = haversine_km(*center, *point) <= 100
    assert on_sphere_inside != (geodesic_km <= 100)  # the case is one the sphere gets wrong
    assert inside(point, center, 100) == (geodesic_km <= 100)


def test_point_on_the_circle_within_float_noise_of_radius_counts_as_inside():
    center = (12.0, 34.0)
    point = destination(center, 3.0, 77)
    with mock.patch.object(zones, "geodesic") as exact:
        exact.return_value.km = 3.0 + BOUNDARY_TOLERANCE_KM / 2
        assert inside(point, center, 3.0)
        exact.return_value.km = 3.0 + BOUNDARY_TOLERANCE_KM * 2
        assert not inside(point, center, 3.0)


# --- the fast path ------------------------------------------------------------------


def test_point_far_inside_is_decided_without_geodesic():
    with mock.patch.object(zones, "geodesic") as exact:
        assert inside(destination(PARIS, 5, 10), PARIS, 20)
    exact.assert_not_called()


def test_point_far_outside_is_decided_without_geodesic():
    with mock.patch.object(zones, "geodesic") as exact:
        assert not inside((45.764043, 4.835659), PARIS, 20)  # Lyon
    exact.assert_not_called()


def test_point_near_the_boundary_is_decided_by_geodesic():
    with mock.patch.object(zones, "geodesic", wraps=geodesic) as exact:
        assert inside(destination(PARIS, 19.99, 10), PARIS, 20)
    exact.assert_called_once()


def test_haversine_matches_a_known_great_circle_distance():
    # Paris–London on the mean sphere, ~343.9 km.
    assert haversine_km(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343.9, abs=0.5)


# --- geometry edge cases ------------------------------------------------------------


def test_zero_distance_point_is_inside():
    assert inside(PARIS, PARIS, 0.5)


def test_zero_distance_point_is_inside_a_zero_radius_circle():
    assert inside(PARIS, PARIS, 0.0)


def test_far_away_point_is_outside():
    assert not inside((-33.8688, 151.2093), PARIS, 500)  # Sydney


def test_antipode_is_outside_any_circle_smaller_than_half_the_earth():
    assert not inside((-PARIS[0], PARIS[1] - 180), PARIS, 19_000)


def test_antipode_is_inside_a_circle_covering_the_earth():
    assert inside((-PARIS[0], PARIS[1] - 180), PARIS, 20_100)


def test_point_across_the_antimeridian_is_inside():
    # 0.2° of longitude apart at 10° N is ~21.9 km, not ~39 400 km the long way round.
    assert inside((10.0, -179.9), (10.0, 179.9), 25)


def test_point_across_the_antimeridian_is_outside_a_smaller_circle():
    assert not inside((10.0, -179.9), (10.0, 179.9), 20)


def test_antimeridian_boundary_is_exact():
    center = (-40.0, 179.99)
    radius = geodesic(center, (-40.0, -179.99)).km
    assert inside((-40.0, -179.99), center, radius)
    assert not inside((-40.0, -179.99), center, radius - 0.001)


def test_point_beyond_the_pole_is_near_a_center_close_to_the_pole():
    # Across the pole: longitudes 180° apart, yet ~22 km apart.
    assert inside((89.9, -180.0), (89.9, 0.0), 25)
    assert not inside((89.9, -180.0), (89.9, 0.0), 20)


def test_pole_itself_is_inside_a_circle_reaching_it():
    center = (89.9, 45.0)
    to_pole = geodesic(center, (90.0, 0.0)).km
    assert inside((90.0, 0.0), center, to_pole)
    assert not inside((90.0, 0.0), center, to_pole - 0.001)


@pytest.mark.parametrize("bearing", [0, 90, 180, 270])
def test_boundary_near_a_pole_is_exact(bearing):
    center = (89.9, 0.0)
    assert inside(destination(center, 15, bearing), center, 15)
    assert not inside(destination(center, 15.001, bearing), center, 15)


# --- agreement with the definition --------------------------------------------------

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)
radii = st.floats(min_value=0.001, max_value=20_000, allow_nan=False)


def agrees_with_geodesic(point, center, radius_km):
    exact_km = geodesic(center, point).km
    # Within a micrometre of the radius the documented tolerance decides; elsewhere the
    # plain definition must hold.
    if abs(exact_km - radius_km) > BOUNDARY_TOLERANCE_KM:
        assert inside(point, center, radius_km) == (exact_km <= radius_km)


@settings(max_examples=300, deadline=None)
@given(lat=latitudes, lon=longitudes, center_lat=latitudes, center_lon=longitudes, radius_km=radii)
def test_agrees_with_geodesic_on_random_points(lat, lon, center_lat, center_lon, radius_km):
    agrees_with_geodesic((lat, lon), (center_lat, center_lon), radius_km)


@settings(max_examples=300, deadline=None)
@given(
    center_lat=st.floats(min_value=-89.99, max_value=89.99),
    center_lon=longitudes,
    radius_km=st.floats(min_value=0.01, max_value=5_000),
    ratio=st.floats(min_value=0.99, max_value=1.01),
    bearing=st.floats(min_value=0, max_value=360),
)
def test_agrees_with_geodesic_near_the_boundary(center_lat, center_lon, radius_km, ratio, bearing):
    center = (center_lat, center_lon)
    agrees_with_geodesic(destination(center, radius_km * ratio, bearing), center, radius_km)
