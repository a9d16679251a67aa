from __future__ import annotations

import pytest

from tests.reference import assert_xerror

pytestmark = pytest.mark.django_db


def test_unknown_route_answers_xerror_404(api):
    assert_xerror(api.get("/api/v1/nowhere"), 404, 40400)
    assert_xerror(api.get("/not-even-api"), 404, 40400)


def test_wrong_method_answers_405(api, fleet):
    assert_xerror(api.put(f"/api/v1/fleets/{fleet.pk}", {"label": "x"}, format="json"), 405, 40500)


def test_malformed_json_answers_400(api):
    body = assert_xerror(
        api.post("/api/v1/fleets", data='{"label": ', content_type="application/json"), 400, 40002
    )
    assert "Malformed" in body["message"]


def test_wrong_content_type_answers_415(api):
    assert_xerror(api.post("/api/v1/fleets", data="label=x", content_type="text/plain"), 415, 41500)


def test_validation_error_lists_fields(api):
    body = assert_xerror(api.post("/api/v1/fleets", {}, format="json"), 400, 40001)
    assert body["errors"] == [{"field": "label", "message": "This field is required."}]


def test_missing_token_answers_401(anonymous_api):
    assert_xerror(anonymous_api.get("/api/v1/fleets"), 401, 40100)


def test_not_acceptable_answers_406(api):
    assert_xerror(api.get("/api/v1/fleets", HTTP_ACCEPT="application/xml"), 406, 40600)


def test_throttled_answers_429_with_retry_after_and_rate_headers(api, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"token": "2/min", "telemetry": "2/min"})
    first = api.get("/api/v1/fleets")
    assert first["X-RateLimit-Limit"] == "2"
    assert first["X-RateLimit-Remaining"] == "1"
    api.get("/api/v1/fleets")
    third = api.get("/api/v1/fleets")
    assert_xerror(third, 429, 42900)
    assert int(third["Retry-After"]) >= 1
    assert third["X-RateLimit-Remaining"] == "0"


def test_errors_of_authenticated_requests_carry_rate_headers(api):
    response = api.get("/api/v1/fleets/unknown")
    assert_xerror(response, 404, 40400)
    assert response["X-RateLimit-Remaining"]


def test_unauthenticated_requests_count_against_no_quota(anonymous_api):
    response = anonymous_api.get("/api/v1/fleets")
    assert_xerror(response, 401, 40100)
    assert not [name for name in response.headers if name.startswith("X-RateLimit")]


def test_default_rate_is_generous_for_a_telemetry_gateway(api):
    response = api.get("/api/v1/fleets")
    assert int(response["X-RateLimit-Limit"]) >= 1000


def test_missing_body_answers_400(api, fleet):
    for method, url in [("post", "/api/v1/fleets"), ("patch", f"/api/v1/fleets/{fleet.pk}"), ("post", "/api/v1/telemetry")]:
        response = getattr(api, method)(url)
        body = assert_xerror(response, 400, 40002)
        assert "body is required" in body["message"]


def test_nul_character_anywhere_answers_400_naming_the_field(api, fleet):
    response = api.post("/api/v1/fleets", {"label": "a\u0000b"}, format="json")
    body = assert_xerror(response, 400, 40001)
    assert body["errors"] == [{"field": "label", "message": "must not contain NUL characters"}]
    monitor = {"label": "m", "subscribeParam": {"callback": {"webhook": {"target": "http://x.test", "name": "n\u0000"}}}}
    response = api.post(f"/api/v1/fleets/{fleet.pk}/monitors", monitor, format="json")
    assert assert_xerror(response, 400, 40001)["errors"][0]["field"] == "subscribeParam.callback.webhook.name"


SURROGATE = (
    "must not contain surrogate characters (U+D800 to U+DFFF): "
    "JSON may escape them only in pairs that stand for one character beyond U+FFFF"
)


@pytest.mark.parametrize(
    ("method", "url", "text", "expected"),
    [
        ("post", "/api/v1/fleets", '{"label": "ba\\ud800se"}', [("label", SURROGATE)]),
        ("patch", "/api/v1/fleets/{fleet}", '{"label": "\\udfff"}', [("label", SURROGATE)]),
        ("post", "/api/v1/fleets/{fleet}/vehicles", '{"vin": "VF3\\udc00", "\\ud800": 1}', [("vin", SURROGATE), ("\\ud800", "field name " + SURROGATE)]),
        ("post", "/api/v1/fleets/{fleet}/monitors", '{"label": "ba\\ud800se"}', [("label", SURROGATE)]),
        ("put", "/api/v1/fleets/{fleet}/monitors/{monitor}", '{"a": {"\\ud800": {"b": ["x", "\\u0000"]}}}', [("a.\\ud800", "field name " + SURROGATE), ("a.\\ud800.b[1]", "must not contain NUL characters")]),
        ("put", "/api/v1/fleets/{fleet}/monitors/{monitor}/status", '{"status": "Paused\\ud800"}', [("status", SURROGATE)]),
        (
            "post",
            "/api/v1/telemetry",
            '[{"vin": "VF3ABCDE0FG123456", "eventDate": "2026-01-01T00:00:00Z", "data": {"vehicle.stolen": {"note": "\\udfff"}}}]',
            [("[0].data.vehicle.stolen.note", SURROGATE)],
        ),
        ("post", "/api/v1/telemetry", '{"vin": "VF3ABCDE0FG123456", "data": {"\\udbff\\udbff": 1}}', [("data.\\udbff\\udbff", "field name " + SURROGATE)]),
    ],
    ids=lambda value: value.encode("unicode_escape").decode()[:40] if isinstance(value, str) else None,
)
def test_lone_surrogates_anywhere_answer_400_naming_each_field(api, fleet, method, url, text, expected):
    from tests.monitors.factories import MonitorFactory

    monitor = MonitorFactory(fleet=fleet) if "{monitor}" in url else None
    url = url.format(fleet=fleet.pk, monitor=monitor.pk if monitor else "")
    response = getattr(api, method)(url, data=text, content_type="application/json")
    body = assert_xerror(response, 400, 40001)
    assert [(error["field"], error["message"]) for error in body["errors"]] == expected


def test_nul_in_a_utf16_body_answers_400_too(api):
    # The walk is skipped for UTF-8 bodies without escapes only: this one has none as bytes.
    text = '{"label": "a\\u0000b"}'
    response = api.post("/api/v1/fleets", data=text.encode("utf-16"), content_type="application/json; charset=utf-16")
    body = assert_xerror(response, 400, 40001)
    assert body["errors"] == [{"field": "label", "message": "must not contain NUL characters"}]


def test_a_surrogate_pair_is_one_character_and_welcome(api):
    response = api.post("/api/v1/fleets", data='{"label": "Vans \\ud83d\\ude97"}', content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["label"] == "Vans \U0001f697"


@pytest.mark.parametrize("url", ["/api/v1/fleets", "/api/v1/telemetry"])
def test_body_over_the_limit_answers_413_saying_the_limit(api, url, settings):
    body = '{"label": "' + "x" * (6 * 1000 * 1000) + '"}'
    response = assert_xerror(api.post(url, data=body, content_type="application/json"), 413, 41300)
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in response["message"]


def test_body_over_the_limit_outside_the_api_answers_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/admin/login/", {"username": "x" * 2000, "password": "y"})
    assert_xerror(response, 413, 41300)


@pytest.mark.parametrize("error", ["OperationalError", "InterfaceError"])
def test_an_unavailable_database_answers_503_with_retry_after(api, monkeypatch, error):
    # A PostgreSQL restart surfaces at the request's first query (here the token lookup) as
    # OperationalError, or InterfaceError on a connection it already closed.
    import django.db
    from rest_framework.authentication import TokenAuthentication

    def refuse(*args, **kwargs):
        raise getattr(django.db, error)("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(TokenAuthentication, "authenticate_credentials", refuse)
    response = api.post("/api/v1/telemetry", [], format="json")
    body = assert_xerror(response, 503, 50301)
    assert "database is unavailable" in body["message"]
    assert response["Retry-After"] == "5"
