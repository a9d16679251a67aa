from __future__ import annotations

from unittest import mock

import pytest
import shapely
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


# --- polygons -----------------------------------------------------------------------

# A 0.2° square around central Paris with a 0.04° square hole, [longitude, latitude].
OUTER = [[2.25, 48.78], [2.45, 48.78], [2.45, 48.98], [2.25, 48.98], [2.25, 48.78]]
HOLE = [[2.33, 48.86], [2.37, 48.86], [2.37, 48.90], [2.33, 48.90], [2.33, 48.86]]
PARIS_WITH_HOLE = {"type": "Polygon", "coordinates": [OUTER, HOLE]}
# Two squares of 1°, over Lyon and over Marseille.
LYON_AND_MARSEILLE = {
    "type": "MultiPolygon",
    "coordinates": [
        [[[4.3, 45.3], [5.3, 45.3], [5.3, 46.3], [4.3, 46.3], [4.3, 45.3]]],
        [[[4.9, 42.8], [5.9, 42.8], [5.9, 43.8], [4.9, 43.8], [4.9, 42.8]]],
    ],
}


def in_polygon(geometry: dict, latitude: float, longitude: float) -> bool:
    return zones.is_inside_polygon(zones.polygon_area(geometry), latitude=latitude, longitude=longitude)


@pytest.mark.parametrize(
    ("where", "latitude", "longitude", "expected"),
    [
        ("inside, away from the hole", 48.80, 2.30, True),
        ("in the hole", 48.88, 2.35, False),
        ("outside", 49.20, 2.35, False),
        ("on an outer edge", 48.78, 2.30, True),
        ("on an outer vertex", 48.98, 2.45, True),
        ("on the hole's edge", 48.88, 2.33, True),
        ("on a hole vertex", 48.90, 2.37, True),
        ("just outside an outer edge", 48.7799999, 2.30, False),
        ("just inside the hole", 48.88, 2.3300001, False),
    ],
)
def test_polygon_with_a_hole_counts_its_boundaries_as_inside(where, latitude, longitude, expected):
    assert in_polygon(PARIS_WITH_HOLE, latitude, longitude) is expected, where


@pytest.mark.parametrize(
    ("latitude", "longitude", "expected"),
    [(45.76, 4.84, True), (43.30, 5.37, True), (44.50, 5.00, False), (45.3, 4.8, True)],
)
def test_multipolygon_covers_each_of_its_parts(latitude, longitude, expected):
    assert in_polygon(LYON_AND_MARSEILLE, latitude, longitude) is expected


def test_positions_are_longitude_first():
    # The same square read as [latitude, longitude] would lie in the Indian Ocean.
    assert in_polygon(PARIS_WITH_HOLE, 48.80, 2.30)
    assert not in_polygon(PARIS_WITH_HOLE, 2.30, 48.80)


def test_altitudes_are_ignored():
    with_altitudes = {"type": "Polygon", "coordinates": [[[*position, 35.0] for position in OUTER]]}
    assert in_polygon(with_altitudes, 48.80, 2.30)
    assert not in_polygon(with_altitudes, 49.20, 2.30)


def test_a_polygon_area_is_prepared_once_built():
    assert shapely.is_prepared(zones.polygon_area(PARIS_WITH_HOLE))
    assert shapely.is_prepared(zones.polygon_area(LYON_AND_MARSEILLE))


def test_a_polygon_touching_the_antimeridian_from_each_side_works_as_two_parts():
    split = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[170, -20], [180, -20], [180, -10], [170, -10], [170, -20]]],
            [[[-180, -20], [-170, -20], [-170, -10], [-180, -10], [-180, -20]]],
        ],
    }
    assert in_polygon(split, -15, 179.9) and in_polygon(split, -15, -179.9)
    assert not in_polygon(split, -15, 0)
    assert zones.polygon_problems(zones.geojson_polygons(split)) == []


def problems(*parts):
    return zones.polygon_problems([[[tuple(position) for position in ring] for ring in rings] for rings in parts])


def test_a_valid_polygon_has_no_problems():
    assert problems([OUTER, HOLE]) == []
    assert problems(*zones.geojson_polygons(LYON_AND_MARSEILLE)) == []


@pytest.mark.parametrize(
    ("parts", "where", "fragment"),
    [
        ([[[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]], (0, 0), "edges cross each other near [1, 1] ([longitude, latitude])"),
        ([[[[0, 0], [4, 0], [2, 2], [4, 4], [0, 4], [2, 2], [0, 0]]]], (0, 0), "the ring touches itself near [2, 2]"),
        ([[[[0, 0], [1, 0], [2, 0], [0, 0]]]], (0, 0), "encloses no area: its positions lie on one line"),
        ([[[[0, 0], [0, 0], [1, 1], [0, 0]]]], (0, 0), "at least 3 distinct positions (got 2)"),
        ([[OUTER, [[3, 3], [4, 3], [4, 4], [3, 3]]]], (0, 1), "a hole lies outside the outer ring near [3, 3]"),
        ([[OUTER, [[2.40, 48.80], [2.50, 48.80], [2.50, 48.85], [2.40, 48.80]]]], (0, 1), "this hole is not inside the outer ring: edges cross"),
        (
            [[[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[1, 1], [9, 1], [9, 9], [1, 9], [1, 1]], [[2, 2], [3, 2], [3, 3], [2, 2]]]],
            (0,),
            "a hole lies inside another hole near [2, 2]",
        ),
        (
            [[[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]], [[[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]]],
            (),
            "the polygons must not overlap (they may touch at points): edges cross each other",
        ),
        ([[[[-170, 0], [170, 0], [170, 10], [-170, 0]]]], (0,), "spans 340° of longitude (-170 to 170), more than 180°"),
    ],
)
def test_invalid_polygons_are_explained_where_they_go_wrong(parts, where, fragment):
    [(found_where, message)] = problems(*parts)
    assert found_where == where
    assert fragment in message, message


def test_a_polygon_spanning_exactly_half_the_globe_is_accepted():
    assert problems([[[-90, -10], [90, -10], [90, 10], [-90, 10], [-90, -10]]]) == []
