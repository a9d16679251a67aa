"""Every error the service answers uses the reference's `xError` body.

`code` is the HTTP status × 100 plus a two-digit specific code, so clients can branch on
the cause without parsing messages; validation problems add `errors: [{field, message}]`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.response import Response

from fleetmon_project.isodates import format_rfc3339

logger = logging.getLogger(__name__)

# Specific codes (the last two digits of `code`).
GENERIC = 0
VALIDATION = 1
MALFORMED_BODY = 2
BAD_PARAMETER = 3
DATABASE_UNAVAILABLE = 1
NOT_AUTHENTICATED = 0
BAD_CREDENTIALS = 1


class ApiError(exceptions.APIException):
    """Raised by views and services for a precise, documented failure."""

    def __init__(
        self,
        *,
        status_code: int,
        message: str,
        specific: int = GENERIC,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(detail=message)
        # Seconds for Retry-After (set for an unavailable database), as DRF's Throttled has.
        self.wait: float | None = None
        self.status_code = status_code
        self.specific = specific
        self.errors = errors or []


def conflict(message: str, *, field: str = "") -> ApiError:
    return ApiError(
        status_code=status.HTTP_409_CONFLICT,
        message=message,
        errors=[{"field": field, "message": message}] if field else None,
    )


def field_errors(errors: list[dict[str, str]], message: str = "Invalid request body.") -> ApiError:
    return ApiError(
        status_code=status.HTTP_400_BAD_REQUEST, message=message, specific=VALIDATION, errors=errors
    )


def body_too_large() -> ApiError:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return ApiError(
        status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        message=f"Request body too large: at most {limit} bytes ({limit / 2**20:g} MiB).",
    )


# Seconds a client is asked to wait when the database does not answer: about what a
# PostgreSQL restart or failover takes; clients retrying sooner only add load.
DATABASE_RETRY_AFTER_S = 5


def database_unavailable() -> ApiError:
    """The database refused or dropped the connection (restart, failover, a killed backend).
    Nothing was accepted unless the client saw a success, so it may retry as is."""
    error = ApiError(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        message=f"The database is unavailable; nothing was stored. Retry in {DATABASE_RETRY_AFTER_S} seconds.",
        specific=DATABASE_UNAVAILABLE,
    )
    error.wait = DATABASE_RETRY_AFTER_S
    return error


def xerror_body(
    *, status_code: int, message: str, specific: int = GENERIC, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": status_code * 100 + specific,
        "uuid": str(uuid.uuid4()),
        "message": message,
        "timestamp": format_rfc3339(timezone.now()),
    }
    if errors:
        body["errors"] = errors
    return body


def flatten_validation_detail(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """Turn DRF's nested error structure into `[{"field": "a.b[2].c", "message": ...}]`."""
    if isinstance(detail, dict):
        flat: list[dict[str, str]] = []
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            flat.extend(flatten_validation_detail(value, path))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [{"field": prefix, "message": str(item)} for item in detail]
        flat = []
        for index, item in enumerate(detail):
            if item:
                flat.extend(flatten_validation_detail(item, f"{prefix}[{index}]"))
        return flat
    return [{"field": prefix, "message": str(detail)}]


def _describe(exc: exceptions.APIException) -> tuple[str, int, list[dict[str, str]]]:
    if isinstance(exc, ApiError):
        return str(exc.detail), exc.specific, exc.errors
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_validation_detail(exc.detail)
        return "Invalid request: " + "; ".join(
            f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors
        ), VALIDATION, errors
    if isinstance(exc, exceptions.ParseError):
        return f"Malformed request body: {exc.detail}", MALFORMED_BODY, []
    if isinstance(exc, exceptions.AuthenticationFailed):
        return str(exc.detail), BAD_CREDENTIALS, []
    if isinstance(exc, exceptions.NotAuthenticated):
        return (
            "Authentication required: send 'Authorization: Token <key>', or 'Authorization: Basic' "
            "with the 'client_id' query parameter of an API client.",
            NOT_AUTHENTICATED,
            [],
        )
    if isinstance(exc, exceptions.NotFound):
        return "Resource not found.", GENERIC, []
    return str(exc.detail), GENERIC, []


def xerror_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):  # Django's own handling is a bare 400
        exc = body_too_large()
    elif isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s", exc)
        exc = database_unavailable()
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django log it and answer through handler500
    status_code = exc.status_code
    request = context.get("request")
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        status_code = status.HTTP_401_UNAUTHORIZED
    message, specific, errors = _describe(exc)
    response = Response(
        xerror_body(status_code=status_code, message=message, specific=specific, errors=errors),
        status=status_code,
    )
    if status_code == status.HTTP_401_UNAUTHORIZED:
        # A Basic challenge only to clients that tried Basic: browsers prompt for any other.
        response["WWW-Authenticate"] = getattr(exc, "challenge", 'Token realm="api"')
    wait = getattr(exc, "wait", None)
    if wait is not None:  # throttling, an unavailable database
        response["Retry-After"] = str(max(1, int(wait + 0.999)))
    if request is not None and getattr(request, "_request", None) is not None:
        logger.info("api error %s %s: %s", status_code, request.path, message)
    return response


def _django_error(status_code: int, message: str) -> JsonResponse:
    return JsonResponse(xerror_body(status_code=status_code, message=message), status=status_code)


def handler400(request, exception=None):  # noqa: ANN001 - Django's handler signature
    if isinstance(exception, RequestDataTooBig):  # a body read outside the API views (admin forms)
        error = body_too_large()
        return _django_error(error.status_code, str(error.detail))
    return _django_error(400, "Bad request.")


def handler403(request, exception=None):  # noqa: ANN001
    return _django_error(403, "Forbidden.")


def handler404(request, exception=None):  # noqa: ANN001
    return _django_error(404, f"No route matches {request.method} {request.path}.")


def handler500(request):  # noqa: ANN001
    return _django_error(500, "Internal server error; it has been logged.")
