from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from telemetry.models import ApiClient, Fleet, TelemetryPoint, Vehicle, VehicleState
from telemetry.selectors import points_applied, points_pending
from telemetry.services import api_client_deactivate, api_client_rotate_secret

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class VehicleTotal(TypedDict):
    vehicle_total: int


class VehicleInline(admin.TabularInline):
    model = Vehicle
    extra = 0
    fields = ("vin", "id", "created_at")
    readonly_fields = ("id", "created_at")
    show_change_link = True


@admin.register(Fleet)
class FleetAdmin(admin.ModelAdmin):
    list_display = ("label", "id", "owner", "vehicle_count", "created_at")
    list_filter = ("owner", "created_at")
    search_fields = ("label", "id", "owner__username", "vehicles__vin")
    readonly_fields = ("id", "created_at", "updated_at")
    inlines = [VehicleInline]
    autocomplete_fields = ("owner",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Fleet]:
        # Aggregating drops the default ordering; autocomplete pagination needs a stable one.
        return super().get_queryset(request).annotate(vehicle_total=Count("vehicles")).order_by("created_at", "id")

    @admin.display(description="vehicles", ordering="vehicle_total")
    def vehicle_count(self, fleet: WithAnnotations[Fleet, VehicleTotal]) -> int:
        return fleet.vehicle_total


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    list_display = ("vin", "id", "fleet", "fleet_owner", "created_at")
    list_filter = ("fleet", "fleet__owner")
    search_fields = ("vin", "id", "fleet__label")
    readonly_fields = ("id", "created_at")
    list_select_related = ("fleet", "fleet__owner")
    autocomplete_fields = ("fleet",)

    @admin.display(description="owner", ordering="fleet__owner__username")
    def fleet_owner(self, vehicle: Vehicle) -> str:
        return vehicle.fleet.owner.get_username()


@admin.register(VehicleState)
class VehicleStateAdmin(admin.ModelAdmin):
    list_display = ("vehicle", "last_seen_at", "latitude", "longitude", "position_at", "applied_seq")
    search_fields = ("vehicle__vin",)
    readonly_fields = (
        "vehicle", "data", "latitude", "longitude", "position_at", "last_seen_at", "applied_seq", "updated_at"
    )
    list_select_related = ("vehicle",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class AppliedFilter(admin.SimpleListFilter):
    title = "applied"
    parameter_name = "applied"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No (waiting for the engine)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[TelemetryPoint]) -> QuerySet[TelemetryPoint]:
        if self.value() == "no":
            return points_pending(queryset)
        if self.value() == "yes":
            return points_applied(queryset)
        return queryset


@admin.register(TelemetryPoint)
class TelemetryPointAdmin(admin.ModelAdmin):
    list_display = ("vehicle", "seq", "event_date", "received_at", "applied", "latitude", "longitude")
    list_filter = ("vehicle__fleet", AppliedFilter, "received_at")
    search_fields = ("vehicle__vin",)
    date_hierarchy = "event_date"
    list_select_related = ("vehicle__state",)
    readonly_fields = ("vehicle", "seq", "event_date", "received_at", "latitude", "longitude", "data", "applied")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: TelemetryPoint | None = None) -> bool:
        # A point deleted before it is applied would leave its vehicle waiting for it for ever;
        # points go with their retention (FLEETMON_TELEMETRY_RETENTION) or their vehicle.
        return False

    @admin.display(boolean=True, description="applied")
    def applied(self, point: TelemetryPoint) -> bool:
        state = getattr(point.vehicle, "state", None)
        return state is not None and point.seq <= state.applied_seq


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    """The secret is generated here and shown once, in the message after saving: only its
    hash is stored. Lost, it is replaced with the rotate action."""

    list_display = ("client_id", "owner", "label", "is_active", "created_at", "last_used_at")
    list_filter = ("is_active", "owner")
    search_fields = ("client_id", "label", "owner__username")
    fields = ("owner", "label", "is_active", "client_id", "created_at", "last_used_at")
    readonly_fields = ("client_id", "created_at", "last_used_at")
    list_select_related = ("owner",)
    autocomplete_fields = ("owner",)
    actions = ("rotate_secret", "deactivate")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiClient | None = None) -> tuple[str, ...]:
        # The owner is who the client acts as: moving it would hand one tenant's credentials to another.
        return self.readonly_fields + (("owner",) if obj is not None else ())

    def save_model(self, request: HttpRequest, obj: ApiClient, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        secret = api_client_rotate_secret(client=obj)
        self._show_secret(request, obj, secret)

    def _show_secret(self, request: HttpRequest, client: ApiClient, secret: str) -> None:
        self.message_user(
            request,
            f"client_id {client.client_id}, secret {secret} (user {client.owner.get_username()}). "
            "Copy the secret now: it is not stored and will not be shown again.",
            messages.SUCCESS,
        )

    @admin.action(description="Rotate the secret of the selected API clients (the old one stops working)")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        for client in queryset.select_related("owner"):
            self._show_secret(request, client, api_client_rotate_secret(client=client))

    @admin.action(description="Deactivate the selected API clients")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        count = api_client_deactivate(clients=queryset)
        self.message_user(request, f"Deactivated {count} API client(s); they are refused from now on.", messages.SUCCESS)
