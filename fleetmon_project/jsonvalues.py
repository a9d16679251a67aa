"""Values Python's json module decodes but the rest of FleetMon cannot hold.

`json.loads` turns `1e400` into `inf`, keeps `1` followed by 400 zeros as an exact integer
that no float can represent, and decodes `"\\ud800"` into a lone surrogate that no UTF-8
encoder (and so neither PostgreSQL nor our own JSON responses) accepts. Pure: no Django.
"""

from __future__ import annotations

import codecs
import math
import re


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


def unstorable_text(value: object, path: str = "") -> list[tuple[str, str]]:
    """`(path, message)` for every string and object key in the decoded JSON `value` that
    cannot be stored or sent back: NUL (PostgreSQL stores none, in text or JSONB) and lone
    surrogates (no UTF-8 for them). Paths read like the validators' (`a.b[2].c`)."""
    problems: list[tuple[str, str]] = []
    if isinstance(value, str):
        problems.extend((path, message) for message in _text_problems(value))
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{_printable_key(key)}" if path else _printable_key(key)
            if isinstance(key, str):
                problems.extend((child, f"field name {message}") for message in _text_problems(key))
            problems.extend(unstorable_text(item, child))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems.extend(unstorable_text(item, f"{path}[{index}]"))
    return problems


def may_hold_unstorable_text(body: bytes, encoding: str) -> bool:
    """Whether the JSON text `body`, in `encoding`, can decode to text `unstorable_text` finds.
    Neither NUL nor a lone surrogate can be written as such (JSON refuses control characters in
    strings, UTF-8 has no surrogates), so a UTF-8 body holds one only through a `\\u` escape:
    one with none, most telemetry, need not be walked. Other charsets always are."""
    return codecs.lookup(encoding).name != "utf-8" or b"\\u" in body


def _text_problems(text: str) -> list[str]:
    problems = []
    if "\x00" in text:
        problems.append("must not contain NUL characters")
    if _SURROGATE.search(text):
        problems.append(
            "must not contain surrogate characters (U+D800 to U+DFFF): JSON may escape them "
            "only in pairs that stand for one character beyond U+FFFF"
        )
    return problems


def _printable_key(key: object) -> str:
    # The path is sent back in the error, which a lone surrogate would make unencodable:
    # it is written as the JSON escape the client used.
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", str(key))


_SURROGATE = re.compile("[\ud800-\udfff]")
