"""Time windows of a monitor's ``time`` trigger: membership and the next open/close instant.

A trigger lists entries in one time zone (default Europe/Paris):

* ``Daily``: on each local calendar date D whose ISO weekday is in ``occurence.day`` and
  whose ISO week number (``D.isocalendar().week``) is in ``occurence.week`` (each filter
  absent or empty = no restriction), a window opens at local wall time D 00:00 + ``start``
  and closes at the wall time ``duration`` later, which may fall on D+1 or beyond. The
  arithmetic is on wall clocks, so a 01:00–04:00 window stays 01:00–04:00 on DST days
  and lasts two or four real hours then. A Daily entry without ``duration`` is empty.
* ``None``: one absolute interval [start, start + duration), or [start, ∞) without duration.

Every window is half-open: an instant is inside iff ``open <= instant < close``.

Range: the definition validator keeps a Daily ``duration`` within ``MAX_DAILY_DURATION`` and
absolute windows within [``EARLIEST_INSTANT``, ``LATEST_INSTANT``], far from the limits of
``datetime`` (years 1–9999), so no computation here overflows. The instants asked about come
from vehicle clocks, which may be wildly wrong: Daily windows are computed only between
``DAILY_FIRST_INSTANT`` and ``DAILY_LAST_INSTANT`` (year 1 plus ten days to about year
9991); an instant outside lies in no Daily window.

DST: wall times are resolved with ``fold=0`` (PEP 495). In a spring-forward gap that maps
a nonexistent time forward by the gap's length (02:30 on 2026-03-29 in Europe/Paris is
03:30 CEST); in an autumn overlap it picks the first occurrence (02:30 on 2026-10-25 is
02:30 CEST, not CET). A window whose resolved close is not after its resolved open (only
possible when a gap swallows it, e.g. 02:30 + PT1H on a spring-forward day) lasts its
duration from its resolved open instead (03:30-04:30 CEST), so no day loses its window.

Nothing here reads the clock: every function takes the instant it is about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from fleetmon_project.isodates import parse_iso_duration, parse_rfc3339

DEFAULT_TIME_ZONE = "Europe/Paris"
ALL_DAYS: frozenset[int] = frozenset(range(1, 8))
ALL_WEEKS: frozenset[int] = frozenset(range(1, 54))
DAY_NAMES: dict[str, int] = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}

_WEEK_ITEM = re.compile(r"^w(\d+)(?:-w(\d+))?$", re.ASCII)
# Week 53 exists in at most one year out of five (gaps between such years reach seven
# years), so eight years of dates always reach the next window of a valid entry; the
# horizon only bounds the loop.
_SCAN_HORIZON = timedelta(days=8 * 366)

# A Daily window longer than a week is never needed: with one weekday it already covers the
# whole week, and a longer stretch is the same window repeated over a range of weeks
# (`w10-w12`). It also bounds how far back `_first_date_covering` scans.
MAX_DAILY_DURATION = timedelta(days=7)
# Absolute windows: no real schedule starts before the Unix epoch or ends after year 9000,
# and the thousand years left before datetime's limit absorb every offset and scan.
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(9000, 1, 1, tzinfo=UTC)
# Daily windows are computed by local date from a few days before the instant asked about
# (the longest window, a start below a day, a day of UTC offset) to _SCAN_HORIZON after it.
_DAILY_MARGIN = MAX_DAILY_DURATION + timedelta(days=3)
DAILY_FIRST_INSTANT = datetime.min.replace(tzinfo=UTC) + _DAILY_MARGIN
DAILY_LAST_INSTANT = datetime.max.replace(tzinfo=UTC) - _SCAN_HORIZON - _DAILY_MARGIN


@dataclass(frozen=True)
class DailyWindow:
    start: timedelta  # wall-clock offset from local midnight, below 24 h
    duration: timedelta
    days: frozenset[int]  # ISO weekdays, 1 = Monday
    weeks: frozenset[int]  # ISO week numbers 1–53


@dataclass(frozen=True)
class AbsoluteWindow:
    start: datetime  # UTC
    end: datetime | None  # UTC; None = never closes


@dataclass(frozen=True)
class TimeTriggerSpec:
    zone: ZoneInfo
    daily: tuple[DailyWindow, ...]
    absolute: tuple[AbsoluteWindow, ...]


def parse_weeks(items: Iterable[str]) -> frozenset[int]:
    """ISO week numbers from items such as ``w30`` or ``w1-w25`` (case-insensitive)."""
    weeks: set[int] = set()
    for item in items:
        match = _WEEK_ITEM.match(item.strip().lower()) if isinstance(item, str) else None
        if match is None:
            raise ValueError(f"week {item!r} must look like 'w12' or 'w1-w25'")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        for number in (first, last):
            if not 1 <= number <= 53:
                raise ValueError(f"week {item!r}: week numbers go from w1 to w53")
        if first > last:
            raise ValueError(f"week range {item!r} ends before it starts")
        weeks.update(range(first, last + 1))
    return frozenset(weeks)


def parse_days(items: Iterable[str]) -> frozenset[int]:
    """ISO weekdays from names such as ``Mon`` or ``sun`` (case-insensitive)."""
    days: set[int] = set()
    for item in items:
        number = DAY_NAMES.get(item.strip().lower()) if isinstance(item, str) else None
        if number is None:
            raise ValueError(f"day {item!r} must be one of Mon, Tue, Wed, Thu, Fri, Sat, Sun")
        days.add(number)
    return frozenset(days)


def parse_time_trigger(time: Mapping) -> TimeTriggerSpec:
    """The spec of a canonical ``time`` trigger; raises ValueError on malformed entries."""
    zone = ZoneInfo(time.get("timeZone") or DEFAULT_TIME_ZONE)
    daily: list[DailyWindow] = []
    absolute: list[AbsoluteWindow] = []
    for entry in time.get("times") or ():
        duration = parse_iso_duration(entry["duration"]) if entry.get("duration") else None
        if entry.get("recurrence") == "Daily":
            start = parse_iso_duration(entry["start"])
            if start >= timedelta(days=1):
                raise ValueError(f"daily start {entry['start']!r} must be below 24 hours")
            occurrence = entry.get("occurence") or {}
            daily.append(
                DailyWindow(
                    start=start,
                    duration=duration or timedelta(0),
                    days=parse_days(occurrence.get("day") or ()) or ALL_DAYS,
                    weeks=parse_weeks(occurrence.get("week") or ()) or ALL_WEEKS,
                )
            )
        else:
            start_at = parse_rfc3339(entry["start"]).astimezone(UTC)
            absolute.append(AbsoluteWindow(start=start_at, end=start_at + duration if duration is not None else None))
    return TimeTriggerSpec(zone=zone, daily=tuple(daily), absolute=tuple(absolute))


def is_within(spec: TimeTriggerSpec, instant: datetime) -> bool:
    """Whether the timezone-aware ``instant`` lies in one of the spec's windows."""
    for window in spec.absolute:
        if window.start <= instant and (window.end is None or instant < window.end):
            return True
    if not DAILY_FIRST_INSTANT <= instant <= DAILY_LAST_INSTANT:
        return False
    for daily in spec.daily:
        for opens, closes in _daily_occurrences(daily, spec.zone, _first_date_covering(daily, spec.zone, instant)):
            if opens > instant:
                break
            if instant < closes:
                return True
    return False


def next_boundary(spec: TimeTriggerSpec, after: datetime) -> datetime | None:
    """The earliest window open or close instant strictly after ``after`` (UTC), or None."""
    candidates: list[datetime] = []
    for window in spec.absolute:
        candidates.extend(edge for edge in (window.start, window.end) if edge is not None and edge > after)
    daily = spec.daily if after <= DAILY_LAST_INSTANT else ()
    scan_from = max(after, DAILY_FIRST_INSTANT)
    for daily_window in daily:
        occurrences = _daily_occurrences(daily_window, spec.zone, _first_date_covering(daily_window, spec.zone, scan_from))
        for opens, closes in occurrences:
            if opens > after:
                # Windows of later dates open and close at least ~a day after this open.
                candidates.append(opens)
                break
            if closes > after:
                candidates.append(closes)
    return min(candidates) if candidates else None


def _first_date_covering(window: DailyWindow, zone: ZoneInfo, instant: datetime) -> date:
    """A local date early enough that no window opening before it is still open at ``instant``."""
    # One spare day each for the start below 24 h and for DST shifts of the close.
    return instant.astimezone(zone).date() - timedelta(days=window.duration.days + 2)


def _daily_occurrences(window: DailyWindow, zone: ZoneInfo, first: date) -> Iterator[tuple[datetime, datetime]]:
    """(open, close) UTC pairs of ``window``, by local date from ``first`` on."""
    day = first
    horizon = first + _SCAN_HORIZON
    while day <= horizon:
        iso = day.isocalendar()
        if iso.week not in window.weeks:
            day += timedelta(days=8 - iso.weekday)  # straight to next Monday
            continue
        if iso.weekday in window.days:
            opens_wall = datetime(day.year, day.month, day.day) + window.start
            opens, closes = _resolve(opens_wall, zone), _resolve(opens_wall + window.duration, zone)
            # A gap can swallow a short window whole (02:30 + PT1H on a spring-forward day
            # resolves to 03:30-03:30): it then lasts its duration rather than vanish that day.
            yield opens, closes if closes > opens else opens + window.duration
        day += timedelta(days=1)


def _resolve(wall: datetime, zone: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
