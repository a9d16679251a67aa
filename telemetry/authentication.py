"""The reference's authentication, Basic + `client_id`, against `ApiClient` rows.

The row is read on every request (one query), so a deactivated client or a rotated secret
is refused at once, whatever the verification cache holds.
"""

from __future__ import annotations

import hmac

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AbstractBaseUser
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from fleetmon_project.authentication import (
    BASIC_CHALLENGE,
    CLIENT_ID_PARAMETER,
    ApiClientAuthenticationFailed,
    parse_basic,
    verified_secrets,
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
        if client is None:
            # As slow as a wrong secret, so response times do not tell which ids exist.
            make_password(secret)
            raise ApiClientAuthenticationFailed()
        secret_ok = verified_secrets.matches(client.secret_hash, secret)
        user_ok = hmac.compare_digest(user.encode(), client.owner.get_username().encode())
        if not (secret_ok and user_ok):
            raise ApiClientAuthenticationFailed()
        # Imported here: services reach rest_framework.views, which loads this class.
        from telemetry.services import api_client_mark_used

        api_client_mark_used(client=client)
        return client.owner, client

    def authenticate_header(self, request: Request) -> str:
        return BASIC_CHALLENGE
