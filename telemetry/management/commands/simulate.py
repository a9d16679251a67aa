"""`manage.py simulate`: vehicles driving around a city, reporting through the public API.

It talks HTTP to a running FleetMon like any client would (token, fleets, vehicles,
`POST /api/v1/telemetry`), so it exercises the real stack, throttling included. The driving
itself is `telemetry.simulation`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from telemetry import simulation
from telemetry.ingestion import MAX_POINTS

REQUEST_TIMEOUT_S = 30
# Connection errors and 5xx are retried with exponential backoff, for about a minute in all:
# long enough to ride out a restart of the server.
TRANSIENT_ATTEMPTS = 8
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
FIRST_ERRORS_KEPT = 5
# Due points are sent once a tick: fewer, fuller requests, and a fresh progress line.
TICK_S = 1.0
_OFFSET = re.compile(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")


def parse_offset(text: str) -> timedelta:
    """`90` (seconds), `45s`, `15m`, `1h`, `1h30m`."""
    # ASCII digits only: isdigit() also says yes to '²', which int() then rejects.
    if text.isascii() and text.isdigit():
        return timedelta(seconds=int(text))
    match = _OFFSET.fullmatch(text)
    if not text or not match:
        raise CommandError(f"--start-offset {text!r}: use seconds or a duration such as 90s, 15m, 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    requests: int = 0
    throttled: int = 0
    errors: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    first_errors: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.first_errors) < FIRST_ERRORS_KEPT:
            self.first_errors.append(message)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def rate(self) -> float:
        return self.accepted / max(self.elapsed(), 1e-9)


class Unavailable(Exception):
    pass


def describe_error(response: requests.Response) -> str:
    """`HTTP 400: message (field: problem; ...)` from an xError body, or the raw text."""
    try:
        body = response.json()
        problems = "; ".join(f"{e['field']}: {e['message']}" for e in body.get("errors", [])[:3])
        detail = body["message"] + (f" ({problems})" if problems else "")
    except (ValueError, KeyError, TypeError, AttributeError):
        detail = response.text[:200]
    return f"HTTP {response.status_code}: {detail}"


def retry_after(response: requests.Response) -> float:
    # FleetMon sends whole seconds; anything else gets a short, safe pause.
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isascii() and value.isdigit() else 1.0


class Api:
    def __init__(self, *, url: str, token: str, stats: Stats, sleep: Callable[[float], None] = time.sleep) -> None:
        self.base = url.rstrip("/") + "/api/v1"
        self.stats = stats
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Token {token}", "Accept": "application/json"})

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        """The final response, once any 429 was waited out; raises Unavailable when the
        server keeps failing (connection errors, 5xx)."""
        url = path if path.startswith("http") else self.base + path
        failures = 0
        while True:
            self.stats.requests += 1
            try:
                response = self.session.request(method, url, json=body, timeout=REQUEST_TIMEOUT_S)
            except requests.RequestException as exc:
                problem = f"{method} {url}: {type(exc).__name__}: {exc}"
            else:
                if response.status_code == 429:
                    self.stats.throttled += 1
                    self.sleep(retry_after(response))
                    continue
                if response.status_code < 500:
                    return response
                problem = f"{method} {url}: {describe_error(response)}"
            self.stats.error(problem)
            failures += 1
            if failures >= TRANSIENT_ATTEMPTS:
                raise Unavailable(problem)
            self.sleep(min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (failures - 1)))

    def expect(self, response: requests.Response, *statuses: int) -> dict[str, Any]:
        if response.status_code not in statuses:
            raise CommandError(f"{response.request.method} {response.url}: {describe_error(response)}")
        return response.json()


class Progress:
    """One status line on stderr, rewritten in place with `\\r`."""

    WIDTH = 20

    def __init__(self, stream: OutputWrapper, stats: Stats, duration: float) -> None:
        self.stream = stream
        self.stats = stats
        self.duration = duration
        self.shown = 0

    def show(self, simulated: datetime) -> None:
        stats = self.stats
        elapsed = stats.elapsed()
        if self.duration:
            done = min(1.0, elapsed / self.duration)
            filled = round(done * self.WIDTH)
            head = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {elapsed:5.1f}/{self.duration:g}s"
        else:
            head = f"{elapsed:7.1f}s"
        line = (
            f"{head}  sent {stats.sent:,}  accepted {stats.accepted:,}  {stats.rate():,.1f} pts/s  "
            f"errors {stats.errors}  sim {simulated:%Y-%m-%d %H:%M:%S}Z"
        )
        # Pad over the previous line's tail: `\r` only moves the cursor.
        self.stream.write("\r" + line.ljust(self.shown), ending="")
        self.stream.flush()
        self.shown = len(line)

    def close(self) -> None:
        self.stream.write("")


class Command(BaseCommand):
    help = (
        "Drive simulated vehicles around a city and post their telemetry to a running FleetMon "
        "through its public API."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="FleetMon's base URL")
        parser.add_argument(
            "--token", default=os.environ.get("FLEETMON_TOKEN"), help="API token (default: $FLEETMON_TOKEN)"
        )
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--fleet", metavar="FID", help="an existing fleet of yours")
        target.add_argument("--create-fleet", metavar="LABEL", help="create a fleet with this label")
        parser.add_argument("--vehicles", type=int, default=10, help="vehicles to drive; missing VINs are registered")
        parser.add_argument("--city", choices=sorted(simulation.CITIES), default="paris")
        parser.add_argument("--duration", type=float, default=60, help="real seconds to run (0: until Ctrl-C)")
        parser.add_argument("--interval", type=float, default=5, help="simulated seconds between a vehicle's points")
        parser.add_argument("--batch", type=int, default=500, help=f"points per request (at most {MAX_POINTS})")
        parser.add_argument(
            "--speedup", type=float, default=1, help="simulated time runs this many times faster, up to now"
        )
        parser.add_argument(
            "--start-offset",
            help="how long ago the simulated clock starts, e.g. 1h "
            "(default: (speedup - 1) x duration, so that it reaches now as the run ends)",
        )
        parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same VINs and drives")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["token"]:
            raise CommandError("an API token is required: --token or $FLEETMON_TOKEN")
        if not 1 <= options["batch"] <= MAX_POINTS:
            raise CommandError(f"--batch must be from 1 to {MAX_POINTS}")
        if options["vehicles"] < 1 or options["interval"] < 0.1 or options["speedup"] <= 0 or options["duration"] < 0:
            raise CommandError("--vehicles must be ≥ 1, --interval ≥ 0.1, --speedup > 0 and --duration ≥ 0")
        duration = options["duration"]
        if options["start_offset"] is not None:
            offset = parse_offset(options["start_offset"])
        else:
            offset = timedelta(seconds=max(0.0, options["speedup"] - 1) * duration)

        stats = Stats()
        api = Api(url=options["url"], token=options["token"], stats=stats)
        city = simulation.CITIES[options["city"]]
        try:
            fleet_id = self._fleet(api, fleet_id=options["fleet"], label=options["create_fleet"])
            vins = [simulation.vin_for(options["seed"], index) for index in range(options["vehicles"])]
            registered = self._register(api, fleet_id, vins)
        except Unavailable as exc:
            raise CommandError(f"FleetMon does not answer at {options['url']}: {exc}") from None
        self.stdout.write(
            f"Fleet {fleet_id}: {len(vins)} vehicles ({registered} registered now) around {city.name}, "
            f"a point every {options['interval']:g} s each, simulated clock ×{options['speedup']:g} "
            f"from {offset} ago"
        )

        clock = simulation.SimulatedClock(start=simulation.utc_now() - offset, speedup=options["speedup"])
        sim = simulation.Simulation(
            count=len(vins), city=city, seed=options["seed"], start=clock.start,
            interval=timedelta(seconds=options["interval"]),
        )
        # The run's clock starts after the set-up, however many vehicles it registered.
        stats.started = time.monotonic()
        progress = Progress(self.stderr, stats, duration)
        deadline = stats.started + duration if duration else float("inf")
        interrupted = False
        try:
            while True:
                tick = time.monotonic()
                for batch in simulation.batches(sim.points_until(clock.read()), options["batch"]):
                    self._post(api, batch)
                    progress.show(clock.read())
                progress.show(clock.read())
                if time.monotonic() >= deadline:
                    break
                time.sleep(max(0.0, min(tick + TICK_S, deadline) - time.monotonic()))
        except KeyboardInterrupt:
            interrupted = True
        progress.close()
        self._summary(stats, clock, interrupted=interrupted)

    def _fleet(self, api: Api, *, fleet_id: str | None, label: str | None) -> str:
        if fleet_id:
            return api.expect(api.call("GET", f"/fleets/{fleet_id}"), 200)["id"]
        return api.expect(api.call("POST", "/fleets", {"label": label}), 201)["id"]

    def _register(self, api: Api, fleet_id: str, vins: list[str]) -> int:
        existing: set[str] = set()
        page: str | None = f"/fleets/{fleet_id}/vehicles"
        while page:
            body = api.expect(api.call("GET", page), 200)
            existing.update(vehicle["vin"] for vehicle in body["_embedded"]["vehicles"])
            page = body["_links"].get("next", {}).get("href")
        missing = [vin for vin in vins if vin not in existing]
        for vin in missing:
            response = api.call("POST", f"/fleets/{fleet_id}/vehicles", {"vin": vin})
            if response.status_code == 409:
                # VINs are unique across the whole service, and derived from the seed.
                raise CommandError(f"VIN {vin} belongs to another fleet: pick another --seed")
            api.expect(response, 201)
        return len(missing)

    def _post(self, api: Api, batch: list[dict[str, Any]]) -> None:
        stats = api.stats
        stats.sent += len(batch)
        try:
            response = api.call("POST", "/telemetry", batch)
        except Unavailable:
            stats.rejected += len(batch)
            return
        if response.status_code == 202:
            stats.accepted += response.json()["accepted"]
        else:
            # A batch is all or nothing: report why and carry on with the next one.
            stats.rejected += len(batch)
            stats.error(describe_error(response))

    def _summary(self, stats: Stats, clock: simulation.SimulatedClock, *, interrupted: bool) -> None:
        lines = [
            "Interrupted." if interrupted else "Done.",
            f"  duration     {stats.elapsed():.1f} s (simulated {clock.start:%H:%M:%S} → {clock.read():%H:%M:%S} UTC)",
            f"  requests     {stats.requests:,} ({stats.throttled} throttled, {stats.errors} failed)",
            f"  points sent  {stats.sent:,}",
            f"  accepted     {stats.accepted:,}",
            f"  rejected     {stats.rejected:,}",
            f"  mean rate    {stats.rate():,.1f} points/s accepted",
        ]
        if stats.first_errors:
            lines.append("  first errors:")
            lines.extend(f"    {message}" for message in stats.first_errors)
        self.stdout.write("\n".join(lines))
