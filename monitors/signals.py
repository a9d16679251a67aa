"""Hooks for the next stage of the pipeline (notifications), which imports us, never the reverse."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that creates events, with `events=[<monitors.models.Event>]`
# (all those one evaluation stored), so that their outbox rows are committed (or rolled back)
# together with them.
events_raised = Signal()

# Sent inside the transaction that sets a Paused or Failed monitor back to Running, with
# `monitor=<monitors.models.Monitor>` (its row locked): a resume starts the webhook's failure
# streak over and re-enables a disabled webhook, which notifications keeps.
monitor_resumed = Signal()
