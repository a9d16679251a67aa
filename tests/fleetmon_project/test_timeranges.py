"""Tests of fleetmon_project.timeranges: the reference's `timestamps` forms, pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from fleetmon_project.timeranges import ITEM_PATTERN, MAX_RANGES, TimeRange, parse_time_range, parse_time_ranges

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2018-01-01T09:00:00+01:00/2018-01-01T12:00:00+01:00",
            TimeRange(utc(2018, 1, 1, 8), utc(2018, 1, 1, 11)),
        ),
        ("2018-01-03T12:00:00Z/PT12H30M", TimeRange(utc(2018, 1, 3, 12), utc(2018, 1, 4, 0, 30))),
        # The reference's own example: years and months are calendar arithmetic.
        (
            "2018-01-03T12:00:00+01:00/P3Y6M4DT12H30M5S",
            TimeRange(utc(2018, 1, 3, 11), utc(2021, 7, 7, 23, 30, 5)),
        ),
        ("2018-01-31T00:00:00Z/P1M", TimeRange(utc(2018, 1, 31), utc(2018, 2, 28))),
        # As the reference's own example writes hours: without the T.
        ("2018-01-03T12:00:00Z/P1D6H", TimeRange(utc(2018, 1, 3, 12), utc(2018, 1, 4, 18))),
        ("2018-01-03T12:00:00Z/P1M6H", TimeRange(utc(2018, 1, 3, 12), utc(2018, 2, 3, 18))),
        ("2018-01-03T12:00:00Z/", TimeRange(utc(2018, 1, 3, 12), NOW)),
        ("/2018-01-03T12:00:00Z", TimeRange(None, utc(2018, 1, 3, 12))),
        ("PT2H/2018-01-03T12:00:00Z", TimeRange(utc(2018, 1, 3, 10), utc(2018, 1, 3, 12))),
        ("2026-05-01T12:00:05Z/", TimeRange(utc(2026, 5, 1, 12, 0, 5), utc(2026, 5, 1, 12, 0, 5))),
    ],
)
def test_intervals_are_read_as_the_reference_describes(text, expected):
    assert parse_time_range(text, now=NOW) == [expected]


def test_repetition_starts_every_period_with_ranges_of_the_given_length():
    ranges = parse_time_range("R3/2018-01-03T12:00:00Z/P1D/PT2H", now=NOW)
    assert ranges == [
        TimeRange(utc(2018, 1, 3, 12), utc(2018, 1, 3, 14)),
        TimeRange(utc(2018, 1, 4, 12), utc(2018, 1, 4, 14)),
        TimeRange(utc(2018, 1, 5, 12), utc(2018, 1, 5, 14)),
    ]


def test_repetition_length_defaults_to_24_hours():
    assert parse_time_range("R1/2018-01-03T12:00:00Z/PT6H", now=NOW) == [
        TimeRange(utc(2018, 1, 3, 12), utc(2018, 1, 4, 12))
    ]


def test_unbounded_repetition_runs_up_to_now():
    ranges = parse_time_range("R/2026-04-28T12:00:00Z/P1D/PT1H", now=NOW)
    assert [r.start for r in ranges] == [utc(2026, 4, 28, 12), utc(2026, 4, 29, 12), utc(2026, 4, 30, 12), NOW]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2018-01-01T09:00:00Z", "is not a range"),
        ("/", "needs a start, an end, or both"),
        ("2018-01-02T00:00:00Z/2018-01-01T00:00:00Z", "ends before it starts"),
        ("2018-01-01T09:00:00/", "RFC 3339"),  # no offset
        ("yesterday/", "RFC 3339"),
        ("2018-01-01T09:00:00Z/P", "not an ISO 8601 duration"),
        ("2018-01-01T09:00:00Z/PT0S", "empty duration"),
        ("2018-01-01T09:00:00Z/P1X", "not an ISO-8601 duration"),
        ("9999-12-01T00:00:00Z/P2M", "year 10000 is out of range"),
        ("9999-12-01T00:00:00Z/P100D", "beyond the year 9999"),
        ("R0/2018-01-01T09:00:00Z/P1D", "R0"),
        ("R2/2018-01-01T09:00:00Z", "a repetition is"),
        ("RX/2018-01-01T09:00:00Z/P1D", "a repetition is"),
        (f"R{MAX_RANGES + 1}/2018-01-01T09:00:00Z/P1D", f"at most {MAX_RANGES} repetitions"),
        ("R/2000-01-01T00:00:00Z/PT1M", f"more than {MAX_RANGES} times"),
        ("a/b/c", "is not a range"),
    ],
)
def test_malformed_items_are_value_errors_quoting_the_item(text, fragment):
    with pytest.raises(ValueError, match=r"'") as error:
        parse_time_range(text, now=NOW)
    assert fragment in str(error.value)
    assert text in str(error.value)


def test_several_items_are_merged_into_disjoint_sorted_ranges():
    ranges = parse_time_ranges(
        [
            "2018-01-05T00:00:00Z/PT1H",
            "/2018-01-01T00:00:00Z",
            "2018-01-03T00:00:00Z/P1D",
            "2018-01-03T12:00:00Z/P2D",
            "/2017-06-01T00:00:00Z",
        ],
        now=NOW,
    )
    assert ranges == [
        TimeRange(None, utc(2018, 1, 1)),
        TimeRange(utc(2018, 1, 3), utc(2018, 1, 5, 12)),
    ]


@pytest.mark.parametrize("count", [0, 11])
def test_one_to_ten_items(count):
    with pytest.raises(ValueError, match="from 1 to 10"):
        parse_time_ranges(["2018-01-01T00:00:00Z/"] * count, now=NOW)


def test_repetitions_of_all_items_together_are_bounded():
    with pytest.raises(ValueError, match=f"at most {MAX_RANGES} ranges"):
        parse_time_ranges([f"R{MAX_RANGES}/2018-01-01T00:00:00Z/PT1H/PT1M"] * 2, now=NOW)


def test_a_range_contains_its_ends_and_overlaps_intervals_touching_it():
    closed = TimeRange(utc(2018, 1, 1), utc(2018, 1, 2))
    assert closed.contains(utc(2018, 1, 1)) and closed.contains(utc(2018, 1, 2))
    assert not closed.contains(utc(2018, 1, 2, 0, 0, 1))
    assert closed.overlaps(utc(2017, 1, 1), utc(2018, 1, 1))
    assert closed.overlaps(utc(2017, 1, 1), None)  # still going on
    assert not closed.overlaps(utc(2017, 1, 1), utc(2017, 12, 31))
    assert not closed.overlaps(utc(2018, 1, 3), None)
    assert TimeRange(None, utc(2018, 1, 1)).overlaps(utc(2000, 1, 1), utc(2000, 1, 2))


@pytest.mark.parametrize(
    "text",
    [
        "2018-01-01T09:00:00+01:00/2018-01-01T12:00:00.250+01:00",
        "2018-01-03T12:00:00+01:00/P3Y6M4DT12H30M5S",
        "2018-01-03T12:00:00Z/",
        "/2018-01-03T12:00:00Z",
        "PT2H/2018-01-03T12:00:00Z",
        "R5/2018-01-03T12:00:00Z/P6H/P2H",
        "R/2026-04-03T12:00:00Z/P1D",
    ],
)
def test_the_schema_pattern_admits_every_form(text):
    assert re.fullmatch(ITEM_PATTERN, text)
    assert parse_time_range(text, now=NOW)
