"""`manage.py check_definitions`: which stored monitors the current definition rules refuse.

Read-only. Exit status 0 when every monitor passes, 1 when any fails (each listed with its
fleet, id, label and every problem's path and message), 2 for an unknown `--fleet`: a
deployment script can run it after an upgrade that tightened a rule."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitors.models import Monitor
from monitors.selectors import monitor_invalid_definitions
from telemetry.models import Fleet


class Command(BaseCommand):
    help = "Re-validate every stored monitor definition against the current rules; list those that fail."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--fleet", metavar="ID", help="only this fleet's monitors")

    def handle(self, *args: Any, fleet: str | None, **options: Any) -> None:
        if fleet is not None and not Fleet.objects.filter(pk=fleet).exists():
            raise CommandError(f"no fleet with id {fleet!r}", returncode=2)
        checked = Monitor.objects.alive().filter(**({"fleet_id": fleet} if fleet else {})).count()
        failing = 0
        for invalid in monitor_invalid_definitions(fleet_id=fleet):
            failing += 1
            monitor = invalid.monitor
            self.stdout.write(f"fleet {monitor.fleet_id} monitor {monitor.pk} {monitor.label!r}:")
            for error in invalid.errors:
                self.stdout.write(f"  {error.field or '(definition)'}: {error.message}")
        if failing:
            raise CommandError(f"{failing} of {checked} monitor(s) fail the current definition rules")
        self.stdout.write(self.style.SUCCESS(f"all {checked} monitor(s) pass the current definition rules"))
