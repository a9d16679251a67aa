from __future__ import annotations

from rest_framework import serializers

from fleetmon_project.api import StrictCharField, StrictSerializer
from monitors.models import MonitorStatus


class MonitorStatusSetterSerializer(StrictSerializer):
    status = StrictCharField()

    def validate_status(self, value: str) -> str:
        allowed = (MonitorStatus.RUNNING, MonitorStatus.PAUSED)
        if value not in allowed:
            raise serializers.ValidationError(f"must be one of {', '.join(allowed)}, not '{value}'")
        return value


class EventFilterSerializer(StrictSerializer):
    vin = StrictCharField(required=False, max_length=17)
    since = serializers.DateTimeField(required=False, help_text="RFC 3339; events at or after")
    until = serializers.DateTimeField(required=False, help_text="RFC 3339; events strictly before")
    indexRange = StrictCharField(required=False)
    pageSize = StrictCharField(required=False)
    pageToken = StrictCharField(required=False)
