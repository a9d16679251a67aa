from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from notifications import signing

# The example published with the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def reference_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Written out by hand from the spec, independently of notifications.signing."""
    key = base64.b64decode(secret[len("whsec_") :])
    content = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    mac = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def test_reference_implementation_matches_published_example():
    # Guards the guard: if this fails, the test's own reference is wrong.
    assert (
        reference_signature(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY)
        == SPEC_SIGNATURE
    )


def test_sign_matches_published_example():
    assert (
        signing.sign(
            secret=SPEC_SECRET, msg_id=SPEC_MSG_ID, timestamp=SPEC_TIMESTAMP, body=SPEC_BODY
        )
        == SPEC_SIGNATURE
    )


def test_sign_matches_reference_for_a_generated_secret():
    secret = signing.generate_secret()
    body = '{"vin": "VF1ABC", "speed": 131.5, "note": "ünïcödé"}'.encode()
    assert signing.sign(
        secret=secret, msg_id="msg_1", timestamp=1700000000, body=body
    ) == reference_signature(secret, "msg_1", 1700000000, body)


def test_generate_secret_format():
    secret = signing.generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24
    assert signing.generate_secret() != secret


def test_build_headers():
    headers = signing.build_headers(
        secrets=[SPEC_SECRET], msg_id=SPEC_MSG_ID, timestamp=SPEC_TIMESTAMP, body=SPEC_BODY
    )
    assert headers == {
        "webhook-id": SPEC_MSG_ID,
        "webhook-timestamp": "1614265330",
        "webhook-signature": SPEC_SIGNATURE,
    }


def _verify(**overrides):
    kwargs = dict(
        secret=SPEC_SECRET,
        msg_id=SPEC_MSG_ID,
        timestamp=SPEC_TIMESTAMP,
        body=SPEC_BODY,
        header=SPEC_SIGNATURE,
        now=SPEC_TIMESTAMP + 10,
    )
    kwargs.update(overrides)
    return signing.verify(**kwargs)


@pytest.mark.parametrize("timestamp", [f" {SPEC_TIMESTAMP}", f"{SPEC_TIMESTAMP}".replace("1", "١"), "1_" + str(SPEC_TIMESTAMP)[1:]])
def test_verify_refuses_timestamps_that_are_not_ascii_digits(timestamp):
    assert not _verify(timestamp=timestamp)


def test_verify_accepts_valid_signature():
    assert _verify()
    assert _verify(timestamp=str(SPEC_TIMESTAMP))  # as read from a header


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"body": b'{"test": 2432232315}'}, id="tampered-body"),
        pytest.param({"msg_id": "msg_other"}, id="other-msg-id"),
        pytest.param({"secret": signing.generate_secret()}, id="wrong-secret"),
        pytest.param({"now": SPEC_TIMESTAMP + 301}, id="too-old"),
        pytest.param({"now": SPEC_TIMESTAMP - 301}, id="too-far-in-future"),
        pytest.param({"header": ""}, id="empty-header"),
        pytest.param({"header": "v2," + SPEC_SIGNATURE[3:]}, id="wrong-version"),
        pytest.param({"timestamp": "soon"}, id="garbage-timestamp"),
    ],
)
def test_verify_rejects(overrides):
    assert not _verify(**overrides)


def test_verify_rejects_replayed_signature_with_shifted_timestamp():
    # The timestamp is part of the signed content, not just checked for age.
    assert not _verify(timestamp=SPEC_TIMESTAMP + 5, now=SPEC_TIMESTAMP + 5)


def test_verify_tolerance_is_configurable():
    assert _verify(now=SPEC_TIMESTAMP + 300)
    assert not _verify(now=SPEC_TIMESTAMP + 60, tolerance_s=30)


def test_rotation_header_carries_both_signatures_and_each_verifies():
    old, new = signing.generate_secret(), signing.generate_secret()
    header = signing.signature_header(
        secrets=[new, old], msg_id="msg_rot", timestamp=1700000000, body=b"{}"
    )
    parts = header.split(" ")
    assert parts == [
        reference_signature(new, "msg_rot", 1700000000, b"{}"),
        reference_signature(old, "msg_rot", 1700000000, b"{}"),
    ]
    for secret in (old, new):
        assert signing.verify(
            secret=secret,
            msg_id="msg_rot",
            timestamp=1700000000,
            body=b"{}",
            header=header,
            now=1700000000,
        )
    assert not signing.verify(
        secret=signing.generate_secret(),
        msg_id="msg_rot",
        timestamp=1700000000,
        body=b"{}",
        header=header,
        now=1700000000,
    )


def test_signature_header_requires_a_secret():
    with pytest.raises(ValueError):
        signing.signature_header(secrets=[], msg_id="m", timestamp=1, body=b"")


def test_no_webhook_attribute_can_set_a_signing_header():
    # The definition validator keeps its own list (monitors never import notifications):
    # this ties the two together.
    from monitors.definition import DefinitionError, parse_monitor_definition
    from tests.monitors.factories import monitor_definition

    names = signing.build_headers(secrets=[SPEC_SECRET], msg_id=SPEC_MSG_ID, timestamp=SPEC_TIMESTAMP, body=SPEC_BODY)
    for name in [*names, *(name.upper() for name in names)]:
        definition = monitor_definition()
        definition["subscribeParam"]["callback"]["webhook"]["attributes"] = [{"type": "Header", "key": name, "value": "x"}]
        with pytest.raises(DefinitionError, match="FleetMon signs every request with it"):
            parse_monitor_definition(definition)
