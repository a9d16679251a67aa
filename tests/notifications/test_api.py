"""The delivery log, replay, test send and signing-secret endpoints."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from openapi_schema_validator import OAS30Validator

from notifications import services
from notifications.models import Delivery, DeliveryState, WebhookSecret
from tests.notifications.factories import raise_event, webhook_monitor
from tests.notifications.support import assert_monitor_events, verify_signature

pytestmark = pytest.mark.django_db
TARGET = "http://127.0.0.1:9/hook"


def base(monitor) -> str:
    return f"/api/v1/fleets/{monitor.fleet_id}/monitors/{monitor.pk}"


def send(delivery: Delivery):
    delivery.refresh_from_db()
    return services.delivery_attempt(delivery_id=delivery.pk, task_id=delivery.task_id)


@pytest.fixture
def monitor(fleet, receiver):
    return webhook_monitor(fleet=fleet, target=f"{receiver.url}/hook", retry={"policy": "None", "retryDelay": 1})


@pytest.fixture
def deliveries(monitor, receiver):
    """One delivered, one failed, one pending."""
    delivered, failed, pending = (Delivery.objects.get(delivery_events__event=raise_event(monitor=monitor)) for _ in range(3))
    send(delivered)
    receiver.default_status = 500
    send(failed)
    Delivery.objects.filter(pk=failed.pk).update(next_attempt_at=timezone.now())
    send(failed)
    receiver.default_status = 200
    return {"delivered": delivered, "failed": failed, "pending": pending}


def test_list_shows_state_events_and_attempts(api, monitor, deliveries):
    response = api.get(f"{base(monitor)}/deliveries")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    items = {item["id"]: item for item in body["_embedded"]["deliveries"]}

    failed = items[deliveries["failed"].pk]
    assert failed["state"] == "failed" and failed["attemptCount"] == 2
    assert [a["statusCode"] for a in failed["attempts"]] == [500, 500]
    assert failed["attempts"][0]["ok"] is False and failed["attempts"][0]["url"].endswith("/hook")
    assert failed["lastError"] == "HTTP 500; gave up: retry policy exhausted"

    delivered = items[deliveries["delivered"].pk]
    assert delivered["state"] == "delivered" and delivered["deliveredAt"]
    assert delivered["webhookId"] == deliveries["delivered"].webhook_id
    (event,) = delivered["events"]
    assert set(event) == {"id", "monitorId", "fleetId", "vin", "eventDate", "values", "extensions", "refresh"}

    pending = items[deliveries["pending"].pk]
    assert pending["state"] == "pending" and pending["attempts"] == [] and pending["nextAttemptAt"]
    assert pending["_links"]["retry"]["href"].endswith(f"/deliveries/{pending['id']}/retry")


@pytest.mark.parametrize("state", ["pending", "delivered", "failed"])
def test_list_filters_by_state(api, monitor, deliveries, state):
    response = api.get(f"{base(monitor)}/deliveries", {"state": state})
    assert [d["id"] for d in response.json()["_embedded"]["deliveries"]] == [deliveries[state].pk]


def test_a_batch_still_collecting_events_is_pending(api, fleet):
    monitor = webhook_monitor(fleet=fleet, target=TARGET, batch={"size": 5, "timeWindow": 60})
    raise_event(monitor=monitor)
    assert Delivery.objects.get().state == DeliveryState.BATCHING
    (item,) = api.get(f"{base(monitor)}/deliveries", {"state": "pending"}).json()["_embedded"]["deliveries"]
    assert item["state"] == "pending" and len(item["events"]) == 1


def test_unknown_state_is_a_400_naming_state(api, monitor):
    response = api.get(f"{base(monitor)}/deliveries", {"state": "batching"})
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["state"]


def test_empty_state_is_a_400_naming_state(api, monitor):
    response = api.get(f"{base(monitor)}/deliveries?state=")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "state", "message": "must not be empty"}]


def test_detail(api, monitor, deliveries):
    delivery = deliveries["delivered"]
    response = api.get(f"{base(monitor)}/deliveries/{delivery.pk}")
    assert response.status_code == 200
    assert response.json()["id"] == delivery.pk and response.json()["attempts"][0]["statusCode"] == 200


@pytest.mark.parametrize(
    "delivery_id", ["0", "-1", "abc", "99999999999999999999999", "%C2%B2", "1%0A", "1" * 5000]
)
def test_unknown_delivery_is_404(api, monitor, delivery_id):
    assert api.get(f"{base(monitor)}/deliveries/{delivery_id}").status_code == 404
    assert api.post(f"{base(monitor)}/deliveries/{delivery_id}/retry").status_code == 404


def test_an_id_in_other_digits_is_not_the_delivery_it_reads_as(api, monitor, deliveries):
    delivery = deliveries["failed"]
    arabic_indic = str(delivery.pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert api.get(f"{base(monitor)}/deliveries/{arabic_indic}").status_code == 404
    assert api.post(f"{base(monitor)}/deliveries/{arabic_indic}/retry").status_code == 404


def test_retry_replays_a_failed_delivery_with_the_same_webhook_id(api, monitor, deliveries, receiver, enqueued, django_capture_on_commit_callbacks):
    failed = deliveries["failed"]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{base(monitor)}/deliveries/{failed.pk}/retry")
    assert response.status_code == 202
    assert response.json()["state"] == "pending" and response.json()["webhookId"] == failed.webhook_id
    failed.refresh_from_db()
    assert enqueued == [(failed.pk, failed.task_id)]

    assert send(failed).attempt.ok
    assert receiver.received()[-1].headers["webhook-id"] == failed.webhook_id
    assert api.get(f"{base(monitor)}/deliveries/{failed.pk}").json()["state"] == "delivered"


def test_retry_replays_a_delivered_delivery(api, monitor, deliveries):
    response = api.post(f"{base(monitor)}/deliveries/{deliveries['delivered'].pk}/retry")
    assert response.status_code == 202 and response.json()["deliveredAt"] is None


def test_retry_of_a_pending_delivery_is_a_409(api, monitor, deliveries):
    response = api.post(f"{base(monitor)}/deliveries/{deliveries['pending'].pk}/retry")
    assert response.status_code == 409
    assert "pending" in response.json()["message"]


def test_retry_past_retention_is_a_409(api, monitor, deliveries):
    Delivery.objects.filter(pk=deliveries["failed"].pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.post(f"{base(monitor)}/deliveries/{deliveries['failed'].pk}/retry").status_code == 409


def test_test_endpoint_sends_a_signed_sample_and_reports(api, monitor, receiver, fleet):
    response = api.post(f"{base(monitor)}/test")
    assert response.status_code == 200
    result = response.json()
    assert result["ok"] is True and result["statusCode"] == 200 and result["error"] == ""
    assert result["responseExcerpt"] == '{"ok": true}' and result["durationMs"] >= 0

    (request,) = receiver.received()
    assert_monitor_events(request.json())
    secret = api.get(f"/api/v1/fleets/{fleet.pk}/webhook-secret").json()["secret"]
    assert verify_signature(secret=secret, headers=request.headers, body=request.body)

    delivery = Delivery.objects.get(pk=result["deliveryId"])
    assert delivery.is_test and delivery.state == DeliveryState.DELIVERED
    shown = api.get(f"{base(monitor)}/deliveries/{delivery.pk}").json()
    assert shown["test"] is True and shown["events"][0]["id"] is None


def test_test_endpoint_reports_a_failure_without_touching_the_monitor(api, monitor, receiver):
    receiver.script(503)
    result = api.post(f"{base(monitor)}/test").json()
    assert result["ok"] is False and result["statusCode"] == 503
    monitor.refresh_from_db()
    assert monitor.status == "Running"
    assert Delivery.objects.get(pk=result["deliveryId"]).state == DeliveryState.FAILED


def test_test_endpoint_reports_a_header_stored_before_headers_had_to_be_ascii(api, monitor, receiver):
    # The API refuses such a value now (tests/monitors/test_monitor_api.py); a stored one
    # fails its attempt instead of the request (it was a 500 and a delivery stuck pending).
    definition = monitor.definition
    definition["subscribeParam"]["callback"]["webhook"]["attributes"] = [{"type": "Header", "key": "X-Place", "value": "日本"}]
    type(monitor).objects.filter(pk=monitor.pk).update(definition=definition)
    response = api.post(f"{base(monitor)}/test")
    assert response.status_code == 200
    result = response.json()
    assert result["ok"] is False and result["statusCode"] is None
    assert result["error"].startswith("invalid header: '日本' cannot be sent")
    assert Delivery.objects.get(pk=result["deliveryId"]).state == DeliveryState.FAILED
    assert receiver.received() == []


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://localhost:{port}/hook",
    ],
)
def test_test_endpoint_refuses_private_targets(api, fleet, receiver, settings, target):
    settings.FLEETMON_ALLOW_PRIVATE_WEBHOOKS = False
    port = receiver.server.server_address[1]
    monitor = webhook_monitor(fleet=fleet, target=target.format(port=port))
    result = api.post(f"{base(monitor)}/test").json()
    assert result["ok"] is False and result["statusCode"] is None
    assert result["error"].startswith("blocked: ") and "FLEETMON_ALLOW_PRIVATE_WEBHOOKS" in result["error"]
    assert receiver.received() == []


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/hook", "http://localhost:{port}/hook"])
def test_test_endpoint_allows_private_targets_with_the_setting(api, fleet, receiver, target):
    monitor = webhook_monitor(fleet=fleet, target=target.format(port=receiver.server.server_address[1]))
    assert api.post(f"{base(monitor)}/test").json()["ok"] is True
    assert len(receiver.received()) == 1


def test_webhook_secret_is_created_once_and_stable(api, fleet):
    first = api.get(f"/api/v1/fleets/{fleet.pk}/webhook-secret")
    assert first.status_code == 200
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{32}", first.json()["secret"])
    assert api.get(f"/api/v1/fleets/{fleet.pk}/webhook-secret").json() == first.json()


def test_rotate_returns_a_new_secret_and_keeps_the_old_one_for_the_grace(api, fleet, settings):
    settings.FLEETMON_SECRET_ROTATION_GRACE = 3600
    old = api.get(f"/api/v1/fleets/{fleet.pk}/webhook-secret").json()["secret"]
    response = api.post(f"/api/v1/fleets/{fleet.pk}/webhook-secret/rotate")
    assert response.status_code == 200
    new = response.json()["secret"]
    assert new != old and new.startswith("whsec_")
    assert api.get(f"/api/v1/fleets/{fleet.pk}/webhook-secret").json()["secret"] == new
    retired = WebhookSecret.objects.get(secret=old)
    assert retired.expires_at == pytest.approx(timezone.now() + timedelta(seconds=3600), abs=timedelta(seconds=10))


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "{monitor}/deliveries"),
        ("get", "{monitor}/deliveries/{delivery}"),
        ("post", "{monitor}/deliveries/{delivery}/retry"),
        ("post", "{monitor}/test"),
        ("get", "/api/v1/fleets/{fleet}/webhook-secret"),
        ("post", "/api/v1/fleets/{fleet}/webhook-secret/rotate"),
    ],
)
def test_other_owners_get_404_and_anonymous_401(api, other_api, anonymous_api, monitor, deliveries, method, path, receiver):
    url = path.format(monitor=base(monitor), delivery=deliveries["failed"].pk, fleet=monitor.fleet_id)
    assert getattr(other_api, method)(url).status_code == 404
    assert getattr(anonymous_api, method)(url).status_code == 401
    assert len(receiver.received()) == 3  # the fixture's sends only: none of these calls sent anything


def test_another_fleets_monitor_is_404_even_for_its_owner_via_the_wrong_fleet(api, other_api, monitor, fleet, other_fleet):
    foreign = webhook_monitor(fleet=other_fleet, target=TARGET)
    assert api.get(f"/api/v1/fleets/{fleet.pk}/monitors/{foreign.pk}/deliveries").status_code == 404
    assert other_api.get(f"/api/v1/fleets/{other_fleet.pk}/monitors/{foreign.pk}/deliveries").status_code == 200


def test_responses_match_the_published_openapi_schema(api, monitor, deliveries, fleet):
    spec = api.get("/api/schema", {"format": "json"}).json()
    prefix = "/api/v1/fleets/{fleet_id}"
    delivery = f"{prefix}/monitors/{{monitor_id}}/deliveries/{{delivery_id}}"

    def check(template: str, method: str, response) -> None:
        schema = spec["paths"][template][method]["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
        OAS30Validator({**schema, "components": spec["components"]}).validate(response.json())

    check(f"{prefix}/monitors/{{monitor_id}}/deliveries", "get", api.get(f"{base(monitor)}/deliveries"))
    check(delivery, "get", api.get(f"{base(monitor)}/deliveries/{deliveries['failed'].pk}"))
    check(f"{delivery}/retry", "post", api.post(f"{base(monitor)}/deliveries/{deliveries['failed'].pk}/retry"))
    check(f"{delivery}/retry", "post", api.post(f"{base(monitor)}/deliveries/{deliveries['pending'].pk}/retry"))
    check(f"{prefix}/monitors/{{monitor_id}}/test", "post", api.post(f"{base(monitor)}/test"))
    check(f"{prefix}/webhook-secret", "get", api.get(f"/api/v1/fleets/{fleet.pk}/webhook-secret"))
    check(f"{prefix}/webhook-secret/rotate", "post", api.post(f"/api/v1/fleets/{fleet.pk}/webhook-secret/rotate"))
    check(f"{prefix}/monitors/{{monitor_id}}/deliveries", "get", api.get(f"{base(monitor)}/deliveries", {"state": "x"}))
