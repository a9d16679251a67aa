"""Vehicles driving around a city, for `manage.py simulate`.

Pure on purpose: no Django, no I/O, no wall clock (time comes in as datetimes, randomness
from a seed), so a run is reproducible and unit-testable. Each vehicle has its own random
generator, so what it does depends only on the seed and its index, never on how the run was
sliced into requests.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from geopy.distance import great_circle
from geopy.point import Point

T = TypeVar("T")

VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"  # ISO 3779: no I, O or Q
VIN_PREFIX = "VR3"  # a Peugeot WMI, so the VINs look like a Stellantis fleet's

START_RADIUS_KM = 10.0
WAYPOINT_RADIUS_KM = 35.0
MIN_SPEED_KMH = 30.0
MAX_SPEED_KMH = 110.0
# Traffic: the cruising speed wanders a little from one point to the next.
SPEED_JITTER_KMH = 4.0

# At a waypoint the driver sometimes stops (a delivery, a break), plugging in when the
# battery is low; an almost empty battery stops the vehicle wherever it is.
STOP_PROBABILITY = 0.5
SHORT_STOP_MINUTES = (2.0, 20.0)
CHARGING_STOP_MINUTES = (30.0, 60.0)
LOW_BATTERY = 20.0
EMPTY_BATTERY = 3.0
# About 15 kWh/100 km on a 60 kWh pack.
CONSUMPTION_PERCENT_PER_KM = 0.25
# A short stop is not worth plugging in; after that, about a 36 kW charger.
CHARGE_AFTER = timedelta(minutes=5)
CHARGE_PERCENT_PER_MINUTE = 1.0


@dataclass(frozen=True)
class City:
    name: str
    latitude: float
    longitude: float


CITIES: dict[str, City] = {
    "paris": City("Paris", 48.856613, 2.352222),
    "lyon": City("Lyon", 45.764043, 4.835659),
    "marseille": City("Marseille", 43.296482, 5.369780),
    "turin": City("Turin", 45.070312, 7.686856),
    "berlin": City("Berlin", 52.520008, 13.404954),
    "madrid": City("Madrid", 40.416775, -3.703790),
}


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SimulatedClock:
    """Simulated time: starts at `start` and runs `speedup` times faster than the real clock
    `now`, but never gets ahead of it, since the API rejects points dated in the future (and a
    future point would shadow the real ones that follow). Starting in the past is therefore
    how a long drive is played quickly."""

    start: datetime
    speedup: float
    now: Callable[[], datetime] = utc_now
    origin: datetime = field(init=False)

    def __post_init__(self) -> None:
        if self.speedup <= 0:
            raise ValueError("speedup must be positive")
        self.origin = self.now()

    def read(self) -> datetime:
        real = self.now()
        return min(self.start + (real - self.origin) * self.speedup, real)


@dataclass
class SimVehicle:
    vin: str
    rng: random.Random = field(repr=False)
    latitude: float
    longitude: float
    battery: float  # percent
    odometer_km: float
    base_air_temp: float
    air_temp: float
    speed_kmh: float  # the cruising speed while driving
    waypoint: tuple[float, float]
    at: datetime  # the instant the state describes
    next_at: datetime  # when the vehicle reports next
    stopped_since: datetime | None = None
    stopped_until: datetime | None = None

    @property
    def moving(self) -> bool:
        return self.stopped_until is None


def vin_for(seed: int, index: int) -> str:
    rng = random.Random(f"vin:{seed}:{index}")
    return VIN_PREFIX + "".join(rng.choice(VIN_ALPHABET) for _ in range(17 - len(VIN_PREFIX)))


def format_event_date(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def initial_bearing(origin: tuple[float, float], target: tuple[float, float]) -> float:
    """Degrees clockwise from north of the great circle from `origin` to `target` (geopy
    moves along a bearing but does not compute one)."""
    lat1, lat2 = math.radians(origin[0]), math.radians(target[0])
    dlon = math.radians(target[1] - origin[1])
    x = math.sin(dlon) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
    return math.degrees(math.atan2(x, y)) % 360


def destination(origin: tuple[float, float], bearing: float, km: float) -> tuple[float, float]:
    point = great_circle(kilometers=km).destination(Point(*origin), bearing)
    return point.latitude, point.longitude


def random_point(rng: random.Random, city: City, radius_km: float) -> tuple[float, float]:
    # sqrt: uniform over the disc's area rather than crowded at the centre.
    return destination((city.latitude, city.longitude), rng.uniform(0, 360), radius_km * math.sqrt(rng.random()))


def spawn(*, vin: str, rng: random.Random, city: City, start: datetime, interval: timedelta) -> SimVehicle:
    latitude, longitude = random_point(rng, city, START_RADIUS_KM)
    base_air_temp = rng.uniform(8, 22)
    return SimVehicle(
        vin=vin,
        rng=rng,
        latitude=latitude,
        longitude=longitude,
        battery=rng.uniform(15, 95),
        odometer_km=rng.uniform(5_000, 120_000),
        base_air_temp=base_air_temp,
        air_temp=base_air_temp,
        speed_kmh=rng.uniform(MIN_SPEED_KMH, MAX_SPEED_KMH),
        waypoint=random_point(rng, city, WAYPOINT_RADIUS_KM),
        at=start,
        # Staggered first reports spread the vehicles evenly over each interval.
        next_at=start + interval * rng.random(),
    )


def _stop(vehicle: SimVehicle, minutes: tuple[float, float]) -> None:
    vehicle.stopped_since = vehicle.at
    vehicle.stopped_until = vehicle.at + timedelta(minutes=vehicle.rng.uniform(*minutes))


def _charge(vehicle: SimVehicle, until: datetime) -> None:
    assert vehicle.stopped_since is not None
    plugged_from = max(vehicle.at, vehicle.stopped_since + CHARGE_AFTER)
    minutes = (until - plugged_from).total_seconds() / 60
    if minutes > 0:
        vehicle.battery = min(100.0, vehicle.battery + minutes * CHARGE_PERCENT_PER_MINUTE)


def _drive(vehicle: SimVehicle, km: float, to: tuple[float, float]) -> None:
    vehicle.latitude, vehicle.longitude = to
    vehicle.odometer_km += km
    vehicle.battery = max(0.0, vehicle.battery - km * CONSUMPTION_PERCENT_PER_KM)


def _arrive(vehicle: SimVehicle, city: City) -> None:
    if vehicle.battery < LOW_BATTERY:
        _stop(vehicle, CHARGING_STOP_MINUTES)
    elif vehicle.rng.random() < STOP_PROBABILITY:
        _stop(vehicle, SHORT_STOP_MINUTES)
    else:
        vehicle.waypoint = random_point(vehicle.rng, city, WAYPOINT_RADIUS_KM)


def advance(vehicle: SimVehicle, until: datetime, city: City) -> None:
    """Move the vehicle's state forward to `until`."""
    while vehicle.at < until:
        if vehicle.stopped_until is not None:
            end = min(until, vehicle.stopped_until)
            _charge(vehicle, end)
            vehicle.at = end
            if end == vehicle.stopped_until:
                vehicle.stopped_since = vehicle.stopped_until = None
                vehicle.waypoint = random_point(vehicle.rng, city, WAYPOINT_RADIUS_KM)
                vehicle.speed_kmh = vehicle.rng.uniform(MIN_SPEED_KMH, MAX_SPEED_KMH)
            continue
        if vehicle.battery <= EMPTY_BATTERY:
            _stop(vehicle, CHARGING_STOP_MINUTES)
            continue
        position = (vehicle.latitude, vehicle.longitude)
        remaining_km = great_circle(position, vehicle.waypoint).km
        reach_km = vehicle.speed_kmh * (until - vehicle.at).total_seconds() / 3600
        if reach_km < remaining_km:
            # The bearing is recomputed from each new position, so the vehicle stays on the
            # great circle towards its waypoint.
            _drive(vehicle, reach_km, destination(position, initial_bearing(position, vehicle.waypoint), reach_km))
            vehicle.at = until
        else:
            _drive(vehicle, remaining_km, vehicle.waypoint)
            # min(): microsecond rounding must not carry the vehicle past `until`.
            vehicle.at = min(until, vehicle.at + timedelta(hours=remaining_km / vehicle.speed_kmh))
            _arrive(vehicle, city)


def _wander(vehicle: SimVehicle) -> None:
    rng = vehicle.rng
    speed = vehicle.speed_kmh + rng.gauss(0, SPEED_JITTER_KMH)
    vehicle.speed_kmh = min(MAX_SPEED_KMH, max(MIN_SPEED_KMH, speed))
    # Pulled back towards its base, so the temperature drifts without running away.
    vehicle.air_temp += 0.02 * (vehicle.base_air_temp - vehicle.air_temp) + rng.gauss(0, 0.05)


def telemetry_point(vehicle: SimVehicle) -> dict[str, Any]:
    """The vehicle's state as a `POST /api/v1/telemetry` point."""
    return {
        "vin": vehicle.vin,
        "eventDate": format_event_date(vehicle.at),
        "position": {"latitude": round(vehicle.latitude, 6), "longitude": round(vehicle.longitude, 6)},
        "data": {
            "vehicle.energy.electric.level": round(vehicle.battery, 1),
            "vehicle.kinetic.moving": vehicle.moving,
            "vehicle.kinetic.speed": round(vehicle.speed_kmh, 1) if vehicle.moving else 0,
            "environment.air.temp": round(vehicle.air_temp, 1),
            "vehicle.odometer": round(vehicle.odometer_km, 1),
        },
    }


class Simulation:
    def __init__(self, *, count: int, city: City, seed: int, start: datetime, interval: timedelta) -> None:
        if interval <= timedelta(0):
            raise ValueError("interval must be positive")
        self.city = city
        self.interval = interval
        self.vehicles = [
            spawn(vin=vin_for(seed, index), rng=random.Random(f"drive:{seed}:{index}"), city=city, start=start,
                  interval=interval)
            for index in range(count)
        ]

    def points_until(self, moment: datetime) -> list[dict[str, Any]]:
        """Every report due at or before `moment`, oldest first."""
        due: list[tuple[datetime, int, dict[str, Any]]] = []
        for index, vehicle in enumerate(self.vehicles):
            while vehicle.next_at <= moment:
                advance(vehicle, vehicle.next_at, self.city)
                _wander(vehicle)
                due.append((vehicle.at, index, telemetry_point(vehicle)))
                vehicle.next_at += self.interval
        due.sort(key=lambda item: item[:2])
        return [point for _, _, point in due]


def batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    if size < 1:
        raise ValueError("batch size must be at least 1")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
