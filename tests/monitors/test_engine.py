"""The engine against the real database, with injected instants instead of waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import transaction

from fleetmon_project.isodates import format_rfc3339
from monitors import engine, evaluation, sweeps
from monitors.compiled import compiled_monitor
from monitors.models import BoundaryEvaluation, DeadLetter, Monitor, MonitorVehicleState
from monitors.services import monitor_delete, monitor_set_status
from telemetry.selectors import points_pending
from tests.monitors.factories import PARIS, MonitorFactory, monitor_definition
from tests.monitors.scenarios import INSIDE, OUTSIDE, T0, battery_monitor, events, feed, time_zone_monitor
from tests.reference import assert_api_schema_without_links
from tests.telemetry.factories import VehicleFactory, store_point

pytestmark = pytest.mark.django_db


@pytest.fixture
def vehicle(fleet):
    return VehicleFactory(fleet=fleet)


def test_leaving_zone_fires_once(fleet, vehicle):
    monitor = MonitorFactory(fleet=fleet)
    feed(vehicle, (0, INSIDE, None), (60, OUTSIDE, None), (120, OUTSIDE, None), (180, OUTSIDE, None))
    [event] = events(monitor)
    assert event.event_date == T0 + timedelta(seconds=60)
    assert event.refresh is False
    assert (event.vin, event.fleet_id, event.vehicle_public_id) == (vehicle.vin, fleet.pk, vehicle.pk)


def test_reentering_then_leaving_fires_again(fleet, vehicle):
    monitor = MonitorFactory(fleet=fleet)
    feed(vehicle, (0, INSIDE, None), (60, OUTSIDE, None), (120, INSIDE, None), (180, OUTSIDE, None))
    assert [e.event_date for e in events(monitor)] == [T0 + timedelta(seconds=60), T0 + timedelta(seconds=180)]


# [longitude, latitude]: a square of about 30 km around Paris (holding INSIDE, not OUTSIDE),
# with a hole of about 4 km around the Louvre.
SQUARE = [[2.13, 48.73], [2.53, 48.73], [2.53, 48.99], [2.13, 48.99], [2.13, 48.73]]
HOLE = [[2.31, 48.84], [2.36, 48.84], [2.36, 48.88], [2.31, 48.88], [2.31, 48.84]]
IN_THE_HOLE = {"latitude": 48.86, "longitude": 2.335}
ON_THE_HOLE_EDGE = {"latitude": 48.86, "longitude": 2.31}
ON_THE_OUTER_EDGE = {"latitude": 48.73, "longitude": 2.3}
IN_LYON = {"latitude": 45.764043, "longitude": 4.835659}


def zone_monitor(fleet, transition, shape):
    return MonitorFactory(
        fleet=fleet,
        definition=monitor_definition(
            triggerParam={"triggers": [{"name": "z", "zone": {"transition": transition, **shape}}], "boolExp": "z"}
        ),
    )


def event_offsets(monitor):
    return [(event.event_date - T0).total_seconds() for event in events(monitor)]


@pytest.mark.parametrize("transition", ["In", "Out"])
def test_polygon_zone_fires_exactly_as_a_circle_would(fleet, vehicle, transition):
    circle = zone_monitor(fleet, transition, {"place": {"radius": 20, "center": dict(PARIS)}})
    polygon = zone_monitor(fleet, transition, {"polygon": {"type": "Polygon", "coordinates": [SQUARE, HOLE]}})
    # Points both zones put on the same side (INSIDE, the circle's centre, is in the hole);
    # the polygon's edge is ~15 km from the centre, within the circle.
    south_of_centre = {"latitude": 48.80, "longitude": PARIS["longitude"]}
    path = [OUTSIDE, ON_THE_OUTER_EDGE, OUTSIDE, south_of_centre, IN_LYON, ON_THE_OUTER_EDGE]
    feed(vehicle, *[(i * 60, position, None) for i, position in enumerate(path)])
    expected = [60, 180, 300] if transition == "In" else [0, 120, 240]
    assert event_offsets(circle) == expected
    assert event_offsets(polygon) == expected


def test_leaving_a_polygon_through_its_hole_and_coming_back_fires_each_time(fleet, vehicle):
    monitor = zone_monitor(fleet, "In", {"polygon": {"type": "Polygon", "coordinates": [SQUARE, HOLE]}})
    path = [OUTSIDE, ON_THE_OUTER_EDGE, IN_THE_HOLE, ON_THE_HOLE_EDGE, {"latitude": 48.8, "longitude": 2.2}, IN_THE_HOLE]
    feed(vehicle, *[(i * 60, position, None) for i, position in enumerate(path)])
    # In at the outer edge (60), out into the hole (120), in again on the hole's edge (180).
    assert event_offsets(monitor) == [60, 180]


def test_a_multipolygon_is_one_zone_made_of_its_parts(fleet, vehicle):
    lyon = [[4.7, 45.6], [5.0, 45.6], [5.0, 45.9], [4.7, 45.9], [4.7, 45.6]]
    monitor = zone_monitor(fleet, "In", {"polygon": {"type": "MultiPolygon", "coordinates": [[SQUARE], [lyon]]}})
    # Paris, then straight to Lyon (still in the zone), then out between them and into Lyon again.
    between = {"latitude": 47.3, "longitude": 3.6}
    feed(vehicle, *[(i * 60, p, None) for i, p in enumerate([OUTSIDE, ON_THE_OUTER_EDGE, IN_LYON, between, IN_LYON])])
    assert event_offsets(monitor) == [60, 240]


def test_a_polygon_is_built_once_per_monitor_generation_not_per_point(fleet, vehicle):
    monitor = zone_monitor(fleet, "Out", {"polygon": {"type": "Polygon", "coordinates": [SQUARE, HOLE]}})
    with mock.patch.object(evaluation, "polygon_area", wraps=evaluation.polygon_area) as build:
        for i, position in enumerate([ON_THE_OUTER_EDGE, OUTSIDE, ON_THE_OUTER_EDGE, IN_LYON]):
            feed(vehicle, (i * 60, position, None))
    build.assert_called_once()
    assert event_offsets(monitor) == [60, 180]


def test_battery_sequence_fires_exactly_twice(fleet, vehicle):
    monitor = battery_monitor(fleet)
    levels = [60, 40, 35, 55, 45]
    feed(vehicle, *[(i * 60, None, {"vehicle.energy.electric.level": level}) for i, level in enumerate(levels)])
    fired = events(monitor)
    assert [e.event_date for e in fired] == [T0 + timedelta(seconds=60), T0 + timedelta(seconds=240)]
    assert fired[0].values == [
        {"data": "vehicle.energy.electric.level", "value": {"type": "string", "body": {"literalValue": "40"}}}
    ]


def test_points_of_a_batch_are_evaluated_in_event_date_order(fleet, vehicle):
    monitor = battery_monitor(fleet)
    # Stored in reverse order: evaluation must follow eventDate, not arrival.
    feed(vehicle, (120, None, {"vehicle.energy.electric.level": 40}), (0, None, {"vehicle.energy.electric.level": 60}))
    assert [e.event_date for e in events(monitor)] == [T0 + timedelta(seconds=120)]


def test_out_of_order_point_does_not_flip_state(fleet, vehicle):
    monitor = battery_monitor(fleet)
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 60}), (60, None, {"vehicle.energy.electric.level": 40}))
    # A late point from before the drop, claiming the battery was fine.
    feed(vehicle, (30, None, {"vehicle.energy.electric.level": 90}))
    feed(vehicle, (90, None, {"vehicle.energy.electric.level": 38}))
    assert len(events(monitor)) == 1
    assert vehicle.state.data["vehicle.energy.electric.level"]["value"] == 38


def test_never_reported_key_does_not_satisfy(fleet, vehicle):
    monitor = battery_monitor(fleet)
    feed(vehicle, (0, INSIDE, {"environment.air.temp": 20}))
    assert events(monitor) == []


def test_refresh_event_arrives_while_condition_holds(fleet, vehicle):
    monitor = battery_monitor(fleet, refreshEvent=60)
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 40}))
    # No telemetry: the Beat sweep finds the reminder due and re-evaluates on the last state.
    [request] = sweeps.refresh_reminders_sweep(now=T0 + timedelta(seconds=61))
    assert request.vehicle_ids == [vehicle.pk] and request.monitor_ids == [monitor.pk]
    engine.vehicles_evaluate(vehicle_ids=request.vehicle_ids, at=request.at, monitor_ids=request.monitor_ids)
    first, reminder = events(monitor)
    assert (first.refresh, reminder.refresh) == (False, True)
    assert reminder.event_date == T0 + timedelta(seconds=61)


def test_refresh_is_also_checked_on_new_telemetry(fleet, vehicle):
    monitor = battery_monitor(fleet, refreshEvent=60)
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 40}))
    feed(vehicle, (30, None, {"vehicle.energy.electric.level": 39}))
    assert [e.refresh for e in events(monitor)] == [False]
    feed(vehicle, (61, None, {"vehicle.energy.electric.level": 38}))
    assert [e.refresh for e in events(monitor)] == [False, True]


def test_reminders_after_an_event_from_late_telemetry_count_from_its_notification(fleet, vehicle):
    monitor = battery_monitor(fleet, refreshEvent=60)
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 40}), late_by=100)
    assert sweeps.refresh_reminders_sweep(now=T0 + timedelta(seconds=101)) == []
    [request] = sweeps.refresh_reminders_sweep(now=T0 + timedelta(seconds=160))
    engine.vehicles_evaluate(vehicle_ids=request.vehicle_ids, at=request.at, monitor_ids=request.monitor_ids)
    assert [(e.event_date, e.refresh) for e in events(monitor)] == [(T0, False), (T0 + timedelta(seconds=160), True)]


def test_no_refresh_once_condition_is_false(fleet, vehicle):
    monitor = battery_monitor(fleet, refreshEvent=60)
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 40}), (30, None, {"vehicle.energy.electric.level": 70}))
    assert sweeps.refresh_reminders_sweep(now=T0 + timedelta(hours=1)) == []
    assert len(events(monitor)) == 1


def test_window_closing_fires_z_and_not_t_without_new_telemetry(fleet, vehicle):
    monitor = time_zone_monitor(fleet)
    # Outside Paris and moving at 12:10 Paris time: inside the window, so `!t` is false.
    feed(vehicle, (600, OUTSIDE, {"vehicle.kinetic.moving": True}))
    assert events(monitor) == []
    close = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)  # 13:00 Paris
    assert compiled_monitor(monitor).next_time_boundary(T0 + timedelta(seconds=600)) == close
    # The service scheduled the boundary from the wall clock; place it as if created at T0.
    Monitor.objects.filter(pk=monitor.pk).update(next_time_boundary=close)
    requests = sweeps.time_boundaries_sweep(now=close)
    assert [r.vehicle_ids for r in requests] == [[vehicle.pk]]
    run(requests[0])
    [event] = events(monitor)
    assert event.event_date == close
    monitor.refresh_from_db()
    assert monitor.next_time_boundary > close  # tomorrow's opening
    assert not BoundaryEvaluation.objects.exists()  # done, in the evaluation's own commit


def run(request: sweeps.EvaluationRequest) -> int:
    return engine.vehicles_evaluate(
        vehicle_ids=request.vehicle_ids, at=request.at, monitor_ids=request.monitor_ids, boundary_id=request.boundary_id
    )


def test_window_close_whose_message_was_lost_is_evaluated_by_a_later_sweep(fleet, vehicle, settings):
    settings.FLEETMON_POINT_RESCUE_AFTER = 30
    monitor = time_zone_monitor(fleet)
    feed(vehicle, (600, OUTSIDE, {"vehicle.kinetic.moving": True}))
    close = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
    Monitor.objects.filter(pk=monitor.pk).update(next_time_boundary=close)
    [lost] = sweeps.time_boundaries_sweep(now=close)  # its message never reaches a worker

    assert sweeps.time_boundaries_sweep(now=close + timedelta(seconds=10)) == []  # may still be queued
    assert sweeps.time_boundaries_sweep(now=close + timedelta(seconds=60)) == []
    [again] = sweeps.time_boundaries_sweep(now=close + timedelta(seconds=120))
    assert (again.boundary_id, again.at, again.vehicle_ids) == (lost.boundary_id, close, [vehicle.pk])
    run(again)
    assert [e.event_date for e in events(monitor)] == [close]
    assert sweeps.time_boundaries_sweep(now=close + timedelta(seconds=600)) == []
    # The lost message turning up after all changes nothing.
    assert run(lost) == 0


def test_boundary_evaluation_that_keeps_failing_is_given_up(fleet, vehicle, settings):
    monitor = time_zone_monitor(fleet)
    feed(vehicle, (600, OUTSIDE, {"vehicle.kinetic.moving": True}))
    close = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
    Monitor.objects.filter(pk=monitor.pk).update(next_time_boundary=close)
    sweeps.time_boundaries_sweep(now=close)
    later = close
    for _ in range(settings.FLEETMON_EVALUATION_MAX_ATTEMPTS - 1):  # every message lost, or failing
        later += sweeps.BOUNDARY_RESCUE_AFTER
        assert len(sweeps.time_boundaries_sweep(now=later)) == 1
    assert sweeps.time_boundaries_sweep(now=later + sweeps.BOUNDARY_RESCUE_AFTER) == []
    assert not BoundaryEvaluation.objects.exists()
    assert DeadLetter.objects.get().at == close  # kept for a replay (tests/monitors/test_dead_letters.py)


def test_monitor_whose_windows_cannot_be_computed_is_retried_later(fleet, vehicle, monkeypatch):
    monitor = time_zone_monitor(fleet)
    close = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
    Monitor.objects.filter(pk=monitor.pk).update(next_time_boundary=close)

    def broken(self, after):
        raise ValueError("a bug in the window arithmetic")

    monkeypatch.setattr(type(compiled_monitor(monitor)), "next_time_boundary", broken)
    sweeps.time_boundaries_sweep(now=close)
    monitor.refresh_from_db()
    assert monitor.next_time_boundary == close + sweeps.BOUNDARY_RETRY_AFTER


def test_point_dated_before_a_window_close_arriving_after_it_does_not_refire(fleet, vehicle):
    monitor = time_zone_monitor(fleet)
    feed(vehicle, (600, OUTSIDE, {"vehicle.kinetic.moving": True}))
    close = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], at=close, monitor_ids=[monitor.pk])
    assert [e.event_date for e in events(monitor)] == [close]

    # Telemetry from inside the window, late: it must not reopen what the close decided.
    late = (close - T0).total_seconds() - 5
    feed(vehicle, (late, OUTSIDE, {"vehicle.kinetic.moving": True}))
    feed(vehicle, (late + 60, OUTSIDE, {"vehicle.kinetic.moving": True}))
    assert [e.event_date for e in events(monitor)] == [close]


def test_points_dated_within_a_pause_are_never_notified_even_when_late(fleet, vehicle):
    monitor = battery_monitor(fleet)
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 60}))
    monitor_set_status(monitor=monitor, status="Paused", now=T0 + timedelta(minutes=10))
    monitor_set_status(monitor=monitor, status="Running", now=T0 + timedelta(minutes=20))
    # Posted after the resume, dated within the pause: low, then back up.
    feed(vehicle, (15 * 60, None, {"vehicle.energy.electric.level": 40}))
    assert events(monitor) == []
    after = 20 * 60 + 1
    feed(vehicle, (after, None, {"vehicle.energy.electric.level": 45}))
    assert [e.event_date for e in events(monitor)] == [T0 + timedelta(seconds=after)]


def test_every_pause_is_honoured_for_late_points_not_only_the_last(fleet, vehicle):
    monitor = battery_monitor(fleet)
    minute = 60
    for paused, resumed in ((10, 20), (30, 40)):
        monitor_set_status(monitor=monitor, status="Paused", now=T0 + timedelta(minutes=paused))
        monitor_set_status(monitor=monitor, status="Running", now=T0 + timedelta(minutes=resumed))
    monitor.refresh_from_db()
    assert [start for start, _ in monitor.pause_intervals] == [T0 + timedelta(minutes=10), T0 + timedelta(minutes=30)]

    # All late, after the second resume. Within the first pause: skipped.
    feed(vehicle, (15 * minute, None, {"vehicle.energy.electric.level": 40}), late_by=3600)
    assert events(monitor) == []
    # Between the pauses (the first resume's instant included): evaluated.
    feed(vehicle, (20 * minute, None, {"vehicle.energy.electric.level": 30}), late_by=3600)
    assert [e.event_date for e in events(monitor)] == [T0 + timedelta(minutes=20)]
    feed(vehicle, (25 * minute, None, {"vehicle.energy.electric.level": 60}), late_by=3600)
    # Within the second pause: skipped; back up within it is not seen either.
    feed(vehicle, (35 * minute, None, {"vehicle.energy.electric.level": 20}), late_by=3600)
    assert [e.event_date for e in events(monitor)] == [T0 + timedelta(minutes=20)]
    feed(vehicle, (45 * minute, None, {"vehicle.energy.electric.level": 20}), late_by=60)
    assert [e.event_date for e in events(monitor)] == [T0 + timedelta(minutes=20), T0 + timedelta(minutes=45)]


def test_a_pause_not_yet_ended_skips_nothing(fleet, vehicle):
    monitor = battery_monitor(fleet)
    monitor.pause_started(T0)
    assert monitor.pause_intervals == []
    monitor.pause_ended(T0 + timedelta(minutes=1))
    assert monitor.pause_intervals == [(T0, T0 + timedelta(minutes=1))]


def test_time_trigger_needs_the_vehicle_in_use(fleet, vehicle):
    monitor = MonitorFactory(
        fleet=fleet,
        definition=monitor_definition(
            triggerParam={
                "triggers": [
                    {"name": "t", "time": {"times": [{"recurrence": "None", "start": "2026-06-01T00:00:00Z"}]}}
                ],
                "boolExp": "t",
            }
        ),
    )
    feed(vehicle, (0, INSIDE, {"vehicle.kinetic.moving": False}))
    assert events(monitor) == []
    feed(vehicle, (60, INSIDE, {"vehicle.kinetic.moving": True}))
    assert len(events(monitor)) == 1


def test_paused_monitor_raises_nothing_and_resume_restarts_from_scratch(fleet, vehicle):
    monitor = battery_monitor(fleet)
    monitor_set_status(monitor=monitor, status="Paused")
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 40}))
    assert events(monitor) == []
    monitor_set_status(monitor=monitor, status="Running")
    # Still low, no edge in the data itself: the condition still true fires at the next evaluation.
    feed(vehicle, (60, None, {"vehicle.energy.electric.level": 41}))
    assert [e.event_date for e in events(monitor)] == [T0 + timedelta(seconds=60)]


def test_state_from_before_a_pause_is_forgotten(fleet, vehicle):
    monitor = battery_monitor(fleet)
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 40}))
    monitor_set_status(monitor=monitor, status="Paused")
    monitor_set_status(monitor=monitor, status="Running")
    feed(vehicle, (60, None, {"vehicle.energy.electric.level": 39}))
    assert len(events(monitor)) == 2  # fired again after resume, as if never evaluated


def test_deleted_monitor_raises_nothing(fleet, vehicle):
    monitor = battery_monitor(fleet)
    monitor_delete(monitor=monitor)
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 40}))
    assert events(monitor) == []
    assert not MonitorVehicleState.objects.filter(monitor=monitor).exists()


def test_a_monitor_that_cannot_be_evaluated_does_not_stop_the_others(fleet, vehicle, caplog):
    healthy = battery_monitor(fleet)
    broken = battery_monitor(fleet)
    # A definition stored before a bound existed: its refresh overflows timedelta.
    definition = {**broken.definition, "subscribeParam": {**broken.definition["subscribeParam"], "refreshEvent": 10**14}}
    Monitor.objects.filter(pk=broken.pk).update(definition=definition)
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 40}))
    assert len(events(healthy)) == 1 and events(broken) == []
    assert not points_pending().exists()
    assert any(record.getMessage() == "monitor cannot be evaluated; skipped" for record in caplog.records)


def test_a_monitor_whose_event_cannot_be_built_is_skipped_without_moving_its_state(fleet, vehicle, monkeypatch, caplog):
    healthy = battery_monitor(fleet)
    broken = battery_monitor(fleet)
    build_values = evaluation.CompiledMonitor.values

    def values(compiled, snapshot, bits):
        if compiled is compiled_monitor(broken):
            raise TypeError("unexpected data shape")
        return build_values(compiled, snapshot, bits)

    monkeypatch.setattr(evaluation.CompiledMonitor, "values", values)
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 40}))
    assert len(events(healthy)) == 1 and events(broken) == []
    assert not MonitorVehicleState.objects.filter(monitor=broken, value=True).exists()
    assert any(record.getMessage() == "monitor cannot be evaluated; skipped" for record in caplog.records)

    # Its state did not move to true without its event: once it can be built, the event fires.
    monkeypatch.setattr(evaluation.CompiledMonitor, "values", build_values)
    feed(vehicle, (60, None, {"vehicle.energy.electric.level": 39}))
    assert len(events(broken)) == 1 and len(events(healthy)) == 1


def test_extensions_that_cannot_be_built_do_not_cost_the_event(fleet, vehicle, monkeypatch):
    monitor = battery_monitor(fleet)

    def broken(params, state, **vehicle):
        raise TypeError("unexpected data shape")

    monkeypatch.setattr(engine, "build_extensions", broken)
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 40}))
    [event] = events(monitor)
    assert event.extensions == []


def test_redelivered_evaluation_creates_no_second_event(fleet, vehicle):
    monitor = battery_monitor(fleet)
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 40}))
    assert engine.vehicles_evaluate(vehicle_ids=[vehicle.pk]) == 0
    assert engine.vehicles_evaluate(vehicle_ids=[vehicle.pk, vehicle.pk]) == 0
    assert len(events(monitor)) == 1
    assert not points_pending().exists()


def test_task_whose_points_were_applied_by_another_costs_one_query(fleet, vehicle, django_assert_num_queries):
    battery_monitor(fleet)
    other = VehicleFactory(fleet=fleet)
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 40}))
    feed(other, (0, None, {"vehicle.energy.electric.level": 40}))
    with django_assert_num_queries(1):
        assert engine.vehicles_evaluate(vehicle_ids=[vehicle.pk, other.pk]) == 0


def test_only_vehicles_with_points_are_locked_and_evaluated(fleet, vehicle):
    monitor = battery_monitor(fleet)
    idle = VehicleFactory(fleet=fleet)
    feed(idle, (0, None, {"vehicle.energy.electric.level": 40}))
    store_point(vehicle, event_date=T0, data={"vehicle.energy.electric.level": 30})
    assert engine.vehicles_evaluate(vehicle_ids=[vehicle.pk, idle.pk]) == 1
    assert [event.vin for event in events(monitor)] == [idle.vin, vehicle.vin]


def test_on_change_fires_on_the_change_not_the_first_report(fleet, vehicle):
    monitor = MonitorFactory(
        fleet=fleet,
        definition=monitor_definition(
            triggerParam={
                "triggers": [{"name": "c", "data": {"data": "vehicle.energy.charging.status", "op": "onChange"}}],
                "boolExp": "c",
            }
        ),
    )
    charging = "vehicle.energy.charging.status"
    feed(
        vehicle,
        (0, None, {charging: "Disconnected"}),
        (60, None, {charging: "Disconnected"}),
        (120, None, {charging: "InProgress"}),
        (180, None, {"environment.air.temp": 20}),
        (240, None, {charging: "Finished"}),
        (300, None, {charging: "Disconnected"}),
    )
    # Every change, including those that follow one another directly.
    assert [e.event_date for e in events(monitor)] == [T0 + timedelta(seconds=s) for s in (120, 240, 300)]


def test_event_carries_requested_extensions_in_the_reference_models(fleet, vehicle):
    definition = monitor_definition(
        extendedEventParam=["vehicle.position", "vehicle.status", "environment.air.temp", "vehicle.telemetry.vehicle.battery"]
    )
    monitor = MonitorFactory(fleet=fleet, definition=definition)
    feed(
        vehicle,
        (0, INSIDE, {"vehicle.telemetry.vehicle.ignition": {"type": "Start"}, "environment.air.temp": 31}),
        (60, OUTSIDE, {"vehicle.telemetry.vehicle.battery": {"voltage": 12.4}}),
    )
    [event] = events(monitor)
    assert [extension["type"] for extension in event.extensions] == [
        "vehicle.position",
        "vehicle.status",
        "vehicle.telemetry",
    ]
    position, status, telemetry = (extension["body"] for extension in event.extensions)
    assert position["position"]["geometry"]["coordinates"] == [OUTSIDE["longitude"], OUTSIDE["latitude"]]
    assert_api_schema_without_links(position["position"], "Position")
    assert status["status"]["ignition"] == {"type": "Start", "createdAt": "2026-06-01T10:00:00.000Z"}
    assert status["status"]["createdAt"] == "2026-06-01T10:01:00.000Z"
    assert_api_schema_without_links(status["status"], "Status")
    # One telemetry extension: a Telemetry item with the data key's section and the type asked for.
    assert telemetry["telemetry"] == {
        "createdAt": "2026-06-01T10:01:00.000Z",
        "vehicle": {"battery": {"voltage": 12.4}},
        "environment": {"air": {"temp": 31}},
    }
    assert_api_schema_without_links(telemetry["telemetry"], "Telemetry")


def test_event_alerts_are_those_active_at_its_date_with_their_own_start(fleet, vehicle):
    monitor = MonitorFactory(fleet=fleet, definition=monitor_definition(extendedEventParam=["vehicle.alerts"]))
    feed(
        vehicle,
        (0, INSIDE, {"vehicle.alert": ["RiskOfIce", "FuelLevelLow"]}),
        (30, INSIDE, {"vehicle.alert": ["RiskOfIce"]}),
        (60, OUTSIDE, {"vehicle.alert": ["RiskOfIce", "OilLevelLow"]}),
    )
    [event] = events(monitor)
    [extension] = event.extensions
    assert [(a["type"], a["startedAt"], a["vin"]) for a in extension["body"]["alerts"]] == [
        ("OilLevelLow", format_rfc3339(T0 + timedelta(seconds=60)), vehicle.vin),
        ("RiskOfIce", format_rfc3339(T0), vehicle.vin),
    ]


def test_vehicle_that_never_reported_is_not_evaluated_on_sweeps(fleet, vehicle):
    monitor = MonitorFactory(
        fleet=fleet,
        definition=monitor_definition(
            triggerParam={
                "triggers": [{"name": "z", "zone": {"transition": "In", "place": {"radius": 5, "center": dict(PARIS)}}}],
                "boolExp": "!z",
            }
        ),
    )
    engine.vehicles_evaluate(vehicle_ids=[vehicle.pk], at=T0)
    assert events(monitor) == []


def test_crash_after_commit_before_enqueue_is_recovered_by_the_sweeper(fleet, vehicle, settings):
    monitor = battery_monitor(fleet)
    with transaction.atomic():
        feed(vehicle, (0, None, {"vehicle.energy.electric.level": 40}), evaluate=False)
    # The enqueue never happened. Too recent points are left alone (their task may be queued)...
    assert sweeps.unevaluated_points_sweep() == []
    # ...older ones are picked up.
    later = datetime.now(UTC) + timedelta(seconds=settings.FLEETMON_POINT_RESCUE_AFTER + 1)
    [request] = sweeps.unevaluated_points_sweep(now=later)
    assert request.vehicle_ids == [vehicle.pk]
    engine.vehicles_evaluate(vehicle_ids=request.vehicle_ids)
    assert len(events(monitor)) == 1


def test_redefining_a_monitor_restarts_its_vehicles(api, fleet, vehicle):
    monitor = battery_monitor(fleet)
    feed(vehicle, (0, None, {"vehicle.energy.electric.level": 40}))
    body = dict(monitor.definition)
    response = api.put(f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}", body, format="json")
    assert response.status_code == 202
    feed(vehicle, (60, None, {"vehicle.energy.electric.level": 39}))
    assert len(events(monitor)) == 2
