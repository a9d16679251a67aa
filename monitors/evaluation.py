"""Evaluating a whole monitor against a vehicle snapshot, free of any framework.

``compile_monitor`` does every bit of parsing once (the boolExp truth table, zone
parameters, time specs, data operands), so that ``CompiledMonitor.decide``, which runs
for every telemetry point of every vehicle, only compares values (``values`` builds an
event's, ``evaluate`` is both at once). The result can be cached per monitor version.

Anything a reported value or a trigger operand cannot be compared with (a non-numeric
operand of a number key, a string reported for a boolean key, ...) makes the trigger
unsatisfied rather than raising: one odd point must not stop a vehicle's evaluation.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, NamedTuple

from fleetmon_project.isodates import parse_iso_duration
from monitors.boolexp import CompiledExpression, compile_expression
from monitors.dwell import DwellState, dwell_step
from monitors.spec import MonitorSpec, TriggerSpec
from monitors.timewindows import (
    DAILY_FIRST_INSTANT,
    DAILY_LAST_INSTANT,
    TimeTriggerSpec,
    is_within,
    next_boundary,
    parse_time_trigger,
)
from monitors.zones import ZoneArea, is_inside_circle, is_inside_polygon, polygon_area
from telemetry.datakeys import DATA_KEYS, MOVING_KEY, ValueKind
from telemetry.state import KeyRecord

ALERT_KEY = "vehicle.alert"
# The fields that name an object in a list value, by precedence (an alert's `type`...).
_IDENTITY_FIELDS = ("type", "name", "id")

Predicate = Callable[[object], bool]


# A key's latest value as the vehicle state keeps it (value, at, previous, has_previous).
KeyState = KeyRecord


@dataclass(frozen=True)
class Position:
    latitude: float
    longitude: float
    at: datetime


@dataclass(frozen=True)
class VehicleSnapshot:
    data: Mapping[str, KeyState]
    position: Position | None
    last_seen_at: datetime | None  # eventDate of the latest point of any kind
    # Keys whose value changed (differs from previous) in the point being evaluated.
    changed_keys: frozenset[str] = frozenset()
    # Whether the position lies in each circle asked about so far, by (latitude, longitude,
    # radius): a fleet's monitors often share a zone, measured once per snapshot.
    circles: dict[tuple[float, float, float], bool] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Evaluation:
    result: bool
    values: tuple[dict, ...]  # the webhook's `values`: satisfied data triggers, when result is true
    # True when the result is true only because of a change seen at this instant (an onChange
    # trigger): a new occurrence even if the expression was already true.
    fresh_change: bool = False
    # The monitor's dwell state moved to the instant; None for a monitor without minDuration.
    dwell: DwellState | None = None


class Decision(NamedTuple):
    """An Evaluation without its `values`, which only an event needs (CompiledMonitor.values):
    the engine decides at every point and builds values only when it notifies."""

    result: bool
    bits: int  # bit j: trigger j satisfied (after minDuration)
    fresh_change: bool
    dwell: DwellState | None


@dataclass(frozen=True)
class _ZoneTrigger:
    wants_inside: bool
    center_latitude: float
    center_longitude: float
    radius_km: float

    def is_satisfied(self, snapshot: VehicleSnapshot, instant: datetime) -> bool:
        position = snapshot.position
        if position is None:
            return False
        circle = (self.center_latitude, self.center_longitude, self.radius_km)
        inside = snapshot.circles.get(circle)
        if inside is None:
            inside = snapshot.circles[circle] = is_inside_circle(
                latitude=position.latitude,
                longitude=position.longitude,
                center_latitude=self.center_latitude,
                center_longitude=self.center_longitude,
                radius_km=self.radius_km,
            )
        return inside == self.wants_inside


@dataclass(frozen=True)
class _PolygonZoneTrigger:
    wants_inside: bool
    area: ZoneArea  # prepared: GEOS indexes its edges once per compiled monitor, not per point

    def is_satisfied(self, snapshot: VehicleSnapshot, instant: datetime) -> bool:
        position = snapshot.position
        if position is None:
            return False
        inside = is_inside_polygon(self.area, latitude=position.latitude, longitude=position.longitude)
        return inside == self.wants_inside


_END_OF_TIME = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _TimeTrigger:
    spec: TimeTriggerSpec
    activity_window: timedelta
    # The last span known to lie wholly in or out of the windows, as (from, until, within):
    # a window only opens or closes at a boundary, so is_within holds one value from an
    # instant to the next boundary. A fleet's points are dated close together, so nearly all
    # fall in the span and skip the calendar arithmetic (a sixth of an evaluation's time).
    _span: list[tuple[datetime, datetime, bool] | None] = field(
        default_factory=lambda: [None], compare=False, repr=False
    )

    def is_satisfied(self, snapshot: VehicleSnapshot, instant: datetime) -> bool:
        return _in_use(snapshot, instant, self.activity_window) and self._within(instant)

    def _within(self, instant: datetime) -> bool:
        span = self._span[0]
        if span is not None and span[0] <= instant < span[1]:
            return span[2]
        within = is_within(self.spec, instant)
        until = next_boundary(self.spec, instant)
        if until is None and not self.spec.daily:
            # Past the last edge of its absolute windows (one open-ended, say) nothing changes
            # any more: without a span, every point paid for the arithmetic again.
            self._span[0] = (instant, _END_OF_TIME, within)
        # Daily windows count only from DAILY_FIRST_INSTANT to DAILY_LAST_INSTANT, which are
        # no boundaries: a span must not straddle them.
        elif until is not None and instant >= DAILY_FIRST_INSTANT and until <= DAILY_LAST_INSTANT:
            self._span[0] = (instant, until, within)
        return within


@dataclass(frozen=True)
class _DataTrigger:
    key: str
    matches: Predicate | None  # None for onChange, which looks at the change, not the value

    def is_satisfied(self, snapshot: VehicleSnapshot, instant: datetime) -> bool:
        state = snapshot.data.get(self.key)
        if state is None:
            return False
        if self.matches is None:
            return state.has_previous and self.key in snapshot.changed_keys
        return self.matches(state.value)


_Trigger = _ZoneTrigger | _PolygonZoneTrigger | _TimeTrigger | _DataTrigger


@dataclass(frozen=True)
class CompiledMonitor:
    expression: CompiledExpression
    triggers: tuple[_Trigger, ...]  # in the order of expression.names, i.e. its bit order
    # Each trigger's minDuration, by name; only the triggers that have one.
    durations: Mapping[str, timedelta] = field(default_factory=dict)

    @cached_property
    def _on_change_bits(self) -> int:
        return sum(
            1 << position
            for position, trigger in enumerate(self.triggers)
            if isinstance(trigger, _DataTrigger) and trigger.matches is None
        )

    @cached_property
    def _checks(self) -> tuple[tuple[int, Callable[[VehicleSnapshot, datetime], bool]], ...]:
        return tuple((1 << position, trigger.is_satisfied) for position, trigger in enumerate(self.triggers))

    @property
    def has_time_triggers(self) -> bool:
        return any(isinstance(trigger, _TimeTrigger) for trigger in self.triggers)

    @cached_property
    def _dwell_bits(self) -> dict[str, int]:
        return {name: 1 << self.expression.names.index(name) for name in self.durations}

    def evaluate(self, snapshot: VehicleSnapshot, instant: datetime, dwell: DwellState | None = None) -> Evaluation:
        """The expression at `instant`; with minDuration triggers, `dwell` is the state the
        previous evaluation returned (None: never evaluated)."""
        decision = self.decide(snapshot, instant, dwell)
        if not decision.result:
            return Evaluation(result=False, values=(), dwell=decision.dwell)
        return Evaluation(
            result=True,
            values=self.values(snapshot, decision.bits),
            fresh_change=decision.fresh_change,
            dwell=decision.dwell,
        )

    def decide(self, snapshot: VehicleSnapshot, instant: datetime, dwell: DwellState | None = None) -> Decision:
        """evaluate() without the values."""
        bits = 0
        for bit, is_satisfied in self._checks:
            if is_satisfied(snapshot, instant):
                bits |= bit
        moved = None
        if self.durations:
            dwell_bits = self._dwell_bits
            step = dwell_step(
                dwell or DwellState(),
                holds={name: bool(bits & bit) for name, bit in dwell_bits.items()},
                durations=self.durations,
                instant=instant,
                newest_point=snapshot.last_seen_at,
            )
            for name, bit in dwell_bits.items():
                if name not in step.satisfied:
                    bits &= ~bit
            moved = step.state
        if not self.expression.evaluate_bits(bits):
            return Decision(False, bits, False, moved)
        # Fresh when the expression would be false without the changes seen now (all of them
        # at once: with `a | b`, a point changing both still owes its truth to a change).
        changes = self._on_change_bits
        fresh_change = bool(bits & changes) and not self.expression.evaluate_bits(bits & ~changes)
        return Decision(True, bits, fresh_change, moved)

    def values(self, snapshot: VehicleSnapshot, bits: int) -> tuple[dict, ...]:
        """The webhook's `values` of a true decision: its satisfied data triggers."""
        return tuple(
            _value_entry(trigger.key, snapshot.data[trigger.key].value)
            for position, trigger in enumerate(self.triggers)
            if isinstance(trigger, _DataTrigger) and (bits >> position) & 1
        )

    def next_time_boundary(self, after: datetime) -> datetime | None:
        """When the next time window of any time trigger opens or closes (UTC), if ever."""
        boundaries = (
            next_boundary(trigger.spec, after) for trigger in self.triggers if isinstance(trigger, _TimeTrigger)
        )
        return min((boundary for boundary in boundaries if boundary is not None), default=None)


def compile_monitor(spec: MonitorSpec, *, activity_window_s: int = 300) -> CompiledMonitor:
    """Compile a canonical (already validated) monitor definition for repeated evaluation."""
    activity_window = timedelta(seconds=activity_window_s)
    return CompiledMonitor(
        expression=compile_expression(spec.bool_exp, spec.trigger_names),
        triggers=tuple(_compile_trigger(trigger, activity_window) for trigger in spec.triggers),
        durations={
            trigger.name: parse_iso_duration(trigger.min_duration)
            for trigger in spec.triggers
            if trigger.min_duration is not None
        },
    )


def _compile_trigger(trigger: TriggerSpec, activity_window: timedelta) -> _Trigger:
    if trigger.kind == "zone":
        zone = trigger.params
        wants_inside = zone["transition"] == "In"
        if "polygon" in zone:
            return _PolygonZoneTrigger(wants_inside=wants_inside, area=polygon_area(zone["polygon"]))
        place = zone["place"]
        return _ZoneTrigger(
            wants_inside=wants_inside,
            center_latitude=float(place["center"]["latitude"]),
            center_longitude=float(place["center"]["longitude"]),
            radius_km=float(place["radius"]),
        )
    if trigger.kind == "time":
        return _TimeTrigger(spec=parse_time_trigger(trigger.params), activity_window=activity_window)
    data = trigger.params
    key = data["data"]
    op = data.get("op")
    if op == "onChange":
        return _DataTrigger(key=key, matches=None)
    # A key outside the catalogue can only be compared as an opaque string.
    kind = DATA_KEYS.get(key, ValueKind.ANY)
    return _DataTrigger(key=key, matches=_value_predicate(kind, op, data.get("value") or ()))


def _in_use(snapshot: VehicleSnapshot, instant: datetime, activity_window: timedelta) -> bool:
    """A moving vehicle; or, for one that never reports motion, one heard from lately."""
    moving = snapshot.data.get(MOVING_KEY)
    if moving is not None:
        return moving.value is True
    # A point dated after the instant (clock skew, late sweep) is as recent as can be.
    return snapshot.last_seen_at is not None and instant - snapshot.last_seen_at <= activity_window


# --- data comparisons ---------------------------------------------------------------


def _never(value: object) -> bool:
    return False


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_boolean(value: object) -> bool:
    return isinstance(value, bool)


def _is_string(value: object) -> bool:
    return isinstance(value, str)


def _parse_number(operand: object) -> float | None:
    if not isinstance(operand, str):
        return None
    try:
        return float(operand)
    except ValueError:
        return None


def _parse_boolean(operand: object) -> bool | None:
    return {"true": True, "false": False}.get(operand.lower()) if isinstance(operand, str) else None


def _parse_string(operand: object) -> str | None:
    return operand if isinstance(operand, str) else None


# Per scalar kind: how an operand string is read, which reported values are comparable
# with it, and the ordered comparisons the kind allows besides equalsTo and includedIn.
_OPERAND_PARSERS: dict[ValueKind, Callable[[object], object | None]] = {
    ValueKind.NUMBER: _parse_number,
    ValueKind.BOOLEAN: _parse_boolean,
    ValueKind.STRING: _parse_string,
    ValueKind.ANY: _parse_string,
}
_VALUE_CHECKS: dict[ValueKind, Predicate] = {
    ValueKind.NUMBER: _is_number,
    ValueKind.BOOLEAN: _is_boolean,
    ValueKind.STRING: _is_string,
    ValueKind.ANY: _is_string,
}
_COMPARISONS: dict[ValueKind, dict[str, Callable[[Any, Any], bool]]] = {
    ValueKind.NUMBER: {"equalsTo": operator.eq, "greaterThan": operator.gt, "lowerThan": operator.lt},
    ValueKind.BOOLEAN: {"equalsTo": operator.eq},
    ValueKind.STRING: {"equalsTo": operator.eq},
    ValueKind.ANY: {"equalsTo": operator.eq},
}


def _value_predicate(kind: ValueKind, op: str | None, operands: Sequence[object]) -> Predicate:
    if kind is ValueKind.LIST:
        return _list_predicate(op, operands)
    parse = _OPERAND_PARSERS[kind]
    accepts = _VALUE_CHECKS[kind]
    if op == "includedIn":
        # Exact ints and floats hash alike (50 and 50.0), so membership is numeric equality.
        targets = frozenset(parsed for parsed in map(parse, operands) if parsed is not None)
        return lambda value: accepts(value) and value in targets
    compare = _COMPARISONS[kind].get(op) if op is not None else None
    target = parse(operands[0]) if operands else None
    if compare is None or target is None:
        return _never
    return lambda value: accepts(value) and compare(value, target)


def _list_predicate(op: str | None, operands: Sequence[object]) -> Predicate:
    targets = frozenset(operand for operand in operands if isinstance(operand, str))
    if op == "includedIn":
        return lambda value: isinstance(value, list) and not targets.isdisjoint(map(_identity, value))
    if op == "equalsTo" and operands and isinstance(operands[0], str):
        target = operands[0]
        return lambda value: isinstance(value, list) and any(_identity(item) == target for item in value)
    return _never


def _identity(item: object) -> str:
    """What names a list item: a string itself, an object its first identity field."""
    if isinstance(item, dict):
        for name in _IDENTITY_FIELDS:
            if name in item:
                return _literal(item[name])
    return _literal(item)


def _literal(value: object) -> str:
    """A value as the text the webhook shows: strings bare, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _value_entry(key: str, value: object) -> dict:
    if isinstance(value, list):
        return {
            "data": key,
            "value": {
                "type": "obj.alert" if key == ALERT_KEY else "string",
                "body": {"objectValues": [{"value": item} if isinstance(item, str) else item for item in value]},
            },
        }
    return {"data": key, "value": {"type": "string", "body": {"literalValue": _literal(value)}}}
