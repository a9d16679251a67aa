"""Tests of fleetmon_project.rows: an UPDATE of a known row's fields, as save(update_fields) writes it."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

from fleetmon_project.rows import row_fields_update
from telemetry.models import Fleet
from tests.telemetry.factories import FleetFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_only_the_named_fields_are_written():
    fleet = FleetFactory(label="before")
    owner = fleet.owner_id
    fleet.label = "after"
    fleet.owner = UserFactory()

    row_fields_update(fleet, fields=("label",))

    stored = Fleet.objects.get(pk=fleet.pk)
    assert (stored.label, stored.owner_id) == ("after", owner)


def test_an_auto_now_field_is_stamped_on_the_row_and_the_instance():
    fleet = FleetFactory()
    before = Fleet.objects.get(pk=fleet.pk).updated_at

    row_fields_update(fleet, fields=("label", "updated_at"))

    assert fleet.updated_at > before
    assert Fleet.objects.get(pk=fleet.pk).updated_at == fleet.updated_at


def test_a_row_gone_is_an_error_not_a_silent_no_op():
    fleet = FleetFactory()
    Fleet.objects.filter(pk=fleet.pk).delete()

    with pytest.raises(DatabaseError, match="the row is gone"):
        row_fields_update(fleet, fields=("label",))
