from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def _on_events_raised(sender: Any, *, events: Any, **kwargs: Any) -> None:
    from notifications.services import deliveries_create_for_events

    # Runs inside the engine's transaction: the outbox rows commit (or roll back) with it.
    deliveries_create_for_events(events=events)


def _on_monitor_resumed(sender: Any, *, monitor: Any, **kwargs: Any) -> None:
    from notifications.services.health import webhook_health_reset

    webhook_health_reset(monitor=monitor)


def _on_deliveries_queued(sender: Any, *, delivery_ids: list[int], task_id: str, **kwargs: Any) -> None:
    from notifications.tasks import enqueue_deliveries

    enqueue_deliveries(delivery_ids=delivery_ids, task_id=task_id)


def _on_batch_opened(sender: Any, *, delivery_id: int, countdown: int, **kwargs: Any) -> None:
    from notifications.tasks import enqueue_flush

    enqueue_flush(delivery_id=delivery_id, countdown=countdown)


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Webhook deliveries"

    def ready(self) -> None:
        from monitors.models import Event, Monitor
        from monitors.signals import events_raised, monitor_resumed
        from notifications.models import Delivery
        from notifications.signals import batch_opened, deliveries_queued

        events_raised.connect(_on_events_raised, sender=Event, dispatch_uid="notifications.deliveries_for_events")
        monitor_resumed.connect(_on_monitor_resumed, sender=Monitor, dispatch_uid="notifications.health_on_resume")
        # The services never import the tasks: they say what to send, and the tasks send it.
        deliveries_queued.connect(
            _on_deliveries_queued, sender=Delivery, dispatch_uid="notifications.enqueue_deliveries"
        )
        batch_opened.connect(_on_batch_opened, sender=Delivery, dispatch_uid="notifications.enqueue_flush")
