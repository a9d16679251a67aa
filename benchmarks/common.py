"""The baseline both benchmarks measure FleetMon against: DRF alone parsing and validating a
telemetry batch, with no authentication, throttling, storage or enqueue.

benchmarks/evaluation.py calls the view in-process; benchmarks/e2e.py serves it over HTTP
from gunicorn (this module is then the ROOT_URLCONF), so both compare with the same endpoint.
Import it after django.setup().
"""

from __future__ import annotations

from django.urls import path
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

BARE_TELEMETRY_PATH = "bare/telemetry"


class _Position(serializers.Serializer):
    latitude = serializers.FloatField(min_value=-90, max_value=90)
    longitude = serializers.FloatField(min_value=-180, max_value=180)


class _Point(serializers.Serializer):
    vin = serializers.CharField(min_length=17, max_length=17)
    eventDate = serializers.DateTimeField()
    position = _Position(required=False)
    data = serializers.DictField(required=False)


class BareValidationView(APIView):
    """The baseline: what DRF alone costs to parse and validate the same batch."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []

    def post(self, request: Request) -> Response:
        serializer = _Point(data=request.data, many=True)
        serializer.is_valid(raise_exception=True)
        return Response({"accepted": len(serializer.validated_data)}, status=202)


urlpatterns = [path(BARE_TELEMETRY_PATH, BareValidationView.as_view())]
