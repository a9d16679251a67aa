"""Zone membership: circles by WGS-84 geodesic distance, polygons by shapely in lon/lat.

Circles: the exact answer is ``geodesic(center, point).km <= radius_km`` on the WGS-84 ellipsoid,
but geopy's geodesic costs ~150 µs, and telemetry evaluates every zone trigger of every
monitor on each position. A great-circle (haversine) distance on the mean-radius sphere
is ~100x cheaper and differs from the geodesic one by less than 0.6 % (the ellipsoid's
radius of curvature ranges over 6335–6400 km against a mean of 6371 km), so it settles
every point except those in a thin band around the circle, where the geodesic decides.

Polygons: RFC 7946 positions are planar `[longitude, latitude]` and so are the edges between
them (straight lines on a plate carrée map, not great circles). A polygon is prepared once
(GEOS builds its edge index) when its monitor is compiled; each point then costs a few µs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TypeAlias

import shapely
from geopy.distance import geodesic
from shapely.geometry import MultiPolygon, Polygon
from shapely.validation import explain_validity

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


# --- polygons -------------------------------------------------------------------------

Position = tuple[float, float]  # (longitude, latitude), altitude dropped
Rings = Sequence[Sequence[Position]]  # the outer ring, then the holes
ZoneArea: TypeAlias = Polygon | MultiPolygon

# Every position of every ring and part, closing ones included. GEOS handles far more, but
# a zone is drawn by a person; ten thousand vertices already trace a country's border at a
# few hundred metres, and the bound keeps one definition's size and compile time small.
MAX_POLYGON_VERTICES = 10_000
# Edges are straight in lon/lat, so a ring wider than half the globe cannot mean "across the
# antimeridian": it would silently cover the other side of the Earth instead.
MAX_LONGITUDE_SPAN = 180.0

# GEOS's explain_validity reasons, as an operator reads them.
_REASONS = {
    "Self-intersection": "edges cross each other",
    "Ring Self-intersection": "the ring touches itself",
    "Hole lies outside shell": "a hole lies outside the outer ring",
    "Holes are nested": "a hole lies inside another hole",
    "Interior is disconnected": "the holes cut the polygon's inside into separate pieces",
    "Nested shells": "one polygon lies inside another",
    "Duplicate Rings": "two rings are the same",
}
_EXPLANATION = re.compile(r"(?P<reason>[^\[]+)\[(?P<x>\S+) (?P<y>\S+)\]")


def geojson_polygons(geometry: Mapping) -> list[list[list[Position]]]:
    """The parts of a GeoJSON Polygon or MultiPolygon, each a list of rings of (lon, lat)."""
    parts = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [
        [[(float(position[0]), float(position[1])) for position in ring] for ring in rings] for rings in parts
    ]


def polygon_area(geometry: Mapping) -> ZoneArea:
    """The shape of a valid GeoJSON Polygon or MultiPolygon, prepared for repeated tests."""
    parts = [Polygon(rings[0], rings[1:]) for rings in geojson_polygons(geometry)]
    area = parts[0] if geometry["type"] == "Polygon" else MultiPolygon(parts)
    shapely.prepare(area)
    return area


def is_inside_polygon(area: ZoneArea, *, latitude: float, longitude: float) -> bool:
    """Whether the point lies in the area or on its boundary (an edge or a vertex)."""
    return bool(shapely.intersects_xy(area, longitude, latitude))


def polygon_problems(parts: Sequence[Rings]) -> list[tuple[tuple[int, ...], str]]:
    """Why structurally sound parts do not make a valid (Multi)Polygon, as (where, message).

    `where` is () for the whole geometry, (part,) for one part and (part, ring) for one
    ring, so that the caller can name the exact JSON path. Empty when the shape is valid.
    """
    problems: list[tuple[tuple[int, ...], str]] = []
    shapes = []
    for index, rings in enumerate(parts):
        found = _part_problems(rings)
        problems += [((index, *where), message) for where, message in found]
        if not found:
            shapes.append(Polygon(rings[0], rings[1:]))
    if problems or len(shapes) < 2:
        return problems
    whole = MultiPolygon(shapes)
    if not whole.is_valid:
        problems.append(((), f"the polygons must not overlap (they may touch at points): {_explained(whole)}"))
    return problems


def _part_problems(rings: Rings) -> list[tuple[tuple[int, ...], str]]:
    longitudes = [longitude for longitude, _ in rings[0]]
    span = max(longitudes) - min(longitudes)
    if span > MAX_LONGITUDE_SPAN:
        return [
            (
                (),
                f"spans {span:g}° of longitude ({min(longitudes):g} to {max(longitudes):g}), more than "
                f"{MAX_LONGITUDE_SPAN:g}°: edges are straight lines in longitude/latitude and never cross "
                "the antimeridian, so this polygon goes the long way round the Earth; to cross the "
                "antimeridian, split it at longitude ±180 into the parts of a MultiPolygon",
            )
        ]
    ring_problems: list[tuple[tuple[int, ...], str]] = [((index,), problem) for index, ring in enumerate(rings) if (problem := _ring_problem(ring))]
    if ring_problems:
        return ring_problems
    shell = rings[0]
    hole_problems: list[tuple[tuple[int, ...], str]] = []
    for index, hole in enumerate(rings[1:], start=1):
        with_hole = Polygon(shell, [hole])
        if not with_hole.is_valid:
            hole_problems.append(((index,), f"this hole is not inside the outer ring: {_explained(with_hole)}"))
    if hole_problems:
        return hole_problems
    polygon = Polygon(shell, rings[1:])
    if not polygon.is_valid:
        return [((), f"is not a valid polygon: {_explained(polygon)}")]
    return []


def _ring_problem(ring: Sequence[Position]) -> str | None:
    distinct = len(set(ring))
    if distinct < 3:
        return f"a ring needs at least 3 distinct positions (got {distinct})"
    alone = Polygon(ring)
    # Not alone.area: a figure-eight's two loops cancel out to zero as well.
    if alone.convex_hull.area == 0:
        return "encloses no area: its positions lie on one line"
    if not alone.is_valid:
        return f"is not a valid ring: {_explained(alone)}"
    return None


def _explained(shape: ZoneArea) -> str:
    """explain_validity in words, its location as a GeoJSON position [longitude, latitude]."""
    explanation = explain_validity(shape)
    match = _EXPLANATION.fullmatch(explanation)
    if match is None:
        return explanation
    reason = match["reason"].strip()
    words = _REASONS.get(reason, reason[:1].lower() + reason[1:])
    return f"{words} near [{float(match['x']):g}, {float(match['y']):g}] ([longitude, latitude])"
