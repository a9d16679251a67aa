"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

Receivers can verify our deliveries with any off-the-shelf Standard Webhooks
library, so the exact byte layout below is a public contract: do not "improve"
it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"


def generate_secret() -> str:
    # 24 bytes is what the reference implementations generate; it is well
    # above the 16-byte minimum the spec allows.
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signature_header(
    *, secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> str:
    # During a secret rotation both the new and the old secret sign, so a
    # receiver that still has the old secret keeps accepting deliveries.
    if not secrets:
        raise ValueError("at least one secret is required to sign a webhook")
    return " ".join(
        sign(secret=s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets
    )


def verify(
    *,
    secret: str,
    msg_id: str,
    timestamp: int | str,
    body: bytes,
    header: str,
    tolerance_s: int = 300,
    now: int,
) -> bool:
    # A receiver reads the timestamp from a header, so accept its string form
    # and treat garbage as a failed verification rather than an exception.
    # ASCII digits only: int() would also take ' 17', '1_7' and other scripts' digits.
    if isinstance(timestamp, str) and not (timestamp.isascii() and timestamp.isdigit()):
        return False
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False

    # The timestamp is signed, so checking its age stops replays of an
    # intercepted delivery.
    if abs(now - ts) > tolerance_s:
        return False

    expected = sign(secret=secret, msg_id=msg_id, timestamp=ts, body=body)
    # The header may carry several signatures (secret rotation); any match
    # will do. compare_digest keeps the comparison constant-time.
    return any(
        hmac.compare_digest(candidate.encode(), expected.encode())
        for candidate in header.split()
    )


def build_headers(
    *, secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            secrets=secrets, msg_id=msg_id, timestamp=timestamp, body=body
        ),
    }
