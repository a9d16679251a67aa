"""The WSGI entry point leaves what start-up loaded out of garbage collections
(fleetmon_project/wsgi.py says why: the API's RSS otherwise grew for minutes after start)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_loading_the_application_imports_the_views_and_freezes_the_startup_objects():
    code = "import gc, sys, fleetmon_project.wsgi; print(gc.get_freeze_count(), 'telemetry.views' in sys.modules)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "fleetmon_project.settings"}
    frozen, views_loaded = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    # Django's, DRF's and our modules' objects: about 125,000 of them.
    assert int(frozen) > 50_000
    assert views_loaded == "True"
