"""Per-process cache of compiled monitors: workers build each evaluator once per
definition generation instead of once per point."""

from __future__ import annotations

from django.conf import settings

from monitors.evaluation import CompiledMonitor, compile_monitor
from monitors.models import Monitor

_MAX_ENTRIES = 10_000
_cache: dict[str, tuple[int, CompiledMonitor]] = {}


def compiled_monitor(monitor: Monitor) -> CompiledMonitor:
    cached = _cache.get(monitor.pk)
    if cached is not None and cached[0] == monitor.generation:
        return cached[1]
    compiled = compile_monitor(monitor.spec, activity_window_s=settings.FLEETMON_ACTIVITY_WINDOW)
    if len(_cache) >= _MAX_ENTRIES:
        _cache.clear()
    _cache[monitor.pk] = (monitor.generation, compiled)
    return compiled
