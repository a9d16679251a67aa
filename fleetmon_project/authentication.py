"""Plumbing of the reference's authentication, `Authorization: Basic base64(user:secret)`
plus a `client_id` query parameter on every call (the DRF class is
`telemetry.authentication.ApiClientAuthentication`, beside the model it checks).

A password hash costs ~100 ms by design, far too much for a telemetry gateway sending
thousands of points a second, so a successful check is remembered in-process, keyed by the
stored hash *and* the presented secret: a rotated secret changes the stored hash, so no stale
entry can ever match it.

Imported by DRF's settings while `rest_framework.views` loads: nothing here may import it.
"""

from __future__ import annotations

import binascii
import hashlib
import threading
from base64 import b64decode
from collections import OrderedDict

from django.contrib.auth.hashers import check_password
from rest_framework import exceptions

# The reference's clients put it in the query of every call: it is authentication, never a
# filter, and no endpoint may refuse it (see QuerySerializer).
CLIENT_ID_PARAMETER = "client_id"
BASIC_CHALLENGE = 'Basic realm="api"'
# One message whatever was wrong: telling which part failed would help guess the others.
FAILURE_MESSAGE = (
    f"Invalid credentials: send 'Authorization: Basic base64(user:secret)' and '{CLIENT_ID_PARAMETER}' "
    "in the query, of an active API client of that user."
)
VERIFIED_CACHE_SIZE = 4096


class ApiClientAuthenticationFailed(exceptions.AuthenticationFailed):
    """Answered with a Basic challenge (the others get the token one)."""

    challenge = BASIC_CHALLENGE
    default_detail = FAILURE_MESSAGE


def parse_basic(header: bytes) -> tuple[str, str] | None:
    """`(user, secret)` from an `Authorization: Basic …` value; None if it is not well formed."""
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != b"basic":
        return None
    try:
        decoded = b64decode(parts[1], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, secret = decoded.partition(":")
    if not colon or not user or not secret:
        return None
    return user, secret


class VerifiedSecrets:
    """A bounded, thread-safe LRU set of (stored hash, presented secret) pairs known to match.

    Only digests are kept, never a secret; failures are never cached, so a wrong secret
    costs its full hash every time.
    """

    def __init__(self, size: int = VERIFIED_CACHE_SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(stored_hash: str, secret: str) -> bytes:
        return hashlib.sha256(f"{stored_hash}\0{secret}".encode()).digest()

    def matches(self, stored_hash: str, secret: str) -> bool:
        key = self._key(stored_hash, secret)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return True
        if not check_password(secret, stored_hash):
            return False
        with self._lock:
            self._entries[key] = None
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._entries)


verified_secrets = VerifiedSecrets()
