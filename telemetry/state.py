"""Merging telemetry points into a vehicle's latest-known state (pure).

Per key, a point older than what is stored does not overwrite it, so late or redelivered
points never flip the state; partial points only touch the keys they carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping


@dataclass
class KeyRecord:
    value: Any
    at: datetime
    previous: Any = None
    has_previous: bool = False


@dataclass
class LatestState:
    data: dict[str, KeyRecord] = field(default_factory=dict)
    latitude: float | None = None
    longitude: float | None = None
    position_at: datetime | None = None
    last_seen_at: datetime | None = None


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
            state.data[key] = KeyRecord(value=value, at=event_date)
            updated = True
        elif event_date >= record.at:
            if value != record.value:
                record.previous, record.has_previous = record.value, True
                changed.add(key)
            record.value, record.at = value, event_date
            updated = True
    if latitude is not None and longitude is not None:
        if state.position_at is None or event_date >= state.position_at:
            state.latitude, state.longitude, state.position_at = latitude, longitude, event_date
            updated = True
    if state.last_seen_at is None or event_date > state.last_seen_at:
        state.last_seen_at = event_date
        updated = True
    return MergeResult(updated=updated, changed_keys=frozenset(changed))


def encode_records(records: Mapping[str, KeyRecord]) -> dict[str, dict[str, Any]]:
    return {
        key: {"value": r.value, "at": r.at.isoformat(), "previous": r.previous, "hasPrevious": r.has_previous}
        for key, r in records.items()
    }


def decode_records(stored: Mapping[str, Mapping[str, Any]]) -> dict[str, KeyRecord]:
    return {
        key: KeyRecord(
            value=r["value"],
            at=datetime.fromisoformat(r["at"]),
            previous=r.get("previous"),
            has_previous=bool(r.get("hasPrevious")),
        )
        for key, r in stored.items()
    }
