"""Settings from the environment, failing loudly on malformed values (healthchecks style)."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from fleetmon_project.isodates import parse_iso_duration

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} must be at most {maximum}")
    return value


def env_duration(name: str, default: int, *, minimum: int) -> int:
    """Whole seconds, written as seconds (`432000`) or as an ISO-8601 duration (`P5D`, `PT12H`)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if text.isascii() and text.isdigit():
        value = int(text)
    else:
        try:
            value = int(parse_iso_duration(text).total_seconds())
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}={raw!r}: use seconds or an ISO-8601 duration; {exc}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum} seconds")
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# DRF reads a period by its first letter alone: these spellings, and no others, are meant.
_RATE_PERIODS = {
    *("s", "sec", "second", "seconds", "m", "min", "minute", "minutes"),
    *("h", "hour", "hours", "d", "day", "days"),
}


def env_rate(name: str, default: str) -> str:
    """A rate limit as `<requests>/<period>` (DRF's format), at least one request a period."""
    raw = os.environ.get(name, default)
    count, _, period = raw.strip().partition("/")
    if not (count.isascii() and count.isdigit() and int(count) >= 1 and period in _RATE_PERIODS):
        raise ImproperlyConfigured(f"{name}={raw!r}: use <requests>/<period>, at least 1 request per s, min, h or day")
    return f"{int(count)}/{period}"
