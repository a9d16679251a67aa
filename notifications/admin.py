"""Admin of the delivery log, and the deliveries shown beside the monitors and events they
come from: notifications extends the monitors admin, which knows nothing of deliveries."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from fleetmon_project.errors import ApiError
from monitors import admin as monitors_admin
from monitors.models import Event, Monitor
from notifications import services
from notifications.models import Delivery, DeliveryAttempt, DeliveryEvent, DeliveryState, WebhookSecret


class _ReadOnlyMixin:
    """The delivery log is a record of what happened: nobody edits it by hand."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class DeliveryAttemptInline(_ReadOnlyMixin, admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "status_code", "duration_ms", "url", "error", "response_excerpt", "task_id")
    readonly_fields = fields


class DeliveryEventInline(_ReadOnlyMixin, admin.TabularInline):
    model = DeliveryEvent
    extra = 0
    can_delete = False
    fields = ("event", "vin", "event_date")
    readonly_fields = fields

    @admin.display(description="VIN")
    def vin(self, link: DeliveryEvent) -> str:
        return link.event.vin

    @admin.display(description="event date")
    def event_date(self, link: DeliveryEvent) -> object:
        return link.event.event_date


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "id", "monitor", "fleet", "state", "is_test", "attempt_count", "created_at", "delivered_at",
        "next_attempt_at", "last_error",
    )
    list_filter = ("state", "is_test", "created_at", "monitor", "fleet")
    search_fields = ("=webhook_id", "delivery_events__event__vin")
    date_hierarchy = "created_at"
    list_select_related = ("monitor", "fleet")
    # The stored variables and claims are internals; the body is what the receiver got.
    fields = (
        "monitor", "fleet", "state", "is_test", "webhook_id", "attempt_count", "created_at", "delivered_at",
        "next_attempt_at", "enqueued_at", "in_flight_until", "expires_at", "last_error", "body",
    )
    readonly_fields = fields
    inlines = [DeliveryEventInline, DeliveryAttemptInline]
    actions = ["replay", "send_test_event"]

    @admin.action(description="Replay the selected deliveries (same webhook-id)")
    def replay(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        replayed, refused = 0, []
        for delivery in queryset:
            try:
                services.delivery_replay(delivery=delivery)
                replayed += 1
            except ApiError as exc:
                refused.append(f"{delivery.pk}: {exc.detail}")
        if replayed:
            self.message_user(request, f"{replayed} deliveries queued for replay.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, f"Not replayed: {reason}", messages.WARNING)

    @admin.action(description="Send a test event to the monitor's webhook")
    def send_test_event(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        monitors = {delivery.monitor_id: delivery.monitor for delivery in queryset.select_related("monitor")}
        for monitor in monitors.values():
            attempt = services.delivery_send_test(monitor=monitor)
            outcome = f"HTTP {attempt.status_code}" if attempt.status_code else attempt.error
            level = messages.SUCCESS if attempt.ok else messages.ERROR
            self.message_user(request, f"Test to {monitor}: {outcome} in {attempt.duration_ms} ms", level)


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(_ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("delivery", "number", "started_at", "status_code", "duration_ms", "url", "error")
    list_filter = ("status_code", "started_at")
    search_fields = ("=delivery__webhook_id", "=task_id")
    list_select_related = ("delivery",)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WebhookSecret)
class WebhookSecretAdmin(_ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("fleet", "masked_secret", "created_at", "expires_at")
    list_filter = ("created_at",)
    search_fields = ("fleet__label", "=fleet__id")
    fields = ("fleet", "masked_secret", "created_at", "expires_at")
    readonly_fields = fields
    list_select_related = ("fleet",)

    @admin.display(description="secret")
    def masked_secret(self, secret: WebhookSecret) -> str:
        # Enough to tell two secrets apart, not enough to forge a signature.
        return f"{secret.secret[:10]}…{'*' * 8}"



# --------------------------------------------------------------------------- beside monitors and events

RECENT_DELIVERIES = 10


def deliveries_lane(monitor: Monitor) -> monitors_admin.TimelineLane:
    """The monitor's deliveries by outcome, for the timeline's lane below its events."""
    return monitors_admin.TimelineLane(
        rows=Delivery.objects.filter(monitor=monitor),
        date_field="created_at",
        group_field="state",
        series=(("delivered", "delivered"), ("failed", "failed"), ("pending", "pending")),
        series_of={
            DeliveryState.DELIVERED: "delivered",
            DeliveryState.FAILED: "failed",
            DeliveryState.PENDING: "pending",
            DeliveryState.BATCHING: "pending",
        },
    )


admin.site.unregister(Monitor)


@admin.register(Monitor)
class MonitorAdmin(monitors_admin.MonitorAdmin):
    """The monitor's page with its deliveries: charted below its events, the latest listed."""

    activity_template = "admin/notifications/monitor/activity.html"

    class Media:
        css = {"all": ("notifications/admin.css",)}

    def timeline_lanes(self, monitor: Monitor) -> list[monitors_admin.TimelineLane]:
        return [*super().timeline_lanes(monitor), deliveries_lane(monitor)]

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], add: bool = False, change: bool = False,
        form_url: str = "", obj: Monitor | None = None,
    ) -> HttpResponse:
        if obj is not None:
            latest = Delivery.objects.filter(monitor=obj).order_by("-created_at", "-id")[:RECENT_DELIVERIES]
            context["recent_deliveries"] = list(latest)
            query = urlencode({"monitor__id__exact": obj.pk})
            context["deliveries_url"] = f"{reverse('admin:notifications_delivery_changelist')}?{query}"
        return super().render_change_form(request, context, add, change, form_url, obj)


admin.site.unregister(Event)


@admin.register(Event)
class EventAdmin(monitors_admin.EventAdmin):
    """An event with a link to the delivery that carries it."""

    fields = (*monitors_admin.EventAdmin.fields, "delivery")
    readonly_fields = ("delivery",)

    @admin.display(description="delivery")
    def delivery(self, event: Event) -> str:
        link = getattr(event, "delivery_link", None)
        if link is None:
            return "—"
        url = reverse("admin:notifications_delivery_change", args=[link.delivery_id])
        return format_html('<a href="{}">{}</a>', url, link.delivery)
