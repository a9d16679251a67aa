"""psycopg's C parser for `timestamptz` on Django's connections.

Django registers its own `timestamptz` loader on every connection, a subclass of psycopg's
pure-Python one, so that it can force the datetimes' tzinfo. Parsing in Python cost about 6 µs
a value, some 10 % of an evaluation task, which reads a few thousand of them (the monitors'
states). When the session's time zone is UTC, psycopg's C loader already returns exactly what
Django's does (aware, `datetime.timezone.utc`): reading 20,000 rows of two such columns took
21 ms instead of 138 ms. A C class cannot be subclassed, so this thin loader delegates to it
and carries the `timezone` attribute that Django checks each time it opens a cursor.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import abc, adapters
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types.datetime import TimestamptzLoader

# psycopg's own map holds the C loader when psycopg[binary] (a dependency) or psycopg[c] is
# installed, else the Python one, which Django's already is.
_PARSER: type[abc.Loader] = adapters.get_loader(adapters.types["timestamptz"].oid, Format.TEXT) or TimestamptzLoader
_HAS_C_PARSER = _PARSER is not TimestamptzLoader


class UtcTimestamptzLoader(Loader):
    timezone = UTC  # compared by Django's create_cursor with the connection's own

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        self._parse = _PARSER(oid, context).load

    def load(self, data: Any) -> Any:
        return self._parse(data)


def fast_timestamptz_install(*, sender: type, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """connection_created receiver: only where the C loader's result equals Django's, a
    PostgreSQL session in UTC; any other session keeps Django's loader."""
    if not _HAS_C_PARSER or connection.vendor != "postgresql" or connection.timezone != UTC:
        return
    raw = connection.connection
    if raw.info.parameter_status("TimeZone") != "UTC":
        return
    raw.adapters.register_loader("timestamptz", UtcTimestamptzLoader)
