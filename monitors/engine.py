"""The event engine: applies stored telemetry to vehicle state and evaluates monitors.

Every evaluation runs in one transaction holding its vehicles' `VehicleState` row locks, so
two workers never evaluate the same vehicle at once, and the vehicle's watermark moves past
the points applied in the same commit as the events they raised: a redelivered task finds
nothing left to do and raises nothing twice. Points themselves are never written again.
"""

from __future__ import annotations

import functools
import json
import logging
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from fleetmon_project.metrics import (
    EVALUATION_ERRORS,
    EVALUATION_TASK_VEHICLES,
    EVENTS_RAISED,
    MONITOR_EVALUATIONS,
    monitor_type,
)
from fleetmon_project.rows import model_columns, models_read
from monitors.compiled import compiled_monitor
from monitors.deadletters import evaluation_failed, held_vehicles
from monitors.dwell import DwellState
from monitors.evaluation import CompiledMonitor, Decision, Position, VehicleSnapshot
from monitors.extensions import build_extensions
from monitors.models import ACTIVE_STATUSES, BoundaryEvaluation, DeadLetter, Event, Monitor, MonitorVehicleState
from monitors.queued import evaluation_chunk_release, evaluation_chunk_take
from monitors.signals import events_raised
from telemetry.models import RECEIVED_AT_SLACK, TelemetryPoint, Vehicle, VehicleState
from telemetry.selectors import vehicles_with_points_pending
from telemetry.state import LatestState, decode_records, encode_records, merge_point

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class MonitorState:
    """A (monitor, vehicle) pair's MonitorVehicleState as the evaluator reads and moves it: a
    plain object, as a chunk reads hundreds of them and writes back only those that moved."""

    monitor_id: str
    vehicle_id: str
    generation: int
    value: bool | None = None
    since: datetime | None = None
    last_notified_at: datetime | None = None
    next_refresh_at: datetime | None = None
    dwell: dict = field(default_factory=dict)
    dwell_due_at: datetime | None = None


# MonitorState's fields, in order: what the engine reads of MonitorVehicleState and writes back.
_STATE_FIELDS = tuple(MonitorState.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class VehicleRef:
    """The vehicle an evaluation raises events for: what the engine reads of it, without
    building a model instance per vehicle of every chunk."""

    id: str
    fleet_id: str
    vin: str


@dataclass(frozen=True, slots=True)
class MonitorPlan:
    """What evaluating a monitor takes that is the same for every vehicle: prepared once per
    chunk (or replay), not once per vehicle."""

    monitor: Monitor
    id: str
    compiled: CompiledMonitor | None  # None: the monitor cannot be evaluated (`error` says why)
    refresh: timedelta | None = None
    pauses: list[tuple[datetime, datetime]] = field(default_factory=list)
    error: Exception | None = None


def monitor_plans(
    monitors: Iterable[Monitor], *, compile: Callable[[Monitor], CompiledMonitor] = compiled_monitor
) -> list[MonitorPlan]:
    plans = []
    for monitor in monitors:
        try:
            refresh = monitor.spec.refresh_event
            plan = MonitorPlan(
                monitor=monitor,
                id=monitor.pk,
                compiled=compile(monitor),
                refresh=timedelta(seconds=refresh) if refresh else None,
                pauses=monitor.pause_intervals,
            )
        except Exception as error:
            plan = MonitorPlan(monitor=monitor, id=monitor.pk, compiled=None, error=error)
        plans.append(plan)
    return plans


@dataclass
class _Runtime:
    plan: MonitorPlan
    compiled: CompiledMonitor
    state: MonitorState
    reset: bool
    dirty: bool = False
    broken: bool = False  # raised an error: skipped for the rest of this evaluation
    dwell: DwellState | None = None  # for monitors with minDuration triggers

    def skips(self, instant: datetime) -> bool:
        """Instants this monitor must not be evaluated at: within any of its pauses, or before
        its state's last transition (a late point must not move the state back in time and,
        say, undo what a window closing already decided)."""
        pauses = self.plan.pauses
        if pauses:
            # The last pause that began at or before the instant is the only one that can hold it.
            index = bisect_right(pauses, instant, key=lambda pause: pause[0]) - 1
            if index >= 0 and instant < pauses[index][1]:
                return True
        since = self.state.since
        return since is not None and instant < since


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _states_save(changed: list[tuple[str, LatestState, _Watermark]], *, now: datetime) -> None:
    """Write the chunk's moved VehicleState rows (locked, so they exist) and their watermarks
    (the `seq` of the last point applied). On PostgreSQL as one JSON document: a bulk upsert
    passes each row's state as an element of an array parameter, which psycopg escapes
    character by character, and that cost more than the evaluation."""
    if not changed:
        return
    if connection.vendor != "postgresql":
        VehicleState.objects.bulk_create(
            [
                VehicleState(
                    vehicle_id=vehicle_id,
                    data=encode_records(latest.data),
                    latitude=latest.latitude,
                    longitude=latest.longitude,
                    position_at=latest.position_at,
                    last_seen_at=latest.last_seen_at,
                    applied_seq=watermark.seq,
                    applied_received_at=watermark.received_at,
                    updated_at=now,
                )
                for vehicle_id, latest, watermark in changed
            ],
            update_conflicts=True,
            unique_fields=["vehicle"],
            update_fields=[
                "data", "latitude", "longitude", "position_at", "last_seen_at", "applied_seq", "applied_received_at",
                "updated_at",
            ],
        )
        return
    document = json.dumps(
        [
            {
                "vehicle_id": vehicle_id,
                "data": encode_records(latest.data),
                "latitude": latest.latitude,
                "longitude": latest.longitude,
                "position_at": _iso(latest.position_at),
                "last_seen_at": _iso(latest.last_seen_at),
                "applied_seq": watermark.seq,
                "applied_received_at": _iso(watermark.received_at),
            }
            for vehicle_id, latest, watermark in changed
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {VehicleState._meta.db_table} AS state
            SET data = row.data, latitude = row.latitude, longitude = row.longitude,
                position_at = row.position_at, last_seen_at = row.last_seen_at, applied_seq = row.applied_seq,
                applied_received_at = row.applied_received_at, updated_at = %s
            FROM jsonb_to_recordset(%s::jsonb) AS row(
                vehicle_id text, data jsonb, latitude double precision, longitude double precision,
                position_at timestamptz, last_seen_at timestamptz, applied_seq bigint, applied_received_at timestamptz
            )
            WHERE state.vehicle_id = row.vehicle_id AND state.vehicle_id = ANY(%s::text[])""",
            # The ids again, as an array: PostgreSQL cannot tell how many rows the document
            # holds, and joined it to a scan of every vehicle's state.
            [now, document, [vehicle_id for vehicle_id, _, _ in changed]],
        )


@dataclass(frozen=True, slots=True)
class _Watermark:
    """A vehicle's last point applied: its `seq`, and when it was received (None: none yet)."""

    seq: int
    received_at: datetime | None


# (eventDate, data, latitude, longitude)
_Point = tuple[datetime, dict, float | None, float | None]

# RECEIVED_AT_SLACK as SQL, written once rather than for every evaluation task.
_SLACK_INTERVAL = f"interval '{RECEIVED_AT_SLACK.total_seconds():.0f} seconds'"


def _points_read(behind: Mapping[str, _Watermark], *, since: datetime | None) -> list[tuple]:
    """The points past each vehicle's watermark, in eventDate order: one index range per vehicle.
    With `since`, received_at is bounded below by it and, on PostgreSQL, above by an hour past the
    server's clock: only the partitions of the days between are read, not the empty days ahead
    that retention prepares."""
    table = TelemetryPoint._meta.db_table
    if connection.vendor == "postgresql":
        # The watermarks as two arrays joined laterally: a plan of constant size whatever the
        # chunk, where an OR of one range per vehicle cost PostgreSQL more to plan than to run
        # (50 vehicles: 1.2 ms planning, 3.4 ms in all; this: 0.2 ms, 1.1 ms). OFFSET 0 keeps
        # the subquery from being flattened into a hash join over every point since the bound:
        # each vehicle is one probe of the (vehicle_id, seq, received_at) index per partition
        # left after pruning (without the upper bound, a week of empty partitions ahead and
        # the DEFAULT one: nine probes a vehicle instead of one or two).
        bound = (
            f"AND stored.received_at >= %s AND stored.received_at < statement_timestamp() + {_SLACK_INTERVAL}"
            if since is not None
            else ""
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"""SELECT point.vehicle_id, point.seq, point.received_at, point.event_date, point.data,
                    point.latitude, point.longitude
                FROM unnest(%s::text[], %s::bigint[]) AS mark(vehicle_id, seq)
                CROSS JOIN LATERAL (
                    SELECT * FROM {table} AS stored
                    WHERE stored.vehicle_id = mark.vehicle_id AND stored.seq > mark.seq {bound}
                    OFFSET 0
                ) AS point
                ORDER BY point.event_date, point.id""",
                [list(behind), [mark.seq for mark in behind.values()], *([since] if since is not None else [])],
            )
            return [(*row[:4], json.loads(row[4]), *row[5:]) for row in cursor.fetchall()]
    # SQLite: one range per vehicle as SQL text (building as many Q objects cost Django more
    # than the query took).
    where = [" OR ".join([f"({table}.vehicle_id = %s AND {table}.seq > %s)"] * len(behind))]
    params: list[object] = [value for vehicle_id, mark in behind.items() for value in (vehicle_id, mark.seq)]
    if since is not None:
        where.append(f"{table}.received_at >= %s")
        params.append(connection.ops.adapt_datetimefield_value(since))
    return list(
        TelemetryPoint.objects.extra(where=where, params=params)
        .order_by("event_date", "id")
        .values_list("vehicle_id", "seq", "received_at", "event_date", "data", "latitude", "longitude")
    )


def _points_past_watermarks(
    behind: Mapping[str, tuple[_Watermark, int]],
) -> tuple[dict[str, list[_Point]], dict[str, _Watermark]]:
    """The points to apply of the vehicles `behind` (each with its watermark and the number of
    points past it), by vehicle, and each vehicle's watermark once they are applied."""
    points: dict[str, list[_Point]] = defaultdict(list)
    last: dict[str, _Watermark] = {}
    if not behind:
        return points, last
    marks = {vehicle_id: mark for vehicle_id, (mark, _) in behind.items()}
    received = [mark.received_at for mark in marks.values()]
    since = None if None in received else min(filter(None, received)) - RECEIVED_AT_SLACK
    rows = _points_read(marks, since=since)
    counts = Counter(row[0] for row in rows)
    highest: dict[str, int] = {}
    for row in rows:
        highest[row[0]] = max(row[1], highest.get(row[0], 0))
    # Complete when the vehicle's points read run from its watermark without a gap, and reach
    # at least as far as its counter did when its row was locked: points committed since may
    # add to the count, never fill a gap left by the bound.
    short = {
        vehicle_id: marks[vehicle_id]
        for vehicle_id, (mark, due) in behind.items()
        if counts[vehicle_id] < due or counts[vehicle_id] != highest[vehicle_id] - mark.seq
    }
    if short and since is not None:
        logger.warning("points received outside their watermark's bounds; read again", extra={"vehicles": len(short)})
        rows = [row for row in rows if row[0] not in short] + _points_read(short, since=None)
        rows.sort(key=lambda row: (row[3], row[1]))
    for vehicle_id, seq, received_at, event_date, data, latitude, longitude in rows:
        points[vehicle_id].append((event_date, data, latitude, longitude))
        if vehicle_id not in last or seq > last[vehicle_id].seq:
            last[vehicle_id] = _Watermark(seq=seq, received_at=received_at)
    return points, last


def _monitor_states_read(vehicle_ids: list[str], monitor_ids: list[str]) -> list[MonitorState]:
    """The (monitor, vehicle) states of a chunk: hundreds of rows (monitors × vehicles). On
    PostgreSQL by hand, where the ORM's compilation, its IN lists bound in Python and its
    per-row conversions cost a seventh of a task; an empty dwell (nearly every row) is not decoded."""
    if not vehicle_ids or not monitor_ids:
        return []
    if connection.vendor != "postgresql":
        rows = MonitorVehicleState.objects.filter(vehicle_id__in=vehicle_ids, monitor_id__in=monitor_ids)
        return [MonitorState(*values) for values in rows.values_list(*_STATE_FIELDS)]
    columns = ", ".join(
        "NULLIF(state.dwell, '{}'::jsonb)" if name == "dwell" else f"state.{name}" for name in _STATE_FIELDS
    )
    dwell = _STATE_FIELDS.index("dwell")
    with connection.cursor() as cursor:
        # One probe per vehicle of the chunk, as in _points_read: with both ids as arrays,
        # PostgreSQL read every state of the monitors (the whole fleet) and filtered the chunk's
        # out of them, a cost growing with the fleet, not the chunk. The monitors are joined to
        # each probe's few rows, not inside it: with no statistics yet (no ANALYZE since the
        # rows came), PostgreSQL intersected the vehicle's index with the monitors', reading
        # every state of the monitors once per vehicle (28 ms a task at 1,000 vehicles).
        cursor.execute(
            f"""SELECT {columns} FROM unnest(%s::text[]) AS chunk(vehicle_id)
            CROSS JOIN LATERAL (
                SELECT * FROM {MonitorVehicleState._meta.db_table} AS stored
                WHERE stored.vehicle_id = chunk.vehicle_id
                OFFSET 0
            ) AS state
            JOIN unnest(%s::text[]) AS wanted(monitor_id) ON wanted.monitor_id = state.monitor_id""",
            [vehicle_ids, monitor_ids],
        )
        rows = cursor.fetchall()
    states = []
    for row in rows:
        values = list(row)
        values[dwell] = json.loads(values[dwell]) if values[dwell] is not None else {}
        states.append(MonitorState(*values))
    return states


@functools.cache
def _held_sql() -> tuple[str, tuple]:
    """held_vehicles() (no retry) compiled once per process, for the statements below."""
    return held_vehicles().query.sql_with_params()


def _held_subquery(retry_id: int | None) -> tuple[str, tuple]:
    return _held_sql() if retry_id is None else held_vehicles(retrying=retry_id).query.sql_with_params()


# The statements below run for every evaluation task. On PostgreSQL they are written by
# hand: Django compiled each in more instructions than PostgreSQL took to run it. Other
# databases keep the ORM.


def _vehicles_pending_read_orm(ids: list[str], *, retry_id: int | None) -> dict[str, bool]:
    pending = (
        vehicles_with_points_pending()
        .filter(pk__in=ids)
        .exclude(pk__in=held_vehicles(retrying=retry_id))
        .values_list("pk", "state__vehicle_id")
    )
    return {vehicle_id: state is not None for vehicle_id, state in pending}


def _vehicles_pending_read(ids: list[str], *, retry_id: int | None) -> dict[str, bool]:
    """Those of `ids` with points past their watermark and not held by a dead letter (see
    telemetry.selectors.vehicles_with_points_pending), each with whether it has a VehicleState
    row yet. The vehicles are found from the ids (as in telemetry.services._seq_claim): a
    generic plan of `vehicle.id = ANY(ids)` scanned the vehicles, each compared with every id."""
    if connection.vendor != "postgresql":
        return _vehicles_pending_read_orm(ids, retry_id=retry_id)
    held, held_params = _held_subquery(retry_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT vehicle.id, state.vehicle_id IS NOT NULL
            FROM unnest(%s::text[]) AS wanted(id)
            JOIN {Vehicle._meta.db_table} AS vehicle ON vehicle.id = wanted.id
            LEFT JOIN {VehicleState._meta.db_table} AS state ON state.vehicle_id = vehicle.id
            WHERE vehicle.points_stored > COALESCE(state.applied_seq, 0) AND vehicle.id NOT IN ({held})""",
            [ids, *held_params],
        )
        return dict(cursor.fetchall())


def _vehicle_states_lock(ids: list[str], *, retry_id: int | None) -> list[tuple]:
    """Lock the VehicleState rows of `ids` not held by a dead letter, in id order (overlapping
    chunks on other workers wait instead of deadlocking), and read them with their vehicle's
    fleet, VIN and point counter: (vehicle_id, fleet_id, vin, data, latitude, longitude,
    position_at, last_seen_at, applied_seq, applied_received_at, points_stored). Plain values
    rather than model instances: a chunk reads hundreds of rows, and building instances used
    to cost more than the evaluation itself."""
    if connection.vendor != "postgresql":
        return list(
            VehicleState.objects.select_for_update(of=("self",))
            .filter(vehicle_id__in=ids)
            .exclude(vehicle_id__in=held_vehicles(retrying=retry_id))
            .order_by("vehicle_id")
            .values_list(
                "vehicle_id", "vehicle__fleet_id", "vehicle__vin", "data", "latitude", "longitude", "position_at",
                "last_seen_at", "applied_seq", "applied_received_at", "vehicle__points_stored",
            )
        )
    held, held_params = _held_subquery(retry_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT state.vehicle_id, vehicle.fleet_id, vehicle.vin, state.data, state.latitude, state.longitude,
                state.position_at, state.last_seen_at, state.applied_seq, state.applied_received_at,
                vehicle.points_stored
            FROM {VehicleState._meta.db_table} AS state
            JOIN {Vehicle._meta.db_table} AS vehicle ON vehicle.id = state.vehicle_id
            WHERE state.vehicle_id = ANY(%s::text[]) AND state.vehicle_id NOT IN ({held})
            ORDER BY state.vehicle_id
            FOR UPDATE OF state""",
            [ids, *held_params],
        )
        return [(*row[:3], json.loads(row[3]), *row[4:]) for row in cursor.fetchall()]


def _active_monitors_read(fleet_ids: list[str]) -> list[Monitor]:
    """The fleets' active monitors (Monitor.objects.active()), oldest first."""
    if not fleet_ids:
        return []
    if connection.vendor != "postgresql":
        return list(Monitor.objects.active().filter(fleet_id__in=fleet_ids).order_by("created_at", "id"))
    return models_read(
        Monitor,
        f"""SELECT {model_columns(Monitor, "monitor")} FROM {Monitor._meta.db_table} AS monitor
        WHERE fleet_id = ANY(%s::text[]) AND deleted_at IS NULL AND status = ANY(%s::text[])
        ORDER BY created_at, id""",
        [fleet_ids, [status.value for status in ACTIVE_STATUSES]],
    )


def _monitor_states_save(states: list[MonitorState]) -> None:
    """Upsert the (monitor, vehicle) states that moved: one INSERT ... ON CONFLICT DO UPDATE,
    where bulk_update would build a CASE expression per row and field. On PostgreSQL the rows
    travel as one JSON document, as in _states_save."""
    if not states:
        return
    if connection.vendor != "postgresql":
        MonitorVehicleState.objects.bulk_create(
            [MonitorVehicleState(**{name: getattr(state, name) for name in _STATE_FIELDS}) for state in states],
            update_conflicts=True,
            unique_fields=["monitor", "vehicle"],
            update_fields=[name for name in _STATE_FIELDS if name not in ("monitor_id", "vehicle_id")],
        )
        return
    document = json.dumps(
        [
            {
                "monitor_id": state.monitor_id,
                "vehicle_id": state.vehicle_id,
                "generation": state.generation,
                "value": state.value,
                "since": _iso(state.since),
                "last_notified_at": _iso(state.last_notified_at),
                "next_refresh_at": _iso(state.next_refresh_at),
                "dwell": state.dwell,
                "dwell_due_at": _iso(state.dwell_due_at),
            }
            for state in states
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {MonitorVehicleState._meta.db_table}
                (monitor_id, vehicle_id, generation, value, since, last_notified_at, next_refresh_at, dwell, dwell_due_at)
            SELECT monitor_id, vehicle_id, generation, value, since, last_notified_at, next_refresh_at, dwell, dwell_due_at
            FROM jsonb_to_recordset(%s::jsonb) AS row(
                monitor_id text, vehicle_id text, generation integer, value boolean, since timestamptz,
                last_notified_at timestamptz, next_refresh_at timestamptz, dwell jsonb, dwell_due_at timestamptz
            )
            ON CONFLICT (monitor_id, vehicle_id) DO UPDATE SET
                generation = EXCLUDED.generation, value = EXCLUDED.value, since = EXCLUDED.since,
                last_notified_at = EXCLUDED.last_notified_at, next_refresh_at = EXCLUDED.next_refresh_at,
                dwell = EXCLUDED.dwell, dwell_due_at = EXCLUDED.dwell_due_at""",
            [document],
        )


def _snapshot(latest: LatestState, changed_keys: frozenset[str]) -> VehicleSnapshot:
    position = None
    if latest.position_at is not None and latest.latitude is not None and latest.longitude is not None:
        position = Position(latitude=latest.latitude, longitude=latest.longitude, at=latest.position_at)
    return VehicleSnapshot(
        data=latest.data, position=position, last_seen_at=latest.last_seen_at, changed_keys=changed_keys
    )


# (monitor, generation) pairs this process already logged a failure of: one traceback each,
# not one per vehicle and point.
_LOGGED_FAILURES: set[tuple[str, int]] = set()


def _monitor_failed(
    monitor: Monitor, vehicle: VehicleRef | Vehicle, what: str = "evaluated", *, error: Exception | None = None
) -> None:
    # A monitor that cannot be evaluated (a definition stored before a validation rule
    # existed, or a bug) must not stop the fleet's other monitors: it is skipped for this
    # vehicle, loudly, and the points are still applied for everyone else.
    EVALUATION_ERRORS.inc()
    if (monitor.pk, monitor.generation) not in _LOGGED_FAILURES:
        _LOGGED_FAILURES.add((monitor.pk, monitor.generation))
        logger.exception(
            f"monitor cannot be {what}; skipped",
            exc_info=error or True,
            extra={"fleet": monitor.fleet_id, "monitor": monitor.pk, "vin": vehicle.vin},
        )


class VehicleEvaluator:
    """Edge detection and refresh reminders for one vehicle across its fleet's active monitors."""

    def __init__(
        self, vehicle: VehicleRef | Vehicle, plans: Sequence[MonitorPlan], states: dict[str, MonitorState], *, now: datetime
    ) -> None:
        self.vehicle = vehicle
        self.now = now
        self.raised: list[Event] = []
        self.evaluations = 0
        self.runtimes = []
        for plan in plans:
            monitor = plan.monitor
            if plan.compiled is None:
                _monitor_failed(monitor, vehicle, error=plan.error)
                continue
            state = states.get(plan.id) or MonitorState(
                monitor_id=plan.id, vehicle_id=vehicle.id, generation=monitor.generation
            )
            reset = state.generation != monitor.generation
            # A pending expiry the reset cancels must leave the outbox even if nothing is evaluated.
            cancels_expiry = reset and state.dwell_due_at is not None
            if reset:
                # Redefined or resumed since: this vehicle starts from "never evaluated", and a
                # dwell it was counting counts from its next evaluation.
                state.generation, state.value, state.since = monitor.generation, None, None
                state.last_notified_at = state.next_refresh_at = None
                state.dwell, state.dwell_due_at = {}, None
            try:
                dwell = DwellState.decode(state.dwell) if plan.compiled.durations else None
            except Exception:
                _monitor_failed(monitor, vehicle)
                continue
            self.runtimes.append(
                _Runtime(
                    plan=plan, compiled=plan.compiled, state=state, reset=reset, dwell=dwell, dirty=cancels_expiry
                )
            )

    def apply_point(
        self, latest: LatestState, *, event_date: datetime, data: dict, latitude: float | None, longitude: float | None
    ) -> bool:
        """Merge a point into `latest` and evaluate at its eventDate, after the dwell expiries due
        before it (on the state as it was then). False when the point brought nothing newer."""
        self.advance(latest, event_date)
        merge = merge_point(latest, event_date=event_date, data=data, latitude=latitude, longitude=longitude)
        if merge.updated:
            self.evaluate(latest, merge.changed_keys, event_date)
        return merge.updated

    def evaluate_at(self, latest: LatestState, instant: datetime) -> None:
        """Evaluate on the last known state at `instant` (a window boundary, a reminder), after
        the dwell expiries due before it."""
        self.advance(latest, instant)
        self.evaluate(latest, frozenset(), instant)

    def advance(self, latest: LatestState, until: datetime, *, inclusive: bool = False) -> None:
        """Evaluate each monitor at its dwell expiries before `until` (or at it, `inclusive`), in
        time order: a dwell completes at `since + minDuration`, whatever comes next."""
        for runtime in self.runtimes:
            while not runtime.broken and runtime.dwell is not None and runtime.dwell.due is not None:
                due = runtime.dwell.due
                if due > until or (due == until and not inclusive):
                    break
                if not self._evaluate_runtime(runtime, latest, _snapshot(latest, frozenset()), due):
                    break  # not evaluated at that instant (a pause): its due cannot move on

    def evaluate(self, latest: LatestState, changed_keys: frozenset[str], instant: datetime) -> None:
        """Evaluate every monitor at `instant`, collecting the events raised in `self.raised`."""
        if not self.runtimes:
            return
        snapshot = _snapshot(latest, changed_keys)
        for runtime in self.runtimes:
            self._evaluate_runtime(runtime, latest, snapshot, instant)

    def _evaluate_runtime(
        self, runtime: _Runtime, latest: LatestState, snapshot: VehicleSnapshot, instant: datetime
    ) -> bool:
        if runtime.broken or runtime.skips(instant):
            return False
        self.evaluations += 1
        try:
            outcome = runtime.compiled.decide(snapshot, instant, runtime.dwell)
            self._transition(runtime, outcome, latest, snapshot, instant)
        except Exception:
            runtime.broken = True
            _monitor_failed(runtime.plan.monitor, self.vehicle)
            return False
        return True

    def _transition(
        self, runtime: _Runtime, outcome: Decision, latest: LatestState, snapshot: VehicleSnapshot, instant: datetime
    ) -> None:
        # The event first: one that cannot be built (see _evaluate_runtime) leaves the state as
        # it was, as an evaluation that failed does.
        state = runtime.state
        if not outcome.result:
            # Only transitions are written: a steady state costs no database write.
            if state.value is not False:
                state.value, state.since, state.next_refresh_at = False, instant, None
                runtime.dirty = True
        elif state.value is not True:
            self._notify(runtime, outcome, latest, snapshot, instant, refresh=False)
            state.value, state.since = True, instant
        elif outcome.fresh_change:
            # Each change is an occurrence of its own: Disconnected → InProgress → Finished
            # notifies both changes, though the expression never went false in between.
            self._notify(runtime, outcome, latest, snapshot, instant, refresh=False)
            state.since = instant
        elif runtime.plan.refresh is not None and (
            state.last_notified_at is None or instant >= state.last_notified_at + runtime.plan.refresh
        ):
            self._notify(runtime, outcome, latest, snapshot, instant, refresh=True)
        if outcome.dwell is not None:
            # Written when a dwell starts, ends or expires, not at every instant evaluated.
            if not outcome.dwell.same_schedule(runtime.dwell):
                state.dwell, state.dwell_due_at = outcome.dwell.encode(), outcome.dwell.due
                runtime.dirty = True
            runtime.dwell = outcome.dwell
        if runtime.reset:
            runtime.dirty = True

    def _notify(
        self,
        runtime: _Runtime,
        outcome: Decision,
        latest: LatestState,
        snapshot: VehicleSnapshot,
        instant: datetime,
        *,
        refresh: bool,
    ) -> None:
        monitor = runtime.plan.monitor
        event = Event(
            fleet_id=monitor.fleet_id,
            monitor=monitor,
            vehicle_id=self.vehicle.id,
            vin=self.vehicle.vin,
            vehicle_public_id=self.vehicle.id,
            event_date=instant,
            refresh=refresh,
            values=list(runtime.compiled.values(snapshot, outcome.bits)),
            extensions=self._extensions(monitor, latest),
        )
        state = runtime.state
        refresh_every = runtime.plan.refresh
        # When it was notified, not the (possibly old) eventDate: an event raised from late
        # telemetry is not followed by a reminder at once, reminders come every refreshEvent
        # seconds of real time.
        state.last_notified_at = max(instant, self.now)
        state.next_refresh_at = state.last_notified_at + refresh_every if refresh_every else None
        runtime.dirty = True
        self.raised.append(event)

    def _extensions(self, monitor: Monitor, latest: LatestState) -> list[dict]:
        # Extra data must not cost the event itself: without it, the event still goes out.
        try:
            return build_extensions(
                monitor.spec.extended_event_params, latest, vin=self.vehicle.vin, vehicle_id=self.vehicle.id
            )
        except Exception:
            _monitor_failed(monitor, self.vehicle, "given its extensions")
            return []

    def dirty_states(self) -> list[MonitorState]:
        return [runtime.state for runtime in self.runtimes if runtime.dirty]


def _store_events(events: list[Event]) -> list[Event]:
    """Insert the chunk's events at once. The unique occurrence constraint makes a duplicate
    (only possible for an instant evaluated twice) fail the bulk insert; then fall back to
    inserting one by one, skipping what already exists."""
    if not events:
        return []
    try:
        with transaction.atomic():
            return Event.objects.bulk_create(events)
    except IntegrityError:
        stored = []
        for event in events:
            with transaction.atomic():
                if not Event.objects.filter(
                    monitor=event.monitor,
                    vehicle_public_id=event.vehicle_public_id,
                    event_date=event.event_date,
                    refresh=event.refresh,
                ).exists():
                    event.save()
                    stored.append(event)
        return stored


@dataclass
class _Outcome:
    stored: list[Event] = field(default_factory=list)
    evaluations: int = 0


def _evaluate(
    ids: list[str],
    *,
    at: datetime | None,
    expiries: bool,
    monitor_ids: Sequence[str] | None,
    retry_id: int | None,
    now: datetime,
    stateless: Collection[str] | None = None,
) -> _Outcome:
    """The evaluation of `ids`, within the caller's transaction (see vehicles_evaluate).
    `stateless`: those of `ids` known to have no VehicleState row yet (None: not known)."""
    unknown = ids if stateless is None else stateless
    if unknown:
        existing = (
            Vehicle.objects.filter(pk__in=unknown)
            .exclude(pk__in=held_vehicles(retrying=retry_id))
            .values_list("pk", flat=True)
        )
        VehicleState.objects.bulk_create([VehicleState(vehicle_id=vid) for vid in existing], ignore_conflicts=True)
    rows = _vehicle_states_lock(ids, retry_id=retry_id)
    locked = [row[0] for row in rows]
    points_by_vehicle, watermarks = _points_past_watermarks(
        {row[0]: (_Watermark(seq=row[8], received_at=row[9]), row[10] - row[8]) for row in rows if row[10] > row[8]}
    )
    monitors = _active_monitors_read(sorted({row[1] for row in rows}))
    plans_by_fleet: dict[str, list[MonitorPlan]] = defaultdict(list)
    for plan in monitor_plans(monitors):
        plans_by_fleet[plan.monitor.fleet_id].append(plan)
    states: dict[str, dict[str, MonitorState]] = defaultdict(dict)
    for state in _monitor_states_read(locked, [plan.id for plans in plans_by_fleet.values() for plan in plans]):
        states[state.vehicle_id][state.monitor_id] = state

    changed_rows: list[tuple[str, LatestState, _Watermark]] = []
    dirty_states, raised, evaluations = [], [], 0
    for vehicle_id, fleet_id, vin, data, latitude, longitude, position_at, last_seen_at, *_ in rows:
        points = points_by_vehicle.get(vehicle_id, [])
        if not points and (at is None or last_seen_at is None):
            # A vehicle that never reported is not evaluated: `!inZone` must not fire on silence.
            continue
        latest = LatestState(
            data=decode_records(data),
            latitude=latitude,
            longitude=longitude,
            position_at=position_at,
            last_seen_at=last_seen_at,
        )
        plans = plans_by_fleet.get(fleet_id, [])
        if monitor_ids is not None and not points:
            plans = [plan for plan in plans if plan.id in monitor_ids]
        evaluator = VehicleEvaluator(VehicleRef(id=vehicle_id, fleet_id=fleet_id, vin=vin), plans, states[vehicle_id], now=now)
        for event_date, point_data, point_latitude, point_longitude in points:
            evaluator.apply_point(
                latest, event_date=event_date, data=point_data, latitude=point_latitude, longitude=point_longitude
            )
        if at is not None and expiries:
            evaluator.advance(latest, at, inclusive=True)
        elif at is not None:
            evaluator.evaluate_at(latest, at)
        if points:
            changed_rows.append((vehicle_id, latest, watermarks[vehicle_id]))
        dirty_states.extend(evaluator.dirty_states())
        raised.extend(evaluator.raised)
        evaluations += evaluator.evaluations

    _states_save(changed_rows, now=now)
    _monitor_states_save(dirty_states)
    stored = _store_events(raised)
    for event in stored:
        logger.info(
            "event raised",
            extra={"fleet": event.fleet_id, "monitor": event.monitor_id, "vin": event.vin, "refresh": event.refresh},
        )
    if stored:
        events_raised.send(sender=Event, events=stored)
    if retry_id is not None:
        DeadLetter.objects.filter(pk=retry_id).delete()  # succeeded: the vehicle is released
    return _Outcome(stored=stored, evaluations=evaluations)


def _boundary_claimed(boundary_id: int | None) -> bool:
    """Serialises copies of one boundary message; the later one finds the row gone."""
    if boundary_id is None:
        return True
    return BoundaryEvaluation.objects.select_for_update().filter(pk=boundary_id).first() is not None


def _boundary_done(boundary_id: int | None) -> None:
    if boundary_id is not None:
        BoundaryEvaluation.objects.filter(pk=boundary_id).delete()


def _one_by_one(
    ids: list[str],
    *,
    at: datetime | None,
    expiries: bool,
    monitor_ids: Sequence[str] | None,
    boundary_id: int | None,
    retry_id: int | None,
    now: datetime,
) -> _Outcome:
    """After the chunk failed: each vehicle alone, so one that cannot be evaluated does not
    hold up the others. One that fails alone too is recorded (deadletters.evaluation_failed)
    and held until a retry succeeds; the chunk's boundary row is done either way, the
    vehicle's dead letter carries its share."""
    outcome = _Outcome()
    with transaction.atomic():
        if not _boundary_claimed(boundary_id):
            return outcome
        for vehicle_id in ids:
            try:
                with transaction.atomic():
                    done = _evaluate(
                        [vehicle_id], at=at, expiries=expiries, monitor_ids=monitor_ids, retry_id=retry_id, now=now
                    )
            except Exception as exc:  # whatever it is, it is this vehicle's alone: recorded, not raised
                evaluation_failed(
                    vehicle_id=vehicle_id, at=at, monitor_ids=list(monitor_ids) if monitor_ids else None, error=exc, now=now
                )
                continue
            outcome.stored += done.stored
            outcome.evaluations += done.evaluations
        _boundary_done(boundary_id)
    return outcome


def vehicles_evaluate(
    *,
    vehicle_ids: Iterable[str],
    at: datetime | None = None,
    expiries: bool = False,
    monitor_ids: Sequence[str] | None = None,
    boundary_id: int | None = None,
    retry_id: int | None = None,
    chunk_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """Apply the vehicles' unevaluated points in eventDate order, evaluating monitors at each
    point's own eventDate; then, with `at`, evaluate again at that instant on the last known
    state (time windows opening or closing, refresh reminders); with `expiries`, only at the
    monitors' dwell expiries due by `at`, which a copy of the message finds already done.
    Returns the events raised.

    The whole chunk is one transaction with set-based reads and bulk writes: the per-vehicle
    cost is the evaluation itself, not database round trips. `boundary_id` is the
    BoundaryEvaluation row this evaluation completes (deleted in the same commit);
    `retry_id` the DeadLetter it retries (deleted on success); `chunk_id` the chunk of queued
    vehicles this evaluation takes (monitors.queued). Vehicles held by another dead
    letter are left alone: their points wait, in order, for the retry or a replay. If the
    chunk fails, its vehicles are evaluated one by one and those that fail are held."""
    now = now or timezone.now()
    ids = sorted(set(vehicle_ids))
    stateless = None
    joined: list[str] = []
    if at is None:
        # Telemetry-driven: only vehicles with points left to apply. Under a backlog, the task
        # of an earlier request often applied this one's points already; then this is the
        # only query. It also tells which vehicles have no state row yet, so the evaluation
        # creates only theirs. The chunk is taken and the vehicles' queued marks cleared first
        # (monitors.queued): a point whose POST found its vehicle marked is read here, and a
        # POST from now on queues an evaluation of its own.
        joined = evaluation_chunk_take(chunk_id=chunk_id, vehicle_ids=ids)
        if joined:
            ids = sorted({*ids, *joined})
        EVALUATION_TASK_VEHICLES.observe(len(ids))
        found = _vehicles_pending_read(ids, retry_id=retry_id)
        ids = sorted(found)
        stateless = [vehicle_id for vehicle_id in ids if not found[vehicle_id]]
        if not ids:
            if retry_id is not None:
                DeadLetter.objects.filter(pk=retry_id).delete()  # nothing left to retry
            if joined:
                evaluation_chunk_release(chunk_id=chunk_id)
            return 0
    try:
        with transaction.atomic():
            if not _boundary_claimed(boundary_id):
                return 0
            outcome = _evaluate(
                ids, at=at, expiries=expiries, monitor_ids=monitor_ids, retry_id=retry_id, now=now, stateless=stateless
            )
            _boundary_done(boundary_id)
    except Exception:
        logger.warning("evaluation of %d vehicle(s) failed; evaluating them one by one", len(ids), exc_info=True)
        outcome = _one_by_one(
            ids, at=at, expiries=expiries, monitor_ids=monitor_ids, boundary_id=boundary_id, retry_id=retry_id, now=now
        )
    if joined:
        evaluation_chunk_release(chunk_id=chunk_id)
    MONITOR_EVALUATIONS.inc(outcome.evaluations)
    for event in outcome.stored:
        EVENTS_RAISED.labels(monitor_type(event.monitor.spec.trigger_kinds), str(event.refresh).lower()).inc()
    return len(outcome.stored)


def dead_letter_retry(*, dead_letter_id: int, now: datetime | None = None) -> int:
    """Retry a held vehicle's evaluation, as its dead letter recorded it. A letter gone (the
    vehicle was removed, or an operator replayed it) or given up meanwhile means nothing to do."""
    letter = DeadLetter.objects.filter(pk=dead_letter_id, given_up_at__isnull=True).first()
    if letter is None or letter.vehicle_id is None:
        return 0
    return vehicles_evaluate(
        vehicle_ids=[letter.vehicle_id], at=letter.at, monitor_ids=letter.monitor_ids, retry_id=letter.pk, now=now
    )
