"""Operator views: the delivery log with its filters, search and actions, and the deliveries
shown on the monitor and event pages."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications import services
from notifications.models import Delivery, DeliveryState, WebhookSecret
from tests.monitors.factories import MonitorFactory, make_recent_events
from tests.notifications.factories import make_delivery, raise_event, webhook_monitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(fleet, receiver):
    monitor = webhook_monitor(fleet=fleet, target=f"{receiver.url}/hook")
    delivery = Delivery.objects.get(delivery_events__event=raise_event(monitor=monitor))
    services.delivery_attempt(delivery_id=delivery.pk, task_id=delivery.task_id)
    return delivery


def test_delivery_list_filters_and_search(admin_client, delivered):
    assert admin_client.get("/admin/notifications/delivery/").status_code == 200
    for query in ("state__exact=delivered", "is_test__exact=0", f"monitor__id__exact={delivered.monitor_id}"):
        response = admin_client.get(f"/admin/notifications/delivery/?{query}")
        assert response.status_code == 200 and response.context["cl"].result_count == 1
    vin = delivered.delivery_events.get().event.vin
    for term in (delivered.webhook_id, vin.lower()):
        assert admin_client.get("/admin/notifications/delivery/", {"q": term}).context["cl"].result_count == 1
    assert admin_client.get("/admin/notifications/delivery/", {"q": "nothing"}).context["cl"].result_count == 0


def test_delivery_page_shows_attempts_read_only(admin_client, delivered):
    response = admin_client.get(f"/admin/notifications/delivery/{delivered.pk}/change/")
    assert response.status_code == 200
    assert b"attempt" in response.content.lower()
    assert admin_client.get("/admin/notifications/delivery/add/").status_code == 403
    assert admin_client.get("/admin/notifications/deliveryattempt/").status_code == 200


def test_replay_action(admin_client, delivered):
    response = admin_client.post(
        "/admin/notifications/delivery/", {"action": "replay", "_selected_action": [delivered.pk]}, follow=True
    )
    assert response.status_code == 200
    delivered.refresh_from_db()
    assert delivered.state == DeliveryState.PENDING and delivered.next_attempt_at <= timezone.now()


def test_send_test_event_action(admin_client, delivered, receiver):
    response = admin_client.post(
        "/admin/notifications/delivery/", {"action": "send_test_event", "_selected_action": [delivered.pk]}, follow=True
    )
    assert "HTTP 200" in response.content.decode()
    assert Delivery.objects.filter(is_test=True, monitor=delivered.monitor).count() == 1
    assert len(receiver.received()) == 2


def test_webhook_secret_is_masked(admin_client, fleet):
    secret = services.webhook_secret_get_or_create(fleet=fleet)
    response = admin_client.get("/admin/notifications/webhooksecret/")
    assert response.status_code == 200
    assert secret.secret not in response.content.decode()
    page = admin_client.get(f"/admin/notifications/webhooksecret/{secret.pk}/change/").content.decode()
    assert secret.secret not in page and WebhookSecret.objects.count() == 1


def test_monitor_page_charts_deliveries_below_events_and_lists_the_latest(admin_client):
    monitor = MonitorFactory()
    make_recent_events(monitor, timezone.now())
    make_delivery(monitor, DeliveryState.DELIVERED)
    failed = make_delivery(monitor, DeliveryState.FAILED, error="HTTP 503")

    response = admin_client.get(reverse("admin:monitors_monitor_change", args=[monitor.pk]))

    timeline = response.context["timeline"]
    assert timeline["grain"] == "hour"
    assert dict((key, total) for key, _, total in timeline["legend"]) == {
        "events": 3, "refreshes": 1, "delivered": 1, "failed": 1, "pending": 0,
    }
    assert any(bar.series == "failed" and bar.y >= timeline["axis"] for bar in timeline["bars"]), "below the axis"
    page = response.content.decode()
    assert page.count('<rect class="fleetmon-series-events"') >= 2, "events spread over two or three hours"
    assert '<rect class="fleetmon-series-failed"' in page
    assert 'aria-label="Events above the line, deliveries by outcome below it, per hour"' in page
    assert f'{reverse("admin:notifications_delivery_changelist")}?monitor__id__exact={monitor.pk}' in page
    assert reverse("admin:notifications_delivery_change", args=[failed.pk]) in page
    assert "HTTP 503" in page
    assert "notifications/admin.css" in page, "the deliveries' styles"


def test_a_fresh_monitor_page_says_it_has_no_events_or_deliveries(admin_client):
    page = admin_client.get(reverse("admin:monitors_monitor_change", args=[MonitorFactory().pk])).content.decode()
    assert "No events or deliveries in the last 30 days." in page


def test_event_page_links_to_its_delivery(admin_client, delivered):
    event = delivered.delivery_events.get().event
    page = admin_client.get(reverse("admin:monitors_event_change", args=[event.pk])).content.decode()
    assert reverse("admin:notifications_delivery_change", args=[delivered.pk]) in page

