"""Behind the TLS-terminating proxy (deploy/nginx/fleetmon.conf), links use the client's
scheme and host, and only when told to trust the proxy's headers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.django_db
FORWARDED = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "fleetmon.example.com"}


def _proxy_settings(behind_proxy: str) -> str:
    code = "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER, settings.USE_X_FORWARDED_HOST)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "fleetmon_project.settings", "FLEETMON_BEHIND_PROXY": behind_proxy}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


def test_forwarded_headers_are_trusted_only_when_behind_proxy_is_set():
    assert _proxy_settings("true").split() == ["('HTTP_X_FORWARDED_PROTO',", "'https')", "True"]
    assert _proxy_settings("false").split() == ["None", "False"]


def test_links_use_the_proxys_scheme_and_host_when_trusted(api, fleet, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.USE_X_FORWARDED_HOST = True
    settings.ALLOWED_HOSTS = ["fleetmon.example.com"]
    body = api.get(f"/api/v1/fleets/{fleet.pk}", **FORWARDED).json()
    assert body["_links"]["self"]["href"] == f"https://fleetmon.example.com/api/v1/fleets/{fleet.pk}"


def test_forwarded_headers_are_ignored_by_default(api, fleet):
    body = api.get(f"/api/v1/fleets/{fleet.pk}", **FORWARDED).json()
    assert body["_links"]["self"]["href"] == f"http://testserver/api/v1/fleets/{fleet.pk}"


def test_the_shipped_nginx_config_verifies_client_certificates_and_sets_the_trusted_headers(settings):
    from pathlib import Path

    import yaml

    root = Path(settings.BASE_DIR)
    conf = (root / "deploy" / "nginx" / "fleetmon.conf").read_text()
    for directive in (
        "ssl_verify_client       on;",
        "ssl_client_certificate  /etc/nginx/certs/client-ca.crt;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Forwarded-Host $http_host;",
    ):
        assert directive in conf
    body_limit_mb = int(conf.split("client_max_body_size")[1].split("m;")[0])
    assert body_limit_mb * 10**6 > settings.DATA_UPLOAD_MAX_MEMORY_SIZE, "FleetMon must answer 413 itself"
    proxy = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]["proxy"]
    assert proxy["profiles"] == ["proxy"]
    assert "./deploy/nginx/fleetmon.conf:/etc/nginx/conf.d/default.conf:ro" in proxy["volumes"]
