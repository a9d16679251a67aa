"""Values Python's json module decodes but the rest of FleetMon cannot hold.

`json.loads` turns `1e400` into `inf`, keeps `1` followed by 400 zeros as an exact integer
that no float can represent, and decodes `"\\ud800"` into a lone surrogate that no UTF-8
encoder (and so neither PostgreSQL nor our own JSON responses) accepts. Pure: no Django.
"""

from __future__ import annotations

import math


def finite_float(value: object) -> float | None:
    """`value` as a finite float, or None when it is no JSON number (booleans included),
    NaN, infinite, or an integer beyond the float range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
