"""Merging telemetry points into a vehicle's latest-known state (pure).

Per key, a point older than what is stored does not overwrite it, so late or redelivered
points never flip the state; partial points only touch the keys they carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telemetry.alerts import ALERT_KEY, alert_starts


@dataclass
class KeyRecord:
    value: Any
    at: datetime
    previous: Any = None
    has_previous: bool = False
    # `vehicle.alert` only: when each listed alert type started, so that the active alerts
    # (webhook extensions) know their startedAt without reading past points.
    started: dict[str, datetime] | None = None


@dataclass
class LatestState:
    data: dict[str, KeyRecord] = field(default_factory=dict)
    latitude: float | None = None
    longitude: float | None = None
    position_at: datetime | None = None
    last_seen_at: datetime | None = None


def state_from_row(row: Any) -> LatestState:
    """The state a `VehicleState` row holds (typed loosely: this module stays free of models)."""
    return LatestState(
        data=decode_records(row.data),
        latitude=row.latitude,
        longitude=row.longitude,
        position_at=row.position_at,
        last_seen_at=row.last_seen_at,
    )


@dataclass(frozen=True)
class MergeResult:
    updated: bool  # the point brought anything newer than the state (else: nothing to evaluate)
    changed_keys: frozenset[str]  # keys whose value differs from the one they replaced


def merge_point(
    state: LatestState,
    *,
    event_date: datetime,
    data: Mapping[str, Any],
    latitude: float | None = None,
    longitude: float | None = None,
) -> MergeResult:
    updated = False
    changed: set[str] = set()
    for key, value in data.items():
        record = state.data.get(key)
        if record is None:
            record = state.data[key] = KeyRecord(value=value, at=event_date)
            if key == ALERT_KEY:
                record.started = alert_starts({}, value, event_date)
            updated = True
        elif event_date >= record.at:
            if key == ALERT_KEY:
                record.started = alert_starts(_alert_starts(record), value, event_date)
            if value != record.value:
                record.previous, record.has_previous = record.value, True
                changed.add(key)
            record.value, record.at = value, event_date
            updated = True
    if latitude is not None and longitude is not None and (state.position_at is None or event_date >= state.position_at):
        state.latitude, state.longitude, state.position_at = latitude, longitude, event_date
        updated = True
    if state.last_seen_at is None or event_date > state.last_seen_at:
        state.last_seen_at = event_date
        updated = True
    return MergeResult(updated=updated, changed_keys=frozenset(changed))


def _alert_starts(record: KeyRecord) -> dict[str, datetime]:
    if record.started is not None:
        return record.started
    # Stored before the state kept starts: the record's own date is the earliest known.
    return alert_starts({}, record.value, record.at)


def _encode(record: KeyRecord) -> dict[str, Any]:
    encoded = {
        "value": record.value,
        "at": record.at.isoformat(),
        "previous": record.previous,
        "hasPrevious": record.has_previous,
    }
    if record.started is not None:
        encoded["started"] = {code: at.isoformat() for code, at in record.started.items()}
    return encoded


def encode_records(records: Mapping[str, KeyRecord]) -> dict[str, dict[str, Any]]:
    return {key: _encode(r) for key, r in records.items()}


def decode_records(stored: Mapping[str, Mapping[str, Any]]) -> dict[str, KeyRecord]:
    return {
        key: KeyRecord(
            value=r["value"],
            at=datetime.fromisoformat(r["at"]),
            previous=r.get("previous"),
            has_previous=bool(r.get("hasPrevious")),
            started={code: datetime.fromisoformat(at) for code, at in r["started"].items()} if "started" in r else None,
        )
        for key, r in stored.items()
    }
