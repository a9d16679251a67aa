"""Property-based fuzzing of the whole API against its own OpenAPI schema (schemathesis):
no 5xx, and no response that contradicts the schema. `make fuzz` runs it longer."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from fleetmon_project.wsgi import application
from tests.telemetry.factories import FleetFactory, UserFactory, VehicleFactory

schema = schemathesis.openapi.from_wsgi("/api/schema", application)
MAX_EXAMPLES = int(os.environ.get("FLEETMON_FUZZ_EXAMPLES", "25"))


@pytest.fixture
def token(db):
    # Calling the WSGI app directly fires request_finished, which would close the test's
    # transactional connection; Django's own test client disconnects it the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    user = UserFactory()
    fleet = FleetFactory(owner=user)
    VehicleFactory(fleet=fleet)
    yield Token.objects.create(user=user).key
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.fuzz
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, token):
    case.call_and_validate(headers={"Authorization": f"Token {token}"})
