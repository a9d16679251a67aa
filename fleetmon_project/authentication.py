"""Plumbing of the reference's authentication, `Authorization: Basic base64(user:secret)`
plus a `client_id` query parameter on every call (the DRF class is
`telemetry.authentication.ApiClientAuthentication`, beside the model it checks).

What is stored of a secret is a digest that costs microseconds to check, not a password hash.
A password hasher spends 100–300 ms a check to slow down the guessing of passwords people
chose; an API client's secret is 256 random bits the server generated (telemetry.services),
unguessable however fast its hash, and a slow one only let anyone sending wrong secrets keep
the API's cores busy. The digest is Django's own PBKDF2-SHA256 format with one iteration, which
every release verifies with `check_password`: during a rolling deploy, or after a rollback, an
older process still accepts a client whose digest a newer one wrote. A hash stored by an
earlier release (600,000 iterations or more) is checked that way once, then replaced.

Imported by DRF's settings while `rest_framework.views` loads: nothing here may import it.
"""

from __future__ import annotations

import binascii
import secrets
from base64 import b64decode
from dataclasses import dataclass

from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password
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
_HASHER = PBKDF2PasswordHasher()
DIGEST_PREFIX = f"{_HASHER.algorithm}$1$"


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
    """What is stored of a secret: salted, one iteration (see above)."""
    return _HASHER.encode(secret, _HASHER.salt(), iterations=1)


# Checked against when the client_id is unknown: the same work as a wrong secret, so response
# times do not tell which ids exist. Its secret is never kept.
NO_CLIENT_DIGEST = secret_digest(secrets.token_urlsafe(32))


@dataclass(frozen=True)
class SecretCheck:
    ok: bool
    upgrade: str | None = None  # the digest to store in place of an earlier release's hash


def secret_check(*, stored: str, secret: str) -> SecretCheck:
    """Whether `secret` is the one whose digest (or earlier release's hash) is `stored`."""
    if stored.startswith(DIGEST_PREFIX):
        # Verified by the hasher itself, whatever PASSWORD_HASHERS lists for people's passwords.
        return SecretCheck(ok=_HASHER.verify(secret, stored))
    if check_password(secret, stored):
        return SecretCheck(ok=True, upgrade=secret_digest(secret))
    return SecretCheck(ok=False)
