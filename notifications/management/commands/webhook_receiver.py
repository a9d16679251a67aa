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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from fleetmon_project.receiver import Answer, ReceivedRequest, WebhookReceiver
from notifications import signing

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
# Transport noise: everything else a sender put in the headers is worth showing (the
# monitor's own Header attributes, its User-Agent).
BORING_HEADERS = {"host", "content-length", "accept", "accept-encoding", "connection", *SIGNATURE_HEADERS}


def check_signature(*, secret: str, headers: Mapping[str, str], body: bytes, now: int) -> tuple[bool, str]:
    """`headers` by lower-cased name."""
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


@dataclass
class Reporter:
    """Decides each request's answer and prints it: the signature checked with `secret` (401
    when it fails), then a failure on purpose for a share `fail_rate` of the requests."""

    out: OutputWrapper
    secret: str | None
    fail_rate: float
    fail_status: int
    # Requests are handled in parallel; each report is printed in one piece.
    print_lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: ReceivedRequest) -> Answer:
        lines = [f"── {request.method} {request.path} at {time.strftime('%H:%M:%S')} from {request.client}"]

        now = int(time.time())
        if self.secret:
            valid, verdict = check_signature(secret=self.secret, headers=request.headers, body=request.body, now=now)
        else:
            valid, verdict = True, "signature not checked (no --secret)"
        timestamp = request.headers.get("webhook-timestamp", "")
        age = f" ({now - int(timestamp)} s ago)" if timestamp.isascii() and timestamp.isdigit() else ""
        lines.append(f"  webhook-id {request.headers.get('webhook-id', '—')}  timestamp {timestamp or '—'}{age}  {verdict}")
        shown = [f"{name}: {value}" for name, value in request.sent_headers if name.lower() not in BORING_HEADERS]
        lines.append("  headers: " + ("  ".join(shown) or "—"))
        query = parse_qsl(request.query_string, keep_blank_values=True)
        lines.append("  query: " + ("  ".join(f"{key}={value}" for key, value in query) or "—"))
        lines.extend(describe_events(request.body))

        status, note = 200, ""
        if not valid:
            status = 401
        elif random.random() < self.fail_rate:
            status, note = self.fail_status, f" (failing on purpose, --fail-rate {self.fail_rate:g})"
        lines.append(f"  → {status}{note}")
        # Printed before answering: once the sender has its answer, the report is out.
        with self.print_lock:
            self.out.write("\n".join(lines))
            self.out.flush()
        return Answer(status=status, body=json.dumps({"received": status == 200}).encode())


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
        reporter = Reporter(out=self.stdout, secret=secret, fail_rate=options["fail_rate"], fail_status=options["status"])
        # Printed, not kept: it may run for days.
        self.receiver = WebhookReceiver(options["host"], options["port"], answer=reporter, record=False)
        check = "signatures verified" if secret else "signatures NOT verified (no --secret)"
        self.stdout.write(f"Listening on {self.receiver.url}/ — {check}; Ctrl-C stops")
        try:
            self.receiver.serve()
        except KeyboardInterrupt:
            pass
        finally:
            self.receiver.stop()
