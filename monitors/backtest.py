"""Backtest: what a monitor definition would have raised on a fleet's stored telemetry.

The replay runs the live engine's own evaluator (engine.VehicleEvaluator, the compiled monitor)
in memory: every vehicle starts from "never evaluated" and an empty state at `start`, then its
points within [start, end) are applied in eventDate order, with the window boundaries, refresh
reminders and dwell expiries that fall between them evaluated at their own instants, in time
order. Nothing is written, enqueued or sent: the states and events are never saved.

Points are read per vehicle, ordered by eventDate, through a server-side cursor in chunks, so
memory holds one chunk and the events listed, not the range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count

from fleetmon_project.errors import conflict, field_errors
from fleetmon_project.isodates import parse_rfc3339
from monitors.definition import DefinitionError, parse_monitor_definition
from monitors.engine import VehicleEvaluator, monitor_plans
from monitors.evaluation import CompiledMonitor, compile_monitor
from monitors.models import Event, Monitor
from telemetry.models import Fleet, TelemetryPoint, Vehicle
from telemetry.state import LatestState

# Events listed in an answer, oldest first; `total` counts them all. About ten megabytes of
# events with their extensions: a replay raising more is a definition to fix, not to read.
MAX_LISTED_EVENTS = 10_000
POINTS_PER_CHUNK = 5_000
BODY_FIELDS = ("monitor", "from", "until", "vins")


@dataclass(frozen=True)
class BacktestQuery:
    definition: dict[str, Any] | None  # canonical; None for a stored monitor's backtest
    start: datetime
    end: datetime
    vehicles: list[Vehicle]


@dataclass(frozen=True)
class BacktestResult:
    events: list[dict[str, Any]]  # MonitorEvent items, oldest first
    total: int
    evaluated_points: int
    vehicles: int

    def as_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "total": self.total,
            "evaluatedPoints": self.evaluated_points,
            "vehicles": self.vehicles,
        }


def backtest_query_parse(*, raw: object, fleet: Fleet, with_monitor: bool) -> BacktestQuery:
    """Validate a backtest body; every problem is a 400 entry naming its field (the definition's
    own under `monitor.`)."""
    errors: list[dict[str, str]] = []
    known = BODY_FIELDS if with_monitor else BODY_FIELDS[1:]
    if not isinstance(raw, dict):
        raise field_errors([{"field": "", "message": "must be an object"}])
    errors += [{"field": key, "message": f"unknown field '{key}'"} for key in raw if key not in known]
    definition = None
    if with_monitor:
        definition = _definition(raw.get("monitor"), errors)
    start, end = _instant(raw, "from", errors), _instant(raw, "until", errors)
    if start is not None and end is not None:
        limit = timedelta(seconds=settings.FLEETMON_BACKTEST_MAX_RANGE)
        if end <= start:
            errors.append({"field": "until", "message": "must be after 'from'"})
        elif end - start > limit:
            errors.append(
                {
                    "field": "until",
                    "message": f"the range lasts {end - start}, more than FLEETMON_BACKTEST_MAX_RANGE "
                    f"({settings.FLEETMON_BACKTEST_MAX_RANGE} s, {limit})",
                }
            )
    vehicles = _vehicles(fleet, raw.get("vins"), errors)
    if errors:
        raise field_errors(errors, message="Invalid backtest: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors))
    return BacktestQuery(definition=definition, start=start, end=end, vehicles=vehicles)  # type: ignore[arg-type]


def _definition(raw: object, errors: list[dict[str, str]]) -> dict[str, Any] | None:
    if raw is None:
        errors.append({"field": "monitor", "message": "is required: a MonitorParameter, as POST /monitors takes"})
        return None
    try:
        return parse_monitor_definition(raw, require_https=settings.FLEETMON_REQUIRE_HTTPS_WEBHOOKS).canonical
    except DefinitionError as exc:
        errors += [
            {"field": f"monitor.{error.field}" if error.field else "monitor", "message": error.message}
            for error in exc.errors
        ]
        return None


def _instant(raw: Mapping[str, Any], name: str, errors: list[dict[str, str]]) -> datetime | None:
    if name not in raw:
        errors.append({"field": name, "message": "is required (RFC 3339 with an offset)"})
        return None
    try:
        return parse_rfc3339(raw[name])
    except ValueError as exc:
        errors.append({"field": name, "message": str(exc)})
        return None


def _vehicles(fleet: Fleet, vins: object, errors: list[dict[str, str]]) -> list[Vehicle]:
    vehicles = fleet.vehicles.order_by("vin")
    if vins is None:
        return list(vehicles)
    if not isinstance(vins, list) or not vins or not all(isinstance(vin, str) for vin in vins):
        errors.append({"field": "vins", "message": "must be a non-empty array of VINs"})
        return []
    wanted = {vin.upper() for vin in vins}
    found = list(vehicles.filter(vin__in=wanted))
    unknown = sorted(wanted - {vehicle.vin for vehicle in found})
    if unknown:
        errors.append({"field": "vins", "message": f"not vehicles of this fleet: {', '.join(unknown)}"})
    return found


def monitor_backtest(*, fleet: Fleet, query: BacktestQuery, monitor: Monitor | None = None) -> BacktestResult:
    """Replay the query's range for `monitor` (stored) or the query's definition, in memory."""
    definition = query.definition if monitor is None else monitor.definition
    # Unsaved, without pauses or generations: the question is what the definition would raise.
    replayed = Monitor(id=monitor.pk if monitor else "backtest", fleet=fleet, definition=definition, generation=1)
    try:
        compiled = compile_monitor(replayed.spec, activity_window_s=settings.FLEETMON_ACTIVITY_WINDOW)
    except Exception:  # stored under older rules, or written around the API
        raise conflict("The stored definition cannot be evaluated; PUT a valid one first.") from None
    points = TelemetryPoint.objects.filter(
        vehicle__in=[vehicle.pk for vehicle in query.vehicles], event_date__gte=query.start, event_date__lt=query.end
    )
    counts = dict(points.order_by().values("vehicle_id").annotate(n=Count("id")).values_list("vehicle_id", "n"))
    total_points = sum(counts.values())
    if total_points > settings.FLEETMON_BACKTEST_MAX_POINTS:
        message = (
            f"the range holds {total_points:,} points, more than FLEETMON_BACKTEST_MAX_POINTS "
            f"({settings.FLEETMON_BACKTEST_MAX_POINTS:,}): narrow from/until or pick vins"
        )
        raise field_errors([{"field": "until", "message": message}], message=message)
    listing = _Listing()
    replayed_vehicles = [vehicle for vehicle in query.vehicles if vehicle.pk in counts]
    for vehicle in replayed_vehicles:
        replay = VehicleReplay(vehicle, replayed, compiled, start=query.start)
        rows = (
            points.filter(vehicle=vehicle)
            .order_by("event_date", "id")
            .values_list("event_date", "data", "latitude", "longitude")
            .iterator(chunk_size=POINTS_PER_CHUNK)
        )
        for event_date, data, latitude, longitude in rows:
            replay.point(event_date=event_date, data=data, latitude=latitude, longitude=longitude)
            listing.take(replay.evaluator.raised)
        replay.finish(query.end)
        listing.take(replay.evaluator.raised)
    return BacktestResult(
        events=listing.oldest(), total=listing.total, evaluated_points=total_points, vehicles=len(replayed_vehicles)
    )


class VehicleReplay:
    """One vehicle's replay: its points in eventDate order, and between them, in time order,
    the evaluations Beat drives live (window boundaries, refresh reminders, dwell expiries),
    each at its own instant rather than the sweep's."""

    def __init__(self, vehicle: Vehicle, monitor: Monitor, compiled: CompiledMonitor, *, start: datetime) -> None:
        # `now` at the start: a notification is as late as its instant, as if on time.
        self.evaluator = VehicleEvaluator(vehicle, monitor_plans([monitor], compile=lambda _: compiled), {}, now=start)
        self.latest = LatestState()
        self.compiled = compiled
        self.boundary = compiled.next_time_boundary(start)

    def point(self, *, event_date: datetime, data: dict, latitude: float | None, longitude: float | None) -> None:
        self._until(event_date)
        self.evaluator.apply_point(self.latest, event_date=event_date, data=data, latitude=latitude, longitude=longitude)

    def finish(self, end: datetime) -> None:
        self._until(end)

    def _until(self, instant: datetime) -> None:
        """Evaluate what falls due before `instant`, earliest first."""
        # A backtest evaluates one monitor: one runtime, or none if it could not be compiled.
        runtime = self.evaluator.runtimes[0] if self.evaluator.runtimes else None
        while runtime is not None and not runtime.broken:
            reminder = runtime.state.next_refresh_at if runtime.state.value else None
            expiry = runtime.dwell.due if runtime.dwell is not None else None
            moment = min((due for due in (self.boundary, reminder, expiry) if due is not None), default=None)
            if moment is None or moment >= instant:
                return
            if moment == expiry:
                self.evaluator.advance(self.latest, moment, inclusive=True)
            elif self.latest.last_seen_at is not None:  # live sweeps skip a vehicle never heard of
                self.evaluator.evaluate_at(self.latest, moment)
            if moment == self.boundary:
                self.boundary = self.compiled.next_time_boundary(moment)
            elif moment in (runtime.state.next_refresh_at, runtime.dwell.due if runtime.dwell else None):
                return  # not evaluated after all (a failure): it would come due forever


class _Listing:
    """The oldest MAX_LISTED_EVENTS events across vehicles, in (eventDate, vin) order, and the
    count of all; trimmed as it grows so memory stays bounded."""

    def __init__(self) -> None:
        self.total = 0
        self._kept: list[tuple[datetime, str, int, dict[str, Any]]] = []

    def take(self, raised: list[Event]) -> None:
        for event in raised:
            self.total += 1
            self._kept.append((event.event_date, event.vin, self.total, event.to_monitor_event()))
        raised.clear()
        if len(self._kept) > 2 * MAX_LISTED_EVENTS:
            self._trim()

    def _trim(self) -> None:
        self._kept.sort(key=lambda item: item[:3])
        del self._kept[MAX_LISTED_EVENTS:]

    def oldest(self) -> list[dict[str, Any]]:
        self._trim()
        return [item[3] for item in self._kept]

