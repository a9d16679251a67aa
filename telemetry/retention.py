"""Telemetry retention: points received more than FLEETMON_TELEMETRY_RETENTION days ago go.

On PostgreSQL the points table is partitioned by day (UTC) of `received_at` (migration 0005):
a partition per day, named `telemetry_telemetrypoint_pYYYYMMDD`, and a DEFAULT partition that
takes whatever no daily partition covers, so that storing a point never fails for lack of one.
Retention creates the partitions of the next days ahead of the points (keeping the DEFAULT
partition empty) and drops whole days once they are entirely past the retention: no row-by-row
delete, no table bloat, no vacuum. What lands in the DEFAULT partition all the same is moved
into its day's partition when that is created, or deleted in batches once past the retention.
On SQLite, points past the retention are deleted in batches.

Retention never deletes a point not applied yet (a vehicle held by a dead letter): the cut-off
stops at the oldest such point, with a warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from telemetry.models import RECEIVED_AT_SLACK, TelemetryPoint
from telemetry.selectors import points_pending_summary

logger = logging.getLogger(__name__)

POINTS_TABLE = TelemetryPoint._meta.db_table
DEFAULT_PARTITION = f"{POINTS_TABLE}_default"
_PARTITION_NAME = re.compile(rf"^{POINTS_TABLE}_p(\d{{8}})$")
# Beat runs retention hourly: a week ahead leaves the DEFAULT partition empty even when Beat is
# down for days (moving rows out of it locks the whole table while they are copied), while
# adding few empty partitions for reads that do not bound received_at to probe.
PARTITION_DAYS_AHEAD = 7
DELETE_BATCH_SIZE = 5_000
# "FMpoints": the advisory lock that serialises partition maintenance between processes (two
# Beats by mistake, a task redelivered while the first still runs).
_MAINTENANCE_LOCK = int.from_bytes(b"FMpoints", "big")
# Creating or dropping a partition locks the whole points table; one that cannot have it at
# once (a long backtest reading points) gives up until the next run rather than making
# ingestion queue behind it.
_LOCK_TIMEOUT = "5s"
_LOCK_NOT_AVAILABLE = "55P03"


@dataclass
class RetentionRun:
    cutoff: datetime  # the points received before it are gone
    created: list[date] = field(default_factory=list)  # partitions created, by day
    dropped: list[date] = field(default_factory=list)  # partitions dropped, by day
    deleted: int = 0  # rows deleted one by one (SQLite; PostgreSQL's DEFAULT partition)


def partition_name(day: date) -> str:
    return f"{POINTS_TABLE}_p{day:%Y%m%d}"


def _day_start(day: date) -> str:
    """The day's first instant (UTC) as an SQL literal: partition bounds take no parameters."""
    return f"'{datetime.combine(day, time(), tzinfo=UTC).isoformat()}'"


def partition_days_ahead(*, now: datetime) -> list[date]:
    today = now.astimezone(UTC).date()
    return [today + timedelta(days=n) for n in range(PARTITION_DAYS_AHEAD + 1)]


def point_days_stored(*, table: str, since: datetime | None = None) -> list[date]:
    """The days (UTC) of the points in `table` received since `since`, by a skip scan of the
    received_at index: one index probe per day, however many points each holds."""
    since_sql, params = ("WHERE received_at >= %s", [since]) if since else ("", [])
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH RECURSIVE days(start) AS (
                SELECT date_trunc('day', min(received_at), 'UTC') FROM {table} {since_sql}
                UNION ALL
                SELECT (SELECT date_trunc('day', min(received_at), 'UTC') FROM {table}
                        WHERE received_at >= days.start + interval '24 hours')
                FROM days WHERE days.start IS NOT NULL
            )
            SELECT start FROM days WHERE start IS NOT NULL""",
            params,
        )
        return [start.astimezone(UTC).date() for (start,) in cursor.fetchall()]


def point_partition_create(*, day: date) -> bool:
    """Create the partition of `day` (UTC) unless it exists; False if it did. PostgreSQL refuses
    a partition while the DEFAULT partition holds rows of its range, so those are moved into
    it, in the same transaction: none is lost, none is visible twice."""
    name = partition_name(day)
    start, end = _day_start(day), _day_start(day + timedelta(days=1))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cursor.fetchone()[0]:
            return False
        # Creating a partition takes this lock anyway; taking it first means nothing can insert
        # into the DEFAULT partition between the move and the creation.
        cursor.execute(f"LOCK TABLE {POINTS_TABLE} IN ACCESS EXCLUSIVE MODE")
        strays = f"FROM {DEFAULT_PARTITION} WHERE received_at >= {start} AND received_at < {end}"
        cursor.execute(f"CREATE TEMPORARY TABLE point_strays (LIKE {POINTS_TABLE})")
        cursor.execute(f"WITH moved AS (DELETE {strays} RETURNING *) INSERT INTO point_strays SELECT * FROM moved")
        moved = cursor.rowcount
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {POINTS_TABLE} FOR VALUES FROM ({start}) TO ({end})"
        )
        cursor.execute(f"INSERT INTO {POINTS_TABLE} SELECT * FROM point_strays")
        cursor.execute("DROP TABLE point_strays")
    if moved:
        logger.warning("moved %d point(s) of %s from the DEFAULT partition into %s", moved, day, name)
    return True


def _partitions() -> dict[date, str]:
    """The daily partitions of the points table, by day; any other partition is left alone."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [POINTS_TABLE],
        )
        names = [name for (name,) in cursor.fetchall()]
    return {
        datetime.strptime(match[1], "%Y%m%d").date(): name
        for name in names
        if (match := _PARTITION_NAME.match(name))
    }


@contextmanager
def _maintenance_step() -> Iterator[None]:
    """One step of partition maintenance in a transaction of its own, serialised with other
    processes' (a second runner waits, then finds the step done)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_MAINTENANCE_LOCK])
        yield


def _busy(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == _LOCK_NOT_AVAILABLE


def _partitions_maintain(*, now: datetime, cutoff: datetime, run: RetentionRun) -> None:
    # The days ahead, and the days of any points the DEFAULT partition still holds within the
    # retention (Beat was down): moved out, they leave the DEFAULT partition small, and each
    # partition's creation scans it.
    wanted = sorted(set(partition_days_ahead(now=now)) | set(point_days_stored(table=DEFAULT_PARTITION, since=cutoff)))
    existing = _partitions()
    for day in [day for day in wanted if day not in existing]:
        try:
            with _maintenance_step():
                if point_partition_create(day=day):
                    run.created.append(day)
        except OperationalError as exc:
            if not _busy(exc):
                raise
            logger.warning("points table busy: partition of %s not created, next run will", day)
    for day, name in sorted(existing.items()):
        if day + timedelta(days=1) > cutoff.astimezone(UTC).date():
            continue
        try:
            with _maintenance_step(), connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {name}")
            run.dropped.append(day)
        except OperationalError as exc:
            if not _busy(exc):
                raise
            logger.warning("points table busy: partition of %s not dropped, next run will", day)


def _points_delete_before(*, table: str, cutoff: datetime, batch_size: int) -> int:
    """Delete `table`'s points received before `cutoff`, `batch_size` at a time, each batch
    committed on its own: locks stay short and a concurrent run only finds less to do."""
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE received_at < %s LIMIT %s)",
                [connection.ops.adapt_datetimefield_value(cutoff), batch_size],
            )
            batch = cursor.rowcount
        deleted += batch
        if batch < batch_size:
            return deleted


def points_retention_apply(
    *, now: datetime | None = None, batch_size: int = DELETE_BATCH_SIZE
) -> RetentionRun:
    """Drop (PostgreSQL) or delete (SQLite) the points received more than
    FLEETMON_TELEMETRY_RETENTION days before `now`, and create the partitions of the next days.
    A partition goes once all of its day is past the retention, so a point stays up to a day
    longer on PostgreSQL."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.FLEETMON_TELEMETRY_RETENTION)
    oldest_pending = points_pending_summary().oldest_received_at
    # The points after the oldest pending one were received after it, give or take the API
    # hosts' clocks: a later point of its vehicle can bear an earlier time, on the day before.
    if oldest_pending is not None and oldest_pending - RECEIVED_AT_SLACK < cutoff:
        logger.warning(
            "points received since %s are not applied yet (a vehicle held by a dead letter?): kept past the retention",
            oldest_pending.isoformat(),
        )
        cutoff = oldest_pending - RECEIVED_AT_SLACK
    run = RetentionRun(cutoff=cutoff)
    table = POINTS_TABLE
    if connection.vendor == "postgresql":
        _partitions_maintain(now=now, cutoff=cutoff, run=run)
        table = DEFAULT_PARTITION
    run.deleted = _points_delete_before(table=table, cutoff=cutoff, batch_size=batch_size)
    if run.created or run.dropped or run.deleted:
        logger.info(
            "telemetry retention: partitions created %s, dropped %s; %d point(s) deleted",
            [day.isoformat() for day in run.created],
            [day.isoformat() for day in run.dropped],
            run.deleted,
        )
    return run
