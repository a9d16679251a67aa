"""Per-token (or per API client) rate limits, reported with the `X-RateLimit-*` headers on
every response to an authenticated request. Anonymous requests are refused (401) before
throttling: guessing a 160-bit token is hopeless, and a flood of them is for the reverse
proxy to absorb."""

from __future__ import annotations

import hashlib

from rest_framework.throttling import SimpleRateThrottle


class TokenRateThrottle(SimpleRateThrottle):
    """Counts per API token or API client (per user for session clients), so one noisy
    integration cannot starve the other credentials of the same owner."""

    scope = "token"

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
        return self.cache_format % {"scope": scope, "ident": ident}

    def allow_request(self, request, view) -> bool:  # noqa: ANN001
        allowed = super().allow_request(request, view)
        if self.rate is not None:
            request.rate_limit = self._headers()
        return allowed

    def _headers(self) -> dict[str, str]:
        remaining = max(0, self.num_requests - len(self.history))
        reset = int(self.history[-1] + self.duration - self.now) + 1 if self.history else self.duration
        return {
            "X-RateLimit-Limit": str(self.num_requests),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(max(0, reset)),
        }
