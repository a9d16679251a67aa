from __future__ import annotations

import pytest

pytest_plugins = ["tests.e2e_support"]


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Throttle counters live in the cache; each test starts with fresh limits."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _broker_not_paused(monkeypatch):
    """A test whose broker refused a message must not leave the next tests' POSTs unqueued."""
    from monitors import tasks

    monkeypatch.setattr(tasks._broker_pause, "until", 0.0)


@pytest.fixture
def refusing_broker(monkeypatch):
    """evaluate_vehicles' publishes, each refused as kombu refuses one to a broker that is down;
    the vehicles each named."""
    from kombu.exceptions import OperationalError

    from monitors import tasks

    attempts: list[list[str]] = []

    def refuse(args, kwargs=None, **options):
        attempts.append(args[0])
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.evaluate_vehicles, "apply_async", refuse)
    return attempts


@pytest.fixture
def shared_redis(settings):
    """The run's Redis (its broker database) as the cache every process shares, as in
    production: the evaluation marks and the rate limits count there."""
    import os

    import redis

    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis"):
        pytest.skip("needs the Redis of `make test` (tests.backends)")
    settings.CACHE_URL = url
    return redis.Redis.from_url(url)


@pytest.fixture
def hung_redis(settings):
    """A shared cache whose connections complete (in a listening socket's backlog) and that
    never answers."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    settings.CACHE_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    yield
    silent.close()


@pytest.fixture
def user(db):
    from tests.telemetry.factories import UserFactory

    return UserFactory()


@pytest.fixture
def other_user(db):
    from tests.telemetry.factories import UserFactory

    return UserFactory()


def _client_for(user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api(user):
    return _client_for(user)


@pytest.fixture
def other_api(other_user):
    return _client_for(other_user)


@pytest.fixture
def anonymous_api():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def fleet(user):
    from tests.telemetry.factories import FleetFactory

    return FleetFactory(owner=user)


@pytest.fixture
def other_fleet(other_user):
    from tests.telemetry.factories import FleetFactory

    return FleetFactory(owner=other_user)
