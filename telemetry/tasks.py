"""Thin Celery tasks: call a service. Sweeps go to the `sweeps` queue (CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task

from telemetry import retention


@shared_task(acks_late=True, ignore_result=True)
def sweep_telemetry_retention() -> int:
    """Beat runs it hourly: the next days' partitions, and the points past the retention gone."""
    run = retention.points_retention_apply()
    return len(run.dropped) + run.deleted
