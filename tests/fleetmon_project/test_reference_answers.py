"""What a Stellantis client reads from FleetMon validates against the reference's own schemas:
fleets, vehicles and monitors, as the reference declares each operation's answer."""

from __future__ import annotations

import pytest

from tests.monitors.factories import monitor_definition
from tests.reference import assert_api_schema
from tests.telemetry.factories import VehicleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def vehicle(fleet):
    return VehicleFactory(fleet=fleet, vin="VF3ABCDE0FG123456")


def test_fleets_answer_the_reference_fleet_shapes(api, fleet):
    listing = api.get("/api/v1/fleets")
    assert_api_schema(listing.json(), "Fleets")
    one = api.get(f"/api/v1/fleets/{fleet.pk}").json()
    assert_api_schema(one, "Fleet")
    assert one["name"] == fleet.label


def test_vehicles_answer_the_reference_vehicle_shapes(api, fleet, vehicle):
    listing = api.get(f"/api/v1/fleets/{fleet.pk}/vehicles").json()
    assert_api_schema(listing, "Vehicles")
    one = api.get(f"/api/v1/fleets/{fleet.pk}/vehicles/{vehicle.pk}").json()
    assert_api_schema(one, "Vehicle")
    base = f"/api/v1/fleets/{fleet.pk}/vehicles/{vehicle.pk}"
    for name in ("lastPosition", "status", "telemetry", "alerts"):
        assert one["_links"][name]["href"].endswith(f"{base}/{name}")


def test_vin_prefix_filters_the_vehicles_of_a_fleet(api, fleet, vehicle):
    VehicleFactory(fleet=fleet, vin="WP0ZZZ99ZTS392124")
    url = f"/api/v1/fleets/{fleet.pk}/vehicles"
    assert [v["vin"] for v in api.get(url, {"vinPrefix": "vf3"}).json()["_embedded"]["vehicles"]] == [vehicle.vin]
    assert api.get(url, {"vinPrefix": "VF3Z"}).json()["total"] == 0
    assert api.get(url).json()["total"] == 2


@pytest.mark.parametrize("prefix", ["VF3ABCDE0FG123456X", "VF3I", ""])
def test_a_vin_prefix_no_vin_can_start_with_is_a_400_naming_it(api, fleet, prefix):
    response = api.get(f"/api/v1/fleets/{fleet.pk}/vehicles", {"vinPrefix": prefix})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "vinPrefix"


def test_monitors_answer_the_reference_monitor_shapes(api, fleet):
    created = api.post(f"/api/v1/fleets/{fleet.pk}/monitors", monitor_definition(), format="json")
    assert created.status_code == 202
    monitor_id = created.json()["monitorId"]
    base = f"/api/v1/fleets/{fleet.pk}/monitors"
    assert_api_schema(api.get(base).json(), "Monitors")
    assert_api_schema(api.get(f"{base}/{monitor_id}").json(), "Monitor")
    paused = api.put(f"{base}/{monitor_id}/status", {"status": "Paused"}, format="json")
    assert_api_schema(paused.json(), "MonitorRef")
    replaced = api.put(f"{base}/{monitor_id}", monitor_definition(label="Renamed"), format="json")
    assert_api_schema(replaced.json(), "MonitorRef")


def test_errors_answer_the_reference_xerror(api):
    assert_api_schema(api.get("/api/v1/fleets/0a123bc5d1e873066454b4d9").json(), "xError")
