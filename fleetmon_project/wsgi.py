from __future__ import annotations

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleetmon_project.settings")
application = get_wsgi_application()
# Every request leaves reference cycles behind (DRF's view, request and response refer to each
# other, and so do Django's request and its message storage), holding the request's body and
# parsed data until the garbage collector finds them. A telemetry batch is served across
# several young-generation collections, so its cycle usually ends up in the oldest generation,
# which CPython collects only once the objects promoted into it reach a quarter of those
# already there. With the ~125,000 objects of Django, DRF and our modules counted there, the
# bodies of tens of requests piled up between two collections, and each process kept that
# high-water mark: the API's RSS grew for minutes after start (docs/performance.md, issue 11).
# Frozen, the startup objects (the URLconf's included, loaded here rather than on the first
# request) are left out of every collection: the oldest generation is collected far more often,
# and each time at a fraction of the cost.
get_resolver().url_patterns  # noqa: B018 - imports every view now, to be frozen with the rest
gc.freeze()
