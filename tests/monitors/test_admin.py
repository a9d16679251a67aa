from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from monitors.admin import events_lane, monitor_timeline, trigger_summary
from monitors.models import Event, Monitor, MonitorStatus, MonitorVehicleState, Trigger
from notifications.models import DeliveryState
from tests.monitors.factories import MonitorFactory, load_seed, make_event, make_recent_events, monitor_definition
from tests.notifications.factories import make_delivery
from tests.telemetry.factories import FleetFactory, VehicleFactory

pytestmark = pytest.mark.django_db

# [longitude, latitude]: a square around Lyon and a triangular hole in it.
SQUARE = [[4.7, 45.6], [5.0, 45.6], [5.0, 45.9], [4.7, 45.9], [4.7, 45.6]]
TRIANGLE = [[4.8, 45.7], [4.9, 45.7], [4.85, 45.8], [4.8, 45.7]]
CHANGELIST = reverse("admin:monitors_monitor_changelist")
ADD = reverse("admin:monitors_monitor_add")


def change_url(monitor: Monitor) -> str:
    return reverse("admin:monitors_monitor_change", args=[monitor.pk])


def listed(response) -> set[str]:
    return {monitor.pk for monitor in response.context["cl"].result_list}


def autonomy_fixed() -> dict:
    seed = load_seed("autonomy.json")
    seed["triggerParam"]["boolExp"] = "(outOfParis & (batteryIsLow | onMonday))"
    return seed


def form_data(monitor: Monitor | None = None, **overrides) -> dict:
    """What the browser posts: the JSON definition as text, plus the (read-only) triggers
    inline's management form on a change page."""
    data = {"label": "Out of Paris", "status": "Running"}
    if monitor is None:
        data["definition"] = json.dumps(monitor_definition())
    else:
        data["label"] = monitor.label
        data["status"] = monitor.status
        data["definition"] = json.dumps({k: v for k, v in monitor.definition.items() if k != "label"})
        count = monitor.triggers.count()
        data.update({"triggers-TOTAL_FORMS": count, "triggers-INITIAL_FORMS": count, "triggers-MIN_NUM_FORMS": 0,
                     "triggers-MAX_NUM_FORMS": 1000})
    data.update(overrides)
    return data


def run_action(client, action: str, monitors, *, query: str = "", **extra):
    """Actions apply to the selected rows the changelist shows: `query` carries its filters."""
    return client.post(
        f"{CHANGELIST}{query}", {"action": action, "_selected_action": [m.pk for m in monitors], **extra}, follow=True
    )


# --------------------------------------------------------------------------- changelist


def test_changelist_shows_operator_columns(admin_client):
    monitor = MonitorFactory(definition=autonomy_fixed())
    make_event(monitor, when=timezone.now() - timedelta(hours=1))
    make_event(monitor, when=timezone.now())

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    row = re.search(rf'<tr>.*?{monitor.pk}.*?</tr>', response.content.decode(), re.S).group(0)
    assert monitor.fleet.label in row
    assert monitor.fleet.owner.username in row
    assert "Running" in row
    assert "zone, time, data" in row
    assert '<td class="field-event_count">2</td>' in row


def test_changelist_filters_and_search(admin_client):
    paris, lyon = FleetFactory(label="Paris taxis"), FleetFactory(label="Lyon vans")
    in_paris = MonitorFactory(fleet=paris, definition=monitor_definition(label="Airport run"))
    paused = MonitorFactory(fleet=lyon, definition=monitor_definition(label="Night shift"), status=MonitorStatus.PAUSED)
    deleted = MonitorFactory(fleet=lyon, definition=monitor_definition(label="Old rule"))
    deleted.deleted_at = timezone.now()
    deleted.save()

    assert listed(admin_client.get(CHANGELIST)) == {in_paris.pk, paused.pk}, "deleted ones hidden by default"
    assert listed(admin_client.get(CHANGELIST, {"deleted": "yes"})) == {deleted.pk}
    assert listed(admin_client.get(CHANGELIST, {"deleted": "all"})) == {in_paris.pk, paused.pk, deleted.pk}
    assert listed(admin_client.get(CHANGELIST, {"fleet__id__exact": paris.pk})) == {in_paris.pk}
    assert listed(admin_client.get(CHANGELIST, {"status__exact": "Paused"})) == {paused.pk}
    assert listed(admin_client.get(CHANGELIST, {"fleet__owner__id__exact": lyon.owner_id})) == {paused.pk}
    assert listed(admin_client.get(CHANGELIST, {"q": "lyon"})) == {paused.pk}
    assert listed(admin_client.get(CHANGELIST, {"q": "airport"})) == {in_paris.pk}
    assert listed(admin_client.get(CHANGELIST, {"q": in_paris.pk})) == {in_paris.pk}


def test_hard_delete_is_not_offered(admin_client):
    monitor = MonitorFactory()
    actions = dict(admin_client.get(CHANGELIST).context["action_form"].fields["action"].choices)
    assert "delete_selected" not in actions
    assert {"pause", "resume", "soft_delete"} <= set(actions)
    page = admin_client.get(change_url(monitor)).content.decode()
    assert "deletelink" not in page
    assert admin_client.get(reverse("admin:monitors_monitor_delete", args=[monitor.pk])).status_code == 403


# --------------------------------------------------------------------------- actions


def test_pause_and_resume_actions_go_through_the_service(admin_client):
    monitor = MonitorFactory()
    generation = monitor.generation

    response = run_action(admin_client, "pause", [monitor])
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.PAUSED
    assert monitor.generation == generation, "pausing keeps the generation"
    assert "Paused 1 monitor(s)." in response.content.decode()

    response = run_action(admin_client, "resume", [monitor])
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.RUNNING
    assert monitor.generation == generation + 1, "resume starts a new generation"
    assert "Resumed 1 monitor(s)." in response.content.decode()


def test_resume_action_resumes_failed_monitors_and_leaves_deleted_and_running_ones_alone(admin_client):
    failed = MonitorFactory(status=MonitorStatus.FAILED)
    running = MonitorFactory(status=MonitorStatus.RUNNING)
    deleted = MonitorFactory(status=MonitorStatus.PAUSED)
    deleted.deleted_at = timezone.now()
    deleted.save()

    response = run_action(admin_client, "resume", [failed, running, deleted], query="?deleted=all")

    failed.refresh_from_db()
    deleted.refresh_from_db()
    assert failed.status == MonitorStatus.RUNNING
    assert deleted.status == MonitorStatus.PAUSED
    assert "Resumed 1 monitor(s); 1 unchanged; 1 deleted monitor(s) left alone." in response.content.decode()


def test_soft_delete_asks_first_then_keeps_the_history(admin_client):
    monitor = MonitorFactory()
    make_event(monitor, when=timezone.now())
    make_delivery(monitor, DeliveryState.DELIVERED)

    response = run_action(admin_client, "soft_delete", [monitor])
    assert "admin/monitors/monitor/soft_delete_confirmation.html" in [t.name for t in response.templates]
    monitor.refresh_from_db()
    assert monitor.deleted_at is None

    response = run_action(admin_client, "soft_delete", [monitor], confirm="yes")
    monitor.refresh_from_db()
    assert monitor.deleted_at is not None
    assert monitor.events.count() == 1 and monitor.deliveries.count() == 1
    assert "Deleted 1 monitor(s)" in response.content.decode()
    # History stays viewable but can no longer be edited.
    page = admin_client.get(change_url(monitor))
    assert page.status_code == 200
    assert 'name="definition"' not in page.content.decode()
    assert admin_client.post(change_url(monitor), form_data(monitor)).status_code == 403


# --------------------------------------------------------------------------- the form


def test_add_form_starts_from_a_skeleton(admin_client):
    page = admin_client.get(ADD).content.decode()
    assert "&quot;triggerParam&quot;: {" in page, "pretty-printed JSON"
    assert 'id="fleetmon-zone-map"' in page, "the map previews zones while typing"


def test_creating_a_monitor_through_the_form_compiles_it(admin_client):
    fleet = FleetFactory()

    body = autonomy_fixed()
    del body["label"]  # it has its own field

    response = admin_client.post(ADD, form_data(fleet=fleet.pk, label="Autonomy", definition=json.dumps(body)), follow=True)

    assert response.status_code == 200
    monitor = Monitor.objects.get()
    assert response.redirect_chain[-1][0] == CHANGELIST
    assert monitor.fleet == fleet
    assert monitor.label == monitor.definition["label"] == "Autonomy"
    assert monitor.status == MonitorStatus.RUNNING
    assert monitor.bool_exp == "(outOfParis & (batteryIsLow | onMonday))"
    assert monitor.trigger_names == ["outOfParis", "onMonday", "batteryIsLow"]
    assert monitor.truth_table != 0
    assert monitor.has_time_triggers and monitor.next_time_boundary is not None
    # Canonical form: the documentation's aliases are gone, defaults filled in.
    assert "webhook" in monitor.definition["subscribeParam"]["callback"]
    assert list(Trigger.objects.filter(monitor=monitor).values_list("position", "name", "kind")) == [
        (0, "outOfParis", "zone"), (1, "onMonday", "time"), (2, "batteryIsLow", "data"),
    ]


def test_a_label_in_the_body_conflicting_with_the_field_is_refused(admin_client):
    fleet = FleetFactory()
    response = admin_client.post(ADD, form_data(fleet=fleet.pk, label="Other", definition=json.dumps(autonomy_fixed())))
    assert response.status_code == 200
    assert "differs from the Label field" in str(response.context["adminform"].form.errors["definition"])
    assert not Monitor.objects.exists()


def test_a_pasted_api_body_takes_its_label_and_status_can_start_paused(admin_client):
    fleet = FleetFactory()
    body = monitor_definition(label="From the API docs")

    admin_client.post(ADD, form_data(fleet=fleet.pk, label="", status="Paused", definition=json.dumps(body)))

    monitor = Monitor.objects.get()
    assert monitor.label == "From the API docs"
    assert monitor.status == MonitorStatus.PAUSED


def test_invalid_definition_shows_the_api_messages_and_saves_nothing(admin_client):
    fleet = FleetFactory()
    body = monitor_definition()
    del body["label"]
    body["triggerParam"]["triggers"][0]["zone"]["transition"] = "x"
    body["subscribeParam"]["callback"]["webhook"]["attributres"] = []

    response = admin_client.post(ADD, form_data(fleet=fleet.pk, label="", definition=json.dumps(body)))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "triggerParam.triggers[0].zone.transition: must be one of 'In', 'Out' (got 'x')" in errors["definition"]
    assert any("unknown field 'attributres'; did you mean 'attributes'?" in e for e in errors["definition"])
    assert errors["label"] == ["is required"]
    page = response.content.decode()
    assert "triggerParam.triggers[0].zone.transition: must be one of &#x27;In&#x27;, &#x27;Out&#x27;" in page
    assert not Monitor.objects.exists() and not Trigger.objects.exists()


def test_a_definition_that_is_not_an_object_is_explained(admin_client):
    response = admin_client.post(ADD, form_data(fleet=FleetFactory().pk, definition="42"))
    assert response.context["adminform"].form.errors["definition"] == ["must be an object"]
    assert not Monitor.objects.exists()


def test_malformed_json_keeps_the_typed_text(admin_client):
    response = admin_client.post(ADD, form_data(fleet=FleetFactory().pk, definition='{"label": '))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["definition"] == ["Enter a valid JSON."]
    assert "{&quot;label&quot;: </textarea>" in response.content.decode()


def test_editing_replaces_the_definition_and_starts_a_new_generation(admin_client):
    monitor = MonitorFactory()
    definition = {k: v for k, v in monitor.definition.items() if k != "label"}
    definition["triggerParam"]["triggers"][0]["zone"]["place"]["radius"] = 35

    response = admin_client.post(change_url(monitor), form_data(monitor, definition=json.dumps(definition)))

    assert response.status_code == 302
    monitor.refresh_from_db()
    assert monitor.definition["triggerParam"]["triggers"][0]["zone"]["place"]["radius"] == 35
    assert monitor.generation == 2
    assert Trigger.objects.get(monitor=monitor).params["place"]["radius"] == 35


def test_saving_unchanged_keeps_the_generation_and_status_goes_through_the_service(admin_client):
    monitor = MonitorFactory()

    admin_client.post(change_url(monitor), form_data(monitor))
    monitor.refresh_from_db()
    assert monitor.generation == 1

    admin_client.post(change_url(monitor), form_data(monitor, status="Paused"))
    monitor.refresh_from_db()
    assert (monitor.status, monitor.generation) == (MonitorStatus.PAUSED, 1)

    admin_client.post(change_url(monitor), form_data(monitor, status="Running"))
    monitor.refresh_from_db()
    assert (monitor.status, monitor.generation) == (MonitorStatus.RUNNING, 2)


def test_editing_with_an_invalid_boolexp_changes_nothing(admin_client):
    monitor = MonitorFactory()
    definition = {k: v for k, v in monitor.definition.items() if k != "label"}
    definition["triggerParam"]["boolExp"] = "(outOfParis"

    response = admin_client.post(change_url(monitor), form_data(monitor, definition=json.dumps(definition)))

    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["definition"]
    assert error.startswith("triggerParam.boolExp: ")
    monitor.refresh_from_db()
    assert monitor.bool_exp == "outOfParis" and monitor.generation == 1


# --------------------------------------------------------------------------- the change page


def test_change_page_shows_triggers_expression_and_map(admin_client):
    monitor = MonitorFactory(definition=autonomy_fixed())

    response = admin_client.get(change_url(monitor))

    page = response.content.decode()
    assert "Out of circle r=20 km around 48.8667, 2.3333" in page
    assert "Daily 14:30 for 4h30 on Mon (Europe/Paris)" in page
    assert "vehicle.energy.electric.level lowerThan 50" in page
    expression = re.sub(r"<[^>]+>", "", re.search(r'<div class="fleetmon-expression">(.*?)</div>', page).group(1))
    assert expression == "(outOfParis and (batteryIsLow or onMonday))"
    assert "Fires for 3 of 8 combinations" in page
    textarea = page.split('name="definition"')[1].split("</textarea>")[0]
    assert "&quot;label&quot;" not in textarea, "the label has its own field"
    assert textarea.index("subscribeParam") < textarea.index("triggerParam"), "the API's key order, not jsonb's"
    assert 'id="fleetmon-zone-map"' in page
    assert "monitors/vendor/leaflet/leaflet.js" in page, "Leaflet served by us, not a CDN"
    circles = json.loads(re.search(r'<script id="fleetmon-zones" type="application/json">(.*?)</script>', page).group(1))
    assert circles == [
        {
            "name": "outOfParis", "transition": "Out", "latitude": 48.866667, "longitude": 2.333333, "radius_km": 20,
            "summary": "Out of circle r=20 km around 48.8667, 2.3333",
        }
    ]


def test_change_page_maps_a_polygon_zone_as_stored(admin_client):
    polygon = {"type": "Polygon", "coordinates": [SQUARE, TRIANGLE]}
    monitor = MonitorFactory(
        definition=monitor_definition(
            triggerParam={"triggers": [{"name": "depot", "zone": {"transition": "In", "polygon": polygon}}], "boolExp": "depot"}
        )
    )

    page = admin_client.get(change_url(monitor)).content.decode()

    zones = json.loads(re.search(r'<script id="fleetmon-zones" type="application/json">(.*?)</script>', page).group(1))
    assert zones == [
        {"name": "depot", "transition": "In", "polygon": polygon, "summary": "In polygon of 7 vertices with 1 hole"}
    ]
    assert "monitors/vendor/leaflet-draw/leaflet.draw.js" in page, "Leaflet.draw served by us, not a CDN"


def test_the_timeline_charts_events_above_the_axis(admin_client):
    monitor = MonitorFactory()
    now = timezone.now()
    make_recent_events(monitor, now)

    timeline = monitor_timeline([events_lane(monitor)], now)

    assert timeline["grain"] == "hour"
    assert [(key, total) for key, _, total in timeline["legend"]] == [("events", 3), ("refreshes", 1)]
    assert {bar.series for bar in timeline["bars"]} == {"events", "refreshes"}
    assert all(bar.y + bar.height <= timeline["axis"] for bar in timeline["bars"])


def test_a_fresh_monitor_has_an_empty_timeline(admin_client):
    response = admin_client.get(change_url(MonitorFactory()))
    assert response.context["timeline"] is None
    assert 'id="fleetmon-timeline-empty"' in response.content.decode()


@pytest.mark.parametrize(
    ("kind", "params", "summary"),
    [
        ("zone", {"transition": "In", "place": {"radius": 0.5, "center": {"latitude": -33.9, "longitude": 151.2}}},
         "In circle r=0.5 km around -33.9000, 151.2000"),
        ("time", {"times": [{"recurrence": "Daily", "start": "PT8H", "duration": "PT45M",
                             "occurence": {"day": ["Mon", "Tue"], "week": ["w1-w10"]}}], "timeZone": "UTC"},
         "Daily 08:00 for 45min on Mon, Tue in weeks w1-w10 (UTC)"),
        ("time", {"times": [{"recurrence": "None", "start": "2026-01-03T12:00:00+01:00"},
                            {"recurrence": "None", "start": "2026-02-03T12:00:00+01:00", "duration": "P1DT2H"}],
                  "timeZone": "Europe/Paris"},
         "Once from 2026-01-03T12:00:00+01:00, open-ended; Once from 2026-02-03T12:00:00+01:00 for 1d 2h "
         "(Europe/Paris)"),
        ("data", {"data": "vehicle.status", "op": "includedIn", "value": ["moving", "parked"]},
         "vehicle.status includedIn [moving, parked]"),
        ("data", {"data": "vehicle.odometer", "op": "onChange", "value": []}, "vehicle.odometer onChange"),
        ("zone", {"transition": "In", "polygon": {"type": "Polygon", "coordinates": [SQUARE]}}, "In polygon of 4 vertices"),
        ("zone", {"transition": "Out", "polygon": {"type": "Polygon", "coordinates": [SQUARE, TRIANGLE]}},
         "Out of polygon of 7 vertices with 1 hole"),
        ("zone", {"transition": "In", "polygon": {"type": "MultiPolygon", "coordinates": [[SQUARE, TRIANGLE, TRIANGLE], [SQUARE]]}},
         "In 2 polygons of 14 vertices with 2 holes"),
    ],
)
def test_trigger_summaries(kind, params, summary):
    assert trigger_summary(kind, params) == summary


# --------------------------------------------------------------------------- history


def test_event_admin_is_read_only_with_filters_and_vin_search(admin_client):
    monitor = MonitorFactory()
    first, second = VehicleFactory(fleet=monitor.fleet), VehicleFactory(fleet=monitor.fleet)
    event = make_event(monitor, when=timezone.now(), vehicle=first)
    refresh = make_event(monitor, when=timezone.now(), vehicle=second, refresh=True)
    url = reverse("admin:monitors_event_changelist")

    def events(**params):
        response = admin_client.get(url, params)
        assert response.status_code == 200
        return {e.pk for e in response.context["cl"].result_list}

    assert events() == {event.pk, refresh.pk}
    assert events(q=first.vin) == {event.pk}
    assert events(refresh__exact="1") == {refresh.pk}
    assert events(monitor__id__exact=monitor.pk, fleet__id__exact=monitor.fleet_id) == {event.pk, refresh.pk}
    today = timezone.now()
    assert events(event_date__year=today.year, event_date__month=today.month) == {event.pk, refresh.pk}
    page = admin_client.get(reverse("admin:monitors_event_change", args=[event.pk])).content.decode()
    assert first.vin in page and 'name="vin"' not in page
    assert admin_client.get(reverse("admin:monitors_event_add")).status_code == 403


def test_vehicle_state_admin_lists_states_read_only(admin_client):
    monitor = MonitorFactory()
    vehicle = VehicleFactory(fleet=monitor.fleet)
    MonitorVehicleState.objects.create(
        monitor=monitor, vehicle=vehicle, generation=1, value=True, since=timezone.now(),
        last_notified_at=timezone.now(),
    )
    response = admin_client.get(reverse("admin:monitors_monitorvehiclestate_changelist"), {"q": vehicle.vin})
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 1
    assert vehicle.vin in response.content.decode()
    assert admin_client.get(reverse("admin:monitors_monitorvehiclestate_add")).status_code == 403


def test_a_lone_surrogate_in_the_definition_is_explained(admin_client):
    text = json.dumps(monitor_definition()).replace('"receiver"', '"recei\\ud800ver"')
    response = admin_client.post(ADD, form_data(fleet=FleetFactory().pk, definition=text))
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["definition"]
    assert error.startswith("subscribeParam.callback.webhook.name: must not contain surrogate characters")
    assert "recei\\ud800ver" in response.content.decode()  # shown as typed, ready to fix
    assert not Monitor.objects.exists()


def test_monitor_page_has_a_backtest_panel_calling_the_admin_backtest(admin_client):
    monitor = MonitorFactory()
    page = admin_client.get(change_url(monitor)).content.decode()
    url = reverse("admin:monitors_monitor_backtest", args=[monitor.pk])
    assert f'id="fleetmon-backtest" data-url="{url}"' in page
    assert "monitors/backtest.js" in page


def test_the_admin_backtest_replays_any_fleets_monitor_for_an_operator(admin_client):
    from tests.monitors.scenarios import OUTSIDE, T0, feed

    monitor = MonitorFactory()  # a fleet the operator does not own
    vehicle = VehicleFactory(fleet=monitor.fleet)
    feed(vehicle, (0, OUTSIDE, None), evaluate=False)
    body = {"from": (T0 - timedelta(hours=1)).isoformat(), "until": (T0 + timedelta(hours=1)).isoformat()}
    response = admin_client.post(
        reverse("admin:monitors_monitor_backtest", args=[monitor.pk]), body, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    [event] = response.json()["events"]
    assert (event["vin"], event["refresh"]) == (vehicle.vin, False)
    assert not Event.objects.exists()


def test_the_admin_backtest_is_for_staff_only(client, user):
    monitor = MonitorFactory(fleet=FleetFactory(owner=user))
    client.force_login(user)
    url = reverse("admin:monitors_monitor_backtest", args=[monitor.pk])
    response = client.post(url, {"from": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"}, content_type="application/json")
    assert response.status_code == 302 and "/login/" in response["Location"]
