from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from telemetry.models import Fleet, TelemetryPoint, Vehicle, VehicleState


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
    def vehicle_count(self, fleet: Fleet) -> int:
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
    list_display = ("vehicle", "last_seen_at", "latitude", "longitude", "position_at")
    search_fields = ("vehicle__vin",)
    readonly_fields = ("vehicle", "data", "latitude", "longitude", "position_at", "last_seen_at", "updated_at")
    list_select_related = ("vehicle",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(TelemetryPoint)
class TelemetryPointAdmin(admin.ModelAdmin):
    list_display = ("vehicle", "event_date", "received_at", "evaluated_at", "latitude", "longitude")
    list_filter = ("vehicle__fleet", ("evaluated_at", admin.EmptyFieldListFilter), "received_at")
    search_fields = ("vehicle__vin",)
    date_hierarchy = "event_date"
    list_select_related = ("vehicle",)
    readonly_fields = ("vehicle", "event_date", "received_at", "latitude", "longitude", "data", "evaluated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
