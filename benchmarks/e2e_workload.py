"""The end-to-end benchmark's workload (benchmarks/e2e.py): a fleet of simulated vehicles
whose periodic signals cross the monitors' thresholds at known points, so the events they
must raise are known in advance, and the client threads that post their telemetry.
"""

from __future__ import annotations

import copy
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from benchmarks.stack import Api, rfc3339_ms

PARIS = {"latitude": 48.866667, "longitude": 2.333333}
EARTH_RADIUS_KM = 6371.0088
# The signals each vehicle reports drift slowly and periodically (periods in points): distance
# to Paris swings across the zone's edge, the air temperature across HOT_TEMP, the battery
# drains through LOW_LEVEL and is recharged. About 1.6 % of the points raise an event (1.3 % in
# benchmarks/evaluation.py's steady state): events are rare next to telemetry, as in a fleet.
ZONE_PERIOD, TEMP_PERIOD = 1000, 800
ZONE_RADIUS_KM = 20.0
# Positions never fall within this distance of the circle, and levels/temperatures never equal
# their thresholds, so which side a point is on is unambiguous and the expected events exact.
ZONE_MARGIN_KM, ZONE_SWING_KM = 0.4, 6.0
HOT_TEMP, TEMP_MEAN, TEMP_SWING = 30.0, 24.0, 8.0
_HOT_ANGLE = math.asin((HOT_TEMP - TEMP_MEAN) / TEMP_SWING)  # hot while the phase angle is in (a, pi - a)
# Battery level in hundredths of a percent, an odd number of twentieths: never exactly LOW_LEVEL.
LOW_LEVEL, LEVEL_STEP_C, CHARGE_BELOW_C, CHARGED_C = 20.0, 10, 1000, 9995
BATCH_WINDOW_S = 5  # batchNotify.timeWindow of the batching monitors (the minimum allowed)


# --- What the vehicles report, and which events that must raise ------------------------------

Predicate = Callable[[bool, bool, bool], bool]  # (outside the zone, battery low, hot) -> value


@dataclass(frozen=True)
class MonitorSpec:
    label: str
    definition: dict[str, Any]
    # The boolExp over this run's truths: time windows are open for the whole run and every
    # vehicle reports moving, so time triggers are true and drop out.
    predicate: Predicate
    batched: bool


def monitor_specs(*, count: int, target: str, run_start: datetime) -> list[MonitorSpec]:
    """`count` monitors cycling through ten shapes of zone, time and data triggers (those of
    benchmarks/evaluation.py, with time windows opened an hour before the run)."""
    zone = {"name": "z", "zone": {"transition": "Out", "place": {"radius": ZONE_RADIUS_KM, "center": PARIS}}}
    opened = run_start - timedelta(hours=1)
    daily = {
        "name": "t",
        "time": {
            "timeZone": "UTC",
            "times": [{"recurrence": "Daily", "start": f"PT{opened.hour}H{opened.minute}M", "duration": "PT12H"}],
        },
    }
    absolute = {"name": "t", "time": {"times": [{"recurrence": "None", "start": rfc3339_ms(opened)}]}}
    low = {"name": "d", "data": {"data": "vehicle.energy.electric.level", "op": "lowerThan", "value": [str(LOW_LEVEL)]}}
    hot = {"name": "h", "data": {"data": "environment.air.temp", "op": "greaterThan", "value": [str(HOT_TEMP)]}}
    fleet_batch = {"size": 10, "timeWindow": BATCH_WINDOW_S}
    # (triggers, boolExp, predicate, batchNotify, per-vehicle URL/header, extendedEventParam)
    shapes: list[tuple[list[dict], str, Predicate, dict | None, bool, list[str]]] = [
        ([zone], "z", lambda z, d, h: z, None, False, []),
        ([low], "d", lambda z, d, h: d, None, False, ["vehicle.position"]),
        ([zone, low], "z & d", lambda z, d, h: z and d, fleet_batch, False, []),
        ([zone, daily], "z & t", lambda z, d, h: z, None, False, []),
        ([low, hot], "d | h", lambda z, d, h: d or h, fleet_batch, False, []),
        ([zone, low, hot], "z & (d | h)", lambda z, d, h: z and (d or h), None, False, ["vehicle.position"]),
        ([absolute, low], "t & d", lambda z, d, h: d, None, False, []),
        # `$vin` in a header: one batch per vehicle, which flushes on its time window.
        ([zone, daily, low, hot], "(z | h) & t & !d", lambda z, d, h: (z or h) and not d, fleet_batch, True, []),
        ([hot], "h", lambda z, d, h: h, None, False, []),
        ([zone, hot], "!z & h", lambda z, d, h: not z and h, None, False, []),
    ]
    specs = []
    for index in range(count):
        triggers, expression, predicate, batch, per_vehicle, extended = shapes[index % len(shapes)]
        label = f"e2e {index} {expression}"
        attributes = [{"type": "Header", "key": "X-Vin", "value": "$vin"}] if per_vehicle else []
        subscribe: dict[str, Any] = {
            "retryPolicy": {"policy": "Bounded", "retryNumber": 3, "retryDelay": 10},
            "callback": {"webhook": {"target": target, "name": "e2e", "attributes": attributes}},
        }
        if batch:
            subscribe["batchNotify"] = batch
        definition = {
            "label": label,
            "subscribeParam": subscribe,
            "triggerParam": {"triggers": triggers, "boolExp": expression},
            "extendedEventParam": extended,
        }
        specs.append(MonitorSpec(label=label, definition=definition, predicate=predicate, batched=batch is not None))
    return specs


class VehicleSim:
    """One vehicle's telemetry: periodic, slowly drifting signals that cross the monitors'
    thresholds at known points, and the events FleetMon must raise for them (edge detection
    over the same predicates, "never evaluated" counting as false)."""

    def __init__(self, vin: str, rng: random.Random, predicates: list[Predicate]) -> None:
        self.vin = vin
        self.rng = random.Random(rng.random())
        self.bearing = rng.uniform(0, 2 * math.pi)
        # Every vehicle starts anywhere on the "false" side of each threshold (inside the zone,
        # cool, charged above LOW_LEVEL): no cold-start burst, and across the fleet crossings
        # come at a constant rate for each vehicle's first ~500 points (runs are far shorter).
        self.zone_phase = rng.uniform(0.5, 1.0) * ZONE_PERIOD  # sin < 0: inside
        cool = rng.uniform(math.pi - _HOT_ANGLE, 2 * math.pi + _HOT_ANGLE)
        self.temp_phase = cool / (2 * math.pi) * TEMP_PERIOD
        self.level_c = int(LOW_LEVEL * 100) + LEVEL_STEP_C // 2 + LEVEL_STEP_C * rng.randrange(800)
        self.predicates = predicates
        self.previous: list[bool | None] = [None] * len(predicates)
        self.index = 0

    def _position(self, distance_km: float) -> dict[str, float]:
        """The point `distance_km` from Paris along the (slowly wandering) bearing, on a sphere."""
        self.bearing += self.rng.uniform(-0.01, 0.01)
        lat1, lon1 = math.radians(PARIS["latitude"]), math.radians(PARIS["longitude"])
        delta = distance_km / EARTH_RADIUS_KM
        lat2 = math.asin(math.sin(lat1) * math.cos(delta) + math.cos(lat1) * math.sin(delta) * math.cos(self.bearing))
        lon2 = lon1 + math.atan2(
            math.sin(self.bearing) * math.sin(delta) * math.cos(lat1), math.cos(delta) - math.sin(lat1) * math.sin(lat2)
        )
        return {"latitude": round(math.degrees(lat2), 6), "longitude": round(math.degrees(lon2), 6)}

    def point(self, event_date: str) -> tuple[dict[str, Any], list[int]]:
        """The next point, and the indexes of the monitors it must fire."""
        k, self.index = self.index, self.index + 1
        swing = math.sin(2 * math.pi * (k + self.zone_phase) / ZONE_PERIOD)
        distance = ZONE_RADIUS_KM + math.copysign(ZONE_MARGIN_KM + (ZONE_SWING_KM - ZONE_MARGIN_KM) * abs(swing), swing)
        temp = round(TEMP_MEAN + TEMP_SWING * math.sin(2 * math.pi * (k + self.temp_phase) / TEMP_PERIOD), 2)
        if temp == HOT_TEMP:
            temp += 0.01
        if self.level_c < CHARGE_BELOW_C:
            self.level_c = CHARGED_C  # plugged in between two reports
        level, self.level_c = self.level_c / 100, self.level_c - LEVEL_STEP_C
        truths = (distance > ZONE_RADIUS_KM, level < LOW_LEVEL, temp > HOT_TEMP)
        fired = []
        for index, predicate in enumerate(self.predicates):
            value = predicate(*truths)
            if value and self.previous[index] is not True:
                fired.append(index)
            self.previous[index] = value
        point = {
            "vin": self.vin,
            "eventDate": event_date,
            "position": self._position(distance),
            "data": {
                "vehicle.energy.electric.level": level,
                "environment.air.temp": temp,
                "vehicle.kinetic.moving": True,
            },
        }
        return point, fired



@dataclass
class Fleet:
    id: str
    sims: list[VehicleSim]
    monitor_ids: list[str]
    specs: list[MonitorSpec]

    def events_total(self, api: Api) -> list[int]:
        return [api.total(f"/api/v1/fleets/{self.id}/monitors/{mid}/events") for mid in self.monitor_ids]

    def deliveries_by_state(self, api: Api) -> Counter[str]:
        counts: Counter[str] = Counter()
        for mid in self.monitor_ids:
            for state in ("pending", "delivered", "failed"):
                counts[state] += api.total(f"/api/v1/fleets/{self.id}/monitors/{mid}/deliveries?state={state}")
        return counts




def create_fleet(api: Api, *, vehicles: int, monitors: int, target: str, clients: int) -> Fleet:
    fleet_id, vins = api.create_fleet("e2e benchmark", vehicles=vehicles, threads=clients)
    rng = random.Random(42)
    specs = monitor_specs(count=monitors, target=target, run_start=datetime.now(UTC))
    monitor_ids = [
        api.call("POST", f"/api/v1/fleets/{fleet_id}/monitors", spec.definition, expect=(202,))["monitorId"]
        for spec in specs
    ]
    predicates = [spec.predicate for spec in specs]
    return Fleet(id=fleet_id, sims=[VehicleSim(vin, rng, predicates) for vin in vins], monitor_ids=monitor_ids, specs=specs)


# --- Load -----------------------------------------------------------------------------------------


@dataclass
class PhaseLog:
    """What the clients did in one phase (guarded by `lock`)."""

    name: str
    started: float = 0.0
    finished: float = 0.0
    points: int = 0
    requests_s: list[float] = field(default_factory=list)
    posted_at: dict[tuple[str, str], float] = field(default_factory=dict)  # (vin, eventDate) -> POST start
    expected: Counter[int] = field(default_factory=Counter)  # monitor index -> events the points must raise
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Load:
    """`clients` threads, each owning a slice of the vehicles and posting `batch` of them at a
    time, in order: a vehicle's points are never in flight together, so none arrives late."""

    def __init__(self, api: Api, sims: list[VehicleSim], *, clients: int, batch: int) -> None:
        self.api = api
        self.slices = [sims[i::clients] for i in range(clients)]
        self.batch = min(batch, min(len(s) for s in self.slices))
        self.stop = threading.Event()

    def _batch(self, sims: list[VehicleSim], cursor: int, event_date: str) -> tuple[list[dict], list[int]]:
        points, fired = [], []
        for offset in range(self.batch):
            point, fires = sims[(cursor + offset) % len(sims)].point(event_date)
            points.append(point)
            fired.extend(fires)
        return points, fired

    def run(self, log: PhaseLog, *, duration: float, rate: float | None) -> PhaseLog:
        """Post for `duration` seconds, at `rate` points/s in total or as fast as answered."""
        log.started = time.monotonic()
        deadline = log.started + duration
        interval = self.batch * len(self.slices) / rate if rate else 0.0  # per client, between its batches

        def client(number: int, sims: list[VehicleSim]) -> None:
            session = self.api.session()
            url = f"{self.api.base_url}/api/v1/telemetry"
            cursor, sent, last_ms = 0, 0, 0
            # Clients start staggered, so at a fixed rate the batches are evenly spaced.
            first = log.started + interval * number / len(self.slices)
            while not self.stop.is_set():
                due = first + sent * interval
                if due >= deadline or time.monotonic() >= deadline:
                    return
                if due > time.monotonic():
                    self.stop.wait(due - time.monotonic())
                    continue
                # Strictly increasing per client, hence per vehicle: (VIN, eventDate) names a point.
                last_ms = max(int(time.time() * 1000), last_ms + 1)
                event_date = rfc3339_ms(datetime.fromtimestamp(last_ms / 1000, UTC))
                points, fired = self._batch(sims, cursor, event_date)
                cursor = (cursor + self.batch) % len(sims)
                body = json.dumps(points)
                posted = time.monotonic()
                try:
                    response = session.post(url, data=body, timeout=120)
                    status, text = response.status_code, response.text
                except requests.RequestException as exc:
                    status, text = 0, str(exc)
                answered = time.monotonic()
                sent += 1
                with log.lock:
                    if status == 202:
                        log.points += len(points)
                        log.requests_s.append(answered - posted)
                        log.expected.update(fired)
                        for point in points:
                            log.posted_at[point["vin"], event_date] = posted
                        log.finished = max(log.finished, answered)
                    else:
                        log.failures.append(f"HTTP {status}: {text[:300]}")
                if status != 202 and len(log.failures) > 20:
                    self.stop.set()  # the stack is refusing: measuring on would be meaningless

        threads = [
            threading.Thread(target=client, args=(number, sims), name=f"client{number}", daemon=True)
            for number, sims in enumerate(self.slices)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.stop.is_set():
            raise RuntimeError(f"{log.name}: stopped after {len(log.failures)} failed posts; first: {log.failures[0]}")
        return log

    def run_fixed_body(self, url: str, *, duration: float) -> tuple[int, float]:
        """The baseline: each client posts a batch like its own as fast as answered, the body
        encoded per request as in `run` (the client's CPU is the server's CPU here)."""
        counts = [0] * len(self.slices)
        event_date = rfc3339_ms(datetime.now(UTC))
        # Copies: the real vehicles' state (and the events they must raise) stays untouched.
        batches = [[s.point(event_date)[0] for s in copy.deepcopy(sims[: self.batch])] for sims in self.slices]
        started = time.monotonic()
        deadline = started + duration

        def client(number: int) -> None:
            session = requests.Session()
            session.headers["Content-Type"] = "application/json"
            while time.monotonic() < deadline and not self.stop.is_set():
                response = session.post(url, data=json.dumps(batches[number]), timeout=60)
                if response.status_code != 202:
                    raise RuntimeError(f"baseline answered {response.status_code}: {response.text[:500]}")
                counts[number] += len(batches[number])

        with ThreadPoolExecutor(len(self.slices)) as pool:
            list(pool.map(client, range(len(self.slices))))
        return sum(counts), time.monotonic() - started
