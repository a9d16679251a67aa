"""What the API reads and writes: JSON bodies of bounded nesting, and JSON answered as
`application/hal+json` (or `application/vnd.geo+json`) to clients that ask for the
reference's media type."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer

# No body of the contract comes near this (a monitor definition nests about 6 levels); it
# keeps every later recursive walk of a body (field checks, validation, error paths) far
# from Python's recursion limit.
MAX_JSON_DEPTH = 64
TOO_DEEP = f"JSON is nested too deeply: at most {MAX_JSON_DEPTH} levels of arrays and objects"


class ReferenceJSONRenderer(JSONRenderer):
    """JSON labelled with a media type the reference declares for its successes (never for
    its errors, which it answers as `application/json`)."""


class HalJSONRenderer(ReferenceJSONRenderer):
    """The reference declares its responses as `application/hal+json`; the body is the same JSON."""

    media_type = "application/hal+json"


class GeoJSONRenderer(ReferenceJSONRenderer):
    """The reference's `lastPosition` is a GeoJSON Feature served as `application/vnd.geo+json`."""

    media_type = "application/vnd.geo+json"


REFERENCE_MEDIA_TYPES = (HalJSONRenderer.media_type, GeoJSONRenderer.media_type)


def exceeds_depth(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit`; level by level, so any depth is
    safe. Every telemetry POST walks its whole body here: a level's containers gathered by one
    comprehension cost half what a stack of (container, depth) pairs did."""
    level = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, (dict, list))
        ]
        if not level:
            return False
    return True


class DepthLimitedJSONParser(JSONParser):
    """JSONParser that answers a too deeply nested body with a 400 instead of a RecursionError."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # The decoder recurses per level and gives up near Python's recursion limit.
            raise ParseError(TOO_DEEP) from None
        if isinstance(data, (dict, list)) and exceeds_depth(data, MAX_JSON_DEPTH):
            raise ParseError(TOO_DEEP)
        return data
