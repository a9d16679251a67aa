"""The reference's vehicle-data reads: lastPosition, status, telemetry, alerts, capabilities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from fleetmon_project.isodates import format_rfc3339
from monitors.engine import vehicles_evaluate
from telemetry.alerts import alert_id
from tests.reference import assert_api_schema, assert_xerror
from tests.telemetry.factories import VehicleFactory, store_point

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
VIN = "VF3ABCDE0FG123456"
HAL = "application/hal+json"
GEO = "application/vnd.geo+json"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stamp(minutes: int) -> str:
    return format_rfc3339(at(minutes))


def report(vehicle, minutes: int, data: dict, latitude: float | None = None, longitude: float | None = None):
    return store_point(vehicle, event_date=at(minutes), data=data, latitude=latitude, longitude=longitude)


def apply(*vehicles) -> None:
    vehicles_evaluate(vehicle_ids=[v.pk for v in vehicles])


@pytest.fixture
def vehicle(fleet):
    return VehicleFactory(fleet=fleet, vin=VIN)


@pytest.fixture
def base(vehicle):
    return f"/api/v1/fleets/{vehicle.fleet_id}/vehicles/{vehicle.pk}"


@pytest.fixture
def reported(vehicle):
    """Three points: a position, a battery level, then alerts."""
    report(vehicle, 0, {"vehicle.energy.electric.level": 80, "vehicle.alert": ["RiskOfIce"]}, 48.85, 2.35)
    report(vehicle, 1, {"environment.air.temp": 3.5, "vehicle.kinetic.speed": 20})
    report(vehicle, 2, {"vehicle.energy.electric.level": 75, "vehicle.alert": ["OilLevelLow"]}, 48.86, 2.36)
    apply(vehicle)
    return vehicle


# --- lastPosition ------------------------------------------------------------------------


@pytest.mark.parametrize(("accept", "media_type"), [(GEO, GEO), ("application/json", "application/json"), ("*/*", "application/json")])
def test_last_position_is_a_geojson_feature(api, base, reported, accept, media_type):
    response = api.get(f"{base}/lastPosition", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"] == media_type
    body = response.json()
    assert_api_schema(body, "Position")
    assert body["geometry"]["coordinates"] == [2.36, 48.86]
    assert body["properties"] == {"vin": VIN, "createdAt": stamp(2)}


def test_last_position_before_any_position_is_404_saying_so(api, base, vehicle):
    report(vehicle, 0, {"vehicle.odometer": 10})
    apply(vehicle)

    body = assert_xerror(api.get(f"{base}/lastPosition", HTTP_ACCEPT=GEO), 404, 40400)
    assert "No position is known yet" in body["message"]


def test_last_position_is_not_offered_as_hal(api, base, reported):
    assert_xerror(api.get(f"{base}/lastPosition", HTTP_ACCEPT=HAL), 406, 40600)


# --- status ------------------------------------------------------------------------------


def test_vehicle_status_is_the_reference_status_with_its_links(api, base, reported):
    response = api.get(f"{base}/status", HTTP_ACCEPT=HAL)

    assert response.status_code == 200
    assert response["Content-Type"] == HAL
    body = response.json()
    assert_api_schema(body, "Status")
    assert body["vin"] == VIN
    assert body["createdAt"] == stamp(2)
    assert body["_links"] == {
        "self": {"href": f"http://testserver{base}/status"},
        "vehicle": {"href": f"http://testserver{base}"},
        "fleet": {"href": f"http://testserver/api/v1/fleets/{reported.fleet_id}"},
    }
    assert body["lastPosition"]["geometry"]["coordinates"] == [2.36, 48.86]
    assert body["energies"][0]["level"] == 75


def test_vehicle_status_before_any_report_is_404_saying_so(api, base):
    body = assert_xerror(api.get(f"{base}/status"), 404, 40400)
    assert "No status is known yet" in body["message"]


def test_fleet_status_lists_the_vehicles_that_reported_in_pages(api, fleet, reported):
    second = VehicleFactory(fleet=fleet)
    report(second, 5, {"vehicle.odometer": 1000})
    apply(second)
    VehicleFactory(fleet=fleet)  # never reported: no status

    body = api.get(f"/api/v1/fleets/{fleet.pk}/status", {"pageSize": 1}, HTTP_ACCEPT=HAL).json()

    assert_api_schema(body, "StatusList")
    assert (body["total"], body["totalPage"], body["currentPage"]) == (2, 2, 1)
    assert [s["vin"] for s in body["_embedded"]["status"]] == [VIN]
    following = api.get(body["_links"]["next"]["href"]).json()
    assert [s["vin"] for s in following["_embedded"]["status"]] == [second.vin]
    assert following["_embedded"]["status"][0]["odometer"]["mileage"] == 1000


def test_fleet_status_costs_the_same_queries_for_more_vehicles(api, fleet, django_assert_max_num_queries):
    def listed(count: int) -> None:
        for _ in range(count):
            vehicle = VehicleFactory(fleet=fleet)
            report(vehicle, 0, {"vehicle.odometer": 1}, 1.0, 2.0)
            apply(vehicle)
        with django_assert_max_num_queries(5):
            assert api.get(f"/api/v1/fleets/{fleet.pk}/status").status_code == 200

    listed(1)
    listed(10)


# --- telemetry ---------------------------------------------------------------------------


def telemetry(api, base, **params):
    response = api.get(f"{base}/telemetry", params, HTTP_ACCEPT=HAL)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert_api_schema(body, "Telemetries")
    return body


def test_telemetry_lists_stored_points_newest_first(api, base, reported):
    body = telemetry(api, base)

    items = body["_embedded"]["telemetries"]
    assert [item["createdAt"] for item in items] == [stamp(2), stamp(1), stamp(0)]
    assert items[1]["environment"]["air"]["temp"] == 3.5
    assert items[1]["vehicle"]["kinetic"]["speed"] == 20
    # A point has no path of its own: its self link is the collection narrowed to its instant.
    link = urlparse(items[0]["_links"]["self"]["href"])
    assert link.path == f"{base}/telemetry"
    assert parse_qs(link.query) == {"timestamps": [f"{stamp(2)}/{stamp(2)}"]}
    assert [i["createdAt"] for i in api.get(items[0]["_links"]["self"]["href"]).json()["_embedded"]["telemetries"]] == [
        stamp(2)
    ]


def test_points_without_telemetry_data_are_not_listed(api, base, vehicle):
    report(vehicle, 0, {"vehicle.alert": ["RiskOfIce"]})
    report(vehicle, 1, {"vehicle.odometer": 3})

    assert [i["createdAt"] for i in telemetry(api, base)["_embedded"]["telemetries"]] == [stamp(1)]


def test_telemetry_type_keeps_points_with_those_types_and_only_that_data(api, base, reported):
    only_environment = telemetry(api, base, type="environment")
    assert only_environment["total"] == 1
    assert set(only_environment["_embedded"]["telemetries"][0]) == {"_links", "createdAt", "environment"}

    body = telemetry(api, base, type=["environment", "vehicle.energies"])
    assert [set(item) - {"_links", "createdAt"} for item in body["_embedded"]["telemetries"]] == [
        {"vehicle"},
        {"environment"},  # not its speed: vehicle.kinetic was not asked for
        {"vehicle"},
    ]
    assert set(body["_embedded"]["telemetries"][0]["vehicle"]) == {"energies"}


def test_telemetry_timestamps_take_several_ranges(api, base, reported):
    ranges = [f"{stamp(0)}/PT30S", f"{stamp(2)}/"]

    assert [i["createdAt"] for i in telemetry(api, base, timestamps=ranges)["_embedded"]["telemetries"]] == [
        stamp(2),
        stamp(0),
    ]
    assert telemetry(api, base, timestamps=[f"/{stamp(1)}"])["total"] == 2
    assert telemetry(api, base, timestamps=[f"R3/{stamp(0)}/PT2M/PT10S"])["total"] == 2  # at 0 and 2


def test_telemetry_pages_up_to_2000_points(api, base, vehicle):
    for minute in range(5):
        report(vehicle, minute, {"vehicle.odometer": minute})

    assert len(telemetry(api, base, pageSize=2000)["_embedded"]["telemetries"]) == 5
    page = telemetry(api, base, pageSize=2, indexRange="1-3")
    assert [i["createdAt"] for i in page["_embedded"]["telemetries"]] == [stamp(3), stamp(2)]
    assert page["total"] == 3
    body = assert_xerror(api.get(f"{base}/telemetry", {"pageSize": 2001}), 400, 40003)
    assert body["errors"] == [{"field": "pageSize", "message": "must be an integer from 1 to 2000"}]


def test_telemetry_costs_the_same_queries_for_more_points(api, base, vehicle, django_assert_max_num_queries):
    for count in (1, 30):
        for minute in range(count):
            report(vehicle, minute, {"vehicle.odometer": minute, "environment.air.temp": 1})
        with django_assert_max_num_queries(6):
            telemetry(api, base, type=["environment"], timestamps=[f"{stamp(0)}/P1D"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"timestamps": "yesterday/"}, "timestamps"),
        ({"timestamps": f"{stamp(1)}/{stamp(0)}"}, "timestamps"),
        ({"timestamps": [f"{stamp(0)}/"] * 11}, "timestamps"),
        ({"timestamps": ""}, "timestamps"),
        ({"type": "vehicle.nothing"}, "type.0"),
        ({"type": "environment,privacy"}, "type.0"),
        ({"extension": "pictures"}, "extension.0"),
        ({"profile": "admin"}, "profile"),
        ({"indexRange": "9-1"}, "indexRange"),
        ({"pageToken": "forged"}, "pageToken"),
        ({"since": stamp(0)}, "since"),
    ],
)
def test_malformed_telemetry_parameters_are_400_naming_them(api, base, reported, params, field):
    body = api.get(f"{base}/telemetry", params).json()
    assert body["code"] in (40001, 40003), body
    assert [error["field"] for error in body["errors"]] == [field]


def test_reference_parameters_without_effect_here_are_accepted(api, base, reported, fleet):
    assert telemetry(api, base, profile="endUser", extension=["location", "maintenance"])["total"] == 3
    assert api.get(f"{base}/status", {"profile": "fleet"}).status_code == 200
    assert api.get(f"{base}/lastPosition", {"profile": "fleet"}).status_code == 200
    assert api.get(f"/api/v1/vehicles/{VIN}", {"locale": "fr-FR", "extension": ["branding", "pictures"]}).status_code == 200
    assert_xerror(api.get(f"/api/v1/vehicles/{VIN}", {"locale": "fr FR"}), 400, 40001)


# --- alerts ------------------------------------------------------------------------------


def test_vehicle_alerts_are_derived_from_the_points(api, base, reported):
    body = api.get(f"{base}/alerts", HTTP_ACCEPT=HAL).json()

    assert_api_schema(body, "Alerts")
    oil, ice = body["_embedded"]["alerts"]
    assert (oil["type"], oil["active"], oil["startedAt"]) == ("OilLevelLow", True, stamp(2))
    assert "endAt" not in oil
    assert (ice["type"], ice["active"], ice["endAt"]) == ("RiskOfIce", False, stamp(2))
    assert ice["startPosition"]["geometry"]["coordinates"] == [2.35, 48.85]
    assert ice["endPosition"]["geometry"]["coordinates"] == [2.36, 48.86]
    assert ice["id"] == alert_id(vehicle_id=reported.pk, type="RiskOfIce", started_at=at(0))
    assert ice["_links"]["vehicle"] == {"href": f"http://testserver{base}"}

    single = api.get(ice["_links"]["self"]["href"], HTTP_ACCEPT=HAL)
    assert single["Content-Type"] == HAL
    assert_api_schema(single.json(), "Alert")
    assert single.json() == ice


def test_alert_timestamps_keep_alerts_active_at_an_instant_of_a_range(api, base, reported):
    def types(*ranges: str) -> list[str]:
        return [a["type"] for a in api.get(f"{base}/alerts", {"timestamps": list(ranges)}).json()["_embedded"]["alerts"]]

    assert types(f"{stamp(1)}/PT10S") == ["RiskOfIce"]  # started before the range
    assert types(f"{stamp(3)}/") == ["OilLevelLow"]  # still active
    assert types(f"/{stamp(0)}", f"{stamp(2)}/PT1S") == ["OilLevelLow", "RiskOfIce"]
    assert types("/2026-01-01T00:00:00Z") == []


def test_fleet_alerts_span_the_fleets_vehicles(api, fleet, reported, django_assert_max_num_queries):
    second = VehicleFactory(fleet=fleet)
    report(second, 5, {"vehicle.alert": [{"type": "EngineFault", "severity": "Critical"}]})

    with django_assert_max_num_queries(5):
        body = api.get(f"/api/v1/fleets/{fleet.pk}/alerts", {"pageSize": 2}).json()

    assert_api_schema(body, "Alerts")
    assert body["total"] == 3
    first = body["_embedded"]["alerts"][0]
    assert (first["vin"], first["type"], first["severity"]) == (second.vin, "EngineFault", "Critical")
    single = api.get(f"/api/v1/fleets/{fleet.pk}/alerts/{first['id']}").json()
    assert_api_schema(single, "Alert")
    assert single == first


def test_fleet_alerts_cost_the_same_queries_for_more_vehicles(api, fleet, django_assert_max_num_queries):
    for count in (1, 10):
        for _ in range(count):
            report(VehicleFactory(fleet=fleet), 0, {"vehicle.alert": ["RiskOfIce"]})
        with django_assert_max_num_queries(5):
            assert api.get(f"/api/v1/fleets/{fleet.pk}/alerts").status_code == 200


@pytest.mark.parametrize("aid", ["nope", "0" * 64])
def test_unknown_alert_ids_are_404(api, base, fleet, reported, aid):
    assert_xerror(api.get(f"{base}/alerts/{aid}"), 404, 40400)
    assert_xerror(api.get(f"/api/v1/fleets/{fleet.pk}/alerts/{aid}"), 404, 40400)


# --- capabilities ------------------------------------------------------------------------


def test_vehicle_capabilities_by_vin(api, vehicle, base):
    response = api.get(f"/api/v1/vehicles/{VIN.lower()}", HTTP_ACCEPT=HAL)

    assert response["Content-Type"] == HAL
    body = response.json()
    assert_api_schema(body, "VehicleCapabilities")
    assert body["vin"] == VIN
    assert body["_links"]["vehicle"] == {"href": f"http://testserver{base}"}
    assert body["_links"]["status"] == {"href": f"http://testserver{base}/status"}


# --- tenancy -----------------------------------------------------------------------------


@pytest.fixture
def foreign(other_fleet):
    """Another owner's vehicle with data of every kind."""
    vehicle = VehicleFactory(fleet=other_fleet)
    report(vehicle, 0, {"vehicle.odometer": 5, "vehicle.alert": ["RiskOfIce"]}, 1.0, 2.0)
    apply(vehicle)
    return vehicle


def urls(vehicle) -> list[str]:
    fleet = f"/api/v1/fleets/{vehicle.fleet_id}"
    base = f"{fleet}/vehicles/{vehicle.pk}"
    aid = alert_id(vehicle_id=vehicle.pk, type="RiskOfIce", started_at=at(0))
    return [
        f"{base}/lastPosition",
        f"{base}/status",
        f"{base}/telemetry",
        f"{base}/alerts",
        f"{base}/alerts/{aid}",
        f"{fleet}/status",
        f"{fleet}/alerts",
        f"{fleet}/alerts/{aid}",
        f"/api/v1/vehicles/{vehicle.vin}",
    ]


def test_the_owner_reads_every_endpoint(other_api, foreign):
    for url in urls(foreign):
        assert other_api.get(url).status_code == 200, url


def test_another_owners_fleet_vehicle_and_alert_are_404(api, fleet, vehicle, foreign):
    for url in urls(foreign):
        assert_xerror(api.get(url), 404, 40400)
    # Through the caller's own fleet and vehicle: the foreign vehicle, and its alert, are unknown.
    mine = f"/api/v1/fleets/{fleet.pk}"
    aid = alert_id(vehicle_id=foreign.pk, type="RiskOfIce", started_at=at(0))
    for url in [
        f"{mine}/vehicles/{foreign.pk}/status",
        f"{mine}/vehicles/{foreign.pk}/telemetry",
        f"{mine}/alerts/{aid}",
        f"{mine}/vehicles/{vehicle.pk}/alerts/{aid}",
    ]:
        assert_xerror(api.get(url), 404, 40400)


def test_every_endpoint_requires_credentials(anonymous_api, foreign):
    for url in urls(foreign):
        assert_xerror(anonymous_api.get(url), 401, 40100)


# --- OpenAPI -----------------------------------------------------------------------------


@pytest.fixture
def operations(api):
    spec = api.get("/api/schema", {"format": "json"}).json()
    return {path.removeprefix("/api/v1"): methods["get"] for path, methods in spec["paths"].items() if "get" in methods}


@pytest.mark.parametrize(
    ("path", "tag", "media_type", "parameters"),
    [
        ("/fleets/{fleet_id}/vehicles/{vehicle_id}/lastPosition", "vehicles", GEO, {"profile"}),
        ("/fleets/{fleet_id}/vehicles/{vehicle_id}/status", "vehicles", HAL, {"profile"}),
        ("/fleets/{fleet_id}/status", "fleets", HAL, {"profile", "indexRange", "pageSize", "pageToken"}),
        (
            "/fleets/{fleet_id}/vehicles/{vehicle_id}/telemetry",
            "telemetry",
            HAL,
            {"profile", "timestamps", "indexRange", "pageSize", "pageToken", "type", "extension"},
        ),
        (
            "/fleets/{fleet_id}/vehicles/{vehicle_id}/alerts",
            "vehicles",
            HAL,
            {"profile", "timestamps", "indexRange", "pageSize", "pageToken"},
        ),
        ("/fleets/{fleet_id}/vehicles/{vehicle_id}/alerts/{alert_id}", "vehicles", HAL, {"profile"}),
        ("/fleets/{fleet_id}/alerts", "fleets", HAL, {"profile", "timestamps", "indexRange", "pageSize", "pageToken"}),
        ("/fleets/{fleet_id}/alerts/{alert_id}", "fleets", HAL, {"profile"}),
        ("/vehicles/{vin}", "vehicles", HAL, {"locale", "extension"}),
    ],
)
def test_schema_lists_the_reads_with_tags_media_types_and_parameters(operations, path, tag, media_type, parameters):
    operation = operations[path]

    assert operation["tags"] == [tag]
    assert set(operation["responses"]["200"]["content"]) == {"application/json", media_type}
    assert set(operation["responses"]["404"]["content"]) == {"application/json"}
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} == parameters


def test_schema_bounds_telemetry_page_size_to_2000(operations):
    parameters = operations["/fleets/{fleet_id}/vehicles/{vehicle_id}/telemetry"]["parameters"]
    assert next(p for p in parameters if p["name"] == "pageSize")["schema"]["maximum"] == 2000


# --- round trip --------------------------------------------------------------------------


def test_what_a_reference_client_sends_it_reads_back_in_the_reference_shapes(api, vehicle, base):
    from tests.telemetry.reference_status import STATUS

    alert = {"id": "x", "type": "FuelLevelLow", "active": True, "createdAt": STATUS["createdAt"], "startedAt": STATUS["createdAt"]}
    body = {"vin": VIN, "status": STATUS, "alerts": [alert]}
    assert api.post("/api/v1/telemetry", body, format="json").status_code == 202
    apply(vehicle)

    status_body = api.get(f"{base}/status").json()
    assert_api_schema(status_body, "Status")
    assert status_body["lastPosition"]["properties"]["heading"] == 90
    position = api.get(f"{base}/lastPosition").json()
    assert_api_schema(position, "Position")
    assert position == status_body["lastPosition"]
    [item] = api.get(f"{base}/telemetry").json()["_embedded"]["telemetries"]
    assert_api_schema(item, "Telemetry")
    assert item["vehicle"]["battery"]["voltage"] == 12.4
    [served] = api.get(f"{base}/alerts").json()["_embedded"]["alerts"]
    assert (served["type"], served["active"], served["vin"]) == ("FuelLevelLow", True, VIN)
    assert served["startPosition"] == position
