from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from notifications import signing
from notifications.management.commands import webhook_receiver

SECRET = signing.generate_secret()
BODY = json.dumps(
    {
        "monitorId": "mon123",
        "attributes": [],
        "events": [
            {
                "fleetId": "fleet1",
                "vin": "VR3ABCDEFGH123456",
                "eventDate": "2026-11-22T10:00:00.000Z",
                "values": [
                    {
                        "data": "vehicle.energy.electric.level",
                        "value": {"type": "string", "body": {"literalValue": "35.2"}},
                    }
                ],
                "extensions": [
                    {
                        "type": "vehicle.position",
                        "body": {
                            "position": {
                                "type": "Feature",
                                "geometry": {"type": "Point", "coordinates": [2.5, 49.1]},
                                "properties": {"createdAt": "2026-11-22T10:00:00Z"},
                            }
                        },
                    },
                    {
                        "type": "vehicle.status",
                        "body": {"status": {"vin": "VR3ABCDEFGH123456", "createdAt": "2026-11-22T10:00:00Z"}},
                    },
                ],
                "refresh": False,
            },
            {
                "fleetId": "fleet1",
                "vin": "VR3ABCDEFGH123456",
                "eventDate": "2026-11-22T10:10:00.000Z",
                "values": [],
                "extensions": [],
                "refresh": True,
            },
        ],
    },
    separators=(",", ":"),
).encode()


@dataclass
class Receiver:
    url: str
    out: io.StringIO

    def post(self, body: bytes = BODY, *, secret: str = SECRET, tamper: bool = False) -> requests.Response:
        headers = signing.build_headers(secrets=[secret], msg_id="msg_1", timestamp=int(time.time()), body=body)
        headers["Authorization"] = "Basic QWxhZGRpbc2FtZQ=="
        sent = body.replace(b"35.2", b"99.9") if tamper else body
        return requests.post(f"{self.url}/monitors/cb1?vin=VR3ABCDEFGH123456", data=sent, headers=headers, timeout=5)


@contextmanager
def running(*args: str) -> Iterator[Receiver]:
    command = webhook_receiver.Command()
    out = io.StringIO()
    thread = threading.Thread(
        target=call_command, args=(command, "--port", "0", *args), kwargs={"stdout": out}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while "Listening on" not in out.getvalue():
        assert time.monotonic() < deadline, "the receiver did not start"
        time.sleep(0.01)
    try:
        yield Receiver(url=command.receiver.url, out=out)
    finally:
        command.receiver.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running("--secret", SECRET) as started:
        yield started


def test_prints_a_signed_request_and_answers_200(receiver):
    response = receiver.post()
    assert response.status_code == 200
    output = receiver.out.getvalue()
    assert "POST /monitors/cb1" in output
    assert "webhook-id msg_1" in output and "✔ signature valid" in output
    assert "Authorization: Basic QWxhZGRpbc2FtZQ==" in output
    assert "query: vin=VR3ABCDEFGH123456" in output
    assert "monitorId mon123" in output and "2 event(s):" in output
    assert (
        "VR3ABCDEFGH123456  2026-11-22T10:00:00.000Z  event    values: vehicle.energy.electric.level=35.2"
        "  extensions: position 49.1,2.5, vehicle.status"
    ) in output
    assert "2026-11-22T10:10:00.000Z  refresh  values: —  extensions: —" in output
    assert "→ 200" in output


def test_tampered_body_is_refused_with_401(receiver):
    response = receiver.post(tamper=True)
    assert response.status_code == 401
    assert "✘ signature INVALID" in receiver.out.getvalue()
    assert "→ 401" in receiver.out.getvalue()


def test_another_secret_or_no_signature_is_refused(receiver):
    assert receiver.post(secret=signing.generate_secret()).status_code == 401
    unsigned = requests.post(f"{receiver.url}/cb", data=BODY, timeout=5)
    assert unsigned.status_code == 401
    assert "✘ unsigned: no webhook-id, webhook-timestamp, webhook-signature" in receiver.out.getvalue()


def test_secret_from_the_environment(monkeypatch):
    monkeypatch.setenv("FLEETMON_WEBHOOK_SECRET", SECRET)
    with running() as receiver:
        assert receiver.post(tamper=True).status_code == 401
        assert receiver.post().status_code == 200


def test_without_secret_everything_is_accepted_unchecked(monkeypatch):
    monkeypatch.delenv("FLEETMON_WEBHOOK_SECRET", raising=False)
    with running() as receiver:
        assert receiver.post(tamper=True).status_code == 200
        assert "signature not checked (no --secret)" in receiver.out.getvalue()


def test_fail_rate_answers_the_chosen_status(monkeypatch):
    monkeypatch.delenv("FLEETMON_WEBHOOK_SECRET", raising=False)
    with running("--fail-rate", "1", "--status", "503") as receiver:
        assert receiver.post().status_code == 503
        assert "→ 503 (failing on purpose, --fail-rate 1)" in receiver.out.getvalue()


def test_a_body_that_is_not_monitor_events_is_shown_raw(monkeypatch):
    monkeypatch.delenv("FLEETMON_WEBHOOK_SECRET", raising=False)
    with running() as receiver:
        assert receiver.post(b"hello").status_code == 200
        assert "body (5 bytes, not MonitorEvents): hello" in receiver.out.getvalue()


@pytest.mark.parametrize("secret", ["abc", "whsec_abc"])
def test_malformed_secret_is_refused_at_start(secret):
    with pytest.raises(CommandError, match="whsec_"):
        call_command("webhook_receiver", "--port", "0", "--secret", secret)
