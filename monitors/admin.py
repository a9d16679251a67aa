"""Admin for fleet operators: monitors are edited as the API's MonitorParameter and every write
goes through `monitors.services`, so the compiled form, triggers and generation stay consistent."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, cast

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import InlineModelAdmin
from django.db.models import Count, Max, Min, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, Trunc
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from fleetmon_project.isodates import parse_iso_duration
from monitors import services
from monitors.boolexp import CompiledExpression
from monitors.forms import MonitorAdminForm
from monitors.models import (
    DeadLetter,
    Event,
    Monitor,
    MonitorQuerySet,
    MonitorStatus,
    MonitorVehicleState,
    Trigger,
    TriggerKind,
)
from monitors.spec import MonitorSpec
from monitors.views import AdminMonitorBacktestView
from monitors.zones import geojson_polygons

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec
    from django_stubs_ext import WithAnnotations


class EventCounts(TypedDict):
    event_total: int
    last_event: datetime | None

# --------------------------------------------------------------------------- readable triggers


def _time_of_day(offset: timedelta) -> str:
    minutes, seconds = divmod(round(offset.total_seconds()), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


def _duration(duration: timedelta) -> str:
    total = round(duration.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours and minutes and not days and not seconds:
        return f"{hours}h{minutes:02d}"  # the usual "4h30"
    units = ((days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s"))
    return " ".join(f"{count}{unit}" for count, unit in units if count) or "0s"


def _time_entry_summary(entry: dict[str, Any]) -> str:
    if entry["recurrence"] == "None":
        end = f" for {_duration(parse_iso_duration(entry['duration']))}" if "duration" in entry else ", open-ended"
        return f"Once from {entry['start']}{end}"
    text = f"Daily {_time_of_day(parse_iso_duration(entry['start']))} for {_duration(parse_iso_duration(entry['duration']))}"
    occurence = entry.get("occurence", {})
    if occurence.get("day"):
        text += " on " + ", ".join(occurence["day"])
    if occurence.get("week"):
        text += " in weeks " + ", ".join(occurence["week"])
    return text


def trigger_summary(kind: str, params: Mapping[str, Any]) -> str:
    """One line an operator reads at a glance, from a trigger's canonical parameters."""
    if kind == TriggerKind.ZONE:
        where = "Out of" if params["transition"] == "Out" else "In"
        if "polygon" in params:
            return f"{where} {_polygon_summary(params['polygon'])}"
        place = params["place"]
        return (
            f"{where} circle r={place['radius']:g} km around "
            f"{place['center']['latitude']:.4f}, {place['center']['longitude']:.4f}"
        )
    if kind == TriggerKind.TIME:
        return "; ".join(_time_entry_summary(entry) for entry in params["times"]) + f" ({params['timeZone']})"
    values = params.get("value", [])
    if params["op"] == "includedIn":
        return f"{params['data']} includedIn [{', '.join(values)}]"
    return " ".join([params["data"], params["op"], *values])


def _polygon_summary(polygon: dict[str, Any]) -> str:
    parts = geojson_polygons(polygon)
    vertices = sum(len(ring) - 1 for rings in parts for ring in rings)  # a ring repeats its first
    holes = sum(len(rings) - 1 for rings in parts)
    shape = "polygon" if polygon["type"] == "Polygon" else f"{len(parts)} polygons"
    text = f"{shape} of {vertices} vertices"
    return text + (f" with {holes} hole{'s' if holes > 1 else ''}" if holes else "")


# --------------------------------------------------------------------------- readable expression

_EXPRESSION_TOKEN = re.compile(r"[A-Za-z0-9_.]+|[&|!()]")
_OPERATOR_WORDS = {"&": "and", "|": "or", "!": "not"}


def expression_html(source: str) -> SafeString:
    """`a & !(b | c)` as "a and not (b or c)": the same tokens, so nothing is re-interpreted."""
    parts: list[str] = []
    for token in _EXPRESSION_TOKEN.findall(source):
        if token in _OPERATOR_WORDS:
            parts.append(format_html('<strong class="fleetmon-op">{}</strong> ', _OPERATOR_WORDS[token]))
        elif token in "()":
            parts.append(token if token == "(" else ") ")
        else:
            parts.append(format_html("<code>{}</code> ", token))
    return SafeString("".join(parts).replace(" )", ")").strip())  # every part is escaped or a parenthesis


def firing_combinations(monitor: Monitor) -> list[list[tuple[str, bool]]]:
    """Every assignment of trigger values for which the stored truth table fires."""
    expression = CompiledExpression(monitor.bool_exp, tuple(monitor.trigger_names), monitor.truth_table)
    return [
        [(name, bool(bits >> position & 1)) for position, name in enumerate(expression.names)]
        for bits in range(1 << len(expression.names))
        if expression.evaluate_bits(bits)
    ]


def _combination_html(combination: list[tuple[str, bool]]) -> SafeString:
    return SafeString(
        " and ".join(
            format_html("<code>{}</code>", name)
            if value
            else format_html('<strong class="fleetmon-op">not</strong> <code>{}</code>', name)
            for name, value in combination
        )
    )


def zone_shapes(spec: MonitorSpec) -> list[dict[str, Any]]:
    """The zone triggers as the map script draws them: circles, and polygons as GeoJSON."""
    return [_zone_shape(trigger.name, trigger.params) for trigger in spec.triggers if trigger.kind == TriggerKind.ZONE]


def _zone_shape(name: str, zone: Mapping[str, Any]) -> dict[str, Any]:
    shape: dict[str, Any] = {"name": name, "transition": zone["transition"]}
    if "polygon" in zone:
        shape["polygon"] = zone["polygon"]
    else:
        place = zone["place"]
        shape |= {
            "latitude": place["center"]["latitude"],
            "longitude": place["center"]["longitude"],
            "radius_km": place["radius"],
        }
    return shape | {"summary": trigger_summary(TriggerKind.ZONE, zone)}


# --------------------------------------------------------------------------- timeline

TIMELINE_LOOKBACK = timedelta(days=30)
# (Trunc kind, bucket length, buckets, bucket label): the finest grain whose window holds the
# oldest point shown; a fixed bucket count keeps bars the same width from one monitor to the next.
TIMELINE_GRAINS = (
    ("minute", timedelta(minutes=1), 60, "%H:%M"),
    ("hour", timedelta(hours=1), 48, "%d %b %H:00"),
    ("day", timedelta(days=1), 31, "%d %b"),
)
TIMELINE_WIDTH, TIMELINE_LANE = 720, 60


@dataclass(frozen=True)
class TimelineLane:
    """What one side of the timeline charts: a monitor's rows, counted per bucket of
    `date_field` and per series, the series of a row being that of its `group_field`."""

    rows: QuerySet
    date_field: str
    group_field: str
    series: tuple[tuple[str, str], ...]  # (key, label), stacked in this order
    series_of: Mapping[Any, str]  # a value of group_field -> its series key


def events_lane(monitor: Monitor) -> TimelineLane:
    return TimelineLane(
        rows=Event.objects.filter(monitor=monitor),
        date_field="event_date",
        group_field="refresh",
        series=(("events", "events"), ("refreshes", "refreshes")),
        series_of={False: "events", True: "refreshes"},
    )


@dataclass(frozen=True)
class Bar:
    series: str
    x: float
    y: float
    width: float
    height: float
    title: str


def _lane_bars(
    counts: list[dict[str, int]], series: tuple[tuple[str, str], ...], labels: list[str], *, upward: bool
) -> list[Bar]:
    axis = TIMELINE_LANE
    peak = max((sum(bucket.get(key, 0) for key, _ in series) for bucket in counts), default=0) or 1
    width = TIMELINE_WIDTH / len(counts)
    bars = []
    for index, bucket in enumerate(counts):
        stacked = 0.0
        for key, label in series:
            count = bucket.get(key, 0)
            if not count:
                continue
            height = count / peak * (TIMELINE_LANE - 4)
            y = axis - stacked - height if upward else axis + stacked
            bars.append(Bar(key, index * width + 1, y, max(width - 2, 1), height, f"{labels[index]}: {count} {label}"))
            stacked += height
    return bars


def _floor(moment: datetime, step: timedelta) -> datetime:
    """The start of `moment`'s bucket, as Trunc computes it in UTC."""
    seconds = step.total_seconds()
    return datetime.fromtimestamp(moment.timestamp() // seconds * seconds, tz=UTC)


def _timeline_grain(first: datetime, now: datetime) -> tuple[str, timedelta, int, str, datetime]:
    """The finest grain whose window, ending now, holds `first`, and the window's start."""
    for kind, step, buckets, label_format in TIMELINE_GRAINS:
        start = _floor(now, step) - (buckets - 1) * step
        if _floor(first, step) >= start:
            return kind, step, buckets, label_format, start
    # Unreachable within the lookback: 31 daily buckets cover 30 days.
    raise ValueError(f"{first} is older than the timeline's {TIMELINE_LOOKBACK.days} days")


def monitor_timeline(lanes: Sequence[TimelineLane], now: datetime) -> dict[str, Any] | None:
    """The lanes' rows of the last 30 days in time buckets, laid out as SVG bars: the first
    lane's above the axis, the second's (if any) below it."""
    since = now - TIMELINE_LOOKBACK
    recent = [lane.rows.filter(**{f"{lane.date_field}__gte": since}).order_by() for lane in lanes]
    firsts = [rows.aggregate(first=Min(lane.date_field))["first"] for lane, rows in zip(lanes, recent, strict=True)]
    first = min((moment for moment in firsts if moment is not None), default=None)
    if first is None:
        return None
    kind, step, buckets, label_format, start = _timeline_grain(first, now)
    counts: list[dict[str, int]] = [{} for _ in range(buckets)]

    def add(moment: datetime, series: str, count: int) -> None:
        # Vehicle clocks may run ahead of ours: a future eventDate goes in the last bucket.
        index = min(int((moment - start) / step), buckets - 1)
        counts[index][series] = counts[index].get(series, 0) + count

    for lane, rows in zip(lanes, recent, strict=True):
        bucket = Trunc(lane.date_field, kind, tzinfo=UTC)
        for row in rows.values(lane.group_field, bucket=bucket).annotate(n=Count("id")):
            add(row["bucket"], lane.series_of[row[lane.group_field]], row["n"])

    labels = [(start + index * step).strftime(label_format) for index in range(buckets)]
    series = [entry for lane in lanes for entry in lane.series]
    totals = {key: sum(bucket.get(key, 0) for bucket in counts) for key, _ in series}
    return {
        "width": TIMELINE_WIDTH,
        "height": 2 * TIMELINE_LANE,
        "axis": TIMELINE_LANE,
        "bars": [
            bar
            for lane, upward in zip(lanes, (True, False), strict=False)
            for bar in _lane_bars(counts, lane.series, labels, upward=upward)
        ],
        "first_label": labels[0],
        "last_label": labels[-1],
        "grain": kind,
        "legend": [(key, label, totals[key]) for key, label in series],
    }


# --------------------------------------------------------------------------- monitors


class DeletedFilter(admin.SimpleListFilter):
    """Deleted monitors are kept for their history but hidden unless asked for."""

    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("no", "No"), ("yes", "Yes"), ("all", "All")]

    def choices(self, changelist: Any) -> Any:
        # No built-in "All" entry: no parameter means "No" here.
        for lookup, title in self.lookup_choices:
            yield {
                "selected": (self.value() or "no") == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Monitor]) -> QuerySet[Monitor]:
        queryset = cast(MonitorQuerySet, queryset)  # the admin's, from Monitor.objects
        value = self.value() or "no"
        if value == "no":
            return queryset.alive()
        if value == "yes":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class TriggerInline(admin.TabularInline):
    """Read-only: triggers are rows derived from the definition, edited through its JSON."""

    model = Trigger
    extra = 0
    can_delete = False
    fields = ("name", "kind", "summary")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Monitor | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Monitor | None = None) -> bool:
        return False

    @admin.display(description="summary")
    def summary(self, trigger: Trigger) -> str:
        return trigger_summary(trigger.kind, trigger.params)


def _adopt(target: Monitor, saved: Monitor) -> None:
    """The admin logs and redirects with the instance its form built: point it at the row
    the services wrote (a new monitor gets its id there)."""
    for field in Monitor._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin):
    form = MonitorAdminForm
    list_display = (
        "label", "fleet_label", "fleet_owner", "status_display", "trigger_kinds", "event_count", "last_event_at",
    )
    list_filter = ("fleet", "status", "fleet__owner", DeletedFilter)
    search_fields = ("label", "id", "fleet__label")
    list_select_related = ("fleet", "fleet__owner")
    autocomplete_fields = ("fleet",)
    inlines = [TriggerInline]
    actions = ("pause", "resume", "soft_delete")
    # The activity panel of the change page (notifications.admin extends it with deliveries).
    activity_template = "admin/monitors/monitor/timeline.html"
    readonly_fields = ("status_reason", "expression", "id", "generation", "created_at", "updated_at", "deleted_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Monitor]:
        # Subqueries rather than a join: only the page's monitors pay for their counts.
        events = Event.objects.filter(monitor=OuterRef("pk")).order_by()
        return (
            super()
            .get_queryset(request)
            .prefetch_related("triggers")
            .annotate(
                event_total=Coalesce(Subquery(events.values("monitor").annotate(n=Count("id")).values("n")), 0),
                last_event=Subquery(events.values("monitor").annotate(last=Max("event_date")).values("last")),
            )
        )

    def get_fieldsets(self, request: HttpRequest, obj: Monitor | None = None) -> _FieldsetSpec:
        if obj is None:
            return [(None, {"fields": ("label", "fleet", "status")}), ("Definition", {"fields": ("definition",)})]
        return [
            (None, {"fields": ("label", "fleet", "status", "status_reason")}),
            ("Definition", {"fields": ("definition", "expression")}),
            (
                "Bookkeeping",
                {"classes": ("collapse",), "fields": ("id", "generation", "created_at", "updated_at", "deleted_at")},
            ),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Monitor | None = None) -> tuple[str, ...]:
        # The API has no way to move a monitor to another fleet (possibly another owner's).
        return self.readonly_fields + (("fleet",) if obj is not None else ())

    def get_inlines(self, request: HttpRequest, obj: Monitor | None) -> list[type[InlineModelAdmin]]:
        return list(self.inlines) if obj is not None else []  # a new monitor has no triggers to show yet

    def has_change_permission(self, request: HttpRequest, obj: Monitor | None = None) -> bool:
        # A deleted monitor is history: viewable, never edited back into service by accident.
        if obj is not None and obj.deleted_at is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Monitor | None = None) -> bool:
        # Django's delete would cascade to events and deliveries; `soft_delete` keeps them.
        return False

    def save_model(self, request: HttpRequest, obj: Monitor, form: MonitorAdminForm, change: bool) -> None:
        status = form.cleaned_data.get("status", obj.status)
        if change:
            monitor = obj
            if form.definition_changed:
                monitor = services.monitor_replace(monitor=obj, definition=form.parsed_definition)
            if "status" in form.changed_data:
                monitor = services.monitor_set_status(monitor=monitor, status=status)
        else:
            monitor = services.monitor_create(fleet=form.cleaned_data["fleet"], definition=form.parsed_definition)
            if status != monitor.status:
                monitor = services.monitor_set_status(monitor=monitor, status=status)
        _adopt(obj, monitor)

    def get_urls(self) -> list[URLPattern]:
        backtest = self.admin_site.admin_view(AdminMonitorBacktestView.as_view())
        return [
            path("<str:monitor_id>/backtest/", backtest, name="monitors_monitor_backtest"),
            *super().get_urls(),
        ]

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], add: bool = False, change: bool = False,
        form_url: str = "", obj: Monitor | None = None,
    ) -> HttpResponse:
        context["zone_shapes"] = zone_shapes(obj.spec) if obj is not None else []
        if obj is not None:
            context["backtest_url"] = reverse("admin:monitors_monitor_backtest", args=[obj.pk])
            context["activity_template"] = self.activity_template
            context["timeline"] = monitor_timeline(self.timeline_lanes(obj), timezone.now())
            query = urlencode({"monitor__id__exact": obj.pk})
            context["events_url"] = f"{reverse('admin:monitors_event_changelist')}?{query}"
        return super().render_change_form(request, context, add, change, form_url, obj)

    def timeline_lanes(self, monitor: Monitor) -> list[TimelineLane]:
        """What the activity timeline charts: the first lane above its axis, a second below."""
        return [events_lane(monitor)]

    # ---- columns and read-only fields

    @admin.display(description="fleet", ordering="fleet__label")
    def fleet_label(self, monitor: Monitor) -> str:
        return monitor.fleet.label  # without the id Fleet.__str__ adds: the column stays narrow

    @admin.display(description="owner", ordering="fleet__owner__username")
    def fleet_owner(self, monitor: Monitor) -> str:
        return monitor.fleet.owner.get_username()

    @admin.display(description="status", ordering="status")
    def status_display(self, monitor: Monitor) -> str:
        return "Deleted" if monitor.deleted_at is not None else monitor.status

    @admin.display(description="triggers")
    def trigger_kinds(self, monitor: Monitor) -> str:
        return ", ".join(dict.fromkeys(trigger.kind for trigger in monitor.triggers.all()))

    @admin.display(description="events", ordering="event_total")
    def event_count(self, monitor: WithAnnotations[Monitor, EventCounts]) -> int:
        return monitor.event_total

    @admin.display(description="last event", ordering="last_event")
    def last_event_at(self, monitor: WithAnnotations[Monitor, EventCounts]) -> datetime | None:
        return monitor.last_event

    @admin.display(description="expression")
    def expression(self, monitor: Monitor) -> SafeString:
        combinations = firing_combinations(monitor)
        return format_html(
            '<div class="fleetmon-expression">{}</div>'
            '<details class="fleetmon-combinations"><summary>Fires for {} of {} combinations of trigger values'
            "</summary><ul>{}</ul></details>",
            expression_html(monitor.bool_exp),
            len(combinations),
            1 << len(monitor.trigger_names),
            format_html_join("", "<li>{}</li>", ((_combination_html(combination),) for combination in combinations)),
        )

    # ---- actions

    def _set_status(self, request: HttpRequest, queryset: MonitorQuerySet, status: str, verb: str) -> None:
        changed = unchanged = 0
        for monitor in queryset.alive():
            before = monitor.status
            if services.monitor_set_status(monitor=monitor, status=status).status == before:
                unchanged += 1
            else:
                changed += 1
        skipped = queryset.count() - changed - unchanged
        message = f"{verb} {changed} monitor(s)"
        if unchanged:
            message += f"; {unchanged} unchanged"
        if skipped:
            message += f"; {skipped} deleted monitor(s) left alone"
        self.message_user(request, message + ".", messages.SUCCESS)

    @admin.action(description="Pause selected monitors", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: MonitorQuerySet) -> None:
        self._set_status(request, queryset, MonitorStatus.PAUSED, "Paused")

    @admin.action(description="Resume selected monitors", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: MonitorQuerySet) -> None:
        self._set_status(request, queryset, MonitorStatus.RUNNING, "Resumed")

    @admin.action(description="Delete selected monitors (keeps their events and deliveries)", permissions=["change"])
    def soft_delete(self, request: HttpRequest, queryset: MonitorQuerySet) -> TemplateResponse | None:
        monitors = list(queryset.alive())
        if request.POST.get("confirm") != "yes":
            # Deleting cannot be undone through the API: ask first, like Django's own delete.
            return TemplateResponse(
                request,
                "admin/monitors/monitor/soft_delete_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Delete monitors?",
                    "opts": self.model._meta,
                    "monitors": monitors,
                    "action_checkbox_name": ACTION_CHECKBOX_NAME,
                },
            )
        for monitor in monitors:
            services.monitor_delete(monitor=monitor)
        self.message_user(request, f"Deleted {len(monitors)} monitor(s); their events and deliveries are kept.")
        return None


# --------------------------------------------------------------------------- history (read-only)


class ReadOnlyAdmin(admin.ModelAdmin):
    """What the engine recorded: browsable, never edited or removed by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("monitor", "vin", "event_date", "refresh", "created_at")
    list_filter = ("fleet", "monitor", "refresh")
    search_fields = ("vin",)
    date_hierarchy = "event_date"
    list_select_related = ("monitor",)
    fields: ClassVar[tuple[str, ...]] = (
        "monitor", "fleet", "vin", "vehicle_public_id", "event_date", "refresh", "values", "extensions", "created_at",
    )


@admin.register(MonitorVehicleState)
class MonitorVehicleStateAdmin(ReadOnlyAdmin):
    list_display = ("monitor", "vin", "value", "since", "last_notified_at", "generation")
    list_filter = ("monitor__fleet", "value")
    search_fields = ("vehicle__vin", "monitor__label")
    list_select_related = ("monitor", "vehicle")

    @admin.display(description="VIN", ordering="vehicle__vin")
    def vin(self, state: MonitorVehicleState) -> str:
        return state.vehicle.vin


class GivenUpFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("given_up", "Given up"), ("retrying", "Retrying")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> QuerySet[DeadLetter]:
        if self.value() == "given_up":
            return queryset.filter(given_up_at__isnull=False)
        if self.value() == "retrying":
            return queryset.filter(given_up_at__isnull=True)
        return queryset


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    """Evaluations that kept failing. Replay is the one way out: a row removed by hand would
    release its vehicle to the point rescue, which would count its failures from zero unseen."""

    list_display = ("kind", "fleet", "subject", "state", "attempts", "first_failed_at", "last_failed_at", "error_line")
    list_filter = (GivenUpFilter, "kind", "fleet")
    search_fields = ("vehicle__vin", "vehicle__id", "error")
    list_select_related = ("fleet", "vehicle")
    actions = ("replay",)
    fields = (
        "kind", "fleet", "vehicle", "vehicle_ids", "monitor_ids", "at", "attempts", "first_failed_at",
        "last_failed_at", "retry_at", "given_up_at", "error", "traceback_text",
    )
    readonly_fields = ("traceback_text",)

    @admin.display(description="vehicle(s)")
    def subject(self, letter: DeadLetter) -> str:
        if letter.vehicle is not None:
            return letter.vehicle.vin
        return f"{len(letter.vehicle_ids)} vehicles"

    @admin.display(description="state", ordering="given_up_at")
    def state(self, letter: DeadLetter) -> str:
        return "given up" if letter.given_up_at else "retrying"

    @admin.display(description="error")
    def error_line(self, letter: DeadLetter) -> str:
        return letter.error.splitlines()[0][:120] if letter.error else ""

    @admin.display(description="traceback")
    def traceback_text(self, letter: DeadLetter) -> SafeString:
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', letter.traceback)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.action(description="Replay selected dead letters (evaluate their points again)", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        count = services.dead_letter_replay(dead_letters=queryset)
        self.message_user(request, f"Replayed {count} dead letter(s); their evaluations are queued.", messages.SUCCESS)
