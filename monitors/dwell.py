"""Dwell (`minDuration`): a trigger satisfied only once its own condition has held continuously
for a duration, by eventDate. Pure: the engine and the backtest keep a `DwellState` per
(monitor, vehicle) and call `dwell_step` at every instant they evaluate.

The condition is observed at the instants evaluated (points, window boundaries, expiries): it
"held continuously" from the first instant it was seen true (`since`) as long as no later
instant saw it false. A trigger with `since` set becomes satisfied at `since + minDuration`,
whether or not an instant is evaluated then: `DwellState.due` is the next such instant still
ahead, which the engine schedules (MonitorVehicleState.dwell_due_at) so it is evaluated without
new telemetry.

A late instant (before one already evaluated, or before the vehicle's newest point) neither
starts nor ends a dwell: it says nothing about the condition after what was already seen. It
is satisfied only if the dwell it finds had completed by then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# A dwell shorter than a second is no dwell; one longer than a day outlasts what a vehicle's
# telemetry says about a place or a value (and the refresh/retention horizons).
MIN_DURATION = timedelta(seconds=1)
MAX_DURATION = timedelta(days=1)


@dataclass(frozen=True)
class DwellState:
    since: Mapping[str, datetime] = field(default_factory=dict)  # trigger name → held since
    at: datetime | None = None  # the latest instant evaluated (not late)
    due: datetime | None = None  # the earliest `since + minDuration` after `at`, if any

    def encode(self) -> dict[str, Any]:
        encoded: dict[str, Any] = {"since": {name: moment.isoformat() for name, moment in self.since.items()}}
        if self.at is not None:
            encoded["at"] = self.at.isoformat()
        if self.due is not None:
            encoded["due"] = self.due.isoformat()
        return encoded

    @classmethod
    def decode(cls, raw: Mapping[str, Any] | None) -> DwellState:
        if not raw:
            return cls()
        return cls(
            since={name: datetime.fromisoformat(moment) for name, moment in (raw.get("since") or {}).items()},
            at=datetime.fromisoformat(raw["at"]) if raw.get("at") else None,
            due=datetime.fromisoformat(raw["due"]) if raw.get("due") else None,
        )

    def same_schedule(self, other: DwellState | None) -> bool:
        """Whether `other` starts, ends and expires the same dwells (`at` aside): only then can
        the engine skip writing it."""
        return other is not None and self.since == other.since and self.due == other.due


@dataclass(frozen=True)
class DwellStep:
    state: DwellState
    satisfied: frozenset[str]  # the dwell triggers satisfied at the instant


def dwell_step(
    state: DwellState,
    *,
    holds: Mapping[str, bool],
    durations: Mapping[str, timedelta],
    instant: datetime,
    newest_point: datetime | None = None,
) -> DwellStep:
    """The dwell triggers (`durations`: name → minDuration) at `instant`, given whether each
    one's own condition holds then, and the state moved to `instant`. `newest_point` is the
    eventDate of the vehicle's newest point: an instant before it is late."""
    late = (state.at is not None and instant < state.at) or (newest_point is not None and instant < newest_point)
    since = dict(state.since)
    if not late:
        for name in durations:
            if holds[name]:
                since.setdefault(name, instant)
            else:
                since.pop(name, None)
    satisfied = frozenset(
        name for name, duration in durations.items() if holds[name] and name in since and instant >= since[name] + duration
    )
    at = instant if state.at is None or instant > state.at else state.at
    due = min(
        (since[name] + durations[name] for name in since if since[name] + durations[name] > at),
        default=None,
    )
    return DwellStep(state=DwellState(since=since, at=at, due=due), satisfied=satisfied)
