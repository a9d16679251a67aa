"""The other end of FleetMon's webhooks on a local port: an HTTP server that records what it
receives and answers as told. The end-to-end tests (tests/e2e_support.py), the benchmarks
(benchmarks/e2e.py, benchmarks/chaos.py) and `manage.py webhook_receiver` all run this one.

By default a request is answered with the next scripted status (`script`), then with
`default_status`, after `delay` seconds (a slow receiver); `answer` replaces that policy (the
management command checks signatures). Standard library only, so anything can run it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

OK_BODY = b'{"ok": true}'


@dataclass(frozen=True)
class Answer:
    status: int = 200
    delay: float = 0.0  # seconds the request is held before it is answered
    body: bytes = OK_BODY


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query_string: str
    headers: dict[str, str]  # names lower-cased
    sent_headers: tuple[tuple[str, str], ...]  # as sent: the sender's spelling and order
    body: bytes
    received_at: float  # time.monotonic() on arrival
    client: str  # the sender's address

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def json(self) -> Any:
        return self._json

    @cached_property
    def _json(self) -> Any:
        # Parsed once: the benchmarks go over every request received again and again.
        return json.loads(self.body)

    @property
    def monitor_id(self) -> str:
        return self.json().get("monitorId", "")

    @property
    def event_keys(self) -> tuple[tuple[str, str], ...]:
        """(vin, eventDate) of each MonitorEvents event carried: what names an event across requests."""
        return tuple((event["vin"], event["eventDate"]) for event in self.json().get("events", []))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: WebhookReceiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Keep-alive (HTTP/1.1), as receivers in production do, reuses FleetMon's pooled connections.
        self.protocol_version = "HTTP/1.1" if self.server.receiver.keep_alive else "HTTP/1.0"
        # http.server writes the headers and the body in two sends: with Nagle's algorithm on, the
        # body waits for the sender's delayed ACK of the headers, 40 ms a request on a kept-alive
        # connection. Servers in production (nginx, gunicorn, uvicorn) turn it off, so does this one.
        with contextlib.suppress(OSError):  # the sender may already be gone
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.receiver._opened(self.connection)

    def finish(self) -> None:
        self.server.receiver._closed(self.connection)
        super().finish()

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        received_at = time.monotonic()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        request = ReceivedRequest(
            method=self.command,
            path=url.path,
            query_string=url.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            sent_headers=tuple(self.headers.items()),
            body=body,
            received_at=received_at,
            client=self.client_address[0],
        )
        answer = self.server.receiver._receive(request)
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:
            pass  # the sender is gone (killed, timed out, or the receiver went down): nobody to answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass  # what was received is recorded instead


class WebhookReceiver:
    """Listens on `host`:`port` (0: a free port) from construction; `start()` serves in a
    background thread, `serve()` in the foreground, until `stop()`. Every request is kept in
    `requests` (unless `record` is false: a long-running receiver) and, with `log_path`, one line
    each is appended there (time, webhook-id, events) for post-mortems. After `stop()`, new
    connections are refused and open ones cut, as for a receiver that dies, until `come_back()`
    serves the same port again."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        keep_alive: bool = False,
        answer: Callable[[ReceivedRequest], Answer] | None = None,
        record: bool = True,
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self.keep_alive = keep_alive
        self.answer = answer or self._scripted_answer
        self.record = record
        self.log_path = log_path
        self.requests: list[ReceivedRequest] = []
        self.responses: list[tuple[int, float]] = []  # (status, delay), consumed in order
        self.default_status = 200
        self.delay = 0.0
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()  # open connections, under `lock`
        self.connections_accepted = 0  # since construction, under `lock`
        self._listen(port)

    def _listen(self, port: int) -> None:
        self.server = _Server((self.host, port), _Handler)
        self.server.receiver = self
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        host = cast(str, self.server.server_address[0])  # an AF_INET address: (host, port)
        return f"http://{host}:{self.port}"

    def script(self, *responses: int | tuple[int, float]) -> None:
        """The statuses (or (status, delay)) the next requests get, in order."""
        with self.lock:
            self.responses = [r if isinstance(r, tuple) else (r, 0.0) for r in responses]

    def _scripted_answer(self, request: ReceivedRequest) -> Answer:
        with self.lock:
            status, delay = self.responses.pop(0) if self.responses else (self.default_status, self.delay)
        return Answer(status=status, delay=delay)

    def _receive(self, request: ReceivedRequest) -> Answer:
        answer = self.answer(request)
        if answer.delay:
            time.sleep(answer.delay)
        # Recorded before it is answered: a sender killed while the request was held still sent it.
        with self.lock:
            if self.record:
                self.requests.append(request)
            if self.log_path:
                events = " ".join(f"{vin}@{date}" for vin, date in request.event_keys)
                with self.log_path.open("a") as log:
                    log.write(f"{time.time():.3f} {request.webhook_id} {events}\n")
        return answer

    def _opened(self, connection: socket.socket) -> None:
        with self.lock:
            self.connections.add(connection)
            self.connections_accepted += 1

    def _closed(self, connection: socket.socket) -> None:
        with self.lock:
            self.connections.discard(connection)

    def received(self) -> list[ReceivedRequest]:
        with self.lock:
            return list(self.requests)

    def events(self) -> list[dict[str, Any]]:
        """Every MonitorEvents event received, in the order received."""
        return [event for request in self.received() for event in request.json().get("events", [])]

    def start(self) -> None:
        self.thread.start()

    def serve(self) -> None:
        """Serve in the foreground until `stop()` (from another thread) or Ctrl-C."""
        self.start()
        self.thread.join()

    def stop(self) -> None:
        if self.thread.is_alive():  # shutdown() would wait forever for a serve_forever() never run
            self.server.shutdown()
        self.server.server_close()
        # Kept-alive connections outlive the listening socket: their handlers would go on
        # answering on them.
        with self.lock:
            connections, self.connections = self.connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):  # closed by the sender meanwhile
                connection.shutdown(socket.SHUT_RDWR)

    def come_back(self) -> None:
        self._listen(self.port)
        self.start()
