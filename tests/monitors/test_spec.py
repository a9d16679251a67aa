"""Tests of monitors.spec: the typed reading of a stored (canonical) definition."""

from __future__ import annotations

import copy

from monitors.definition import parse_monitor_definition
from monitors.models import Monitor
from monitors.spec import BatchNotify, MonitorSpec, RetryPolicy, TriggerSpec, Webhook
from tests.monitors.factories import FULL_DEFINITION


def test_every_part_of_a_full_definition_reads_typed() -> None:
    spec = parse_monitor_definition(copy.deepcopy(FULL_DEFINITION)).spec
    assert spec.label == FULL_DEFINITION["label"]
    assert spec.refresh_event == 600
    assert spec.retry_policy == RetryPolicy(policy="Always", retry_number=3, retry_delay=120)
    assert spec.batch_notify == BatchNotify(size=10, time_window=300)
    assert spec.webhook == Webhook(
        target="https://my.post.callback/events",
        name="My_Webhook",
        attributes=(
            {"type": "Header", "key": "X-Vehicle_Id", "value": "$vin"},
            {"type": "Query", "key": "fleet", "value": "$fleetID"},
            {"type": "Body", "key": "monitor", "value": "$monitorID"},
        ),
    )
    assert spec.extended_event_params == ("vehicle.alerts", "vehicle.status")
    assert spec.bool_exp == "z & (t | d)"
    assert spec.trigger_names == ("z", "t", "d")
    assert [(trigger.name, trigger.kind) for trigger in spec.triggers] == [("z", "zone"), ("t", "time"), ("d", "data")]
    assert spec.triggers[2] == TriggerSpec(
        name="d",
        kind="data",
        params={"data": "vehicle.energy.electric.level", "op": "lowerThan", "value": ["50"]},
        min_duration=None,
    )
    assert spec.trigger_kinds == ("data", "time", "zone")
    assert spec.has_time_triggers


def test_a_minimal_definition_reads_with_the_defaults_the_parser_stored() -> None:
    raw = {
        "label": "moving",
        "subscribeParam": {"callback": {"webhook": {"target": "http://h", "name": "n"}}},
        "triggerParam": {
            "triggers": [
                {"name": "m", "data": {"data": "vehicle.kinetic.moving", "op": "equalsTo", "value": ["true"]},
                 "minDuration": "PT5M"}
            ],
            "boolExp": "m",
        },
    }
    spec = parse_monitor_definition(raw).spec
    assert spec.refresh_event is None
    assert spec.batch_notify is None
    assert spec.retry_policy == RetryPolicy(policy="Bounded", retry_number=3, retry_delay=10)
    assert spec.webhook.attributes == ()
    assert spec.extended_event_params == ()
    assert spec.triggers[0].min_duration == "PT5M"
    assert spec.trigger_kinds == ("data",) and not spec.has_time_triggers


def test_a_part_is_read_only_when_asked_for() -> None:
    # A definition stored under older rules must fail where it is used, not when loaded.
    spec = MonitorSpec({"triggerParam": {"triggers": [{"name": "a", "zone": {}}], "boolExp": "a"}})
    assert spec.trigger_names == ("a",)


def test_a_monitor_reads_its_definition_once_and_afresh_when_it_is_replaced() -> None:
    first = parse_monitor_definition(copy.deepcopy(FULL_DEFINITION)).canonical
    monitor = Monitor(definition=first)
    assert monitor.spec is monitor.spec
    assert monitor.spec.refresh_event == 600

    monitor.definition = {**first, "subscribeParam": {**first["subscribeParam"], "refreshEvent": 900}}
    assert monitor.spec.refresh_event == 900
