from __future__ import annotations

import json
import logging
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from fleetmon_project.metrics import monitor_type
from fleetmon_project.observability import READY_TIMEOUT, ContextFormatter
from tests.telemetry.factories import VehicleFactory

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_authentication():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_and_broker():
    response = Client().get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_answers_503_when_the_broker_is_unreachable(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error")
    assert body["code"] == 50300 and body["message"].startswith("not ready (broker: error")


def test_readyz_answers_503_within_seconds_when_the_broker_host_stops_answering(settings):
    with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        started = time.monotonic()
        response = Client().get("/readyz")
        took = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("error: Timeout")
    assert took < 2 * READY_TIMEOUT + 1


def test_metrics_report_ingestion_and_backlog(api, fleet):
    VehicleFactory(fleet=fleet, vin="VF3ABCDE0FG123456")
    before = Client().get("/metrics").content.decode()
    point = {"vin": "VF3ABCDE0FG123456", "eventDate": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}
    api.post("/api/v1/telemetry", [point, point], format="json")
    text = Client().get("/metrics").content.decode()

    def sample(body: str, name: str) -> float:
        lines = [line for line in body.splitlines() if line.startswith(name + " ")]
        return float(lines[0].split()[1]) if lines else 0.0

    assert sample(text, "fleetmon_points_ingested_total") - sample(before, "fleetmon_points_ingested_total") == 2
    assert sample(text, "fleetmon_points_unevaluated") == 2
    assert 'fleetmon_deliveries_open{state="pending"}' in text
    assert 'fleetmon_queue_depth{queue="evaluation"}' in text


def test_metrics_report_dead_letters_given_up_and_still_retrying(fleet):
    from monitors.models import DeadLetter

    now = datetime.now(UTC)
    common = {"kind": "vehicle", "fleet": fleet, "error": "boom", "first_failed_at": now, "last_failed_at": now}
    for vehicle, given_up in ((VehicleFactory(fleet=fleet), now), (VehicleFactory(fleet=fleet), None)):
        DeadLetter.objects.create(**common, vehicle=vehicle, vehicle_ids=[vehicle.pk], attempts=1, given_up_at=given_up)
    DeadLetter.objects.create(**{**common, "kind": "boundary"}, vehicle_ids=[], attempts=10, given_up_at=now)
    text = Client().get("/metrics").content.decode()
    assert 'fleetmon_dead_letters_open{state="given_up"} 2.0' in text
    assert 'fleetmon_dead_letters_open{state="retrying"} 1.0' in text
    assert "# TYPE fleetmon_dead_letters_total counter" in text


def test_metrics_token_is_enforced_when_set(settings):
    settings.FLEETMON_METRICS_TOKEN = "s3cret"
    refused = Client().get("/metrics")
    assert refused.status_code == 401 and refused.json()["code"] == 40100
    assert "FLEETMON_METRICS_TOKEN" in refused.json()["message"]
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


def test_monitor_type_names_combinations():
    assert monitor_type(["zone"]) == "zone"
    assert monitor_type(["zone", "data", "zone"]) == "data+zone"


def _record(**extra) -> logging.LogRecord:
    record = logging.LogRecord("fleetmon", logging.INFO, __file__, 1, "event raised", None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_logs_carry_context_fields():
    line = ContextFormatter(json_lines=True).format(_record(fleet="f1", monitor="m1", vin="VIN", delivery=7))
    parsed = json.loads(line)
    assert parsed["message"] == "event raised"
    assert (parsed["fleet"], parsed["monitor"], parsed["vin"], parsed["delivery"]) == ("f1", "m1", "VIN", 7)


def test_text_logs_append_context_as_key_values():
    line = ContextFormatter(json_lines=False).format(_record(fleet="f1", vin="VIN"))
    assert line.endswith("event raised fleet=f1 vin=VIN")
