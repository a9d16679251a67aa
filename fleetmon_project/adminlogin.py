"""What django-axes watches: the admin's login form, nothing else."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse


def outside_admin(request: HttpRequest, credentials: dict[str, Any] | None) -> bool:
    """Axes' whitelist: true for every request outside the admin. The API authenticates with
    its own classes; a client's failures there must neither lock an operator out of the admin
    nor cost a database write per attempt, which AXES_ONLY_ADMIN_SITE alone would still do."""
    return not request.path.startswith(reverse("admin:index"))
