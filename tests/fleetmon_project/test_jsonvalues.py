"""Tests of fleetmon_project.jsonvalues: decoded JSON that floats, UTF-8 or PostgreSQL cannot hold."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleetmon_project.jsonvalues import finite_float, may_hold_unstorable_text, unstorable_text

NUL = "must not contain NUL characters"
SURROGATE = (
    "must not contain surrogate characters (U+D800 to U+DFFF): "
    "JSON may escape them only in pairs that stand for one character beyond U+FFFF"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0.0),
        (-12.5, -12.5),
        (10**308, 1e308),
        (1.7976931348623157e308, 1.7976931348623157e308),
        (10**309, None),  # beyond the largest float
        (-(10**400), None),
        (json.loads("1e400"), None),  # json decodes it as inf
        (float("nan"), None),
        (True, None),
        ("5", None),
        (None, None),
    ],
    ids=repr,
)
def test_finite_float(value: object, expected: float | None) -> None:
    assert finite_float(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"label": "Vans \\ud83d\\ude97 日本", "n": [1, 2.5, null, true]}', []),  # a pair is one character
        ('{"label": "ba\\ud800se"}', [("label", SURROGATE)]),
        ('"\\udfff"', [("", SURROGATE)]),
        ('["ok", "\\u0000"]', [("[1]", NUL)]),
        ('{"a": "\\u0000\\ud800"}', [("a", NUL), ("a", SURROGATE)]),
        ('{"\\ud800": 1}', [("\\ud800", "field name " + SURROGATE)]),
        ('{"a\\u0000": 1}', [("a\x00", "field name " + NUL)]),
        (
            '{"x": {"\\udc00k": [{"v": "\\ud83d"}]}, "y": "\\ude97"}',
            [("x.\\udc00k", "field name " + SURROGATE), ("x.\\udc00k[0].v", SURROGATE), ("y", SURROGATE)],
        ),
    ],
)
def test_unstorable_text_names_every_string_and_key(text: str, expected: list[tuple[str, str]]) -> None:
    value: Any = json.loads(text)
    problems = unstorable_text(value)
    assert problems == expected
    for path, message in problems:  # both go back to the client in a UTF-8 body
        (path + message).encode("utf-8")


@pytest.mark.parametrize(
    ("body", "encoding", "expected"),
    [
        (b'{"label": "Vans \xf0\x9f\x9a\x97 \xe6\x97\xa5"}', "utf-8", False),  # raw UTF-8: no escape to decode
        (b'{"label": "plain"}', "UTF8", False),
        (b'{"label": "\\u0000"}', "utf-8", True),
        (b'{"label": "\\ud800"}', "utf-8", True),
        (b'{"label": "\\u00e9"}', "utf-8", True),  # any escape is walked: harmless ones are rare
        ('{"label": "plain"}'.encode("utf-16"), "utf-16", True),  # its escapes are not b"\\u"
        (b'{"label": "plain"}', "latin-1", True),
    ],
)
def test_only_utf8_bodies_without_escapes_skip_the_walk(body: bytes, encoding: str, expected: bool) -> None:
    assert may_hold_unstorable_text(body, encoding) is expected
