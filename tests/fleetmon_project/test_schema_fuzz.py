"""Property-based fuzzing of the whole API against its own OpenAPI schema (schemathesis):
no 5xx, and no response that contradicts the schema. `make fuzz` runs it longer."""

from __future__ import annotations

import os
import re

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from fleetmon_project.wsgi import application
from tests.monitors.factories import MonitorFactory
from tests.telemetry.factories import FleetFactory, UserFactory, VehicleFactory

schema = schemathesis.openapi.from_wsgi("/api/schema", application)
# PostgreSQL cannot store NUL in text; the API rejects it with a 400 naming the field
# (tested in test_errors/test_ingestion_api), so generating it only adds noise here.
schema.config.generation.update(allow_x00=False)
MAX_EXAMPLES = int(os.environ.get("FLEETMON_FUZZ_EXAMPLES", "25"))
SEMANTIC_BODIES = {
    ("POST", "/api/v1/telemetry"),
    ("POST", "/api/v1/fleets/{fleet_id}/monitors"),
    ("PUT", "/api/v1/fleets/{fleet_id}/monitors/{monitor_id}"),
    ("POST", "/api/v1/fleets/{fleet_id}/monitors/backtest"),
    ("POST", "/api/v1/fleets/{fleet_id}/monitors/{monitor_id}/backtest"),
}


@pytest.fixture
def owned(db):
    # Calling the WSGI app directly fires request_finished, which would close the test's
    # transactional connection; Django's own test client disconnects it the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    user = UserFactory()
    fleet = FleetFactory(owner=user)
    vehicle = VehicleFactory(fleet=fleet)
    monitor = MonitorFactory(fleet=fleet)
    ids = {"fleet_id": fleet.pk, "vehicle_id": vehicle.pk, "monitor_id": monitor.pk}
    yield Token.objects.create(user=user).key, ids
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _query_outside_json_schema(query: dict | None) -> bool:
    """Query values that match their pattern yet rightly get a 400: a token is valid only as
    the server issued it (one past the last result is refused), a range must not descend, and
    a timestamps range must name dates that exist, in order."""
    query = query or {}
    bounds = re.fullmatch(r"([0-9]+)-([0-9]+)", str(query.get("indexRange", "")))
    return "pageToken" in query or "timestamps" in query or (bounds is not None and int(bounds[2]) < int(bounds[1]))


@pytest.mark.fuzz
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, owned):
    token, ids = owned
    # Real ids in the path, so generated bodies and queries reach the validators, not a 404.
    for name, value in ids.items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = value
    excluded = []
    if (case.method, case.path) in SEMANTIC_BODIES:
        # These bodies are valid only against stored state or rules JSON Schema cannot state
        # (a VIN you own, a boolExp that is neither a tautology nor a contradiction, exactly one
        # of zone/time/data): a schema-valid body may rightly get a 400. No 5xx is still checked,
        # and so is every response against the schema.
        excluded.append(schemathesis.checks.positive_data_acceptance)
    elif _query_outside_json_schema(case.query):
        excluded.append(schemathesis.checks.positive_data_acceptance)
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, excluded_checks=excluded)
