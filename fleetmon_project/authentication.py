"""Plumbing of the reference's authentication, `Authorization: Basic base64(user:secret)`
plus a `client_id` query parameter on every call (the DRF class is
`telemetry.authentication.ApiClientAuthentication`, beside the model it checks).

What is stored of a secret is its SHA-256 digest, not a password hash. A password hasher
spends ~100 ms a check to slow down the guessing of passwords people chose; an API client's
secret is 256 random bits the server generated (telemetry.services), unguessable however fast
its hash, and a slow one only let anyone sending wrong secrets keep the API's cores busy.
Secrets stored by an earlier release with a password hasher are checked that way once, then
their digest replaces the hash.

Imported by DRF's settings while `rest_framework.views` loads: nothing here may import it.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from base64 import b64decode
from dataclasses import dataclass

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
DIGEST_PREFIX = "sha256$"
# Checked against when the client_id is unknown: the same work as a wrong secret, so response
# times do not tell which ids exist. No digest is made of dashes.
NO_CLIENT_DIGEST = DIGEST_PREFIX + "-" * 64


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


def secret_digest(secret: str) -> str:
    """What is stored of a secret."""
    return DIGEST_PREFIX + hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class SecretCheck:
    ok: bool
    upgrade: str | None = None  # the digest to store in place of an earlier release's hash


def secret_check(*, stored: str, secret: str) -> SecretCheck:
    """Whether `secret` is the one whose digest (or earlier release's hash) is `stored`."""
    digest = secret_digest(secret)
    if stored.startswith(DIGEST_PREFIX):
        return SecretCheck(ok=hmac.compare_digest(stored, digest))
    if check_password(secret, stored):
        return SecretCheck(ok=True, upgrade=digest)
    return SecretCheck(ok=False)
