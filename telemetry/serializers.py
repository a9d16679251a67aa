from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fleetmon_project.api import QuerySerializer, StrictCharField, StrictSerializer
from fleetmon_project.timeranges import TimeRange, parse_time_ranges
from telemetry.datakeys import TELEMETRY_TYPES
from telemetry.models import VIN_PATTERN

DATA_PROFILES = ("fleet", "endUser")
TELEMETRY_EXTENSIONS = ("location", "maintenance")
VEHICLE_EXTENSIONS = ("onboardCapabilities", "branding", "pictures")
LOCALE_PATTERN = r"^[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*$"  # the reference means \w+(-\w+)?, e.g. fr-FR

_VIN = re.compile(VIN_PATTERN)
_FORBIDDEN_VIN_LETTERS = set("IOQ")
# A character that str.strip() keeps. Spelled out: a schema's \S is ECMAScript's, which
# disagrees with Python on a few characters ('\x1c' to '\x1f', '\x85', '\ufeff').
_NOT_ONLY_WHITESPACE = "[^" + "".join(f"\\u{code:04x}" for code in range(0x10000) if chr(code).isspace()) + "]"


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 255, "pattern": _NOT_ONLY_WHITESPACE})
class LabelField(StrictCharField):
    """Trimmed, and blank once trimmed is refused: the schema says so with its pattern."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=255, allow_blank=False, trim_whitespace=True, **kwargs)


class FleetInputSerializer(StrictSerializer):
    # DRF takes declared fields out of the class body, so `label` does not hide Field.label.
    label = LabelField()  # type: ignore[assignment]


@extend_schema_field(
    {"type": "string", "minLength": 17, "maxLength": 17, "pattern": "^[A-HJ-NPR-Za-hj-npr-z0-9]{17}$"}
)
class VinField(StrictCharField):
    """Checked in `validate_vin` so that each mistake gets its own message; the schema says the shape."""


class VehicleInputSerializer(StrictSerializer):
    vin = VinField(trim_whitespace=True)

    def validate_vin(self, value: str) -> str:
        vin = value.upper()
        if len(vin) != 17:
            raise serializers.ValidationError(f"a VIN has 17 characters, not {len(vin)}")
        forbidden = sorted(set(vin) & _FORBIDDEN_VIN_LETTERS)
        if forbidden:
            raise serializers.ValidationError(
                f"a VIN never contains {', '.join(forbidden)} (ISO 3779 excludes I, O and Q)"
            )
        if not _VIN.match(vin):
            raise serializers.ValidationError("a VIN uses only digits and the letters A-Z except I, O, Q")
        return vin


class LinkSerializer(serializers.Serializer):
    href = serializers.URLField()


class FleetLinksSerializer(serializers.Serializer):
    self = LinkSerializer()
    vehicles = LinkSerializer()
    status = LinkSerializer()
    alerts = LinkSerializer()
    monitors = LinkSerializer()


class FleetSerializer(serializers.Serializer):
    """Output shape, used for documentation; views render with `render_fleet`."""

    id = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, as above
    name = serializers.CharField(help_text="The reference's name for the label")
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    _links = FleetLinksSerializer()


class VehicleLinksSerializer(serializers.Serializer):
    self = LinkSerializer()
    fleet = LinkSerializer()
    lastPosition = LinkSerializer()
    status = LinkSerializer()
    telemetry = LinkSerializer()
    alerts = LinkSerializer()


class VehicleSerializer(serializers.Serializer):
    id = serializers.CharField()
    vin = serializers.CharField()
    createdAt = serializers.DateTimeField()
    _links = VehicleLinksSerializer()


class TimestampsField(serializers.ListField):
    """The reference's `timestamps` (repeated in the query), as merged `TimeRange`s; "now"
    (the end of `T/` and of unbounded repetitions) comes from the serializer's context."""

    child = StrictCharField()

    def to_internal_value(self, data: Any) -> list[TimeRange]:
        try:
            return parse_time_ranges(super().to_internal_value(data), now=self.context["now"])
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


def _choices(choices: Sequence[str], *, max_length: int) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=choices), min_length=1, max_length=max_length, required=False
    )


class VehicleDataQuerySerializer(QuerySerializer):
    """What every vehicle-data read takes: the reference's `profile`, accepted and ignored
    (FleetMon serves the fleet manager's view; an end user's is no narrower here)."""

    profile = serializers.ChoiceField(choices=DATA_PROFILES, required=False)


class PagedVehicleDataQuerySerializer(VehicleDataQuerySerializer):
    # Checked by fleetmon_project.pagination, which names them in its errors.
    indexRange = StrictCharField(required=False)
    pageSize = StrictCharField(required=False)
    pageToken = StrictCharField(required=False)


class AlertQuerySerializer(PagedVehicleDataQuerySerializer):
    timestamps = TimestampsField(required=False)


class TelemetryQuerySerializer(AlertQuerySerializer):
    type = _choices(TELEMETRY_TYPES, max_length=len(TELEMETRY_TYPES))
    extension = _choices(TELEMETRY_EXTENSIONS, max_length=len(TELEMETRY_EXTENSIONS))  # accepted, ignored


class CapabilitiesQuerySerializer(QuerySerializer):
    locale = StrictCharField(required=False, max_length=35, validators=[RegexValidator(LOCALE_PATTERN)])  # ignored
    extension = _choices(VEHICLE_EXTENSIONS, max_length=len(VEHICLE_EXTENSIONS))  # accepted, ignored
