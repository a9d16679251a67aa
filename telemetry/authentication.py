"""The reference's authentication, Basic + `client_id`, against `ApiClient` rows.

The row is read on every request (one query), so a deactivated client or a rotated secret
is refused at once. Its secret is checked against a digest (fleetmon_project.authentication):
a wrong secret costs microseconds, as a right one does.
"""

from __future__ import annotations

import hmac

from django.contrib.auth.models import AbstractBaseUser
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from fleetmon_project.authentication import (
    BASIC_CHALLENGE,
    CLIENT_ID_PARAMETER,
    NO_CLIENT_DIGEST,
    ApiClientAuthenticationFailed,
    parse_basic,
    secret_check,
)
from telemetry.models import ApiClient
from telemetry.selectors import api_client_get_active


class ApiClientAuthentication(BaseAuthentication):
    """Basic + `client_id`, both or neither: a request carrying only one of them was meant
    for this scheme and is refused rather than passed on to the next authenticator."""

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiClient] | None:
        header = get_authorization_header(request)
        client_ids = request.query_params.getlist(CLIENT_ID_PARAMETER)
        is_basic = header.partition(b" ")[0].lower() == b"basic"
        if not is_basic and not client_ids:
            return None
        credentials = parse_basic(header) if is_basic else None
        # Paging links repeat the query, client_id included; a client adding its own again is fine.
        if credentials is None or len(set(client_ids)) != 1:
            raise ApiClientAuthenticationFailed()
        user, secret = credentials
        client = api_client_get_active(client_id=client_ids[0])
        check = secret_check(stored=client.secret_hash if client else NO_CLIENT_DIGEST, secret=secret)
        if client is None or not check.ok:
            raise ApiClientAuthenticationFailed()
        if not hmac.compare_digest(user.encode(), client.owner.get_username().encode()):
            raise ApiClientAuthenticationFailed()
        # Imported here: services reach rest_framework.views, which loads this class.
        from telemetry.services import api_client_mark_used, api_client_secret_upgrade

        if check.upgrade is not None:
            api_client_secret_upgrade(client=client, digest=check.upgrade)
        api_client_mark_used(client=client)
        return client.owner, client

    def authenticate_header(self, request: Request) -> str:
        return BASIC_CHALLENGE
