from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from telemetry.datakeys import DATA_KEYS, ValueKind
from telemetry.models import TelemetryPoint
from telemetry.selectors import points_pending
from telemetry.signals import points_stored
from tests.telemetry.factories import VehicleFactory, point

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
def vehicle(fleet):
    return VehicleFactory(fleet=fleet, vin="VF3ABCDE0FG123456")


def test_single_point_is_stored_and_answers_202(api, vehicle):
    response = api.post("/api/v1/telemetry", point(), format="json")
    assert response.status_code == 202
    assert response.json() == {"accepted": 1}
    stored = TelemetryPoint.objects.get(vehicle=vehicle)
    assert stored.data == {"vehicle.energy.electric.level": 55, "vehicle.kinetic.moving": True}
    assert (stored.latitude, stored.longitude) == (48.85, 2.35)
    assert stored.seq == 1 and list(points_pending()) == [stored]


def test_batch_is_stored_and_evaluation_enqueued_after_commit(api, vehicle, django_capture_on_commit_callbacks, monkeypatch):
    enqueued = []
    from monitors import tasks

    monkeypatch.setattr(tasks.evaluate_vehicles, "apply_async", lambda args, **options: enqueued.append(args))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post("/api/v1/telemetry", [point(), point(eventDate=iso(NOW))], format="json")
    assert response.json() == {"accepted": 2}
    assert enqueued == []  # nothing is queued before the points are committed
    for callback in callbacks:
        callback()
    assert enqueued == [([vehicle.pk], None, None, None)]


def test_a_batch_is_enqueued_in_chunks_of_the_configured_size(
    api, fleet, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.FLEETMON_EVALUATION_CHUNK = 2
    vehicles = [VehicleFactory(fleet=fleet, vin=f"VF3ABCDE0FG12345{n}") for n in range(5)]
    enqueued = []
    from monitors import tasks

    monkeypatch.setattr(tasks.evaluate_vehicles, "apply_async", lambda args, **options: enqueued.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/telemetry", [point(vin=v.vin) for v in vehicles], format="json")

    assert response.json() == {"accepted": 5}
    ids = sorted(v.pk for v in vehicles)
    assert enqueued == [ids[0:2], ids[2:4], ids[4:]]


@pytest.mark.django_db(transaction=True)
def test_a_batch_is_stored_in_one_transaction_without_savepoints(api, vehicle, monkeypatch):
    from monitors import tasks

    monkeypatch.setattr(tasks.evaluate_vehicles, "apply_async", lambda *args, **options: None)  # its queries are not the POST's
    transactions = []

    def record(**_):
        transactions.append((connection.in_atomic_block, list(connection.savepoint_ids)))

    points_stored.connect(record, dispatch_uid="test-transaction")
    try:
        with CaptureQueriesContext(connection) as queries:
            response = api.post("/api/v1/telemetry", [point(), point(eventDate=iso(NOW))], format="json")
    finally:
        points_stored.disconnect(dispatch_uid="test-transaction")

    assert response.status_code == 202
    assert transactions == [(True, [])]  # the points are stored inside the transaction that announces them
    assert not [query["sql"] for query in queries if "SAVEPOINT" in query["sql"].upper()]
    assert TelemetryPoint.objects.count() == 2


def test_lower_case_vin_is_accepted(api, vehicle):
    assert api.post("/api/v1/telemetry", point(vin="vf3abcde0fg123456"), format="json").status_code == 202


def test_extension_and_telemetry_keys_are_accepted(api, vehicle):
    data = {"vehicle.stolen": {"state": True}, "vehicle.telemetry.vehicle.battery": {"voltage": 12.4}}
    assert api.post("/api/v1/telemetry", point(data=data), format="json").status_code == 202


def _errors(response):
    assert response.status_code == 400, response.content
    assert response.json()["code"] == 40001
    return {e["field"]: e["message"] for e in response.json()["errors"]}


@pytest.mark.parametrize(
    "bad, field, fragment",
    [
        ({"vin": "VF3ABCDE0FG999999"}, "[1].vin", "no vehicle with VIN"),
        ({"vin": 12}, "[1].vin", "must be a string"),
        ({"vin": "VF3\u0000"}, "[1].vin", "NUL"),
        ({"vin": "VF3ABC"}, "[1].vin", "is not a VIN"),
        ({"data": {"vehicle.stolen": {"note": "a\u0000b"}}}, "[1].data.vehicle.stolen.note", "NUL"),
        ({"vin": None}, "[1].vin", "is required"),
        ({"eventDate": "2026-13-01T00:00:00Z"}, "[1].eventDate", "not a valid date-time"),
        ({"eventDate": "2026-01-01T00:00:00"}, "[1].eventDate", "RFC 3339"),
        ({"eventDate": "yesterday"}, "[1].eventDate", "RFC 3339"),
        ({"eventDate": "0001-01-01T00:00:00+23:59"}, "[1].eventDate", "outside the years 1 to 9999"),
        ({"eventDate": iso(NOW + timedelta(hours=1))}, "[1].eventDate", "in the future"),
        ({"position": {"latitude": 91, "longitude": 2}}, "[1].position.latitude", "between -90 and 90"),
        ({"position": {"latitude": 48, "longitude": -181}}, "[1].position.longitude", "between -180 and 180"),
        ({"position": {"latitude": "48", "longitude": 2}}, "[1].position.latitude", "must be a number"),
        ({"position": {"latitude": 10**400, "longitude": 2}}, "[1].position.latitude", "must be a number"),
        ({"position": {"latitude": 48, "longitude": -(10**30)}}, "[1].position.longitude", "between -180 and 180 (got -1e+30)"),
        ({"position": {"latitude": 48}}, "[1].position.longitude", "is required"),
        ({"position": [48, 2]}, "[1].position", "must be an object"),
        ({"data": {"vehicle.energy.electric.level": "55"}}, "[1].data.vehicle.energy.electric.level", "must be a number"),
        ({"data": {"vehicle.kinetic.moving": "yes"}}, "[1].data.vehicle.kinetic.moving", "must be a boolean"),
        ({"data": {"vehicle.energy.electric.level": True}}, "[1].data.vehicle.energy.electric.level", "must be a number"),
        ({"data": {"vehicle.alert": "low"}}, "[1].data.vehicle.alert", "must be a list"),
        ({"data": {"vehicle.energy.electric.levl": 3}}, "[1].data.vehicle.energy.electric.levl", "did you mean 'vehicle.energy.electric.level'"),
        ({"data": [1]}, "[1].data", "must be an object"),
        ({"speed": 3}, "[1].speed", "unknown field 'speed'"),
    ],
)
def test_bad_point_is_rejected_with_its_index_and_field(api, vehicle, bad, field, fragment):
    response = api.post("/api/v1/telemetry", [point(), point(**bad)], format="json")
    errors = _errors(response)
    assert field in errors, errors
    assert fragment in errors[field]
    assert TelemetryPoint.objects.count() == 0  # all or nothing


def test_vin_of_another_owners_fleet_is_rejected(api, vehicle, other_fleet):
    VehicleFactory(fleet=other_fleet, vin="VF3ABCDE0FG654321")
    errors = _errors(api.post("/api/v1/telemetry", [point(vin="VF3ABCDE0FG654321")], format="json"))
    assert "no vehicle with VIN" in errors["[0].vin"]


def test_every_bad_point_is_reported(api, vehicle):
    body = [point(vin="VF3ABCDE0FG999999"), point(), point(eventDate="nope")]
    errors = _errors(api.post("/api/v1/telemetry", body, format="json"))
    assert set(errors) == {"[0].vin", "[2].eventDate"}


@pytest.mark.parametrize(
    "body, fragment",
    [([], "at least one point"), ("text", "point object or an array"), ([1], "must be an object")],
)
def test_malformed_batches_are_rejected(api, vehicle, body, fragment):
    response = api.post("/api/v1/telemetry", body, format="json")
    assert response.status_code == 400
    assert fragment in " ".join(e["message"] for e in response.json()["errors"])


def test_more_than_1000_points_are_rejected(api, vehicle):
    response = api.post("/api/v1/telemetry", [point()] * 1001, format="json")
    assert response.status_code == 400
    assert "at most 1000" in response.json()["errors"][0]["message"]


def test_1000_points_are_accepted(api, vehicle):
    start = NOW - timedelta(hours=2)
    body = [point(eventDate=iso(start + timedelta(seconds=i))) for i in range(1000)]
    assert api.post("/api/v1/telemetry", body, format="json").json() == {"accepted": 1000}
    assert TelemetryPoint.objects.filter(vehicle=vehicle).count() == 1000


def test_a_pretty_printed_batch_of_1000_full_points_fits_the_body_limit(api, vehicle, settings):
    sample = {
        ValueKind.NUMBER: 123456.7,
        ValueKind.BOOLEAN: True,
        ValueKind.STRING: "Disconnected",
        ValueKind.LIST: ["LowBattery", "TyrePressure"],
        ValueKind.ANY: {"state": "Locked"},
    }
    data = {key: sample[kind] for key, kind in DATA_KEYS.items()}
    data["vehicle.telemetry.vehicle.doorsState"] = {"opening": [{"identifier": "Driver", "state": "Closed"}] * 2}
    data["vehicle.telemetry.vehicle.battery"] = {"voltage": 402.5, "cellVoltages": [3.712] * 96}
    start = NOW - timedelta(hours=2)
    batch = [point(eventDate=iso(start + timedelta(seconds=i)), data=data) for i in range(1000)]
    body = json.dumps(batch, indent=2)
    assert 2.5 * 2**20 < len(body) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # over Django's default
    response = api.post("/api/v1/telemetry", data=body, content_type="application/json")
    assert response.json() == {"accepted": 1000}


def test_an_offset_postgresql_cannot_store_is_accepted_as_utc(api, vehicle):
    response = api.post("/api/v1/telemetry", point(eventDate="2020-01-01T00:00:00+22:25"), format="json")
    assert response.status_code == 202
    assert TelemetryPoint.objects.get(vehicle=vehicle).event_date == datetime(2019, 12, 31, 1, 35, tzinfo=UTC)


def test_telemetry_requires_a_token(anonymous_api):
    assert anonymous_api.post("/api/v1/telemetry", point(), format="json").status_code == 401


# --- the reference's shapes in a point -----------------------------------------------


def reference_point(**fields):
    from tests.telemetry.reference_status import STATUS

    body = {"vin": "VF3ABCDE0FG123456", "status": copy.deepcopy(STATUS)}
    body.update(fields)
    return body


def test_a_status_forwarded_verbatim_is_dated_by_its_created_at_and_gives_every_key(api, vehicle):
    assert api.post("/api/v1/telemetry", reference_point(), format="json").status_code == 202
    stored = TelemetryPoint.objects.get(vehicle=vehicle)
    assert stored.event_date == datetime(2026, 6, 1, 9, 59, tzinfo=UTC)
    assert (stored.latitude, stored.longitude) == (48.85, 2.35)  # from lastPosition
    assert stored.data["position"] == {"heading": 90, "type": "Acquire", "fixStatus": "3D", "signalQuality": 4}
    assert stored.data["vehicle.energy.electric.level"] == 55.5
    assert stored.data["vehicle.autonomy"] == 480
    assert stored.data["vehicle.telemetry.vehicle.battery"]["voltage"] == 12.4


def test_data_keys_sent_beside_a_status_win_and_the_point_position_wins_over_last_position(api, vehicle):
    body = reference_point(
        eventDate=iso(NOW), data={"vehicle.energy.electric.level": 10}, position={"latitude": 1.0, "longitude": 2.0}
    )
    assert api.post("/api/v1/telemetry", body, format="json").status_code == 202
    stored = TelemetryPoint.objects.get(vehicle=vehicle)
    assert stored.data["vehicle.energy.electric.level"] == 10
    assert (stored.latitude, stored.longitude, stored.event_date) == (1.0, 2.0, NOW)
    assert "position" not in stored.data


def test_a_position_feature_is_accepted_with_its_extras(api, vehicle):
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [2.35, 48.85, 35.0]},
        "properties": {"createdAt": iso(NOW), "heading": 270, "unknownToUs": 1},
    }
    assert api.post("/api/v1/telemetry", point(position=feature), format="json").status_code == 202
    stored = TelemetryPoint.objects.get(vehicle=vehicle)
    assert (stored.latitude, stored.longitude) == (48.85, 2.35)
    assert stored.data["position"] == {"heading": 270}


def test_a_telemetry_section_in_data_gives_its_keys_like_a_status(api, vehicle):
    data = {"vehicle.telemetry.vehicle.energies": [{"type": "Fuel", "level": 30, "autonomy": 200}]}
    assert api.post("/api/v1/telemetry", point(data=data), format="json").status_code == 202
    stored = TelemetryPoint.objects.get(vehicle=vehicle).data
    assert (stored["vehicle.energy.fuel.level"], stored["vehicle.autonomy"]) == (30, 200)


def test_active_alerts_become_the_alert_codes(api, vehicle):
    alerts = [
        {"id": "a", "type": "LowBattery", "active": True, "createdAt": iso(NOW), "startedAt": iso(NOW)},
        {"id": "b", "type": "TyrePressure", "active": False, "createdAt": iso(NOW), "startedAt": iso(NOW)},
    ]
    assert api.post("/api/v1/telemetry", point(alerts=alerts), format="json").status_code == 202
    assert TelemetryPoint.objects.get(vehicle=vehicle).data["vehicle.alert"] == ["LowBattery"]


def test_a_trip_object_is_stored_beside_the_trip_id_key(api, vehicle):
    trip = {"_links": {"self": {"href": "x"}}, "id": "T1", "createdAt": iso(NOW), "distance": 12.5, "done": True}
    assert api.post("/api/v1/telemetry", point(trip=trip), format="json").status_code == 202
    data = TelemetryPoint.objects.get(vehicle=vehicle).data
    assert data["trip"] == {"id": "T1", "createdAt": iso(NOW), "distance": 12.5, "done": True}
    assert (data["vehicle.trip"], data["vehicle.trip.stop"], data["vehicle.trip.distance"]) == ("T1", "T1", 12.5)
    assert data["vehicle.trip.state"] == ["Nominal"]


@pytest.mark.parametrize(
    "bad, field, fragment",
    [
        ({"status": {"vin": "VF3ABCDE0FG654321", "createdAt": "2026-01-01T00:00:00Z"}}, "[1].status.vin", "must be the point's VIN"),
        ({"status": {"energies": [{"type": "Electric", "level": "55"}]}}, "[1].status.energies[0].level", "must be a number"),
        ({"status": {"doorsState": []}}, "[1].status.doorsState", "must be an object"),
        ({"status": []}, "[1].status", "must be an object"),
        ({"eventDate": None, "status": {}}, "[1].eventDate", "is required"),
        ({"eventDate": None, "status": {"createdAt": "soon"}}, "[1].status.createdAt", "RFC 3339"),
        ({"position": {"type": "Feature", "geometry": {"coordinates": [200, 48]}}}, "[1].position.geometry.coordinates[0]", "longitude"),
        ({"position": {"type": "Feature", "properties": {}}}, "[1].position.geometry", "is required"),
        ({"position": {"geometry": {"coordinates": [2, 48]}, "properties": {"heading": 400}}}, "[1].position.properties.heading", "between 0 and 360"),
        ({"alerts": [{"type": "LowBattery"}]}, "[1].alerts[0].active", "is required"),
        ({"alerts": {"type": "LowBattery"}}, "[1].alerts", "must be an array"),
        ({"trip": {"distance": 3}}, "[1].trip.id", "is required"),
        ({"trip": {"id": "T", "vin": "VF3ABCDE0FG654321"}}, "[1].trip.vin", "must be the point's VIN"),
        ({"data": {"vehicle.trip": {"id": "T"}}}, "[1].data.vehicle.trip", "must be a string"),
        ({"data": {"vehicle.status": {}}}, "[1].data.vehicle.status", "point's 'status'"),
        ({"data": {"vehicle.telemetry.vehicle.batery": {}}}, "[1].data.vehicle.telemetry.vehicle.batery", "did you mean 'vehicle.telemetry.vehicle.battery'"),
        ({"data": {"vehicle.telemetry.vehicle.energies": {"type": "Fuel"}}}, "[1].data.vehicle.telemetry.vehicle.energies", "must be an array"),
    ],
)
def test_bad_reference_objects_are_rejected_naming_the_path(api, vehicle, bad, field, fragment):
    response = api.post("/api/v1/telemetry", [point(), point(**bad)], format="json")
    errors = _errors(response)
    assert field in errors, errors
    assert fragment in errors[field]
