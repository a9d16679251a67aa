"""The operator's admin in a real headless Chromium (Debian's package, driven by Playwright):
log in, create a monitor with a zone, see it on the map, pause it, replay a failed delivery;
draw a polygon zone on the map, save it, move one of its vertices.

Runs without internet access: Leaflet is vendored, only the map tiles fail to load."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone

from monitors.models import Event, Monitor, MonitorStatus
from notifications.models import Delivery, DeliveryState
from tests.e2e_support import wait_for
from tests.monitors.factories import PARIS, MonitorFactory, monitor_definition
from tests.telemetry.factories import FleetFactory, VehicleFactory, store_points

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path("/tmp/fleetmon-admin.png")
# No sandbox: CI runs as root in a container. The rest keeps Chromium from phoning home,
# which would only slow it down without internet access.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 15_000

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _require(condition: bool, reason: str) -> None:
    # CI installs Chromium (.ci/run) and Playwright (the dev extras): a skip there would hide a
    # broken install, so only a developer's machine may skip.
    if condition:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def page(django_db_setup, live_server, admin_user, monkeypatch) -> Iterator:
    # `django_db_setup` first: the live server must stop (and close its connections) before
    # the test database is dropped.
    _require(CHROMIUM.exists(), f"{CHROMIUM} is absent: apt-get install chromium (Debian's package)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require(False, "Playwright for Python is absent: pip install -e '.[dev]'")
    # Playwright's sync API keeps an event loop running in this thread: Django would refuse ORM
    # calls from the test body, and it hands them a connection of their own (see below).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        browser_page = context.new_page()
        errors: list[str] = []
        browser_page.on("pageerror", lambda error: errors.append(str(error)))
        yield browser_page
        context.close()
        browser.close()
        # Still "inside" the event loop: close the test body's own connection, or it would keep
        # the test database from being dropped at the end of the session.
        connections.close_all()
    assert not errors, f"JavaScript errors in the admin: {errors}"


def log_in(page) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")  # pytest-django's admin_user
    page.click("input[type=submit]")
    page.wait_for_selector("text=Site administration")


def pick_fleet(page, label: str) -> None:
    """The fleet field is Django's autocomplete (select2): open it, type, choose."""
    page.click(".field-fleet .select2-selection")
    page.fill(".select2-search__field", label.split()[0])
    page.click(f".select2-results__option:has-text('{label}')")


def run_action(page, changelist: str, pk: object, action_label: str) -> str:
    """Tick one row of a changelist, choose an action by its label, run it; return the message."""
    page.goto(changelist)
    page.check(f"input[name=_selected_action][value='{pk}']")
    options = page.locator("select[name=action] option")
    labels = [label.strip() for label in options.all_inner_texts()]
    matching = [label for label in labels if action_label.lower() in label.lower()]
    assert matching, f"no action labelled like {action_label!r} among {labels}"
    page.select_option("select[name=action]", label=matching[0])
    # The action answers with a redirect to the changelist: read the message of that page,
    # not of the one the click was made on.
    with page.expect_navigation():
        page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist li")
    return page.locator("ul.messagelist").inner_text()


def test_operator_creates_a_zone_monitor_sees_it_on_the_map_pauses_it_and_replays_a_delivery(
    page, webhook_receiver, settings
):
    settings.FLEETMON_ALLOW_PRIVATE_WEBHOOKS = True  # the receiver listens on loopback
    fleet = FleetFactory(label="Paris taxis")
    definition = {
        "subscribeParam": {
            "callback": {"webhook": {"target": f"{webhook_receiver.url}/hook", "name": "receiver", "attributes": []}}
        },
        "triggerParam": {
            "triggers": [{"name": "outOfParis", "zone": {"transition": "Out", "circle": {"radius": 20, "center": PARIS}}}],
            "boolExp": "outOfParis",
        },
    }

    log_in(page)

    # Create: the map previews the circle while the JSON is typed, before anything is saved.
    page.goto("/admin/monitors/monitor/add/")
    page.fill("#id_label", "Out of Paris")
    pick_fleet(page, fleet.label)
    page.fill("#id_definition", json.dumps(definition, indent=2))
    page.wait_for_selector("#fleetmon-zone-map[data-circles='1']")
    page.click("input[name=_continue]")
    page.wait_for_selector("ul.messagelist li.success")
    monitor = Monitor.objects.get()
    assert (monitor.fleet, monitor.label, monitor.status) == (fleet, "Out of Paris", MonitorStatus.RUNNING)
    assert page.url.endswith(f"/admin/monitors/monitor/{monitor.pk}/change/")

    # The saved zone on the map: Leaflet is up and drew one 20 km circle around Paris.
    page.wait_for_selector("#fleetmon-zone-map.leaflet-container")
    assert page.locator("#fleetmon-zone-map path.leaflet-interactive").count() == 1
    circle = page.evaluate(
        "() => { const c = window.fleetmonZoneMap.circles[0];"
        " return {radius: c.getRadius(), lat: c.getLatLng().lat, lng: c.getLatLng().lng}; }"
    )
    assert circle == {"radius": 20_000, "lat": PARIS["latitude"], "lng": PARIS["longitude"]}
    assert page.locator("text=Out of circle r=20 km around 48.8667, 2.3333").count() >= 1

    # Pause through the changelist action.
    message = run_action(page, "/admin/monitors/monitor/", monitor.pk, "Pause")
    assert "Paused 1 monitor(s)." in message
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.PAUSED

    # Replay a failed delivery from the Delivery admin: it reaches the receiver this time.
    failed = Delivery.objects.create(
        monitor=monitor,
        fleet=fleet,
        state=DeliveryState.FAILED,
        webhook_id=f"msg_{uuid.uuid4().hex}",
        body=json.dumps({"monitorId": monitor.pk, "events": []}),
        attempt_count=1,
        last_error="HTTP 503",
        expires_at=timezone.now() + timedelta(days=1),
    )
    message = run_action(page, "/admin/notifications/delivery/", failed.pk, "Replay")
    assert "replay" in message.lower()
    wait_for(lambda: webhook_receiver.received(), timeout=10, message="the replayed delivery at the receiver")
    assert webhook_receiver.received()[0].headers["webhook-id"] == failed.webhook_id

    # The monitor's page now charts that delivery (and an event); keep a picture of it for humans.
    vehicle = VehicleFactory(fleet=fleet)
    Event.objects.create(
        fleet=fleet, monitor=monitor, vehicle=vehicle, vin=vehicle.vin, vehicle_public_id=vehicle.pk,
        event_date=timezone.now(),
    )
    page.goto(f"/admin/monitors/monitor/{monitor.pk}/change/")
    page.wait_for_selector("#fleetmon-timeline svg rect")
    page.wait_for_selector("#fleetmon-zone-map path.leaflet-interactive")
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def polygon_latlngs(page) -> list[list[float]]:
    """The first ring of the map's polygon, as [latitude, longitude] pairs."""
    return page.evaluate(
        "() => window.fleetmonZoneMap.polygons[0].getLatLngs()[0].map(p => [p.lat, p.lng])"
    )


def map_point(page, latitude: float, longitude: float) -> tuple[float, float]:
    """Where a position lies on the screen."""
    box = page.locator("#fleetmon-zone-map").bounding_box()
    point = page.evaluate(
        "([lat, lng]) => { const p = window.fleetmonZoneMap.map.latLngToContainerPoint([lat, lng]);"
        " return [p.x, p.y]; }",
        [latitude, longitude],
    )
    return box["x"] + point[0], box["y"] + point[1]


def typed_definition(page) -> dict:
    return json.loads(page.input_value("#id_definition"))


def test_operator_draws_a_polygon_zone_saves_it_then_moves_a_vertex(page):
    fleet = FleetFactory(label="Lyon vans")
    log_in(page)
    page.goto("/admin/monitors/monitor/add/")
    page.fill("#id_label", "Around Lyon")
    pick_fleet(page, fleet.label)
    page.fill(
        "#id_definition",
        json.dumps(
            {
                "subscribeParam": {"callback": {"webhook": {"target": "https://example.com/hook", "name": "hook"}}},
                "triggerParam": {"triggers": [], "boolExp": ""},
            }
        ),
    )

    # Draw a triangle with Leaflet.draw's polygon tool: three clicks, then Finish.
    page.click(".leaflet-draw-draw-polygon")
    box = page.locator("#fleetmon-zone-map").bounding_box()
    for vertices, (dx, dy) in enumerate(((0.3, 0.3), (0.7, 0.35), (0.5, 0.75)), start=1):
        page.mouse.click(box["x"] + box["width"] * dx, box["y"] + box["height"] * dy)
        page.wait_for_function(f"() => document.querySelectorAll('.leaflet-editing-icon').length == {vertices}")
        # Leaflet.draw ignores a click within 50 ms of the vertex it just added (a double click).
        page.wait_for_timeout(100)
    page.click(".leaflet-draw-actions a:has-text('Finish')")

    # The definition gained the polygon as a zone trigger, and the map draws it from there.
    page.wait_for_selector("#fleetmon-zone-map[data-polygons='1']")
    definition = typed_definition(page)
    [trigger] = definition["triggerParam"]["triggers"]
    assert trigger["name"] == "zone" and trigger["zone"]["transition"] == "In"
    drawn = trigger["zone"]["polygon"]
    assert drawn["type"] == "Polygon" and len(drawn["coordinates"][0]) == 4
    assert drawn["coordinates"][0][0] == drawn["coordinates"][0][-1], "a closed GeoJSON ring"
    assert definition["triggerParam"]["boolExp"] == "zone"
    assert "Added the zone trigger 'zone'" in page.inner_text("#fleetmon-zone-map-status")

    page.click("input[name=_continue]")
    page.wait_for_selector("ul.messagelist li.success")
    monitor = Monitor.objects.get()
    assert monitor.definition["triggerParam"]["triggers"][0]["zone"] == {"transition": "In", "polygon": drawn}

    # The saved polygon is on the change page's map, and listed.
    page.wait_for_selector("#fleetmon-zone-map[data-polygons='1']")
    assert page.locator(".fleetmon-zone-list li").inner_text() == "zone: In polygon of 3 vertices"
    longitude, latitude = drawn["coordinates"][0][0][:2]
    assert polygon_latlngs(page)[0] == pytest.approx([latitude, longitude], abs=1e-6)

    # Edit: drag the first vertex 40 px to the left, save the edit, then the monitor.
    page.click(".leaflet-draw-edit-edit")
    x, y = map_point(page, latitude, longitude)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 20, y, steps=5)
    page.mouse.move(x - 40, y, steps=5)
    page.mouse.up()
    page.click(".leaflet-draw-actions a:has-text('Save')")
    moved = typed_definition(page)["triggerParam"]["triggers"][0]["zone"]["polygon"]["coordinates"][0]
    assert moved[0][0] < longitude and moved[0][1] == pytest.approx(latitude, abs=1e-3)
    assert moved[1:-1] == drawn["coordinates"][0][1:-1] and moved[0] == moved[-1]

    page.click("input[name=_continue]")
    page.wait_for_selector("ul.messagelist li.success")
    monitor.refresh_from_db()
    assert monitor.definition["triggerParam"]["triggers"][0]["zone"]["polygon"]["coordinates"][0] == moved
    assert monitor.generation == 2


def test_without_leaflet_draw_a_stored_polygon_is_still_shown(page):
    lyon = [[4.7, 45.6], [5.0, 45.6], [5.0, 45.9], [4.7, 45.9], [4.7, 45.6]]
    monitor = MonitorFactory(
        definition=monitor_definition(
            triggerParam={
                "triggers": [{"name": "lyon", "zone": {"transition": "Out", "polygon": {"type": "Polygon", "coordinates": [lyon]}}}],
                "boolExp": "lyon",
            }
        )
    )
    log_in(page)
    page.route("**/leaflet.draw.js", lambda route: route.abort())

    page.goto(f"/admin/monitors/monitor/{monitor.pk}/change/")

    page.wait_for_selector("#fleetmon-zone-map[data-polygons='1']")
    assert polygon_latlngs(page) == [[latitude, longitude] for longitude, latitude in lyon[:-1]]
    assert page.locator(".leaflet-draw").count() == 0, "no drawing tools without Leaflet.draw"
    assert page.locator("#fleetmon-zone-map-hint").is_hidden()


def test_without_leaflet_the_page_lists_the_zones_and_still_saves(page):
    monitor = MonitorFactory()  # a 20 km zone around Paris
    log_in(page)
    # Leaflet and its draw plugin come together from our static files: both fail alike.
    page.route("**/leaflet*.js", lambda route: route.abort())

    page.goto(f"/admin/monitors/monitor/{monitor.pk}/change/")

    status = page.locator("#fleetmon-zone-map-status")
    assert "Leaflet did not load" in status.inner_text()
    assert page.locator(".fleetmon-zone-list li").inner_text() == "outOfParis: Out of circle r=20 km around 48.8667, 2.3333"
    page.fill("#id_label", "Renamed")
    page.click("input[name=_save]")
    page.wait_for_selector("ul.messagelist li.success")
    monitor.refresh_from_db()
    assert monitor.label == "Renamed"


def test_operator_backtests_a_monitor_and_sees_its_would_be_events_per_vehicle(page):
    monitor = MonitorFactory()  # leaving Paris
    outside = {"latitude": 49.3, "longitude": 2.33}
    now = timezone.now()
    for vin in ("VF3BACKTEST000001", "VF3BACKTEST000002"):
        vehicle = VehicleFactory(fleet=monitor.fleet, vin=vin)
        store_points(
            vehicle,
            [
                {"event_date": now - timedelta(hours=hours), **position}
                for hours, position in ((3, PARIS), (2, outside), (1, PARIS), (0.5, outside))
            ],
        )
    log_in(page)
    page.goto(f"/admin/monitors/monitor/{monitor.pk}/change/")
    assert page.input_value("#fleetmon-backtest-from") < page.input_value("#fleetmon-backtest-until")

    page.click("#fleetmon-backtest-run")

    page.wait_for_selector("#fleetmon-backtest-status:has-text('4 events from 8 points of 2 vehicles')")
    assert page.locator(".fleetmon-backtest-vin").all_text_contents() == ["VF3BACKTEST000001", "VF3BACKTEST000002"]
    assert page.locator("rect.fleetmon-backtest-event").count() == 4
    assert Event.objects.count() == 0, "a backtest stores nothing"
