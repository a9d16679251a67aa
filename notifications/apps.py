from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def _on_events_raised(sender: Any, *, events: Any, **kwargs: Any) -> None:
    from notifications.services import deliveries_create_for_events

    # Runs inside the engine's transaction: the outbox rows commit (or roll back) with it.
    deliveries_create_for_events(events=events)


def _on_monitor_resumed(sender: Any, *, monitor: Any, **kwargs: Any) -> None:
    from notifications.health import webhook_health_reset

    webhook_health_reset(monitor=monitor)


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Webhook deliveries"

    def ready(self) -> None:
        from monitors.models import Event, Monitor
        from monitors.signals import events_raised, monitor_resumed

        events_raised.connect(_on_events_raised, sender=Event, dispatch_uid="notifications.deliveries_for_events")
        monitor_resumed.connect(_on_monitor_resumed, sender=Monitor, dispatch_uid="notifications.health_on_resume")
