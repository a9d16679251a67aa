"""Hooks for the next stage of the pipeline (notifications), which imports us, never the reverse."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that creates the event, with `event=<monitors.models.Event>`,
# so that its outbox row is committed (or rolled back) together with it.
event_raised = Signal()
