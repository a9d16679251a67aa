from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import F, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Coalesce, Now
from django.http import Http404

from fleetmon_project.timeranges import TimeRange
from telemetry.alerts import ALERT_KEY, Alert, AlertPoint, alert_vehicle_id, derive_alerts
from telemetry.models import RECEIVED_AT_SLACK, ApiClient, Fleet, TelemetryPoint, Vehicle, VehicleState
from telemetry.reference import POSITION_KEY, ROWS, SECTIONS
from telemetry.state import LatestState, state_from_row


def vehicles_with_points_pending() -> QuerySet[Vehicle]:
    """Vehicles with points stored past their watermark, annotated with it (`applied_seq`, 0
    for a vehicle never evaluated): reads the vehicles, never the points table."""
    return Vehicle.objects.annotate(applied_seq=Coalesce("state__applied_seq", Value(0))).filter(
        points_stored__gt=F("applied_seq")
    )


def _first_pending_received_at() -> Coalesce:
    """When the oldest point of the outer vehicles_with_points_pending() row not yet applied was
    received. First probed only in the partitions of the hours around its watermark's and now
    (RECEIVED_AT_SLACK), not in every day kept and prepared ahead; then, if that finds nothing
    (a vehicle never evaluated, a host's clock far off), everywhere: the answer is exact, as
    retention relies on it."""
    # Not OuterRef("applied_seq"): inside an aggregate() it compiles to the state row's bare
    # column, NULL for a vehicle never evaluated, instead of the annotation's COALESCE.
    # No ordering: the point is one by (vehicle, seq), and the model's (eventDate, id) had
    # PostgreSQL walk every point of the vehicle by its eventDate index, then sort them, to
    # find it: under a backlog, thousands per vehicle.
    first = TelemetryPoint.objects.filter(
        vehicle_id=OuterRef("pk"), seq=Coalesce(OuterRef("state__applied_seq"), Value(0)) + 1
    ).order_by()
    recent = first.filter(
        received_at__gte=OuterRef("state__applied_received_at") - RECEIVED_AT_SLACK,
        received_at__lt=Now() + RECEIVED_AT_SLACK,
    )
    return Coalesce(Subquery(recent.values("received_at")[:1]), Subquery(first.values("received_at")[:1]))


def vehicles_pending_since(*, cutoff: datetime) -> QuerySet[Vehicle]:
    """Vehicles whose oldest point not yet applied was received by `cutoff`. A scalar subquery,
    one index probe per vehicle behind: as EXISTS, PostgreSQL may plan a semi-join over every
    point received by the cutoff, which under a backlog made the rescue sweep take seconds."""
    return (
        vehicles_with_points_pending()
        .annotate(first_received=_first_pending_received_at())
        .filter(first_received__lte=cutoff)
    )


@dataclass(frozen=True)
class PendingPoints:
    count: int
    oldest_received_at: datetime | None


def points_pending_summary() -> PendingPoints:
    """How many points are stored but not applied, and when the oldest of them arrived."""
    summary = vehicles_with_points_pending().aggregate(
        count=Sum(F("points_stored") - F("applied_seq")),
        oldest=Min(_first_pending_received_at()),
    )
    return PendingPoints(count=summary["count"] or 0, oldest_received_at=summary["oldest"])


def _with_watermark(points: QuerySet[TelemetryPoint] | None) -> QuerySet[TelemetryPoint]:
    points = TelemetryPoint.objects.all() if points is None else points
    return points.annotate(applied_seq=Coalesce("vehicle__state__applied_seq", Value(0)))


def points_pending(points: QuerySet[TelemetryPoint] | None = None) -> QuerySet[TelemetryPoint]:
    """Those of `points` (all of them by default) not yet applied, one by one: for the admin and
    tests. Counting them is points_pending_summary()'s job."""
    return _with_watermark(points).filter(seq__gt=F("applied_seq"))


def points_applied(points: QuerySet[TelemetryPoint] | None = None) -> QuerySet[TelemetryPoint]:
    return _with_watermark(points).filter(seq__lte=F("applied_seq"))


def fleet_list(*, owner: User) -> QuerySet[Fleet]:
    return Fleet.objects.filter(owner=owner).order_by("created_at", "id")


def fleet_get(*, owner: User, fleet_id: str) -> Fleet:
    """Another owner's fleet is indistinguishable from a missing one (404, never 403)."""
    fleet = Fleet.objects.filter(owner=owner, pk=fleet_id).first()
    if fleet is None:
        raise Http404("fleet not found")
    return fleet


def vehicle_list(*, fleet: Fleet, vin_prefix: str | None = None) -> QuerySet[Vehicle]:
    vehicles = fleet.vehicles.order_by("created_at", "id")
    return vehicles.filter(vin__startswith=vin_prefix) if vin_prefix else vehicles


def vehicle_get(*, fleet: Fleet, vehicle_id: str) -> Vehicle:
    vehicle = fleet.vehicles.filter(pk=vehicle_id).first()
    if vehicle is None:
        raise Http404("vehicle not found")
    return vehicle


def api_client_get_active(*, client_id: str) -> ApiClient | None:
    """One query per authenticated request: a deactivated client or a rotated secret is
    seen at once."""
    return (
        ApiClient.objects.select_related("owner")
        .filter(client_id=client_id, is_active=True, owner__is_active=True)
        .first()
    )


def vehicle_get_by_vin(*, owner: User, vin: str) -> Vehicle:
    """A VIN in none of the owner's fleets is unknown, whoever else has it."""
    vehicle = Vehicle.objects.filter(fleet__owner=owner, vin=vin.upper()).first()
    if vehicle is None:
        raise Http404("vehicle not found")
    return vehicle


def vehicle_ids_by_vin(*, owner: User, vins: Collection[str]) -> dict[str, str]:
    """The id of each of `vins` in the owner's fleets, by VIN (once per telemetry request). On
    PostgreSQL with the VINs as one array: an IN list binds each of a batch's VINs in Python.
    Looked up from the array, not by `vin = ANY(vins)` over the table, which a prepared
    statement's generic plan could scan whole, comparing every VIN with every VIN of the batch."""
    if not vins:
        return {}
    if connection.vendor != "postgresql":
        return dict(Vehicle.objects.filter(fleet__owner=owner, vin__in=vins).values_list("vin", "id"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT vehicle.vin, vehicle.id FROM unnest(%s::text[]) AS wanted(vin)
            JOIN {Vehicle._meta.db_table} AS vehicle ON vehicle.vin = wanted.vin
            JOIN {Fleet._meta.db_table} AS fleet ON fleet.id = vehicle.fleet_id
            WHERE fleet.owner_id = %s""",
            [list(vins), owner.pk],
        )
        return dict(cursor.fetchall())


def vin_map(*, fleet: Fleet) -> dict[str, str]:
    """The VIN of each of the fleet's vehicles, by vehicle id."""
    return dict(fleet.vehicles.values_list("pk", "vin"))


def vehicle_state_get(*, vehicle: Vehicle) -> LatestState:
    """What FleetMon knows of the vehicle; an empty state before its first applied point."""
    row = VehicleState.objects.filter(vehicle=vehicle).first()
    return LatestState() if row is None else state_from_row(row)


def vehicle_list_with_state(*, fleet: Fleet) -> QuerySet[Vehicle]:
    """The fleet's vehicles that have reported, with their state row joined (`vehicle_state`
    reads it): one that never did has no status to show."""
    return vehicle_list(fleet=fleet).filter(state__last_seen_at__isnull=False).select_related("state")


def vehicle_state(vehicle: Vehicle) -> LatestState:
    """The state of a vehicle of `vehicle_list_with_state`, without another query."""
    try:
        return state_from_row(vehicle.state)
    except VehicleState.DoesNotExist:
        return LatestState()


def _within(ranges: Sequence[TimeRange]) -> Q:
    condition = Q()
    for time_range in ranges:
        part = Q(event_date__lte=time_range.end)
        if time_range.start is not None:
            part &= Q(event_date__gte=time_range.start)
        condition |= part
    return condition


def telemetry_keys(types: Collection[str] | None) -> list[str]:
    """The data keys a Telemetry item of the TelemetryEnum `types` (all when None) shows: its
    sections' verbatim copies and their table keys (telemetry.reference); a type also selects
    the sections below it (`vehicle` covers `vehicle.kinetic`), as `telemetry_body` does."""
    sections = {
        section
        for section in SECTIONS
        if section.telemetry is not None
        and (types is None or any(section.telemetry == kind or section.telemetry.startswith(kind + ".") for kind in types))
    }
    return sorted({section.key for section in sections} | {row.key for row in ROWS if row.section in sections})


def point_list(
    *, vehicle: Vehicle, ranges: Sequence[TimeRange] | None = None, types: Collection[str] | None = None
) -> QuerySet[TelemetryPoint]:
    """The vehicle's stored points that carry data of the TelemetryEnum `types` (any a
    Telemetry item shows, without), newest first as the reference serves them. By key, in
    SQL, so that a page costs the same whatever the history."""
    points = vehicle.points.filter(data__has_any_keys=telemetry_keys(types)).order_by("-event_date", "-id")
    return points if ranges is None else points.filter(_within(ranges))


def _alert_points(vehicle_ids: Sequence[str] | QuerySet) -> QuerySet:
    return (
        TelemetryPoint.objects.filter(vehicle_id__in=vehicle_ids, data__has_key=ALERT_KEY)
        .annotate(alert=KeyTransform(ALERT_KEY, "data"), extras=KeyTransform(POSITION_KEY, "data"))
        .order_by("vehicle_id", "event_date", "id")
        .values_list("vehicle_id", "event_date", "alert", "latitude", "longitude", "extras")
    )


def _derive(rows: Iterable[tuple[Any, ...]], ranges: Sequence[TimeRange] | None) -> list[Alert]:
    alerts: list[Alert] = []
    for vehicle_id, group in groupby(rows, key=itemgetter(0)):
        points = (AlertPoint(*row[1:]) for row in group)
        alerts.extend(derive_alerts(vehicle_id=vehicle_id, points=points))
    if ranges is not None:
        alerts = [a for a in alerts if any(r.overlaps(a.started_at, a.ended_at) for r in ranges)]
    return sorted(alerts, key=lambda a: (a.started_at, a.type, a.vehicle_id), reverse=True)


def alert_list(*, vehicle: Vehicle, ranges: Sequence[TimeRange] | None = None) -> list[Alert]:
    """The vehicle's alerts active at some instant of `ranges`, newest start first. Derived
    from every point that carries `vehicle.alert`: a start may lie before the ranges."""
    return _derive(_alert_points([vehicle.pk]).iterator(), ranges)


def fleet_alert_list(*, fleet: Fleet, ranges: Sequence[TimeRange] | None = None) -> list[Alert]:
    return _derive(_alert_points(fleet.vehicles.values("pk")).iterator(), ranges)


def alert_get(*, vehicle: Vehicle, alert_id: str) -> Alert:
    for alert in alert_list(vehicle=vehicle):
        if alert.id == alert_id:
            return alert
    raise Http404("alert not found")


def fleet_alert_get(*, fleet: Fleet, alert_id: str) -> tuple[Vehicle, Alert]:
    """An alert id names its vehicle; one of another fleet is not found, like a forged one."""
    vehicle = fleet.vehicles.filter(pk=alert_vehicle_id(alert_id)).first()
    if vehicle is None:
        raise Http404("alert not found")
    return vehicle, alert_get(vehicle=vehicle, alert_id=alert_id)
