from __future__ import annotations

from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "telemetry"
    verbose_name = "Fleets and telemetry"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        import telemetry.openapi  # noqa: F401 - registers the security schemes with drf-spectacular
        from fleetmon_project.postgres import fast_timestamptz_install

        # Here because every process (web, workers, Beat, commands) loads this app.
        connection_created.connect(fast_timestamptz_install, dispatch_uid="fleetmon-fast-timestamptz")
