"""Tests of fleetmon_project.isodates: every unusable text is a ValueError, never an OverflowError."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetmon_project.isodates import parse_iso_duration, parse_rfc3339


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT14H30M", timedelta(hours=14, minutes=30)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P999999999D", timedelta(days=999_999_999)),  # timedelta's own maximum
        ("PT1.5S", timedelta(seconds=1.5)),
    ],
)
def test_durations_are_parsed(text: str, expected: timedelta) -> None:
    assert parse_iso_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("P1000000000D", "too long a duration"),
        ("P9999999999D", "too long a duration"),
        ("PT99999999999999999999S", "too long a duration"),
        ("PT" + "9" * 400 + "S", "too long a duration"),  # float('9' * 400) is inf
        ("P1M", "years and months are not supported"),
        ("4h30", "is not an ISO-8601 duration"),
    ],
    ids=lambda value: value[:24] if isinstance(value, str) else None,
)
def test_unusable_durations_raise_value_error(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_iso_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-03T12:00:00+01:00", datetime(2026, 1, 3, 11, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("0001-01-01T00:00:00-23:59", datetime(1, 1, 1, 23, 59, tzinfo=UTC)),
        ("9999-12-31T23:59:59+01:00", datetime(9999, 12, 31, 22, 59, 59, tzinfo=UTC)),
    ],
)
def test_date_times_are_parsed(text: str, expected: datetime) -> None:
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0001-01-01T00:00:00+23:59", "outside the years 1 to 9999"),
        ("0001-01-01T00:00:00+00:01", "outside the years 1 to 9999"),
        ("9999-12-31T23:59:59-01:00", "outside the years 1 to 9999"),
        ("2026-13-03T12:00:00Z", "is not a valid date-time"),
        ("2026-01-03T12:00:00", "is not an RFC 3339 date-time"),
    ],
)
def test_unusable_date_times_raise_value_error(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_rfc3339(text)


@pytest.mark.parametrize("text", ["PT٥M", "PT²M", "P１D", "PT1.٥S"])
def test_durations_in_other_scripts_digits_are_refused(text):
    with pytest.raises(ValueError, match="is not an ISO-8601 duration"):
        parse_iso_duration(text)


def test_ascii_duration_still_parses():
    assert parse_iso_duration("PT4H30M") == timedelta(hours=4, minutes=30)


@pytest.mark.parametrize("text", ["٢٠٢٦-01-03T12:00:00+01:00", "2026-01-03T12:00:00+0١:00", "2026-01-0³T12:00:00Z"])
def test_timestamps_in_other_scripts_digits_are_refused(text):
    with pytest.raises(ValueError, match="is not an RFC 3339 date-time"):
        parse_rfc3339(text)


def test_timestamps_come_back_in_utc_whatever_their_offset():
    # PostgreSQL refuses to store an offset past ±15:59; RFC 3339 allows up to ±23:59.
    parsed = parse_rfc3339("2026-01-03T12:00:00+22:25")
    assert parsed == datetime(2026, 1, 2, 13, 35, tzinfo=UTC) and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_timestamps_outside_the_utc_calendar_are_refused(text):
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        parse_rfc3339(text)
