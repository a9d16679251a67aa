"""The webhook body: the reference template's `MonitorEvents`, serialised once per delivery.

`{"monitorId", "attributes": [{"key", "value"}], "events": [MonitorEvent]}`, each event as
`monitors.events` builds it (../shared/reference/stellantis-b2b-webhook-template.yaml).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from monitors.events import monitor_event
from monitors.models import Monitor

# Shown by the test endpoint when the fleet has no vehicle yet: 17 characters of the VIN
# alphabet, recognisably not a real vehicle.
SAMPLE_VIN = "VR3SAMPLE00000000"
SAMPLE_VEHICLE_ID = "sample"


def webhook_variables(*, monitor: Monitor, vin: str, vehicle_public_id: str) -> dict[str, str]:
    """The values of `$vin`, `$vid`, `$monitorID` and `$fleetID` for one request."""
    return {"vin": vin, "vid": vehicle_public_id, "monitorID": monitor.pk, "fleetID": monitor.fleet_id}


def sample_event(*, monitor: Monitor, vin: str, at: datetime) -> dict[str, Any]:
    # No values: a sample is not the outcome of an evaluation, and inventing trigger values
    # would make a receiver's test look like a real alert.
    return monitor_event(fleet_id=monitor.fleet_id, vin=vin, event_date=at, values=[], extensions=[], refresh=False)


def monitor_events_body(
    *, monitor_id: str, attributes: Sequence[Mapping[str, str]], events: Sequence[Mapping[str, Any]]
) -> str:
    # Compact and UTF-8 as is: these exact characters are what gets signed and stored.
    return json.dumps(
        {"monitorId": monitor_id, "attributes": list(attributes), "events": list(events)},
        separators=(",", ":"),
        ensure_ascii=False,
    )
