from __future__ import annotations

import time

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.postgresql import base as django_postgresql

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend's health check"),
]


@pytest.fixture
def own():
    """A connection of the test's own, outside the test's transaction."""
    wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


@pytest.fixture
def asked(monkeypatch):
    """Each time the check falls back on Django's `SELECT 1`."""
    calls: list[bool] = []
    ask = django_postgresql.DatabaseWrapper.is_usable

    def recorded(self):
        calls.append(ask(self))
        return calls[-1]

    monkeypatch.setattr(django_postgresql.DatabaseWrapper, "is_usable", recorded)
    return calls


def _backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_the_projects_backend_is_the_one_in_use(own):
    assert own.__module__ == "fleetmon_project.pgbackend.base"


def test_a_quiet_idle_connection_is_usable_without_a_query(own, asked):
    _backend_pid(own)
    assert own.is_usable()
    assert asked == []


def test_a_connection_in_a_transaction_is_asked(own, asked):
    own.set_autocommit(False)
    _backend_pid(own)
    assert own.is_usable()
    assert asked == [True]
    own.rollback()
    own.set_autocommit(True)


def test_a_terminated_backend_is_found_unusable_and_replaced(own, asked):
    pid = _backend_pid(own)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while own.is_usable() and time.monotonic() < deadline:  # until the server's goodbye arrives
        time.sleep(0.01)
    assert asked[-1] is False

    own.close_if_unusable_or_obsolete()  # as at the end of a request or task
    assert _backend_pid(own) != pid  # the next query got a new connection, not an error
