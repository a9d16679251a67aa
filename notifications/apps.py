from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def _on_event_raised(sender: Any, *, event: Any, **kwargs: Any) -> None:
    from notifications.services import delivery_create_for_event

    # Runs inside the engine's transaction: the outbox row commits (or rolls back) with it.
    delivery_create_for_event(event=event)


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Webhook deliveries"

    def ready(self) -> None:
        from monitors.models import Event
        from monitors.signals import event_raised

        event_raised.connect(_on_event_raised, sender=Event, dispatch_uid="notifications.delivery_for_event")
