from __future__ import annotations

import json
from datetime import UTC

import pytest
from django.utils import timezone

from notifications import payloads
from tests.notifications.factories import EventFactory, webhook_monitor
from tests.notifications.support import assert_extension_models, assert_monitor_events

pytestmark = pytest.mark.django_db


def test_body_is_compact_utf8_in_the_template_shape(fleet):
    monitor = webhook_monitor(fleet=fleet, target="http://127.0.0.1:9/hook")
    event = EventFactory(monitor=monitor, extensions=[{"type": "vehicle.position", "body": {"position": {}}}])
    body = payloads.monitor_events_body(
        monitor_id=monitor.pk,
        attributes=[{"key": "site", "value": "Sochaux–Montbéliard"}],
        events=[event.to_monitor_event()],
    )
    assert "Montbéliard" in body and ", " not in body and ": " not in body
    parsed = json.loads(body)
    assert_monitor_events(parsed)
    assert parsed["events"][0]["eventDate"].endswith("Z")
    assert parsed["events"][0]["extensions"] == event.extensions


def test_sample_event_matches_the_template(fleet):
    monitor = webhook_monitor(fleet=fleet, target="http://127.0.0.1:9/hook")
    sample = payloads.sample_event(monitor=monitor, vin=payloads.SAMPLE_VIN, at=timezone.now())
    assert_monitor_events(json.loads(payloads.monitor_events_body(monitor_id=monitor.pk, attributes=[], events=[sample])))
    assert len(payloads.SAMPLE_VIN) == 17 and sample["values"] == [] and sample["refresh"] is False


def test_extensions_built_from_a_received_status_go_out_as_the_api_models(fleet):
    from datetime import datetime

    from monitors.extensions import build_extensions
    from telemetry.reference import derive_data, derive_trip
    from telemetry.state import LatestState, merge_point
    from tests.telemetry.reference_status import STATUS, VIN

    state = LatestState()
    data = {**derive_data(STATUS), **derive_trip({"id": "T1", "done": False})}
    merge_point(state, event_date=datetime(2026, 6, 1, tzinfo=UTC), data=data, latitude=48.8, longitude=2.3)
    params = ["vehicle.position", "vehicle.status", "vehicle.doorsState", "vehicle.trip", "vehicle.telemetry.vehicle"]
    monitor = webhook_monitor(fleet=fleet, target="http://127.0.0.1:9/hook")
    extensions = build_extensions(params, state, vin=VIN, vehicle_id="0a123bc5d1e873066454b4d9")
    event = EventFactory(monitor=monitor, extensions=extensions)
    parsed = json.loads(payloads.monitor_events_body(monitor_id=monitor.pk, attributes=[], events=[event.to_monitor_event()]))
    assert [extension["type"] for extension in parsed["events"][0]["extensions"]] == [
        "vehicle.position", "vehicle.status", "vehicle.doorsState", "vehicle.trip", "vehicle.telemetry"
    ]
    assert_monitor_events(parsed)
    assert_extension_models(parsed)
