"""Query validation and the response shapes of the delivery API (for the OpenAPI schema;
views render plain dicts)."""

from __future__ import annotations

from rest_framework import serializers

from fleetmon_project.api import QuerySerializer, StrictCharField, _LinkSerializer
from notifications.selectors import API_STATES


class DeliveryFilterSerializer(QuerySerializer):
    state = serializers.ChoiceField(choices=list(API_STATES), required=False)
    indexRange = StrictCharField(required=False)
    pageSize = StrictCharField(required=False)
    pageToken = StrictCharField(required=False)


class DeliveryLinksSerializer(serializers.Serializer):
    self = _LinkSerializer()
    monitor = _LinkSerializer()
    retry = _LinkSerializer()


class DeliveryEventSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="null for the sample event of a test delivery")
    monitorId = serializers.CharField()
    fleetId = serializers.CharField()
    vin = serializers.CharField()
    eventDate = serializers.DateTimeField()
    values = serializers.ListField(child=serializers.DictField())
    extensions = serializers.ListField(child=serializers.DictField())
    refresh = serializers.BooleanField()


class DeliveryAttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    startedAt = serializers.DateTimeField()
    finishedAt = serializers.DateTimeField(allow_null=True, help_text="null while in flight or if interrupted")
    url = serializers.CharField(help_text="the target, with credentials and query values redacted")
    statusCode = serializers.IntegerField(allow_null=True)
    durationMs = serializers.IntegerField()
    responseExcerpt = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    ok = serializers.BooleanField()


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=list(API_STATES))
    webhookId = serializers.CharField(help_text="the webhook-id header: identical for every attempt and replay")
    test = serializers.BooleanField(help_text="sent by POST .../test")
    createdAt = serializers.DateTimeField()
    deliveredAt = serializers.DateTimeField(allow_null=True)
    attemptCount = serializers.IntegerField()
    nextAttemptAt = serializers.DateTimeField(allow_null=True)
    lastError = serializers.CharField(allow_blank=True)
    events = DeliveryEventSerializer(many=True)
    attempts = DeliveryAttemptSerializer(many=True)
    _links = DeliveryLinksSerializer()


class WebhookTestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    statusCode = serializers.IntegerField(allow_null=True)
    durationMs = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    responseExcerpt = serializers.CharField(allow_blank=True)
    deliveryId = serializers.IntegerField()


class WebhookSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="whsec_ followed by the base64 key (Standard Webhooks)")
