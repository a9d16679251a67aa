"""The plans PostgreSQL runs for a block's statements when each is prepared and planned
generically, as a long-lived connection runs its repeated statements (DATABASE_PREPARED_STATEMENTS),
captured by auto_explain."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from django.db import DatabaseError, connection, transaction

from telemetry.retention import PARTITION_DAYS_AHEAD, partition_name

# `col = ANY($n)` as a filter: the array is a parameter, which PostgreSQL cannot hash, so each
# row scanned is compared with every element (an index condition probes per element instead).
ARRAY_PARAMETER_FILTER = re.compile(r"Filter: .*= ANY \(\$\d+\)")


@contextmanager
def generic_plans() -> Iterator[list[str]]:
    """Every statement of the block prepared on first use and planned generically; yields the
    plans, one text per statement run. Skips the test where auto_explain cannot be loaded."""
    connection.ensure_connection()
    raw = connection.connection
    if raw.cursor_factory.__name__ != "ServerBindingCursor":
        pytest.skip("parameters are not bound on the server (DATABASE_PREPARED_STATEMENTS is off)")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("LOAD 'auto_explain'")
    except DatabaseError as error:
        pytest.skip(f"auto_explain cannot be loaded: {error}")
    plans: list[str] = []

    def collect(diagnostic) -> None:
        plans.append(diagnostic.message_primary or "")

    threshold = raw.prepare_threshold
    settings = {"auto_explain.log_min_duration": "0", "auto_explain.log_level": "notice", "plan_cache_mode": "force_generic_plan"}
    with connection.cursor() as cursor:
        for name, value in settings.items():
            cursor.execute(f"SET {name} = '{value}'")
    raw.add_notice_handler(collect)
    raw.prepare_threshold = 0
    try:
        yield plans
    finally:
        # A statement's plan reaches the client with the next statement's results.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        raw.prepare_threshold = threshold
        raw.remove_notice_handler(collect)
        with connection.cursor() as cursor:
            for name in settings:
                cursor.execute(f"RESET {name}")


def array_filters(plans: list[str]) -> list[str]:
    """The plans that filter rows by an array parameter."""
    return [plan for plan in plans if ARRAY_PARAMETER_FILTER.search(plan)]


def _executed_plan(sql: str) -> list[dict]:
    """The nodes of the plan PostgreSQL ran for `sql`, by EXPLAIN ANALYZE: partitions pruned
    before it ran are not among them."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
        (plan,) = cursor.fetchone()[0]
    nodes, pending = [], [plan["Plan"]]
    while pending:
        node = pending.pop()
        nodes.append(node)
        pending.extend(node.get("Plans", []))
    return nodes


def rows_read(sql: str, table: str, *, index_entries: bool = False) -> int:
    """Rows the plan's scans of `table` read, over all their loops (returned or filtered out),
    by EXPLAIN ANALYZE; with `index_entries`, the entries its bitmap index scans read as well,
    dead ones included (rows rolled back by earlier tests, say)."""
    with connection.cursor() as cursor:
        indexes = {name for name, info in connection.introspection.get_constraints(cursor, table).items() if info["index"]}
    return sum(
        (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
        for node in _executed_plan(sql)
        if node.get("Relation Name") == table or (index_entries and node.get("Index Name") in indexes)
    )


def relations_scanned(sql: str) -> set[str]:
    """The tables (partitions one by one) that the plan PostgreSQL ran for `sql` scanned: not
    those pruned, nor those under a node that never ran."""
    return {node["Relation Name"] for node in _executed_plan(sql) if "Relation Name" in node and node["Actual Loops"]}


def partitions_after(day: date) -> set[str]:
    """The points' daily partitions retention prepares past `day`."""
    return {partition_name(day + timedelta(days=n)) for n in range(1, PARTITION_DAYS_AHEAD + 2)}
