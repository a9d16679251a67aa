"""API clients: the reference's `Authorization: Basic` + `client_id` authentication, their
creation (command, admin), tenancy, throttling and the secrets' digests."""

from __future__ import annotations

import io
import re
from base64 import b64encode
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.contrib.auth.hashers import make_password
from django.core.management import CommandError, call_command
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from fleetmon_project import authentication
from fleetmon_project.authentication import FAILURE_MESSAGE, SecretCheck, secret_check, secret_digest
from fleetmon_project.unserved import UNSERVED
from monitors.models import Event, Monitor
from telemetry.models import ApiClient, Vehicle
from telemetry.services import api_client_deactivate, api_client_rotate_secret, api_client_secret_upgrade
from tests.monitors.factories import MonitorFactory
from tests.notifications.factories import raise_event, webhook_monitor
from tests.telemetry.factories import FleetFactory, VehicleFactory, api_client_with_secret

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # The hashes an earlier release stored: the production hasher costs ~100 ms a check by design.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def basic(username: str, secret: str) -> str:
    return "Basic " + b64encode(f"{username}:{secret}".encode()).decode()


class ReferenceClient(APIClient):
    """What a client of the reference sends: Basic credentials, and `client_id` in the query
    of every call."""

    def __init__(self, *, client_id: str, username: str, secret: str) -> None:
        super().__init__()
        self.client_id = client_id
        self.credentials(HTTP_AUTHORIZATION=basic(username, secret))

    def request(self, **kwargs: Any) -> Any:
        query = kwargs.get("QUERY_STRING", "")
        kwargs["QUERY_STRING"] = "&".join(filter(None, [query, urlencode({"client_id": self.client_id})]))
        return super().request(**kwargs)


@pytest.fixture
def credentials(user):
    client, secret = api_client_with_secret(owner=user, label="gateway")
    return client, secret


@pytest.fixture
def reference_api(user, credentials):
    client, secret = credentials
    return ReferenceClient(client_id=client.client_id, username=user.username, secret=secret)


def assert_refused(response) -> None:  # noqa: ANN001
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == 40101
    assert body["message"] == FAILURE_MESSAGE
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
    assert not [name for name in response.headers if name.startswith("X-RateLimit")]


# ---- creation --------------------------------------------------------------------------


def test_command_prints_client_id_and_a_secret_that_is_stored_only_hashed(user):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_client", user.username, "--label", "Stellantis gateway", stdout=out, stderr=err)

    client_id = re.search(r"client_id: (\S+)", out.getvalue()).group(1)
    secret = re.search(r"secret: +(\S+)", out.getvalue()).group(1)
    client = ApiClient.objects.get(client_id=client_id)
    assert (client.owner, client.label, client.is_active) == (user, "Stellantis gateway", True)
    assert secret_check(stored=client.secret_hash, secret=secret) == SecretCheck(ok=True)
    assert secret not in client.secret_hash
    assert "cannot be shown again" in err.getvalue()
    response = ReferenceClient(client_id=client_id, username=user.username, secret=secret).get("/api/v1/fleets")
    assert response.status_code == 200


def test_command_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="no user 'ghost'"):
        call_command("create_api_client", "ghost", stdout=io.StringIO())
    assert not ApiClient.objects.exists()


def test_each_client_gets_its_own_unguessable_client_id_and_secret(user):
    (first, first_secret), (second, second_secret) = (api_client_with_secret(owner=user) for _ in range(2))
    assert first.client_id != second.client_id and first_secret != second_secret
    assert len(first.client_id) == 32 and len(first_secret) >= 40


def _admin_messages(response) -> list[str]:  # noqa: ANN001
    return [str(message) for message in response.context["messages"]]


def test_admin_add_shows_the_secret_once_and_stores_it_hashed(admin_client, user):
    response = admin_client.post(
        "/admin/telemetry/apiclient/add/", {"owner": user.pk, "label": "From the admin", "is_active": "on"}, follow=True
    )

    client = ApiClient.objects.get(label="From the admin")
    (shown,) = [m for m in _admin_messages(response) if "secret" in m]
    secret = re.search(r"secret (\S+) ", shown).group(1)
    assert client.client_id in shown and user.username in shown
    assert secret_check(stored=client.secret_hash, secret=secret) == SecretCheck(ok=True)
    assert secret not in client.secret_hash
    listing = admin_client.get("/admin/telemetry/apiclient/")
    assert client.client_id.encode() in listing.content and secret.encode() not in listing.content
    change = admin_client.get(f"/admin/telemetry/apiclient/{client.pk}/change/")
    assert secret.encode() not in change.content and client.secret_hash.encode() not in change.content


def test_admin_rotate_action_shows_a_new_secret_and_the_old_one_stops_working(admin_client, user, credentials):
    client, old_secret = credentials
    response = admin_client.post(
        "/admin/telemetry/apiclient/", {"action": "rotate_secret", "_selected_action": [client.pk]}, follow=True
    )

    (shown,) = [m for m in _admin_messages(response) if client.client_id in m]
    new_secret = re.search(r"secret (\S+) ", shown).group(1)
    as_reference = lambda secret: ReferenceClient(client_id=client.client_id, username=user.username, secret=secret)  # noqa: E731
    assert as_reference(new_secret).get("/api/v1/fleets").status_code == 200
    assert_refused(as_reference(old_secret).get("/api/v1/fleets"))


def test_admin_deactivate_action_refuses_the_client(admin_client, reference_api, credentials):
    client, _ = credentials
    assert reference_api.get("/api/v1/fleets").status_code == 200
    admin_client.post("/admin/telemetry/apiclient/", {"action": "deactivate", "_selected_action": [client.pk]})

    client.refresh_from_db()
    assert client.is_active is False
    assert_refused(reference_api.get("/api/v1/fleets"))


def test_admin_does_not_let_an_existing_client_change_owner(admin_client, credentials, other_user):
    client, _ = credentials
    admin_client.post(
        f"/admin/telemetry/apiclient/{client.pk}/change/", {"owner": other_user.pk, "label": "moved", "is_active": "on"}
    )
    client.refresh_from_db()
    assert client.label == "moved" and client.owner != other_user


# ---- authentication ----------------------------------------------------------------------


def test_basic_and_client_id_authenticate_as_the_owner_and_record_use(reference_api, credentials, fleet):
    client, _ = credentials
    response = reference_api.get("/api/v1/fleets")

    assert response.status_code == 200
    assert [f["id"] for f in response.json()["_embedded"]["fleets"]] == [fleet.pk]
    client.refresh_from_db()
    assert client.last_used_at is not None


def test_tokens_and_sessions_keep_working_beside_api_clients(api, user, credentials, fleet, client):
    assert api.get("/api/v1/fleets").status_code == 200
    client.force_login(user)
    assert client.get("/api/v1/fleets").status_code == 200


def test_paging_links_carry_client_id_and_can_be_followed_as_they_are(reference_api, user):
    for _ in range(3):
        FleetFactory(owner=user)
    first = reference_api.get("/api/v1/fleets", {"pageSize": 2}).json()
    # The link already has client_id; the client adds its own again, as a generated SDK would.
    following = reference_api.get(first["_links"]["next"]["href"]).json()
    assert following["currentPage"] == 2 and len(following["_embedded"]["fleets"]) == 1


def test_secrets_are_checked_against_their_digest_without_a_password_hasher(reference_api, user, credentials):
    client, _ = credentials
    wrong = ReferenceClient(client_id=client.client_id, username=user.username, secret="wrong")
    with mock.patch.object(authentication, "check_password") as hasher:
        assert reference_api.get("/api/v1/fleets").status_code == 200
        assert_refused(wrong.get("/api/v1/fleets"))
    hasher.assert_not_called()


def test_an_unknown_client_id_costs_the_digest_check_a_wrong_secret_costs(user, credentials):
    client, secret = credentials
    for client_id, sent in ((client.client_id, "not-the-secret"), ("0" * 32, secret)):
        with mock.patch.object(authentication._HASHER, "verify", wraps=authentication._HASHER.verify) as verify:
            assert_refused(ReferenceClient(client_id=client_id, username=user.username, secret=sent).get("/api/v1/fleets"))
        assert [call.args[0] for call in verify.call_args_list] == [sent]


def _legacy(client: ApiClient, secret: str) -> str:
    """The client as an earlier release stored it: a password hash of its secret."""
    legacy = make_password(secret)
    ApiClient.objects.filter(pk=client.pk).update(secret_hash=legacy)
    return legacy


def test_a_hash_stored_by_an_earlier_release_is_replaced_by_the_digest_on_first_use(reference_api, credentials):
    client, secret = credentials
    _legacy(client, secret)

    assert reference_api.get("/api/v1/fleets").status_code == 200
    client.refresh_from_db()
    assert secret_check(stored=client.secret_hash, secret=secret) == SecretCheck(ok=True)
    with mock.patch.object(authentication, "check_password") as hasher:
        assert reference_api.get("/api/v1/fleets").status_code == 200
    hasher.assert_not_called()


def test_a_wrong_secret_leaves_an_earlier_releases_hash_alone(user, credentials):
    client, _ = credentials
    legacy = _legacy(client, "the-old-secret")
    assert_refused(ReferenceClient(client_id=client.client_id, username=user.username, secret="wrong").get("/api/v1/fleets"))
    # The right secret with another user's name matches the hash, and is refused all the same.
    assert_refused(ReferenceClient(client_id=client.client_id, username="nobody", secret="the-old-secret").get("/api/v1/fleets"))
    client.refresh_from_db()
    assert client.secret_hash == legacy


def test_an_upgrade_does_not_undo_a_rotation_made_meanwhile(credentials):
    client, secret = credentials
    _legacy(client, secret)
    client.refresh_from_db()
    rotated = api_client_rotate_secret(client=ApiClient.objects.get(pk=client.pk))

    api_client_secret_upgrade(client=client, digest=secret_digest(secret))

    assert secret_check(stored=ApiClient.objects.get(pk=client.pk).secret_hash, secret=rotated).ok


def test_a_rotated_secret_is_refused_from_the_next_request(reference_api, user, credentials):
    client, _ = credentials
    assert reference_api.get("/api/v1/fleets").status_code == 200

    new_secret = api_client_rotate_secret(client=client)

    assert_refused(reference_api.get("/api/v1/fleets"))
    fresh = ReferenceClient(client_id=client.client_id, username=user.username, secret=new_secret)
    assert fresh.get("/api/v1/fleets").status_code == 200


def test_a_deactivated_client_is_refused_from_the_next_request(reference_api, credentials):
    client, _ = credentials
    assert reference_api.get("/api/v1/fleets").status_code == 200

    api_client_deactivate(clients=ApiClient.objects.filter(pk=client.pk))

    assert_refused(reference_api.get("/api/v1/fleets"))


def test_a_client_of_a_deactivated_user_is_refused(reference_api, user):
    assert reference_api.get("/api/v1/fleets").status_code == 200
    user.is_active = False
    user.save()
    assert_refused(reference_api.get("/api/v1/fleets"))


# The 401 matrix: every way the credentials can be wrong, on every route of the API.


def _api_routes(patterns: list[Any], prefix: str = "") -> list[tuple[str, tuple[str, ...]]]:
    routes = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            routes += _api_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and (prefix + str(pattern.pattern)).startswith("api/v1/"):
            view = pattern.callback.view_class
            methods = tuple(m for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m))
            routes.append((prefix + str(pattern.pattern), methods))
    return routes


# Every /api/v1/ route requires authentication; one meant to be public would be left out here.
API_ROUTES = _api_routes(get_resolver().url_patterns)


def _concrete(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: f"x-{m.group(1)}", route)


Ctx = dict[str, Any]
Case = Callable[[Ctx], tuple[str | None, list[tuple[str, str]]]]


def _with_id(authorization: str | None, client_id: str) -> tuple[str | None, list[tuple[str, str]]]:
    return authorization, [("client_id", client_id)]


FAILURES: dict[str, Case] = {
    "wrong secret": lambda c: _with_id(basic(c["user"], "not-the-secret"), c["client_id"]),
    "empty secret": lambda c: _with_id(basic(c["user"], ""), c["client_id"]),
    "secret of the owner's other client": lambda c: _with_id(basic(c["user"], c["sibling_secret"]), c["client_id"]),
    "another user with this secret": lambda c: _with_id(basic(c["other_user"], c["secret"]), c["client_id"]),
    "another user's own credentials": lambda c: _with_id(basic(c["other_user"], c["other_secret"]), c["client_id"]),
    "unknown user": lambda c: _with_id(basic("nobody", c["secret"]), c["client_id"]),
    "unknown client_id": lambda c: _with_id(basic(c["user"], c["secret"]), "f" * 32),
    "empty client_id": lambda c: _with_id(basic(c["user"], c["secret"]), ""),
    "two different client_ids": lambda c: (
        basic(c["user"], c["secret"]),
        [("client_id", c["client_id"]), ("client_id", c["sibling_id"])],
    ),
    "inactive client": lambda c: _with_id(basic(c["user"], c["inactive_secret"]), c["inactive_id"]),
    "Basic without client_id": lambda c: (basic(c["user"], c["secret"]), []),
    "client_id without Basic": lambda c: _with_id(None, c["client_id"]),
    "client_id with another scheme": lambda c: _with_id("Bearer " + c["secret"], c["client_id"]),
    "malformed base64": lambda c: _with_id("Basic !!" + c["secret"], c["client_id"]),
    "base64 without a colon": lambda c: _with_id("Basic " + b64encode(c["secret"].encode()).decode(), c["client_id"]),
    "Basic without credentials": lambda c: _with_id("Basic", c["client_id"]),
}


@pytest.fixture
def matrix(user, other_user, credentials) -> Ctx:
    client, secret = credentials
    sibling, sibling_secret = api_client_with_secret(owner=user)
    inactive, inactive_secret = api_client_with_secret(owner=user, is_active=False)
    _, other_secret = api_client_with_secret(owner=other_user)
    return {
        "user": user.username,
        "other_user": other_user.username,
        "client_id": client.client_id,
        "secret": secret,
        "sibling_id": sibling.client_id,
        "sibling_secret": sibling_secret,
        "inactive_id": inactive.client_id,
        "inactive_secret": inactive_secret,
        "other_secret": other_secret,
    }


def test_the_matrix_covers_the_whole_api():
    routes = [route for route, _ in API_ROUTES]
    assert {"api/v1/fleets", "api/v1/telemetry", "api/v1/fleets/<str:fleet_id>/monitors/<str:monitor_id>/events"} <= set(routes)
    assert all(methods for _, methods in API_ROUTES)


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize(("route", "methods"), API_ROUTES, ids=[route for route, _ in API_ROUTES])
def test_every_bad_credential_answers_the_same_401_on_every_route(matrix, route, methods, failure):
    authorization, query = FAILURES[failure](matrix)
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    url = _concrete(route) + "?" + urlencode(query)
    for method in methods:
        assert_refused(getattr(client, method)(url, {}, format="json"))


def test_the_good_credentials_of_the_matrix_are_accepted(matrix):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic(matrix["user"], matrix["secret"]))
    assert client.get("/api/v1/fleets", {"client_id": matrix["client_id"]}).status_code == 200


# ---- tenancy, throttling, query strictness ------------------------------------------------


def test_a_client_sees_its_owners_resources(reference_api, fleet):
    assert reference_api.get(f"/api/v1/fleets/{fleet.pk}").status_code == 200
    assert [f["id"] for f in reference_api.get("/api/v1/fleets").json()["_embedded"]["fleets"]] == [fleet.pk]


@pytest.fixture
def foreign(other_api, other_fleet) -> dict[str, str]:
    """Real ids of another owner's resources, one for every path parameter of the API."""
    vehicle = VehicleFactory(fleet=other_fleet)
    posted = other_api.post(
        "/api/v1/telemetry",
        {"vin": vehicle.vin, "eventDate": "2026-01-05T10:00:00Z", "position": {"latitude": 48.8, "longitude": 2.3},
         "data": {"vehicle.alert": ["FuelLevelLow"]}},
        format="json",
    )
    assert posted.status_code == 202
    monitor = webhook_monitor(fleet=other_fleet, target="http://127.0.0.1:9/hook")
    raise_event(monitor=monitor, vehicle=vehicle)
    (alert,) = other_api.get(f"/api/v1/fleets/{other_fleet.pk}/alerts").json()["_embedded"]["alerts"]
    (delivery,) = other_api.get(f"/api/v1/fleets/{other_fleet.pk}/monitors/{monitor.pk}/deliveries").json()["_embedded"]["deliveries"]
    return {
        "fleet_id": other_fleet.pk,
        "vehicle_id": vehicle.pk,
        "vin": vehicle.vin,
        "monitor_id": monitor.pk,
        "delivery_id": str(delivery["id"]),
        "alert_id": alert["id"],
    }


# Routes naming a resource, but the reference's unserved ones (501 whoever asks, test_unserved.py).
UNSERVED_ROUTES = {"api/v1/" + route for route, _ in UNSERVED}
OWNED_ROUTES = [(route, methods) for route, methods in API_ROUTES if "<" in route and route not in UNSERVED_ROUTES]


def test_the_tenancy_matrix_covers_every_route_with_an_id():
    assert {"api/v1/vehicles/<str:vin>", "api/v1/fleets/<str:fleet_id>/vehicles/<str:vehicle_id>/status"} <= {r for r, _ in OWNED_ROUTES}


@pytest.mark.parametrize(("route", "methods"), OWNED_ROUTES, ids=[route for route, _ in OWNED_ROUTES])
def test_another_owners_ids_answer_404_on_every_route_and_change_nothing(reference_api, foreign, route, methods):
    url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: foreign[m.group(1)], route)
    for method in methods:
        response = getattr(reference_api, method)(url, {}, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.json()["code"] // 100 == 404
    assert Monitor.objects.filter(pk=foreign["monitor_id"], deleted_at__isnull=True).exists()
    assert Vehicle.objects.filter(pk=foreign["vehicle_id"]).exists()


def test_telemetry_for_another_owners_vin_is_refused_like_an_unknown_vin(reference_api, foreign):
    point = {"vin": foreign["vin"], "eventDate": "2026-01-05T10:05:00Z", "data": {"vehicle.odometer": 1}}
    response = reference_api.post("/api/v1/telemetry", point, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "vin", "message": f"no vehicle with VIN '{foreign['vin']}' in your fleets"}]


def test_writes_with_client_id_in_the_url_act_as_the_owner(reference_api, user):
    response = reference_api.post("/api/v1/fleets", {"label": "Vans"}, format="json")
    assert response.status_code == 201
    fleet_id = response.json()["id"]
    assert user.fleets.filter(pk=fleet_id).exists()
    vehicle = reference_api.post(f"/api/v1/fleets/{fleet_id}/vehicles", {"vin": "VF3ABCDE0FG123456"}, format="json")
    assert vehicle.status_code == 201
    point = {"vin": "VF3ABCDE0FG123456", "eventDate": "2026-06-01T10:00:00Z", "position": {"latitude": 48.8, "longitude": 2.3}}
    assert reference_api.post("/api/v1/telemetry", [point], format="json").status_code == 202


def test_a_client_has_its_own_rate_limit_bucket_apart_from_the_owners_token(reference_api, api, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"token": "2/min", "telemetry": "2/min"})
    api.get("/api/v1/fleets")
    assert api.get("/api/v1/fleets")["X-RateLimit-Remaining"] == "0"

    first = reference_api.get("/api/v1/fleets")
    assert first.status_code == 200 and first["X-RateLimit-Remaining"] == "1"
    reference_api.get("/api/v1/fleets")
    assert reference_api.get("/api/v1/fleets").status_code == 429


def test_two_clients_of_one_owner_are_throttled_apart(reference_api, user, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"token": "1/min", "telemetry": "1/min"})
    reference_api.get("/api/v1/fleets")
    assert reference_api.get("/api/v1/fleets").status_code == 429
    sibling, secret = api_client_with_secret(owner=user)
    other = ReferenceClient(client_id=sibling.client_id, username=user.username, secret=secret)
    assert other.get("/api/v1/fleets").status_code == 200


def test_events_filters_and_paging_accept_client_id(reference_api, fleet):
    monitor = MonitorFactory(fleet=fleet)
    first, second = VehicleFactory(fleet=fleet), VehicleFactory(fleet=fleet)
    for vehicle, minute in ((first, 0), (first, 1), (second, 2)):
        Event.objects.create(
            fleet=fleet,
            monitor=monitor,
            vehicle=vehicle,
            vin=vehicle.vin,
            vehicle_public_id=vehicle.pk,
            event_date=datetime(2026, 6, 1, 10, minute, tzinfo=UTC),
            values=[],
            extensions=[],
        )
    url = f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/events"
    query = {"vin": first.vin, "since": "2026-06-01T10:00:00Z", "until": "2026-06-01T11:00:00Z", "pageSize": "1", "indexRange": "0-"}
    response = reference_api.get(url, query)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["total"] == 2 and body["totalPage"] == 2
    assert {e["vin"] for e in body["_embedded"]["events"]} == {first.vin}
    assert reference_api.get(body["_links"]["next"]["href"]).status_code == 200
    # The strictness stays for everything else.
    assert reference_api.get(url, {"vni": first.vin}).json()["errors"][0]["field"] == "vni"


def test_delivery_filters_accept_client_id(reference_api, fleet):
    monitor = webhook_monitor(fleet=fleet, target="http://127.0.0.1:9/hook")
    raise_event(monitor=monitor)
    url = f"/api/v1/fleets/{fleet.pk}/monitors/{monitor.pk}/deliveries"
    pending = reference_api.get(url, {"state": "pending", "pageSize": "10", "indexRange": "0-9"})
    assert pending.status_code == 200, pending.json()
    assert pending.json()["total"] == 1
    assert reference_api.get(url, {"state": "delivered"}).json()["total"] == 0


def test_a_token_client_may_send_a_client_id_it_does_not_need(api, fleet):
    # A token wins before the Basic scheme looks at the query.
    assert api.get("/api/v1/fleets", {"client_id": "anything"}).status_code == 200


def test_the_schema_declares_basic_and_client_id_together_like_the_reference(api):
    spec = api.get("/api/schema", {"format": "json"}).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["BasicAuth"] == {**schemes["BasicAuth"], "type": "http", "scheme": "basic"}
    assert schemes["ClientId"] == {**schemes["ClientId"], "type": "apiKey", "in": "query", "name": "client_id"}
    assert {"BasicAuth": [], "ClientId": []} in spec["paths"]["/api/v1/fleets"]["get"]["security"]
    assert {"tokenAuth": []} in spec["paths"]["/api/v1/fleets"]["get"]["security"]

