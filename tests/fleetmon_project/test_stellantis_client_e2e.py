"""A client written for the Stellantis reference works against FleetMon unchanged.

Black box, over real HTTP: the API served by a live server on loopback, evaluation and delivery
by real Celery worker processes on Redis, the webhook received by a real HTTP server. The
client authenticates only as the reference declares (Basic + `client_id`), posts its vehicle's
status in the reference's `Status` shape, receives the event, then reads the vehicle named in
the event. Every body, sent or received, validates against the reference's own schemas.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core.management import call_command

from tests.e2e_support import wait_for
from tests.notifications.support import assert_monitor_events
from tests.reference import assert_api_schema, assert_api_schema_without_links

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AUTONOMY_EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "autonomy-fixed.json"
VIN = "VF3ABCDE0FG123456"
PARIS = (2.333333, 48.866667)
OUT_OF_PARIS = (2.33, 49.3)  # about 48 km north: outside the example's 20 km circle


class StellantisClient:
    """What a reference client does: a base URL, Basic credentials, `client_id` on every call."""

    def __init__(self, base_url: str, *, user: str, secret: str, client_id: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.auth = (user, secret)
        self.client_id = client_id

    def call(self, method: str, path: str, *, body: Any = None, accept: str = "application/hal+json", **params: Any):
        response = self.session.request(
            method,
            self.base_url + path,
            params={"client_id": self.client_id, **params},
            json=body,
            headers={"Accept": accept},
            timeout=10,
        )
        assert response.status_code < 400, (response.status_code, response.text)
        return response


def status_document(*, at: datetime, level: float, autonomy: int, position: tuple[float, float]) -> dict[str, Any]:
    """A vehicle status exactly as `GET …/vehicles/{vid}/status` of the reference answers it."""
    stamp = at.isoformat().replace("+00:00", "Z")
    return {
        "_links": {"self": {"href": "https://api.groupe-psa.com/connectedcar/v3/fleets/f/vehicles/v/status"}},
        "vin": VIN,
        "createdAt": stamp,
        "updatedAt": stamp,
        "lastPosition": {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(position)},
            "properties": {"createdAt": stamp, "heading": 90, "type": "Acquire", "fixStatus": "3D"},
        },
        "energies": [
            {
                "type": "Electric",
                "createdAt": stamp,
                "level": level,
                "autonomy": autonomy,
                "extension": {"electric": {"charging": {"plugged": False, "status": "Disconnected"}}},
            }
        ],
        "kinetic": {"createdAt": stamp, "moving": True, "speed": 50.0},
        "odometer": {"createdAt": stamp, "mileage": 12345.6},
        "environment": {"air": {"createdAt": stamp, "temp": 21.5}},
    }


def alert_document(*, at: datetime) -> dict[str, Any]:
    stamp = at.isoformat().replace("+00:00", "Z")
    return {
        "_links": {"self": {"href": "https://api.groupe-psa.com/connectedcar/v3/fleets/f/alerts/a1"}},
        "id": "a1",
        "vin": VIN,
        "active": True,
        "type": "FuelLevelLow",
        "severity": "Warning",
        "createdAt": stamp,
        "startedAt": stamp,
    }


@pytest.fixture
def credentials(user) -> dict[str, str]:
    out = io.StringIO()
    call_command("create_api_client", user.username, "--label", "Stellantis gateway", stdout=out, stderr=io.StringIO())
    fields = dict(line.split(":", 1) for line in out.getvalue().splitlines() if ":" in line)
    return {"user": user.username, "client_id": fields["client_id"].strip(), "secret": fields["secret"].strip()}


def test_a_reference_client_gets_its_event_and_reads_the_vehicle_with_basic_auth_and_client_id(
    live_server, live_celery, webhook_receiver, credentials
):
    live_celery.worker()
    client = StellantisClient(f"{live_server.url}/api/v1", **credentials)

    fleet = client.call("POST", "/fleets", body={"label": "Paris vans"}).json()
    assert_api_schema(fleet, "Fleet")
    vehicle = client.call("POST", f"/fleets/{fleet['id']}/vehicles", body={"vin": VIN}).json()
    assert_api_schema(vehicle, "Vehicle")

    definition = json.loads(AUTONOMY_EXAMPLE.read_text(encoding="utf-8"))
    definition["subscribeParam"]["callback"]["target"] = f"{webhook_receiver.url}/monitors/cb1"
    created = client.call("POST", f"/fleets/{fleet['id']}/monitors", body=definition)
    assert created.status_code == 202
    assert_api_schema(created.json(), "MonitorRef")
    monitor_id = created.json()["monitorId"]
    assert_api_schema(client.call("GET", f"/fleets/{fleet['id']}/monitors/{monitor_id}").json(), "Monitor")

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    leaving = start + timedelta(minutes=1)
    points = [
        {"vin": VIN, "status": status_document(at=start, level=80, autonomy=240, position=PARIS)},
        {
            "vin": VIN,
            "status": status_document(at=leaving, level=35, autonomy=105, position=OUT_OF_PARIS),
            "alerts": [alert_document(at=leaving)],
        },
    ]
    for point in points:
        assert_api_schema(point["status"], "Status")
    assert client.call("POST", "/telemetry", body=points).status_code == 202

    (request,) = wait_for(webhook_receiver.received, timeout=60, message="the autonomy monitor's webhook")
    body = request.json()
    assert_monitor_events(body)
    assert request.path == "/monitors/cb1" and request.query["vin"] == [VIN]
    (event,) = body["events"]
    assert body["monitorId"] == monitor_id
    assert (event["vin"], event["fleetId"], event["refresh"]) == (VIN, fleet["id"], False)
    assert datetime.fromisoformat(event["eventDate"]) == leaving
    extensions = {extension["type"]: extension["body"] for extension in event["extensions"]}
    assert set(extensions) == {"vehicle.alerts", "vehicle.status"}
    (alert,) = extensions["vehicle.alerts"]["alerts"]
    assert_api_schema_without_links(alert, "Alert")
    assert (alert["type"], alert["active"]) == ("FuelLevelLow", True)
    status_at_event = extensions["vehicle.status"]["status"]
    assert_api_schema_without_links(status_at_event, "Status")
    assert status_at_event["energies"][0]["level"] == 35

    # The event names a vehicle by VIN; the reference finds it with vinPrefix, then reads it.
    vehicles = client.call("GET", f"/fleets/{event['fleetId']}/vehicles", vinPrefix=event["vin"]).json()
    assert_api_schema(vehicles, "Vehicles")
    (listed,) = vehicles["_embedded"]["vehicles"]
    base = f"/fleets/{event['fleetId']}/vehicles/{listed['id']}"

    position = client.call("GET", f"{base}/lastPosition", accept="application/vnd.geo+json")
    assert position.headers["Content-Type"].startswith("application/vnd.geo+json")
    assert_api_schema(position.json(), "Position")
    assert position.json()["geometry"]["coordinates"][:2] == list(OUT_OF_PARIS)
    assert datetime.fromisoformat(position.json()["properties"]["createdAt"]) == leaving

    status = client.call("GET", f"{base}/status")
    assert status.headers["Content-Type"].startswith("application/hal+json")
    assert_api_schema(status.json(), "Status")
    electric = next(energy for energy in status.json()["energies"] if energy["type"] == "Electric")
    assert (electric["level"], electric["autonomy"]) == (35, 105)
    assert status.json()["lastPosition"]["geometry"]["coordinates"][:2] == list(OUT_OF_PARIS)
