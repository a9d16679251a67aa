from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from fleetmon_project.env import env_duration

NAME = "FLEETMON_TEST_DURATION"


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("432000", 432000), (" 90 ", 90), ("P5D", 432000), ("PT12H", 43200), ("p1dt30m", 88200), ("PT90.9S", 90)],
)
def test_a_duration_is_read_as_seconds_or_as_an_iso_duration(monkeypatch, raw, seconds):
    monkeypatch.setenv(NAME, raw)

    assert env_duration(NAME, 7, minimum=60) == seconds


def test_an_unset_duration_is_the_default(monkeypatch):
    monkeypatch.delenv(NAME, raising=False)

    assert env_duration(NAME, 7, minimum=60) == 7


@pytest.mark.parametrize("raw", ["5 days", "P1M", "-60", "1e5", "PT", "٥٠٠"])
def test_a_malformed_duration_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv(NAME, raw)

    with pytest.raises(ImproperlyConfigured, match=NAME):
        env_duration(NAME, 7, minimum=60)


@pytest.mark.parametrize("raw", ["59", "PT59S"])
def test_a_duration_below_the_minimum_is_refused(monkeypatch, raw):
    monkeypatch.setenv(NAME, raw)

    with pytest.raises(ImproperlyConfigured, match="at least 60 seconds"):
        env_duration(NAME, 7, minimum=60)
