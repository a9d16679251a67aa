from __future__ import annotations

from typing import Any

from rest_framework import serializers

from fleetmon_project.api import StrictCharField, StrictSerializer
from monitors.models import MonitorStatus


class MonitorStatusSetterSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=[MonitorStatus.RUNNING, MonitorStatus.PAUSED])


class EventFilterSerializer(StrictSerializer):
    vin = StrictCharField(required=False, max_length=17)
    since = serializers.DateTimeField(required=False, help_text="RFC 3339; events at or after")
    until = serializers.DateTimeField(required=False, help_text="RFC 3339; events strictly before")
    indexRange = StrictCharField(required=False)
    pageSize = StrictCharField(required=False)
    pageToken = StrictCharField(required=False)

    def to_internal_value(self, data: Any) -> Any:
        # An empty `?until=` is a client mistake, not "no filter".
        empty = {key: ["must not be empty"] for key, value in data.items() if value == ""}
        if empty:
            raise serializers.ValidationError(empty)
        return super().to_internal_value(data)
