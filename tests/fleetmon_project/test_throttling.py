"""Rate limits counted in a sliding window: the arithmetic, then the counters, in a process's
memory and in the shared Redis alike."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.core.cache import cache
from hypothesis import assume, given
from hypothesis import strategies as st

from fleetmon_project import throttling
from fleetmon_project.sharedredis import REDIS_TIMEOUT
from fleetmon_project.throttling import Counted, request_count

# The start of a minute, an hour and a day alike.
T0 = 1_800_000_000.0 - 1_800_000_000.0 % 86400


def _admitted_later(counted: Counted, delay: float) -> bool:
    """Whether one more request, `delay` seconds after `counted`, is allowed, by the definition
    of the sliding window: the count of the window before weighs by what of it is still inside."""
    at = counted.elapsed + delay
    period, limit = counted.period, counted.limit
    if at < period:
        return counted.previous * (1 - at / period) + counted.current + 1 <= limit
    if at < 2 * period:
        return counted.current * (1 - (at - period) / period) + 1 <= limit
    return True


@given(
    limit=st.integers(1, 50),
    period=st.sampled_from([1, 60, 3600]),
    previous=st.integers(0, 150),
    current=st.integers(0, 50),
    elapsed_part=st.floats(0, 1, exclude_max=True),
)
def test_a_refused_request_waits_exactly_until_one_more_is_allowed(limit, period, previous, current, elapsed_part):
    assume(current <= limit)
    counted = Counted(
        limit=limit, period=period, elapsed=elapsed_part * period, current=current, previous=previous, allowed=False
    )
    assume(not _admitted_later(counted, 0.0))

    wait = counted.wait

    assert _admitted_later(counted, wait + 1e-6 * period)
    if wait > 1e-3 * period:
        assert not _admitted_later(counted, wait - 1e-3 * period)


def test_rate_headers_say_what_is_left_and_when_all_of_it_is_back():
    counted = Counted(limit=10, period=60, elapsed=15.0, current=3, previous=4, allowed=True)

    # 4 x 0.75 + 3 = 6 of 10 used; this window's 3 weigh until the end of the next one.
    assert counted.headers() == {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "4", "X-RateLimit-Reset": "105"}


def test_refused_by_the_previous_windows_requests_alone():
    counted = Counted(limit=10, period=60, elapsed=1.0, current=0, previous=10, allowed=False)

    # They weigh 10 x 59/60: one more request fits once they weigh 9, 5 s later; none once this window ends.
    assert counted.remaining == 0
    assert counted.wait == pytest.approx(5.0)
    assert counted.reset == 59.0


@pytest.fixture
def counters(shared_redis):
    """The rate limits' counters in the shared Redis, dropped after the test."""
    yield shared_redis
    found = shared_redis.keys("fleetmon:throttle:*")
    if found:
        shared_redis.delete(*found)


@pytest.fixture(params=["memory", "redis"])
def store(request, settings):
    """Counters in this process's memory (no shared Redis), or in the shared Redis."""
    if request.param == "redis":
        return request.getfixturevalue("counters")
    settings.CACHE_URL = ""
    cache.clear()
    return None


@pytest.fixture
def bucket():
    return f"token:t:{uuid.uuid4().hex}"


def test_a_window_allows_its_limit_then_refuses_without_counting_the_refused(store, bucket):
    answers = [request_count(bucket=bucket, limit=3, period=60, now=T0 + second) for second in range(5)]

    assert [counted.allowed for counted in answers] == [True, True, True, False, False]
    assert [counted.remaining for counted in answers] == [2, 1, 0, 0, 0]
    assert answers[-1].current == 3


def test_the_previous_windows_requests_weigh_less_as_the_window_slides(store, bucket):
    for second in range(10):
        assert request_count(bucket=bucket, limit=10, period=60, now=T0 + second).allowed

    # A quarter into the next minute, the last one's 10 weigh 7.5: two more fit, not three.
    later = [request_count(bucket=bucket, limit=10, period=60, now=T0 + 75).allowed for _ in range(3)]
    assert later == [True, True, False]
    # Halfway, they weigh 5: three more (5 + 2 + 3 = 10).
    halfway = [request_count(bucket=bucket, limit=10, period=60, now=T0 + 90).allowed for _ in range(4)]
    assert halfway == [True, True, True, False]


def test_a_refused_request_is_allowed_once_its_wait_is_over(store, bucket):
    for _ in range(5):
        request_count(bucket=bucket, limit=5, period=60, now=T0 + 50)
    refused = request_count(bucket=bucket, limit=5, period=60, now=T0 + 50)
    assert not refused.allowed

    retry_at = T0 + 50 + refused.wait
    assert not request_count(bucket=bucket, limit=5, period=60, now=retry_at - 0.5).allowed
    assert request_count(bucket=bucket, limit=5, period=60, now=retry_at + 0.01).allowed


def test_buckets_count_apart(store, bucket):
    request_count(bucket=bucket, limit=1, period=60, now=T0)

    assert not request_count(bucket=bucket, limit=1, period=60, now=T0 + 1).allowed
    assert request_count(bucket=bucket + "-other", limit=1, period=60, now=T0 + 1).allowed


def test_concurrent_requests_never_exceed_the_limit(store, bucket):
    allowed = []

    def post() -> None:
        for _ in range(25):
            allowed.append(request_count(bucket=bucket, limit=60, period=60, now=T0 + 30).allowed)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert allowed.count(True) == 60


def test_a_windows_counter_outlives_the_next_window_and_no_more(counters, bucket):
    request_count(bucket=bucket, limit=5, period=60, now=time.time())

    (key,) = counters.keys(f"fleetmon:throttle:{{{bucket}}}:*")
    assert 60_000 < counters.pttl(key) <= 120_000


def test_a_redis_that_lost_the_script_is_sent_it_again(counters, bucket):
    assert request_count(bucket=bucket, limit=2, period=60, now=T0).allowed
    counters.script_flush()  # as after a restart

    assert request_count(bucket=bucket, limit=2, period=60, now=T0).remaining == 0
    assert not request_count(bucket=bucket, limit=2, period=60, now=T0).allowed


@pytest.fixture
def unpaused(monkeypatch):
    monkeypatch.setattr(throttling._pause, "until", 0.0)


def test_without_redis_requests_are_let_through_uncounted_and_logged(settings, caplog, unpaused, bucket):
    settings.CACHE_URL = "redis://127.0.0.1:1/0"  # nothing listens on loopback port 1

    assert request_count(bucket=bucket, limit=1, period=60, now=T0) is None
    assert "rate limits unavailable, requests let through uncounted" in caplog.text


def test_a_redis_that_hangs_costs_one_timeout_then_is_left_alone_for_a_while(hung_redis, caplog, unpaused, bucket):
    started = time.monotonic()
    assert request_count(bucket=bucket, limit=1, period=60, now=T0) is None
    assert time.monotonic() - started < 3 * REDIS_TIMEOUT
    started = time.monotonic()
    assert request_count(bucket=bucket, limit=1, period=60, now=T0) is None
    assert time.monotonic() - started < REDIS_TIMEOUT / 5
    assert caplog.text.count("rate limits") == 1


@pytest.mark.django_db
def test_an_api_request_while_redis_is_away_is_answered_without_rate_headers(api, settings, unpaused):
    settings.CACHE_URL = "redis://127.0.0.1:1/0"

    response = api.get("/api/v1/fleets")

    assert response.status_code == 200
    assert not [name for name in response.headers if name.startswith("X-RateLimit")]


@pytest.mark.django_db
def test_api_requests_are_counted_in_the_shared_redis(api, counters, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"token": "2/min", "telemetry": "2/min"})
    assert api.get("/api/v1/fleets")["X-RateLimit-Remaining"] == "1"
    assert api.get("/api/v1/fleets")["X-RateLimit-Remaining"] == "0"
    refused = api.get("/api/v1/fleets")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 120  # at most until the end of the next window
    assert counters.keys("fleetmon:throttle:*")


@pytest.mark.django_db
def test_retry_after_is_the_wait_until_one_more_request_is_allowed(api, store, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"token": "2/min", "telemetry": "2/min"})
    monkeypatch.setattr(SimpleRateThrottle, "timer", staticmethod(lambda: T0 + 50.2))
    api.get("/api/v1/fleets")
    api.get("/api/v1/fleets")

    refused = api.get("/api/v1/fleets")
    # This minute's 2 weigh 2 x (1 - t/60) into the next one: 1 once t = 30, 39.8 s from now.
    assert refused["Retry-After"] == "40"
    assert refused["X-RateLimit-Reset"] == "70"
