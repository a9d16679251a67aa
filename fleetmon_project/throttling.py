"""Per-token (or per API client) rate limits, reported with the `X-RateLimit-*` headers on
every response to an authenticated request. Anonymous requests are refused (401) before
throttling: guessing a 160-bit token is hopeless, and a flood of them is for the reverse
proxy to absorb.

A limit of N requests per period counts in a sliding window: each credential has a counter per
fixed window of the period, and the previous window's count weighs on the current one in
proportion to the part of the previous window still inside the sliding one. A request is
allowed while that estimate, this request included, is at most N. Two counters per credential
and one Redis command per request, whatever the rate: DRF's `SimpleRateThrottle` kept every
request's timestamp in one cache entry that each request read and wrote back whole (1 to 3 ms
of the API's CPU per request, the more the nearer the limit: docs/performance.md), and two
concurrent requests could each write back a history without the other's.

The counters live in the shared Redis (CACHE_URL), counted and checked by one script, so that
every process and every host agree. While Redis is unavailable, requests are let through
uncounted, without rate headers (logged): a rate limit must not take the API down with it.
Without Redis (a development setup) each process counts in its own memory.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from dataclasses import dataclass

from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from fleetmon_project.sharedredis import Pause, shared_script

KEY = "fleetmon:throttle:{{{bucket}}}:{window}"  # the braces: one Redis Cluster slot per bucket


@dataclass(frozen=True)
class Counted:
    """A request, counted (or refused) in its credential's sliding window."""

    limit: int
    period: int  # seconds
    elapsed: float  # seconds into the current fixed window
    current: int  # requests allowed in the current fixed window, this one included if allowed
    previous: int  # requests allowed in the previous fixed window
    allowed: bool

    @property
    def estimate(self) -> float:
        return self.previous * _weight(self.elapsed, self.period) + self.current

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.limit - self.estimate))

    @property
    def wait(self) -> float:
        """Seconds until one more request would be allowed."""
        if self.current + 1 > self.limit:
            # Not in this window: in the next one, this window's count weighs as the previous.
            return self.period - self.elapsed + self.period * (1 - (self.limit - 1) / self.current)
        weight = _weight(self.elapsed, self.period)
        if _admits(previous=self.previous, current=self.current + 1, weight=weight, limit=self.limit):
            return 0.0
        return max(0.0, self.period * (1 - (self.limit - self.current - 1) / self.previous) - self.elapsed)

    @property
    def reset(self) -> float:
        """Seconds until none of the requests counted so far weighs on the limit any more."""
        left = self.period - self.elapsed
        if self.current:
            return left + self.period
        return left if self.previous else 0.0

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset)),
        }


def _weight(elapsed: float, period: int) -> float:
    return 1 - elapsed / period


def _admits(*, previous: int, current: int, weight: float, limit: int) -> bool:
    # _COUNT's test, computed in the same order: a refused request must never be told to wait 0 s.
    return previous * weight + current <= limit


# KEYS: this window's counter, the previous window's. ARGV: the previous window's weight, the
# limit, the counter's lifetime in ms (two windows: it is the previous one for the next).
# Answers {allowed, this window's count, the previous window's}; a refused request is not counted.
_COUNT = """
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
if previous * tonumber(ARGV[1]) + current > tonumber(ARGV[2]) then
    redis.call('DECR', KEYS[1])
    return {0, current - 1, previous}
end
return {1, current, previous}
"""

_pause = Pause("rate limits", logging.getLogger(__name__))
_local = threading.Lock()


def request_count(*, bucket: str, limit: int, period: int, now: float) -> Counted | None:
    """Count a request of `bucket` against `limit` per `period` seconds at `now` (epoch
    seconds); None when the shared Redis is unavailable."""
    window, elapsed = divmod(now, period)
    current_key = KEY.format(bucket=bucket, window=int(window))
    previous_key = KEY.format(bucket=bucket, window=int(window) - 1)
    weight = _weight(elapsed, period)
    script = shared_script(_COUNT)
    if script is None:
        with _local:
            previous = cache.get(previous_key, 0)
            current = cache.get(current_key, 0) + 1
            allowed = _admits(previous=previous, current=current, weight=weight, limit=limit)
            if allowed:
                cache.set(current_key, current, timeout=2 * period)
            else:
                current -= 1
    elif _pause.active:
        return None
    else:
        try:
            allowed, current, previous = script(
                keys=[current_key, previous_key], args=[repr(weight), limit, 2 * period * 1000]
            )
        except Exception as exc:
            _pause.start("unavailable, requests let through uncounted", exc)
            return None
    return Counted(
        limit=limit, period=period, elapsed=elapsed, current=current, previous=previous, allowed=bool(allowed)
    )


class TokenRateThrottle(SimpleRateThrottle):
    """Counts per API token or API client (per user for session clients), so one noisy
    integration cannot starve the other credentials of the same owner."""

    scope = "token"
    counted: Counted | None = None

    def get_cache_key(self, request, view):  # noqa: ANN001 - DRF signature
        scope = getattr(view, "throttle_scope", None) or self.scope
        self.scope = scope
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if request.auth is not None and hasattr(request.auth, "key"):
            ident = "t:" + hashlib.sha256(request.auth.key.encode()).hexdigest()[:32]
        elif request.auth is not None and hasattr(request.auth, "client_id"):
            ident = f"c:{request.auth.client_id}"
        elif request.user and request.user.is_authenticated:
            ident = f"u:{request.user.pk}"
        else:
            ident = "ip:" + (self.get_ident(request) or "unknown")
        return f"{scope}:{ident}"

    def allow_request(self, request, view) -> bool:  # noqa: ANN001
        bucket = self.get_cache_key(request, view)
        if self.rate is None:
            return True
        self.counted = request_count(bucket=bucket, limit=self.num_requests, period=self.duration, now=self.timer())
        if self.counted is None:
            return True
        request.rate_limit = self.counted.headers()
        return self.counted.allowed

    def wait(self) -> float | None:
        return self.counted.wait if self.counted is not None else None
