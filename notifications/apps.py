from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def _on_events_raised(sender: Any, *, events: Any, **kwargs: Any) -> None:
    from notifications.services import deliveries_create_for_events

    # Runs inside the engine's transaction: the outbox rows commit (or roll back) with it.
    deliveries_create_for_events(events=events)


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Webhook deliveries"

    def ready(self) -> None:
        from monitors.models import Event
        from monitors.signals import events_raised

        events_raised.connect(_on_events_raised, sender=Event, dispatch_uid="notifications.deliveries_for_events")
