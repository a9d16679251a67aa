from __future__ import annotations

from rest_framework import serializers

from fleetmon_project.api import QuerySerializer, StrictCharField, StrictSerializer
from monitors.models import MonitorStatus


class MonitorStatusSetterSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=[MonitorStatus.RUNNING, MonitorStatus.PAUSED])


class EventFilterSerializer(QuerySerializer):
    vin = StrictCharField(required=False, max_length=17)
    since = serializers.DateTimeField(required=False, help_text="RFC 3339; events at or after")
    until = serializers.DateTimeField(required=False, help_text="RFC 3339; events strictly before")
    indexRange = StrictCharField(required=False)
    pageSize = StrictCharField(required=False)
    pageToken = StrictCharField(required=False)
