"""The webhook template's `MonitorEvent`, built here only: what a webhook carries (one per
event in its `events`), what the events API lists and what a backtest answers.

`{"fleetId", "vin", "eventDate", "values", "extensions", "refresh"}`
(../shared/reference/stellantis-b2b-webhook-template.yaml).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fleetmon_project.isodates import format_rfc3339

if TYPE_CHECKING:
    from monitors.models import Event


def monitor_event(
    *,
    fleet_id: str,
    vin: str,
    event_date: datetime,
    values: Sequence[dict[str, Any]],
    extensions: Sequence[dict[str, Any]],
    refresh: bool,
) -> dict[str, Any]:
    return {
        "fleetId": fleet_id,
        "vin": vin,
        "eventDate": format_rfc3339(event_date),
        "values": values,
        "extensions": extensions,
        "refresh": refresh,
    }


def render_event(event: Event) -> dict[str, Any]:
    """An event as the API lists it: its `MonitorEvent`, plus its id and monitor."""
    return {"id": event.pk, "monitorId": event.monitor_id, **event.to_monitor_event()}
