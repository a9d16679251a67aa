from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitors.timewindows import (
    ALL_DAYS,
    ALL_WEEKS,
    AbsoluteWindow,
    DailyWindow,
    is_within,
    next_boundary,
    parse_days,
    parse_time_trigger,
    parse_weeks,
)

PARIS = ZoneInfo("Europe/Paris")
UTC = UTC


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def paris(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=PARIS, fold=fold)


def daily(start: str, duration: str | None = None, *, day=None, week=None, zone: str | None = None):
    entry: dict = {"recurrence": "Daily", "start": start}
    if duration is not None:
        entry["duration"] = duration
    occurrence = {name: value for name, value in (("day", day), ("week", week)) if value is not None}
    if occurrence:
        entry["occurence"] = occurrence
    trigger: dict = {"times": [entry]}
    if zone is not None:
        trigger["timeZone"] = zone
    return parse_time_trigger(trigger)


def once(start: str, duration: str | None = None):
    entry = {"recurrence": "None", "start": start}
    if duration is not None:
        entry["duration"] = duration
    return parse_time_trigger({"timeZone": "Europe/Paris", "times": [entry]})


def boundaries(spec, after: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        after = next_boundary(spec, after)
        found.append(after)
    return found


# --- parse_weeks / parse_days ---------------------------------------------------------


def test_parse_weeks_reads_single_weeks_and_inclusive_ranges():
    assert parse_weeks(["w1-w3", "w30"]) == frozenset({1, 2, 3, 30})


def test_parse_weeks_is_case_insensitive_and_ignores_surrounding_spaces():
    assert parse_weeks(["W5", " w7-W8 "]) == frozenset({5, 7, 8})


def test_parse_weeks_accepts_the_full_range_and_a_one_week_range():
    assert parse_weeks(["w1-w53"]) == ALL_WEEKS
    assert parse_weeks(["w9-w9"]) == frozenset({9})


def test_parse_weeks_of_nothing_is_empty():
    assert parse_weeks([]) == frozenset()


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("w0", "from w1 to w53"),
        ("w54", "from w1 to w53"),
        ("w1-w54", "from w1 to w53"),
        ("w10-w3", "ends before it starts"),
        ("x5", "must look like"),
        ("5", "must look like"),
        ("w", "must look like"),
        ("w1-", "must look like"),
        ("w1-3", "must look like"),
        ("w-1", "must look like"),
        ("", "must look like"),
        (5, "must look like"),
    ],
)
def test_parse_weeks_rejects_malformed_items_with_a_clear_message(item, message):
    with pytest.raises(ValueError, match=message) as error:
        parse_weeks(["w2", item])
    assert repr(item) in str(error.value)


def test_parse_days_reads_iso_weekdays_case_insensitively():
    assert parse_days(["Mon", "sun", "WED"]) == frozenset({1, 7, 3})


@pytest.mark.parametrize("item", ["Monday", "Lun", "", None])
def test_parse_days_rejects_unknown_day_names(item):
    with pytest.raises(ValueError, match="must be one of Mon"):
        parse_days([item])


# --- parse_time_trigger ---------------------------------------------------------------


def test_time_zone_defaults_to_paris():
    assert parse_time_trigger({"times": []}).zone == PARIS


def test_time_zone_is_read():
    assert daily("PT1H", "PT1H", zone="America/New_York").zone == ZoneInfo("America/New_York")


def test_daily_entry_is_parsed_into_wall_clock_offsets_and_filters():
    spec = daily("PT14H30M", "PT04H30M", day=["Mon", "Fri"], week=["w1-w2"])
    assert spec.daily == (
        DailyWindow(
            start=timedelta(hours=14, minutes=30),
            duration=timedelta(hours=4, minutes=30),
            days=frozenset({1, 5}),
            weeks=frozenset({1, 2}),
        ),
    )
    assert spec.absolute == ()


def test_daily_entry_without_occurrence_has_no_day_or_week_restriction():
    (window,) = daily("PT8H", "PT1H").daily
    assert window.days == ALL_DAYS
    assert window.weeks == ALL_WEEKS


def test_daily_entry_with_empty_filters_has_no_restriction():
    (window,) = daily("PT8H", "PT1H", day=[], week=[]).daily
    assert window.days == ALL_DAYS
    assert window.weeks == ALL_WEEKS


def test_daily_start_of_a_whole_day_or_more_is_refused():
    with pytest.raises(ValueError, match="below 24 hours"):
        daily("PT24H", "PT1H")


def test_absolute_entry_is_stored_in_utc_with_its_end():
    spec = once("2026-01-03T12:00:00+01:00", "PT2H")
    assert spec.absolute == (AbsoluteWindow(start=utc(2026, 1, 3, 11), end=utc(2026, 1, 3, 13)),)
    assert spec.absolute[0].start.tzinfo == UTC


def test_absolute_entry_without_duration_never_ends():
    assert once("2026-02-01T00:00:00Z").absolute == (AbsoluteWindow(start=utc(2026, 2, 1), end=None),)


def test_the_reference_example_parses():
    spec = parse_time_trigger(
        {
            "timeZone": "Europe/Paris",
            "times": [
                {
                    "recurrence": "Daily",
                    "start": "PT14H30M",
                    "duration": "PT04H30M",
                    "occurence": {"day": ["Mon"], "week": ["w1-w25", "w30"]},
                },
                {"recurrence": "None", "start": "2026-01-03T12:00:00+01:00", "duration": "PT2H"},
                {"recurrence": "None", "start": "2026-02-01T00:00:00Z"},
            ],
        }
    )
    assert len(spec.daily) == 1 and len(spec.absolute) == 2
    assert spec.daily[0].weeks == frozenset(range(1, 26)) | {30}


# --- Daily windows: membership -------------------------------------------------------


def test_daily_window_is_half_open():
    spec = daily("PT14H30M", "PT4H30M")
    assert not is_within(spec, paris(2026, 5, 6, 14, 29, 59))
    assert is_within(spec, paris(2026, 5, 6, 14, 30))
    assert is_within(spec, paris(2026, 5, 6, 18, 59, 59, 999999))
    assert not is_within(spec, paris(2026, 5, 6, 19, 0))


def test_daily_window_is_in_local_time_whatever_the_instant_zone():
    spec = daily("PT14H30M", "PT4H30M")
    # 14:30 CEST is 12:30 UTC and 08:30 in New York.
    assert is_within(spec, datetime(2026, 5, 6, 8, 30, tzinfo=ZoneInfo("America/New_York")))
    assert not is_within(spec, utc(2026, 5, 6, 12, 29))
    assert is_within(spec, utc(2026, 5, 6, 12, 30))


def test_daily_window_honours_the_time_zone_of_the_trigger():
    spec = daily("PT9H", "PT1H", zone="Asia/Tokyo")
    assert is_within(spec, utc(2026, 5, 6, 0, 0))  # 09:00 JST
    assert not is_within(spec, utc(2026, 5, 6, 9, 0))  # 09:00 UTC is 18:00 JST


def test_daily_window_opens_only_on_listed_days():
    spec = daily("PT14H30M", "PT4H30M", day=["Mon"])
    assert is_within(spec, paris(2026, 5, 4, 15))  # Monday
    assert not is_within(spec, paris(2026, 5, 5, 15))  # Tuesday
    assert not is_within(spec, paris(2026, 5, 10, 15))  # Sunday


def test_daily_window_opens_only_in_listed_week_ranges():
    spec = daily("PT14H30M", "PT4H30M", day=["Mon"], week=["w1-w25", "w30"])
    assert is_within(spec, paris(2026, 1, 5, 15))  # Monday of week 2
    assert is_within(spec, paris(2026, 6, 15, 15))  # Monday of week 25
    assert not is_within(spec, paris(2026, 6, 22, 15))  # Monday of week 26
    assert is_within(spec, paris(2026, 7, 20, 15))  # Monday of week 30
    assert not is_within(spec, paris(2026, 7, 27, 15))  # Monday of week 31


def test_week_53_matches_only_in_years_that_have_one():
    spec = daily("PT10H", "PT1H", week=["w53"])
    assert is_within(spec, paris(2026, 12, 28, 10, 30))  # Monday of 2026-W53
    assert is_within(spec, paris(2027, 1, 3, 10, 30))  # its Sunday, already in 2027
    assert not is_within(spec, paris(2027, 1, 4, 10, 30))  # 2027-W01
    assert not is_within(spec, paris(2027, 12, 31, 10, 30))  # 2027 has 52 weeks


def test_week_of_a_date_is_its_iso_week_not_its_calendar_year_week():
    # Saturday 2026-01-03 is in ISO week 1; Monday 2025-12-29 too.
    spec = daily("PT10H", "PT1H", week=["w1"])
    assert is_within(spec, paris(2025, 12, 29, 10, 30))
    assert is_within(spec, paris(2026, 1, 3, 10, 30))
    assert not is_within(spec, paris(2025, 12, 28, 10, 30))


def test_window_crossing_midnight_stays_open_into_the_next_day():
    spec = daily("PT22H", "PT4H", day=["Mon"])
    assert is_within(spec, paris(2026, 5, 4, 23))
    assert is_within(spec, paris(2026, 5, 5, 1, 59))  # Tuesday, from Monday's window
    assert not is_within(spec, paris(2026, 5, 5, 2, 0))
    assert not is_within(spec, paris(2026, 5, 5, 23))  # Tuesday opens no window


def test_day_filter_applies_to_the_opening_date_of_a_crossing_window():
    spec = daily("PT22H", "PT4H", day=["Tue"])
    assert not is_within(spec, paris(2026, 5, 5, 1))  # Monday's window is not opened
    assert is_within(spec, paris(2026, 5, 6, 1))


def test_window_lasting_several_days_covers_them_all():
    spec = daily("PT8H", "P2DT12H", day=["Mon"])
    assert is_within(spec, paris(2026, 5, 6, 19, 59))  # Wednesday
    assert not is_within(spec, paris(2026, 5, 6, 20, 0))


def test_overlapping_windows_of_consecutive_days_join():
    spec = daily("PT12H", "PT36H")
    assert all(is_within(spec, paris(2026, 5, day, hour)) for day in range(4, 8) for hour in range(24))


def test_daily_window_without_duration_is_empty():
    spec = daily("PT8H")
    assert not is_within(spec, paris(2026, 5, 6, 8))


# --- Daily windows across DST ---------------------------------------------------------


def test_spring_forward_window_keeps_wall_times_and_lasts_two_hours():
    spec = daily("PT1H", "PT3H")
    assert not is_within(spec, utc(2026, 3, 28, 23, 59))  # 00:59 CET
    assert is_within(spec, utc(2026, 3, 29, 0, 0))  # 01:00 CET
    assert is_within(spec, paris(2026, 3, 29, 3, 59))  # CEST
    assert not is_within(spec, paris(2026, 3, 29, 4, 0))  # 02:00 UTC
    assert boundaries(spec, utc(2026, 3, 28, 23, 30), 2) == [utc(2026, 3, 29, 0), utc(2026, 3, 29, 2)]


def test_fall_back_window_keeps_wall_times_and_lasts_four_hours():
    spec = daily("PT1H", "PT3H")
    assert not is_within(spec, utc(2026, 10, 24, 22, 59))  # 00:59 CEST
    assert is_within(spec, utc(2026, 10, 24, 23, 0))  # 01:00 CEST
    assert is_within(spec, paris(2026, 10, 25, 2, 30, fold=1))  # second 02:30, CET
    assert is_within(spec, utc(2026, 10, 25, 2, 59))  # 03:59 CET
    assert not is_within(spec, utc(2026, 10, 25, 3, 0))  # 04:00 CET
    assert boundaries(spec, utc(2026, 10, 24, 22), 2) == [utc(2026, 10, 24, 23), utc(2026, 10, 25, 3)]


def test_start_in_the_spring_forward_gap_resolves_forward_by_the_gap():
    spec = daily("PT2H30M", "PT2H")
    # 02:30 does not exist on 2026-03-29: it opens at 03:30 CEST and closes at 04:30 CEST.
    assert not is_within(spec, paris(2026, 3, 29, 3, 29))
    assert is_within(spec, paris(2026, 3, 29, 3, 30))
    assert is_within(spec, paris(2026, 3, 29, 4, 29))
    assert not is_within(spec, paris(2026, 3, 29, 4, 30))
    assert boundaries(spec, utc(2026, 3, 29, 0), 4) == [
        utc(2026, 3, 29, 1, 30),  # 03:30 CEST
        utc(2026, 3, 29, 2, 30),  # 04:30 CEST
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST the next day
        utc(2026, 3, 30, 2, 30),
    ]


def test_start_in_the_spring_forward_gap_on_the_day_before_and_after_is_unaffected():
    spec = daily("PT2H30M", "PT2H")
    assert next_boundary(spec, utc(2026, 3, 28)) == utc(2026, 3, 28, 1, 30)  # 02:30 CET
    assert next_boundary(spec, utc(2026, 3, 30)) == utc(2026, 3, 30, 0, 30)  # 02:30 CEST


def test_window_the_gap_would_swallow_keeps_its_duration():
    # 02:30–03:30 would be 03:30–03:30 CEST on the spring-forward day: it is 03:30–04:30.
    spec = daily("PT2H30M", "PT1H")
    inside = [m for m in range(0, 240, 5) if is_within(spec, utc(2026, 3, 29, 0) + timedelta(minutes=m))]
    assert (inside[0], inside[-1]) == (90, 145)  # 01:30Z to 02:25Z
    assert boundaries(spec, utc(2026, 3, 29), 2) == [utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 30)]
    assert is_within(spec, paris(2026, 3, 30, 2, 45))


def test_start_in_the_autumn_overlap_uses_its_first_occurrence():
    spec = daily("PT2H30M", "PT1H")
    # Opens at the first 02:30 (CEST, 00:30 UTC); closes at 03:30 CET (02:30 UTC).
    assert not is_within(spec, utc(2026, 10, 25, 0, 29))
    assert is_within(spec, utc(2026, 10, 25, 0, 30))
    assert is_within(spec, paris(2026, 10, 25, 2, 45, fold=1))
    assert not is_within(spec, utc(2026, 10, 25, 2, 30))
    assert boundaries(spec, utc(2026, 10, 25), 2) == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 30)]


def test_end_in_the_spring_forward_gap_resolves_forward():
    spec = daily("PT1H", "PT1H30M")  # 01:00–02:30, and 02:30 is 03:30 CEST that day
    assert next_boundary(spec, utc(2026, 3, 29, 0, 0)) == utc(2026, 3, 29, 1, 30)
    assert is_within(spec, paris(2026, 3, 29, 3, 15))


def test_window_crossing_midnight_into_a_dst_change_keeps_wall_times():
    spec = daily("PT23H", "PT4H", day=["Sat"])
    # Saturday 23:00 CET to Sunday 03:00 wall time, which is 03:00 CEST: three real hours.
    assert boundaries(spec, utc(2026, 3, 28, 12), 2) == [utc(2026, 3, 28, 22), utc(2026, 3, 29, 1)]


# --- absolute windows -----------------------------------------------------------------


def test_absolute_window_is_half_open():
    spec = once("2026-01-03T12:00:00+01:00", "PT2H")
    assert not is_within(spec, utc(2026, 1, 3, 10, 59, 59))
    assert is_within(spec, utc(2026, 1, 3, 11))
    assert is_within(spec, paris(2026, 1, 3, 13, 59))
    assert not is_within(spec, utc(2026, 1, 3, 13))


def test_absolute_window_that_is_over_is_never_within_again():
    spec = once("2026-01-03T12:00:00+01:00", "PT2H")
    assert not is_within(spec, utc(2030, 1, 1))


def test_open_ended_absolute_window_stays_open_forever():
    spec = once("2026-02-01T00:00:00Z")
    assert not is_within(spec, utc(2026, 1, 31, 23, 59, 59))
    assert is_within(spec, utc(2026, 2, 1))
    assert is_within(spec, utc(2100, 1, 1))


def test_absolute_windows_ignore_dst():
    spec = once("2026-03-29T01:30:00+01:00", "PT2H")  # 00:30 UTC to 02:30 UTC
    assert next_boundary(spec, utc(2026, 3, 29)) == utc(2026, 3, 29, 0, 30)
    assert next_boundary(spec, utc(2026, 3, 29, 1)) == utc(2026, 3, 29, 2, 30)


# --- next_boundary --------------------------------------------------------------------


def test_next_boundary_of_a_future_absolute_window_is_its_start_then_its_end():
    spec = once("2026-01-03T12:00:00+01:00", "PT2H")
    assert boundaries(spec, utc(2026, 1, 1), 2) == [utc(2026, 1, 3, 11), utc(2026, 1, 3, 13)]


def test_next_boundary_is_none_when_every_absolute_window_is_over():
    spec = once("2026-01-03T12:00:00+01:00", "PT2H")
    assert next_boundary(spec, utc(2026, 1, 3, 13)) is None
    assert next_boundary(spec, utc(2027, 1, 1)) is None


def test_next_boundary_of_a_started_open_ended_window_is_none():
    spec = once("2026-02-01T00:00:00Z")
    assert next_boundary(spec, utc(2026, 1, 1)) == utc(2026, 2, 1)
    assert next_boundary(spec, utc(2026, 2, 1)) is None


def test_next_boundary_of_no_windows_is_none():
    assert next_boundary(parse_time_trigger({"times": []}), utc(2026, 1, 1)) is None


def test_next_boundary_is_strictly_after_the_given_instant():
    spec = daily("PT14H30M", "PT4H30M")
    opening = paris(2026, 5, 6, 14, 30)
    assert next_boundary(spec, opening) == utc(2026, 5, 6, 17)  # its close, 19:00 CEST
    assert next_boundary(spec, utc(2026, 5, 6, 17)) == utc(2026, 5, 7, 12, 30)
    assert next_boundary(spec, opening - timedelta(microseconds=1)) == opening


def test_next_boundary_is_utc():
    boundary = next_boundary(daily("PT14H30M", "PT4H30M"), paris(2026, 5, 6))
    assert boundary.utcoffset() == timedelta(0)
    assert boundary.tzinfo == UTC


def test_next_boundary_inside_a_window_is_its_close():
    spec = daily("PT14H30M", "PT4H30M")
    assert next_boundary(spec, paris(2026, 5, 6, 16)) == paris(2026, 5, 6, 19)


def test_next_boundary_finds_the_close_of_yesterdays_window():
    spec = daily("PT22H", "PT4H", day=["Mon"])
    assert next_boundary(spec, paris(2026, 5, 5, 1)) == paris(2026, 5, 5, 2)


def test_next_boundary_finds_the_close_of_a_window_opened_days_ago():
    spec = daily("PT8H", "P3D", day=["Mon"])
    assert next_boundary(spec, paris(2026, 5, 6, 12)) == paris(2026, 5, 7, 8)


def test_next_boundary_skips_days_not_listed():
    spec = daily("PT14H30M", "PT4H30M", day=["Mon"])
    assert next_boundary(spec, paris(2026, 5, 5, 12)) == paris(2026, 5, 11, 14, 30)


def test_next_boundary_skips_weeks_not_listed():
    spec = daily("PT14H30M", "PT4H30M", day=["Mon"], week=["w1-w25", "w30"])
    assert next_boundary(spec, paris(2026, 6, 15, 20)) == paris(2026, 7, 20, 14, 30)
    assert next_boundary(spec, paris(2026, 7, 20, 20)) == paris(2027, 1, 4, 14, 30)  # 2027-W01


def test_next_boundary_of_week_53_waits_for_the_next_long_year():
    spec = daily("PT10H", "PT1H", day=["Sun"], week=["w53"])
    assert next_boundary(spec, paris(2026, 1, 1)) == paris(2027, 1, 3, 10)
    # 2027 to 2031 have 52 weeks; 2032-W53 ends on Sunday 2033-01-02.
    assert next_boundary(spec, paris(2027, 1, 4)) == paris(2033, 1, 2, 10)


def test_next_boundary_takes_the_earliest_over_all_entries():
    spec = parse_time_trigger(
        {
            "times": [
                {"recurrence": "Daily", "start": "PT14H30M", "duration": "PT04H30M"},
                {"recurrence": "None", "start": "2026-05-06T13:00:00+02:00", "duration": "PT1H"},
                {"recurrence": "None", "start": "2026-05-06T10:00:00+02:00"},
            ]
        }
    )
    assert boundaries(spec, paris(2026, 5, 6, 9), 5) == [
        paris(2026, 5, 6, 10),
        paris(2026, 5, 6, 13),
        paris(2026, 5, 6, 14),
        paris(2026, 5, 6, 14, 30),
        paris(2026, 5, 6, 19),
    ]


# --- consistency between is_within and next_boundary ---------------------------------

ZONES = ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


@st.composite
def daily_specs(draw):
    start_minutes = draw(st.integers(0, 24 * 60 - 1))
    duration_minutes = draw(st.integers(0, 3 * 24 * 60))
    days = draw(st.lists(st.sampled_from(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]), max_size=3))
    first_week = draw(st.integers(1, 53))
    weeks = draw(st.sampled_from([[], [f"w{first_week}"], [f"w{first_week}-w53"], ["w1-w52"]]))
    return daily(
        f"PT{start_minutes}M", f"PT{duration_minutes}M", day=days, week=weeks, zone=draw(st.sampled_from(ZONES))
    )


instants = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2027, 2, 1), timezones=st.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(spec=daily_specs(), after=instants, offset_minutes=st.integers(0, 4 * 24 * 60))
def test_membership_never_changes_before_the_next_boundary(spec, after, offset_minutes):
    boundary = next_boundary(spec, after)
    later = after + timedelta(minutes=offset_minutes)
    assert boundary is None or boundary > after
    if boundary is None or later < boundary:
        assert is_within(spec, later) == is_within(spec, after)


# --- the whole datetime range ---------------------------------------------------------

# Every zone's extreme offsets: Kiritimati is UTC+14, Adak and Niue reach UTC-10/-11.
EDGE_ZONES = ["Pacific/Kiritimati", "America/Adak", "Pacific/Niue", "UTC"]


@st.composite
def accepted_specs(draw):
    """Any spec the definition validator accepts, up to its extremes."""
    start_seconds = draw(st.integers(0, 24 * 3600 - 1))
    duration_seconds = draw(st.integers(1, 7 * 24 * 3600))  # MAX_DAILY_DURATION
    days = draw(st.lists(st.sampled_from(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]), max_size=3))
    weeks = draw(st.sampled_from([[], ["w53"], ["w1"], ["w52-w53"]]))
    absolute_start = draw(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(8999, 12, 31), timezones=st.just(UTC)))
    entries = [
        {"recurrence": "Daily", "start": f"PT{start_seconds}S", "duration": f"PT{duration_seconds}S",
         "occurence": {key: value for key, value in (("day", days), ("week", weeks)) if value}},
        {"recurrence": "None", "start": absolute_start.isoformat()},
    ]
    return parse_time_trigger({"timeZone": draw(st.sampled_from(EDGE_ZONES)), "times": entries})


any_instant = st.one_of(
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(max_value=datetime(1, 2, 1), timezones=st.just(UTC)),
    st.datetimes(min_value=datetime(9990, 1, 1), timezones=st.just(UTC)),
    st.sampled_from([datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)]),
)


@settings(max_examples=300, deadline=None)
@given(spec=accepted_specs(), instant=any_instant)
def test_no_instant_overflows_an_accepted_spec(spec, instant):
    # Vehicle clocks may report any date: a crash here would stop the fleet's evaluation.
    is_within(spec, instant)
    boundary = next_boundary(spec, instant)
    assert boundary is None or boundary > instant


@pytest.mark.parametrize(
    "instant",
    [datetime.min.replace(tzinfo=UTC), datetime(1, 1, 5, tzinfo=UTC), datetime(9995, 1, 1, tzinfo=UTC), datetime.max.replace(tzinfo=UTC)],
    ids=str,
)
def test_daily_windows_do_not_exist_near_the_limits_of_datetime(instant):
    spec = daily("PT0S", "P7D", zone="Pacific/Kiritimati")  # always open
    assert is_within(spec, utc(2026, 5, 6))
    assert not is_within(spec, instant)


def test_next_boundary_near_the_limits_of_datetime():
    spec = daily("PT23H", "PT1H", zone="Pacific/Kiritimati")
    assert next_boundary(spec, datetime.max.replace(tzinfo=UTC)) is None
    assert next_boundary(spec, datetime(9995, 1, 1, tzinfo=UTC)) is None
    first = next_boundary(spec, datetime.min.replace(tzinfo=UTC))
    assert first is not None and first.year == 1
    assert once("8999-12-31T23:00:00Z", "PT1H").absolute[0].end == utc(9000, 1, 1)
