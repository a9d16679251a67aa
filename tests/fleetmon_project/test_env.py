from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from fleetmon_project.env import env_duration, env_int, env_rate

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


@pytest.mark.parametrize(("raw", "message"), [("0", "at least 1"), ("1001", "at most 1000")])
def test_an_integer_outside_its_bounds_is_refused_naming_the_variable(monkeypatch, raw, message):
    monkeypatch.setenv(NAME, raw)

    with pytest.raises(ImproperlyConfigured, match=f"{NAME}={raw} must be {message}"):
        env_int(NAME, 50, minimum=1, maximum=1000)


def test_an_integer_within_its_bounds_is_read(monkeypatch):
    monkeypatch.setenv(NAME, " 1000 ")

    assert env_int(NAME, 50, minimum=1, maximum=1000) == 1000


RATE = "FLEETMON_TEST_RATE"


@pytest.mark.parametrize(("raw", "rate"), [("6000/min", "6000/min"), (" 10/s ", "10/s"), ("020/hour", "20/hour"), ("5/days", "5/days")])
def test_a_rate_is_read_as_requests_per_period(monkeypatch, raw, rate):
    monkeypatch.setenv(RATE, raw)

    assert env_rate(RATE, "1/day") == rate


@pytest.mark.parametrize("raw", ["6000", "0/min", "-5/min", "5/mango", "5/Min", "5/", "/min", "1.5/s", "٥/min", "5/min/s"])
def test_a_malformed_rate_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv(RATE, raw)

    with pytest.raises(ImproperlyConfigured, match=RATE):
        env_rate(RATE, "1/day")


@pytest.mark.parametrize(
    ("name", "value"), [("CACHE_URL", "redis://127.0.0.1:notaport/1"), ("FLEETMON_TELEMETRY_THROTTLE_RATE", "100/mango")]
)
def test_the_service_refuses_to_start_with_a_malformed_setting(name, value):
    environment = {**os.environ, name: value, "DJANGO_SETTINGS_MODULE": "fleetmon_project.settings"}
    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=environment,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert started.returncode != 0
    assert f"ImproperlyConfigured: {name}=" in started.stderr
