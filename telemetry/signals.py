"""Hooks for the next stage of the pipeline (monitors), which imports us, never the reverse."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that stores accepted points, with `vehicle_ids=<list[str]>`.
points_stored = Signal()
