"""`manage.py webhook_receiver`: the other end of FleetMon's webhooks, for demos and debugging.

It prints each `MonitorEvents` request readably, checks its Standard Webhooks signature with
the fleet's secret, and can fail on purpose so that retries can be watched.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from notifications import signing

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
# Transport noise: everything else a sender put in the headers is worth showing (the
# monitor's own Header attributes, its User-Agent).
BORING_HEADERS = {"host", "content-length", "accept", "accept-encoding", "connection", *SIGNATURE_HEADERS}


def check_signature(*, secret: str, headers: Any, body: bytes, now: int) -> tuple[bool, str]:
    missing = [name for name in SIGNATURE_HEADERS if not headers.get(name)]
    if missing:
        return False, f"✘ unsigned: no {', '.join(missing)}"
    valid = signing.verify(
        secret=secret,
        msg_id=headers["webhook-id"],
        timestamp=headers["webhook-timestamp"],
        body=body,
        header=headers["webhook-signature"],
        now=now,
    )
    if valid:
        return True, "✔ signature valid"
    return False, "✘ signature INVALID (another secret, an altered body, or a timestamp over 5 min off)"


def _value(value: dict[str, Any]) -> str:
    body = value.get("body") or {}
    if "literalValue" in body:
        return str(body["literalValue"])
    return "[" + ", ".join(str(item.get("value", item)) for item in body.get("objectValues", [])) + "]"


def _extension(extension: dict[str, Any]) -> str:
    position = (extension.get("body") or {}).get("position")
    if extension.get("type") == "vehicle.position" and position:
        # A GeoJSON Feature: [longitude, latitude]; shown latitude first, as people read them.
        longitude, latitude = ((position.get("geometry") or {}).get("coordinates") or [None, None])[:2]
        return f"position {latitude},{longitude}"
    return str(extension.get("type"))


def describe_events(body: bytes) -> list[str]:
    try:
        payload = json.loads(body)
        events = payload["events"]
        lines = [
            f"  monitorId {payload.get('monitorId')}  attributes "
            + (", ".join(f"{a['key']}={a['value']}" for a in payload.get("attributes", [])) or "—"),
            f"  {len(events)} event(s):",
        ]
        for event in events:
            values = ", ".join(f"{v.get('data')}={_value(v.get('value') or {})}" for v in event.get("values", []))
            extensions = ", ".join(_extension(e) for e in event.get("extensions", []))
            lines.append(
                f"    {event.get('vin')}  {event.get('eventDate')}  {'refresh' if event.get('refresh') else 'event  '}"
                f"  values: {values or '—'}  extensions: {extensions or '—'}"
            )
        return lines
    except (ValueError, KeyError, TypeError, AttributeError):
        # Not a MonitorEvents body: show what came, it is what needs debugging.
        return [f"  body ({len(body)} bytes, not MonitorEvents): {body[:300].decode(errors='replace')}"]


def _decodes(secret: str) -> bool:
    if not secret.startswith(signing.SECRET_PREFIX):
        return False
    try:
        # Signing once proves the key decodes, before any request depends on it.
        signing.sign(secret=secret, msg_id="check", timestamp=0, body=b"")
    except ValueError:
        return False
    return True


class ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], *, out: OutputWrapper, secret: str | None, fail_rate: float, fail_status: int
    ) -> None:
        super().__init__(address, ReceiverHandler)
        self.out = out
        self.secret = secret
        self.fail_rate = fail_rate
        self.fail_status = fail_status
        # Requests are handled in parallel; each report is printed in one piece.
        self.print_lock = threading.Lock()

    def report(self, lines: list[str]) -> None:
        with self.print_lock:
            self.out.write("\n".join(lines))
            self.out.flush()


class ReceiverHandler(BaseHTTPRequestHandler):
    server: ReceiverServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server = self.server
        url = urlsplit(self.path)
        lines = [f"── {self.command} {url.path} at {time.strftime('%H:%M:%S')} from {self.client_address[0]}"]

        now = int(time.time())
        if server.secret:
            valid, verdict = check_signature(secret=server.secret, headers=self.headers, body=body, now=now)
        else:
            valid, verdict = True, "signature not checked (no --secret)"
        timestamp = self.headers.get("webhook-timestamp", "")
        age = f" ({now - int(timestamp)} s ago)" if timestamp.isascii() and timestamp.isdigit() else ""
        lines.append(f"  webhook-id {self.headers.get('webhook-id', '—')}  timestamp {timestamp or '—'}{age}  {verdict}")
        shown = [f"{name}: {value}" for name, value in self.headers.items() if name.lower() not in BORING_HEADERS]
        lines.append("  headers: " + ("  ".join(shown) or "—"))
        query = parse_qsl(url.query, keep_blank_values=True)
        lines.append("  query: " + ("  ".join(f"{key}={value}" for key, value in query) or "—"))
        lines.extend(describe_events(body))

        status, note = 200, ""
        if not valid:
            status = 401
        elif random.random() < server.fail_rate:
            status, note = server.fail_status, f" (failing on purpose, --fail-rate {server.fail_rate:g})"
        lines.append(f"  → {status}{note}")
        # Printed before answering: once the sender has its answer, the report is out.
        server.report(lines)
        answer = json.dumps({"received": status == 200}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        # The report above replaces the stdlib's access log line on stderr.
        pass


class Command(BaseCommand):
    help = "Receive FleetMon webhooks on a local port, print them and verify their signature."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8900, help="0 picks a free port")
        parser.add_argument(
            "--secret",
            default=os.environ.get("FLEETMON_WEBHOOK_SECRET"),
            help="the fleet's whsec_… signing secret (default: $FLEETMON_WEBHOOK_SECRET); "
            "requests that fail verification get a 401",
        )
        parser.add_argument(
            "--fail-rate", type=float, default=0.0, help="share of requests answered with --status, to demo retries"
        )
        parser.add_argument("--status", type=int, default=500, help="the status of those failures (default 500)")

    def handle(self, *args: Any, **options: Any) -> None:
        secret = options["secret"]
        if secret and not _decodes(secret):
            raise CommandError("--secret must be the fleet's secret: whsec_ followed by base64")
        if not 0 <= options["fail_rate"] <= 1:
            raise CommandError("--fail-rate must be between 0 and 1")
        self.server = ReceiverServer(
            (options["host"], options["port"]),
            out=self.stdout,
            secret=secret,
            fail_rate=options["fail_rate"],
            fail_status=options["status"],
        )
        host, port = self.server.server_address[:2]
        check = "signatures verified" if secret else "signatures NOT verified (no --secret)"
        self.stdout.write(f"Listening on http://{host}:{port}/ — {check}; Ctrl-C stops")
        try:
            self.server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.server.server_close()
