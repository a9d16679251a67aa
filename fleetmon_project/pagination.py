"""The reference's collection paging: `indexRange` (`start-end`), `pageSize` (1–60) and an
opaque `pageToken`, answered as a HAL collection with `total`, `totalPage`, `currentPage`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter

from fleetmon_project.errors import BAD_PARAMETER, ApiError

MAX_PAGE_SIZE = 60
MAX_HIGH_FREQUENCY_PAGE_SIZE = 2000  # the reference's pageSizeHighFrequency (telemetry)
# [0-9], not \d or str.isdigit(): those also take other scripts' digits ('١', '²'), which int()
# then reads as numbers or rejects with a ValueError. Nine digits bound every offset. The
# reference's pattern is '\d+(-\d*)?': a bare start ('5') is the open range '5-'.
_INDEX_RANGE = re.compile(r"^([0-9]{1,9})(-([0-9]{0,9}))?$")
_PAGE_SIZE = re.compile(r"^[0-9]{1,4}$")
# Paging is stateless: the token is just the offset inside the indexRange window.
_PAGE_TOKEN = re.compile(r"^p([0-9]{1,9})$")

PAGING_PARAMETERS = [
    OpenApiParameter(
        "indexRange",
        {"type": "string", "pattern": _INDEX_RANGE.pattern},
        description="Result index range, e.g. '0-9', or '5-' or '5' from index 5 on (start is mandatory)",
    ),
    OpenApiParameter(
        "pageSize",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
        description=f"Results per page, 1-{MAX_PAGE_SIZE} (default {MAX_PAGE_SIZE})",
    ),
    OpenApiParameter(
        "pageToken",
        {"type": "string", "pattern": _PAGE_TOKEN.pattern},
        description="Opaque token taken from a previous page's links",
    ),
]
HIGH_FREQUENCY_PAGING_PARAMETERS = [
    PAGING_PARAMETERS[0],
    OpenApiParameter(
        "pageSize",
        {"type": "integer", "minimum": 1, "maximum": MAX_HIGH_FREQUENCY_PAGE_SIZE},
        description=f"Results per page, 1-{MAX_HIGH_FREQUENCY_PAGE_SIZE} (default {MAX_PAGE_SIZE})",
    ),
    PAGING_PARAMETERS[2],
]


def _bad_parameter(field: str, message: str) -> ApiError:
    return ApiError(
        status_code=400,
        message=f"{field}: {message}",
        specific=BAD_PARAMETER,
        errors=[{"field": field, "message": message}],
    )


def encode_page_token(offset: int) -> str:
    return f"p{offset}"


def decode_page_token(token: str) -> int:
    match = _PAGE_TOKEN.fullmatch(token)
    if not match:
        raise _bad_parameter("pageToken", "is not a token this server issued")
    return int(match.group(1))


@dataclass(frozen=True)
class PageRequest:
    start: int
    end: int | None  # inclusive, from indexRange
    page_size: int
    offset: int  # within the indexRange window

    @classmethod
    def from_query(cls, params: Any, *, max_page_size: int = MAX_PAGE_SIZE) -> PageRequest:
        start, end = 0, None
        raw_range = params.get("indexRange")
        if raw_range is not None:
            match = _INDEX_RANGE.fullmatch(raw_range)
            if not match:
                raise _bad_parameter("indexRange", "must look like '0-9', '5-' or '5' (at most 9 digits each)")
            start = int(match.group(1))
            end = int(match.group(3)) if match.group(3) else None
            if end is not None and end < start:
                raise _bad_parameter("indexRange", f"must not end ({end}) before it starts ({start})")
        page_size = MAX_PAGE_SIZE
        raw_size = params.get("pageSize")
        if raw_size is not None:
            if not _PAGE_SIZE.fullmatch(raw_size) or not 1 <= int(raw_size) <= max_page_size:
                raise _bad_parameter("pageSize", f"must be an integer from 1 to {max_page_size}")
            page_size = int(raw_size)
        token = params.get("pageToken")
        offset = decode_page_token(token) if token is not None else 0
        return cls(start=start, end=end, page_size=page_size, offset=offset)


def paginate(
    *,
    request: Any,
    items: QuerySet | Sequence[Any],
    name: str,
    render: Callable[[Any], dict[str, Any]],
    max_page_size: int = MAX_PAGE_SIZE,
) -> dict[str, Any]:
    page = PageRequest.from_query(request.query_params, max_page_size=max_page_size)
    available = items.count() if isinstance(items, QuerySet) else len(items)
    window_end = available if page.end is None else min(available, page.end + 1)
    total = max(0, window_end - page.start)
    if page.offset and page.offset >= total:
        # Only a forged token, or one issued before rows were deleted, points past the end;
        # an empty page there would report a currentPage beyond totalPage.
        raise _bad_parameter("pageToken", f"is past the last page ({total} results); start again from 'first'")
    first = page.start + page.offset
    last = min(window_end, first + page.page_size)
    rows = list(items[first:last]) if first < last else []

    def link(offset: int | None) -> dict[str, str]:
        query = {k: v for k, v in request.query_params.items() if k != "pageToken"}
        if offset:
            query["pageToken"] = encode_page_token(offset)
        suffix = f"?{urlencode(query)}" if query else ""
        return {"href": request.build_absolute_uri(request.path) + suffix}

    total_pages = max(1, math.ceil(total / page.page_size))
    links: dict[str, Any] = {"self": link(page.offset), "first": link(0)}
    if page.offset + page.page_size < total:
        links["next"] = link(page.offset + page.page_size)
    if page.offset > 0:
        links["prev"] = link(max(0, page.offset - page.page_size))
    links["last"] = link((total_pages - 1) * page.page_size)
    return {
        "_links": links,
        "total": total,
        "totalPage": total_pages,
        "currentPage": page.offset // page.page_size + 1,
        "_embedded": {name: [render(row) for row in rows]},
    }
