from __future__ import annotations

from django.apps import AppConfig


class MonitorsConfig(AppConfig):
    name = "monitors"
    verbose_name = "Monitors and events"

    def ready(self) -> None:
        from monitors.tasks import enqueue_points_evaluation
        from telemetry.signals import points_stored

        def evaluate_stored_points(sender: object, vehicle_ids: list[str], **_: object) -> None:
            enqueue_points_evaluation(vehicle_ids=vehicle_ids)

        points_stored.connect(evaluate_stored_points, weak=False, dispatch_uid="monitors.evaluate_stored_points")
