"""Admin logins are throttled per username and address (django-axes); the API is not."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authentication import BasicAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password"
LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def operator():
    return get_user_model().objects.create_superuser("operator", "operator@example.test", PASSWORD)


def attempt(client: Client, password: str, username: str = "operator"):
    return client.post(LOGIN, {"username": username, "password": password})


def logged_in(response) -> bool:
    return response.status_code == 302 and response.url == "/admin/"


def lock_out(client: Client) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "wrong").status_code == 200  # the form again, with its error
    # The failure that reaches the limit already answers with the lockout page.
    assert attempt(client, "wrong").status_code == 429


def test_the_limit_defaults_to_five_failures_and_a_cool_off():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME


def test_after_five_failures_the_sixth_attempt_is_refused_even_with_the_right_password(operator):
    client = Client(REMOTE_ADDR="203.0.113.7")
    assert logged_in(attempt(Client(REMOTE_ADDR="203.0.113.7"), PASSWORD))  # the password is right
    lock_out(client)

    response = attempt(client, PASSWORD)

    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session


def test_the_lock_lifts_after_the_cool_off(operator):
    client = Client(REMOTE_ADDR="203.0.113.7")
    lock_out(client)
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - settings.AXES_COOLOFF_TIME)
    assert logged_in(attempt(client, PASSWORD))


def test_the_lock_holds_one_username_from_one_address_only(operator):
    lock_out(Client(REMOTE_ADDR="203.0.113.7"))
    assert logged_in(attempt(Client(REMOTE_ADDR="198.51.100.1"), PASSWORD))
    get_user_model().objects.create_superuser("colleague", "colleague@example.test", PASSWORD)
    assert logged_in(attempt(Client(REMOTE_ADDR="203.0.113.7"), PASSWORD, username="colleague"))


def test_a_success_resets_the_count(operator):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong")
    assert logged_in(attempt(client, PASSWORD))
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong")
    assert logged_in(attempt(client, PASSWORD))


def test_a_locked_out_operator_still_reaches_the_api_with_a_token(operator):
    from rest_framework.authtoken.models import Token

    lock_out(Client(REMOTE_ADDR="127.0.0.1"))
    token = Token.objects.create(user=operator)
    response = Client(REMOTE_ADDR="127.0.0.1").get("/api/v1/fleets", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


def test_api_password_authentication_is_neither_throttled_nor_recorded(operator):
    def basic(password: str) -> Request:
        credentials = base64.b64encode(f"operator:{password}".encode()).decode()
        request = APIRequestFactory().get("/api/v1/fleets", HTTP_AUTHORIZATION=f"Basic {credentials}")
        return Request(request)

    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        with pytest.raises(AuthenticationFailed):
            BasicAuthentication().authenticate(basic("wrong"))
    user, _ = BasicAuthentication().authenticate(basic(PASSWORD))
    assert user == operator
    assert not AccessAttempt.objects.exists()
