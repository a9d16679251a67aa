"""DJANGO_SETTINGS_MODULE of the stack benchmarks/e2e.py starts (stack.COUNTING_SETTINGS):
FleetMon's own settings, plus a count of the SQL statements every process sends, added up in
the benchmark's Redis db under stack.SQL_COUNT_KEY.

PostgreSQL could count them itself (pg_stat_statements), but only with a library preloaded
at server start, which a shared server need not have. Counting in the client works with any
PostgreSQL and with any commit of FleetMon, so a before/after comparison counts alike.
"""

from __future__ import annotations

import time

from django.db.backends.signals import connection_created

from benchmarks.stack import SQL_COUNT_KEY

# A settings module is a namespace of names Django reads: every one of FleetMon's must be here,
# unchanged, which is what the star import is for.
from fleetmon_project.settings import *  # noqa: F401,F403
from fleetmon_project.settings import CELERY_BROKER_URL

FLUSH_EVERY_S = 0.5

_counted = 0
_flushed_at = 0.0
_client = None


def _flush() -> None:
    global _counted, _flushed_at, _client
    import redis

    if _client is None:
        _client = redis.Redis.from_url(CELERY_BROKER_URL)
    _client.incrby(SQL_COUNT_KEY, _counted)
    _counted, _flushed_at = 0, time.monotonic()


def _count(execute, sql, params, many, context):  # noqa: ANN001, ANN202 - Django's wrapper protocol
    global _counted
    # executemany sends one statement per parameter set.
    _counted += len(params) if many and isinstance(params, (list, tuple)) else 1
    if time.monotonic() - _flushed_at >= FLUSH_EVERY_S:
        _flush()
    return execute(sql, params, many, context)


def _install(sender, connection, **kwargs) -> None:  # noqa: ANN001
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


connection_created.connect(_install, dispatch_uid="e2e-count-sql")
