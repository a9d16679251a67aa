"""minDuration through the engine and its Beat sweep, against the real database, with injected
instants instead of waiting."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitors import engine, sweeps
from monitors.models import MonitorVehicleState
from monitors.services import monitor_set_status
from tests.monitors.factories import PARIS, MonitorFactory, monitor_definition
from tests.monitors.scenarios import INSIDE, OUTSIDE, T0, battery_monitor, events, feed
from tests.telemetry.factories import VehicleFactory

pytestmark = pytest.mark.django_db

TEN_MINUTES = T0 + timedelta(minutes=10)


@pytest.fixture
def vehicle(fleet):
    return VehicleFactory(fleet=fleet)


def parked_outside_monitor(fleet, *, refresh=None):
    subscribe = {"callback": {"webhook": {"target": "http://127.0.0.1:9/hook", "name": "r"}}}
    if refresh:
        subscribe["refreshEvent"] = refresh
    zone = {"transition": "Out", "place": {"radius": 20, "center": dict(PARIS)}}
    return MonitorFactory(
        fleet=fleet,
        definition=monitor_definition(
            subscribeParam=subscribe,
            extendedEventParam=["vehicle.position"],
            triggerParam={
                "triggers": [{"name": "parked", "zone": zone, "minDuration": "PT10M"}],
                "boolExp": "parked",
            },
        ),
    )


def run(request: sweeps.EvaluationRequest) -> int:
    return engine.vehicles_evaluate(
        vehicle_ids=request.vehicle_ids, at=request.at, monitor_ids=request.monitor_ids, expiries=request.expiries
    )


def state_of(monitor, vehicle) -> MonitorVehicleState:
    return MonitorVehicleState.objects.get(monitor=monitor, vehicle=vehicle)


def test_dwell_fires_at_since_plus_min_duration_without_new_telemetry(fleet, vehicle):
    monitor = parked_outside_monitor(fleet)
    feed(vehicle, (-60, INSIDE, None), (0, OUTSIDE, None))
    assert events(monitor) == []
    assert state_of(monitor, vehicle).dwell_due_at == TEN_MINUTES  # scheduled with the point's commit
    assert sweeps.dwell_expiries_sweep(now=TEN_MINUTES - timedelta(seconds=1)) == []

    [request] = sweeps.dwell_expiries_sweep(now=TEN_MINUTES + timedelta(seconds=3))
    assert (request.vehicle_ids, request.monitor_ids, request.at) == ([vehicle.pk], [monitor.pk], TEN_MINUTES)
    assert run(request) == 1
    [event] = events(monitor)
    assert (event.event_date, event.refresh) == (TEN_MINUTES, False)  # the dwell's instant, not the sweep's
    assert event.extensions[0]["body"]["position"]["geometry"]["coordinates"][:2] == [OUTSIDE["longitude"], OUTSIDE["latitude"]]
    assert state_of(monitor, vehicle).dwell_due_at is None  # done, in the evaluation's own commit
    assert sweeps.dwell_expiries_sweep(now=TEN_MINUTES + timedelta(hours=1)) == []


def test_dwell_is_cancelled_when_the_condition_turns_false(fleet, vehicle):
    monitor = parked_outside_monitor(fleet)
    feed(vehicle, (0, OUTSIDE, None), (300, INSIDE, None))
    assert state_of(monitor, vehicle).dwell_due_at is None
    assert sweeps.dwell_expiries_sweep(now=TEN_MINUTES + timedelta(minutes=5)) == []
    # Out again: it counts from then.
    feed(vehicle, (400, OUTSIDE, None))
    assert state_of(monitor, vehicle).dwell_due_at == T0 + timedelta(seconds=400 + 600)
    assert events(monitor) == []


def test_an_expiry_whose_message_was_lost_is_sent_again_and_fires_once(fleet, vehicle):
    monitor = parked_outside_monitor(fleet)
    feed(vehicle, (0, OUTSIDE, None))
    [lost] = sweeps.dwell_expiries_sweep(now=TEN_MINUTES)  # never reaches a worker
    assert sweeps.dwell_expiries_sweep(now=TEN_MINUTES + timedelta(seconds=30)) == []  # may still be queued
    [again] = sweeps.dwell_expiries_sweep(now=TEN_MINUTES + sweeps.REFRESH_CLAIM_LEASE + timedelta(seconds=1))
    assert (again.at, again.monitor_ids) == (TEN_MINUTES, [monitor.pk])
    run(again)
    assert [e.event_date for e in events(monitor)] == [TEN_MINUTES]
    # The lost message turning up after all finds nothing left due.
    assert run(lost) == 0
    assert sweeps.dwell_expiries_sweep(now=TEN_MINUTES + timedelta(hours=1)) == []


def test_a_point_after_the_expiry_evaluates_the_expiry_first_at_its_own_instant(fleet, vehicle):
    monitor = parked_outside_monitor(fleet)
    feed(vehicle, (0, OUTSIDE, None))
    # The vehicle reports again at 12 min, before any sweep ran: the dwell completed at 10 min.
    feed(vehicle, (720, OUTSIDE, None))
    assert [e.event_date for e in events(monitor)] == [TEN_MINUTES]
    assert state_of(monitor, vehicle).dwell_due_at is None


def test_a_point_at_the_expiry_instant_saying_false_prevents_it(fleet, vehicle):
    monitor = parked_outside_monitor(fleet)
    feed(vehicle, (0, OUTSIDE, None), (600, INSIDE, None))
    assert events(monitor) == []


def test_a_resume_cancels_a_pending_dwell(fleet, vehicle):
    monitor = parked_outside_monitor(fleet)
    feed(vehicle, (0, OUTSIDE, None))
    monitor_set_status(monitor=monitor, status="Paused", now=T0 + timedelta(minutes=1))
    assert sweeps.dwell_expiries_sweep(now=TEN_MINUTES) == []  # a paused monitor's expiry waits
    monitor_set_status(monitor=monitor, status="Running", now=T0 + timedelta(minutes=11))
    [request] = sweeps.dwell_expiries_sweep(now=T0 + timedelta(minutes=12))
    assert run(request) == 0  # the vehicle restarted from "never evaluated": its dwell too
    assert state_of(monitor, vehicle).dwell_due_at is None
    assert sweeps.dwell_expiries_sweep(now=T0 + timedelta(hours=1)) == []


def test_refresh_reminders_follow_a_dwell_event_while_it_holds(fleet, vehicle):
    monitor = parked_outside_monitor(fleet, refresh=60)
    feed(vehicle, (0, OUTSIDE, None), (660, OUTSIDE, None))
    [first] = events(monitor)
    assert first.event_date == TEN_MINUTES
    [reminder] = sweeps.refresh_reminders_sweep(now=TEN_MINUTES + timedelta(minutes=2))
    engine.vehicles_evaluate(vehicle_ids=reminder.vehicle_ids, at=reminder.at, monitor_ids=reminder.monitor_ids)
    assert [e.refresh for e in events(monitor)] == [False, True]


def test_an_expiry_evaluation_evaluates_nothing_but_the_expiry(fleet, vehicle):
    dwell = parked_outside_monitor(fleet)
    other = battery_monitor(fleet)
    feed(vehicle, (0, OUTSIDE, {"vehicle.energy.electric.level": 40}))
    [fired] = events(other)
    [request] = sweeps.dwell_expiries_sweep(now=TEN_MINUTES)
    assert request.monitor_ids == [dwell.pk]
    run(request)
    assert [e.event_date for e in events(dwell)] == [TEN_MINUTES]
    assert events(other) == [fired]
