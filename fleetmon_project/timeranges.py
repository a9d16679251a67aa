"""The reference's `timestamps` query parameter: up to 10 ISO 8601 time intervals (pure).

Each item is one of `T1/T2`, `T/D` (end = T + D), `D/T` (start = T - D, ISO 8601's other
form), `T/` (up to now), `/T` (no lower limit), or a repetition `Rn/T/D[/d]` / `R/T/D[/d]`:
a range of length `d` (default 24 hours) starting at T, T+D, T+2D… n times, or up to now.
Timestamps are RFC 3339 with an offset; durations may use years and months (calendar
arithmetic, as the reference's own example `P3Y6M4DT12H30M5S` does), and hours without the
`T` (`P6H`, as its repetition example writes them). Ranges are closed.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fleetmon_project.isodates import parse_iso_duration, parse_rfc3339

MAX_ITEMS = 10  # the parameter's maxItems
# Repetitions are expanded into plain ranges; an unbounded `R/…/PT1S` since 1970 must not
# become a billion of them.
MAX_RANGES = 1000
DEFAULT_REPEAT_LENGTH = timedelta(hours=24)
# What the OpenAPI schema states of an item: its shape (dates that exist, ranges in order and
# non-empty durations are checked by parsing).
_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
_SPAN = r"[Pp][0-9YMWDTHSymwdths.,]+"
ITEM_PATTERN = rf"^({_TIME}/({_TIME}|{_SPAN})?|/{_TIME}|{_SPAN}/{_TIME}|[Rr][0-9]{{0,6}}/{_TIME}/{_SPAN}(/{_SPAN})?)$"
_CALENDAR = re.compile(r"^P(?:([0-9]{1,4})Y)?(?:([0-9]{1,6})M)?(.*)$", re.ASCII)
# The reference's own example writes hours without the `T` (`P6H`); M before any H or S stays months.
_MISSING_T = re.compile(r"^(P(?:[0-9]+[YMWD])*)([0-9]+(?:[.,][0-9]+)?[HS].*)$", re.ASCII)
_REPEAT = re.compile(r"^R([0-9]{0,6})$", re.ASCII)


@dataclass(frozen=True)
class TimeRange:
    start: datetime | None  # None: no lower limit
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return (self.start is None or self.start <= moment) and moment <= self.end

    def overlaps(self, start: datetime, end: datetime | None) -> bool:
        """Whether [start, end] (end None: still going on) shares an instant with this range."""
        return start <= self.end and (end is None or self.start is None or self.start <= end)


@dataclass(frozen=True)
class _Duration:
    months: int
    rest: timedelta

    def after(self, moment: datetime, times: int = 1) -> datetime:
        return _add_months(moment, self.months * times) + self.rest * times

    def before(self, moment: datetime) -> datetime:
        return _add_months(moment, -self.months) - self.rest


def _add_months(moment: datetime, months: int) -> datetime:
    if not months:
        return moment
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def _duration(text: str) -> _Duration:
    upper = text.strip().upper()
    if "T" not in upper:
        upper = _MISSING_T.sub(r"\1T\2", upper)
    match = _CALENDAR.match(upper)
    if not match:
        raise ValueError(f"'{text}' is not an ISO 8601 duration such as 'PT4H30M'")
    years, months, rest = match.groups()
    if rest:
        delta = parse_iso_duration("P" + rest)
    elif years or months:
        delta = timedelta(0)
    else:
        raise ValueError(f"'{text}' is not an ISO 8601 duration such as 'PT4H30M'")
    duration = _Duration(months=int(years or 0) * 12 + int(months or 0), rest=delta)
    if not duration.months and not duration.rest:
        raise ValueError(f"'{text}' is an empty duration")
    return duration


def _is_duration(text: str) -> bool:
    return text.strip().upper().startswith("P")


def _interval(first: str, second: str, *, now: datetime) -> TimeRange:
    if not first and not second:
        raise ValueError("'/' needs a start, an end, or both")
    if not second:
        start = parse_rfc3339(first)
        # A start a little ahead of our clock (the client's runs fast) is an empty range, not an error.
        return TimeRange(start, max(start, now))
    if not first:
        return TimeRange(None, parse_rfc3339(second))
    if _is_duration(first):
        end = parse_rfc3339(second)
        return TimeRange(_duration(first).before(end), end)
    start = parse_rfc3339(first)
    end = _duration(second).after(start) if _is_duration(second) else parse_rfc3339(second)
    if end < start:
        raise ValueError(f"'{first}/{second}' ends before it starts")
    return TimeRange(start, end)


def _repetitions(parts: list[str], *, now: datetime) -> list[TimeRange]:
    match = _REPEAT.match(parts[0].upper())
    if not match or len(parts) not in (3, 4) or not all(parts[1:]):
        raise ValueError("a repetition is 'Rn/T/D' or 'Rn/T/D/d' (n optional: up to now)")
    start, period = parse_rfc3339(parts[1]), _duration(parts[2])
    length = _duration(parts[3]) if len(parts) == 4 else _Duration(0, DEFAULT_REPEAT_LENGTH)
    count = int(match.group(1)) if match.group(1) else None
    if count == 0:
        raise ValueError("'R0' repeats nothing: n must be at least 1")
    if count is not None and count > MAX_RANGES:
        raise ValueError(f"at most {MAX_RANGES} repetitions")
    ranges: list[TimeRange] = []
    while count is None or len(ranges) < count:
        begin = period.after(start, len(ranges))
        if count is None and begin > now:
            break
        if len(ranges) == MAX_RANGES:
            raise ValueError(f"repeats more than {MAX_RANGES} times up to now; give a count or a later start")
        ranges.append(TimeRange(begin, length.after(begin)))
    return ranges


def parse_time_range(text: str, *, now: datetime) -> list[TimeRange]:
    """The ranges one item stands for (several for a repetition); ValueError if malformed."""
    parts = text.split("/")
    try:
        if parts[0].strip()[:1] in ("R", "r"):
            return _repetitions([part.strip() for part in parts], now=now)
        if len(parts) == 2:
            return [_interval(parts[0].strip(), parts[1].strip(), now=now)]
    except (OverflowError, ValueError) as exc:  # OverflowError: beyond year 9999
        message = str(exc) if isinstance(exc, ValueError) else "goes beyond the year 9999"
        raise ValueError(f"'{text}': {message}") from None
    raise ValueError(f"'{text}' is not a range such as 'T1/T2', 'T/PT1H', 'T/', '/T' or 'R5/T/P1D/PT2H'")


def parse_time_ranges(texts: Sequence[str], *, now: datetime) -> list[TimeRange]:
    """The union of the items' ranges, merged and sorted (fewer, disjoint ranges to query)."""
    if not 1 <= len(texts) <= MAX_ITEMS:
        raise ValueError(f"from 1 to {MAX_ITEMS} ranges")
    ranges = [time_range for text in texts for time_range in parse_time_range(text, now=now)]
    if len(ranges) > MAX_RANGES:
        raise ValueError(f"at most {MAX_RANGES} ranges once repetitions are expanded")
    ranges.sort(key=lambda r: (r.start is not None, r.start or r.end))
    merged: list[TimeRange] = []
    for current in ranges:
        last = merged[-1] if merged else None
        if last is not None and (current.start is None or current.start <= last.end):
            merged[-1] = TimeRange(last.start, max(last.end, current.end))
        else:
            merged.append(current)
    return merged
