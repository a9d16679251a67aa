"""Monitor webhook attributes: variable substitution and request assembly.

A monitor's webhook attributes look like
``{"type": "Header"|"Query"|"Body", "key": str, "value": str}`` and their
values may reference the variables `monitors.spec.WEBHOOK_VARIABLES` declares
(``$vin``, ``$vid``, ``$monitorID``, ``$fleetID``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from monitors.spec import VEHICLE_VARIABLES, WEBHOOK_VARIABLES

VARIABLE_RE = re.compile(rf"\$({'|'.join(WEBHOOK_VARIABLES)})\b", re.IGNORECASE)
VEHICLE_VARIABLE_RE = re.compile(rf"\$({'|'.join(VEHICLE_VARIABLES)})\b", re.IGNORECASE)

# Header values were validated at definition time, but substituted values
# (a VIN is data reported by the vehicle platform) were not.
_HEADER_UNSAFE = str.maketrans("", "", "\r\n\x00")


@dataclass
class RenderedRequest:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body_attributes: list[dict[str, str]] = field(default_factory=list)


def substitute(value: str, variables: Mapping[str, str]) -> str:
    # One pass with a callback: a substituted value is never scanned again, so
    # a VIN that happens to contain "$fleetID" stays literal.
    lookup = {name.lower(): str(v) for name, v in variables.items()}

    def replace(match: re.Match[str]) -> str:
        return lookup.get(match.group(1).lower(), match.group(0))

    return VARIABLE_RE.sub(replace, value)


def uses_vehicle_variables(attributes: Iterable[Mapping[str, str]]) -> bool:
    # A Body attribute is rendered per vehicle inside the payload, but a URL or
    # header is shared by the whole request, so a per-vehicle value there means
    # one request per vehicle (no batching across vehicles).
    return any(
        _kind(attr) in ("query", "header")
        and VEHICLE_VARIABLE_RE.search(attr.get("value", ""))
        for attr in attributes
    )


def render_request_parts(
    *,
    target: str,
    attributes: Iterable[Mapping[str, str]],
    variables: Mapping[str, str],
) -> RenderedRequest:
    query: list[tuple[str, str]] = []
    headers: dict[str, str] = {}
    body_attributes: list[dict[str, str]] = []

    for attr in attributes:
        kind = _kind(attr)
        key = attr["key"]
        value = substitute(attr.get("value", ""), variables)
        if kind == "query":
            query.append((key, value))
        elif kind == "header":
            # Surrounding whitespace is not part of a header value (RFC 9110)
            # and requests refuses a leading space, so strip it as well.
            headers[key] = value.translate(_HEADER_UNSAFE).strip()
        elif kind == "body":
            body_attributes.append({"key": key, "value": value})
        else:
            raise ValueError(f"unknown webhook attribute type: {attr.get('type')!r}")

    return RenderedRequest(
        url=_append_query(target, query),
        headers=headers,
        body_attributes=body_attributes,
    )


def target_origin(target: str) -> tuple[str, str, int | None]:
    """The scheme, host and port a webhook target sends to, as its connections are pooled (the
    target is never templated: variables go in attributes; it was validated as a URL)."""
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or ""), parts.port or _DEFAULT_PORTS.get(scheme)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def redact_url(url: str) -> str:
    """The URL as it may appear in a delivery log: no credentials, no query values.

    Query strings and userinfo are where webhook receivers usually put their
    tokens; the scheme, host and path are what a user needs to recognise the
    endpoint.
    """
    parts = urlsplit(url)

    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]

    redacted_params = []
    for param in parts.query.split("&") if parts.query else []:
        key, sep, _value = param.partition("=")
        # A bare "?abc123" is as likely to be a token as a flag.
        redacted_params.append(f"{key}=***" if sep else "***")

    # The fragment is never sent to the server, so it has no place in the log.
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(redacted_params), ""))


def _kind(attr: Mapping[str, str]) -> str:
    return str(attr.get("type", "")).lower()


def _append_query(target: str, params: list[tuple[str, str]]) -> str:
    if not params:
        return target
    parts = urlsplit(target)
    # quote (not quote_plus) with no safe characters: "&", "=", "+" and spaces
    # in a value must all arrive as data, never as query syntax.
    added = urlencode(params, quote_via=quote, safe="")
    # The target's own query string is kept byte-for-byte; re-encoding it could
    # change a signature or token the receiver expects.
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit(parts._replace(query=query))
