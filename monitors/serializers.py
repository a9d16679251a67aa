from __future__ import annotations

from datetime import datetime

from rest_framework import serializers

from fleetmon_project.api import QuerySerializer, StrictCharField, StrictSerializer
from fleetmon_project.isodates import parse_rfc3339
from monitors.models import MonitorStatus


class MonitorStatusSetterSerializer(StrictSerializer):
    status = serializers.ChoiceField(
        choices=[MonitorStatus.RUNNING, MonitorStatus.PAUSED],
        help_text=(
            "Running resumes a Paused or Failed monitor: its webhook's failure count starts over, "
            "and a webhook disabled for failing too long is enabled again"
        ),
    )


class Rfc3339Field(serializers.Field):
    """The contract's date-time: DRF's DateTimeField also takes one without its offset, and
    digits of other scripts ('٢٠٢٦-…'), since Django's fallback pattern uses \\d."""

    def to_internal_value(self, data: object) -> datetime:
        try:
            return parse_rfc3339(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class EventFilterSerializer(QuerySerializer):
    vin = StrictCharField(required=False, max_length=17)
    since = Rfc3339Field(required=False, help_text="RFC 3339; events at or after")
    until = Rfc3339Field(required=False, help_text="RFC 3339; events strictly before")
    indexRange = StrictCharField(required=False)
    pageSize = StrictCharField(required=False)
    pageToken = StrictCharField(required=False)
