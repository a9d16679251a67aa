from __future__ import annotations

import json

import pytest
from django.utils import timezone

from notifications import payloads
from tests.notifications.factories import EventFactory, webhook_monitor
from tests.notifications.support import assert_monitor_events

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
