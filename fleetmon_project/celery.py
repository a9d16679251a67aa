from __future__ import annotations

import os

from celery import Celery, signals
from django import db

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleetmon_project.settings")

app = Celery("fleetmon")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _recycle_database_connections(**kwargs) -> None:
    # Workers keep their connection across tasks (CELERY_DB_REUSE_MAX); this drops it when it
    # is older than CONN_MAX_AGE or has broken (a PostgreSQL restart), as Django does
    # around each request, so a task never starts on a dead connection.
    if not getattr(kwargs["task"].request, "is_eager", False):
        db.close_old_connections()
