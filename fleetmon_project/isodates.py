"""ISO-8601 durations and RFC 3339 timestamps, as the Stellantis contract writes them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# P[n]Y[n]M[n]DT[n]H[n]M[n]S; years and months have no fixed length, so they are refused
# rather than guessed (the reference only ever uses days and below). Both patterns are ASCII:
# \d would also match other scripts' digits, which float() then reads ('PT٥M' as five minutes).
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$",
    re.ASCII,
)
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$",
    re.ASCII,
)


def parse_iso_duration(text: str) -> timedelta:
    """Parse an ISO-8601 duration such as `PT14H30M` or `P1DT2H`; raise ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError("must be an ISO-8601 duration string such as 'PT4H30M'")
    match = _DURATION.match(text.strip().upper())
    if not match:
        raise ValueError(
            f"'{text}' is not an ISO-8601 duration such as 'PT4H30M' (years and months are not supported)"
        )
    parts = {name: float(value.replace(",", ".")) for name, value in match.groupdict().items() if value}
    try:
        return timedelta(**parts)
    except OverflowError:  # beyond timedelta's 999,999,999 days: callers expect ValueError only
        raise ValueError(f"'{text}' is too long a duration") from None


def parse_rfc3339(text: object) -> datetime:
    """Parse an RFC 3339 timestamp that carries its UTC offset, into UTC; raise ValueError
    otherwise. UTC because PostgreSQL refuses offsets past ±15:59, which RFC 3339 allows."""
    if not isinstance(text, str) or not _RFC3339.match(text.strip()):
        raise ValueError(
            f"'{text}' is not an RFC 3339 date-time with an offset, such as '2026-01-03T12:00:00+01:00'"
        )
    normalized = text.strip().replace("z", "Z").replace("t", "T").replace(" ", "T", 1)
    try:
        return datetime.fromisoformat(normalized).astimezone(UTC)
    except ValueError as exc:  # e.g. month 13: the shape matched but the date does not exist
        raise ValueError(f"'{text}' is not a valid date-time: {exc}") from None
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        raise ValueError(f"'{text}' is outside the years 1 to 9999 in UTC") from None


def format_rfc3339(moment: datetime) -> str:
    """UTC with milliseconds and a `Z`, the form our API and webhooks emit."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
