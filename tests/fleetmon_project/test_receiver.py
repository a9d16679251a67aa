from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from fleetmon_project.receiver import Answer, ReceivedRequest, WebhookReceiver

BODY = json.dumps({"monitorId": "m1", "events": [{"vin": "VF3ABCDE0FG123456", "eventDate": "2026-01-01T00:00:00.000Z"}]})


@pytest.fixture
def started() -> Iterator[list[WebhookReceiver]]:
    receivers: list[WebhookReceiver] = []
    yield receivers
    for receiver in receivers:
        receiver.stop()


def start(started: list[WebhookReceiver], **options) -> WebhookReceiver:
    receiver = WebhookReceiver(**options)
    receiver.start()
    started.append(receiver)
    return receiver


def test_records_each_request_and_answers_200(started):
    receiver = start(started)
    response = requests.post(
        f"{receiver.url}/in?vin=A&vin=B", data=BODY, headers={"webhook-id": "msg_1", "X-Vin": "A"}, timeout=5
    )

    assert response.status_code == 200 and response.json() == {"ok": True}
    (request,) = receiver.received()
    assert (request.method, request.path, request.query) == ("POST", "/in", {"vin": ["A", "B"]})
    assert request.headers["x-vin"] == "A" and ("X-Vin", "A") in request.sent_headers
    assert request.webhook_id == "msg_1" and request.monitor_id == "m1"
    assert request.event_keys == (("VF3ABCDE0FG123456", "2026-01-01T00:00:00.000Z"),)
    assert receiver.events() == json.loads(BODY)["events"]


def test_answers_the_scripted_statuses_then_the_default_one(started):
    receiver = start(started)
    receiver.default_status = 503
    receiver.script(500, (201, 0.3))

    started_at = time.monotonic()
    statuses = [requests.post(receiver.url, data=BODY, timeout=5).status_code for _ in range(3)]

    assert statuses == [500, 201, 503]
    assert time.monotonic() - started_at >= 0.3  # the second one was held
    assert len(receiver.received()) == 3


def test_an_answer_function_decides_instead(started):
    def teapot(request: ReceivedRequest) -> Answer:
        return Answer(status=418, body=request.path.encode())

    receiver = start(started, answer=teapot, record=False)
    response = requests.post(f"{receiver.url}/brew", data=b"x", timeout=5)

    assert (response.status_code, response.text) == (418, "/brew")
    assert receiver.received() == []


def test_keep_alive_serves_a_session_on_one_connection(started):
    receiver = start(started, keep_alive=True)
    with requests.Session() as session:
        for _ in range(3):
            assert session.post(receiver.url, data=BODY, timeout=5).status_code == 200
        assert len(receiver.connections) == 1


def test_kept_alive_connections_send_without_waiting_for_delayed_acks(started):
    # With Nagle's algorithm on, each answer's body waited 40 ms for the ACK of its headers.
    receiver = start(started, keep_alive=True)
    with requests.Session() as session:
        assert session.post(receiver.url, data=BODY, timeout=5).status_code == 200
        (connection,) = receiver.connections
        assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_without_keep_alive_each_request_has_its_connection_closed(started):
    receiver = start(started)
    with requests.Session() as session:
        response = session.post(receiver.url, data=BODY, timeout=5)
    assert response.raw.version == 10  # HTTP/1.0: the connection closes after the answer


def test_down_refuses_connections_and_cuts_open_ones_until_it_comes_back(started):
    receiver = start(started, keep_alive=True)
    session = requests.Session()
    assert session.post(receiver.url, data=BODY, timeout=5).status_code == 200

    receiver.stop()
    with pytest.raises(requests.ConnectionError):
        requests.post(receiver.url, data=BODY, timeout=5)
    with pytest.raises(requests.ConnectionError):
        session.post(receiver.url, data=BODY, timeout=5)  # its kept-alive connection was cut

    receiver.come_back()
    assert session.post(receiver.url, data=BODY, timeout=5).status_code == 200
    assert len(receiver.received()) == 2
    session.close()


def test_log_file_gets_a_line_per_request(started, tmp_path):
    log = tmp_path / "receiver.log"
    receiver = start(started, log_path=log)
    requests.post(receiver.url, data=BODY, headers={"webhook-id": "msg_7"}, timeout=5)

    (line,) = log.read_text().splitlines()
    assert line.split(" ", 1)[1] == "msg_7 VF3ABCDE0FG123456@2026-01-01T00:00:00.000Z"
