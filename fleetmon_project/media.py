"""What the API writes: JSON, also answered as `application/hal+json` to clients that ask
for the reference's media type."""

from __future__ import annotations

from rest_framework.renderers import JSONRenderer


class HalJSONRenderer(JSONRenderer):
    """The reference declares its responses as `application/hal+json`; the body is the same JSON."""

    media_type = "application/hal+json"
