from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from fleetmon_project.isodates import parse_iso_duration, parse_rfc3339


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
    assert parsed == datetime(2026, 1, 2, 13, 35, tzinfo=timezone.utc) and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_timestamps_outside_the_utc_calendar_are_refused(text):
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        parse_rfc3339(text)
