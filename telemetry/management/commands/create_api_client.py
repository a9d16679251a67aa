"""`manage.py create_api_client USER [--label …]`: credentials for a client written for the
Stellantis reference (HTTP Basic with USER and the secret, plus `client_id` in the query)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from telemetry.services import api_client_create


class Command(BaseCommand):
    help = "Create an API client of USER and print its client_id and secret (the secret only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the owner: requests act as this user")
        parser.add_argument("--label", default="", help="what the client is, for the admin listing")

    def handle(self, *args: Any, username: str, label: str, **options: Any) -> None:
        user_model = get_user_model()
        owner = user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).first()
        if owner is None:
            raise CommandError(f"no user {username!r}: create it first (manage.py createsuperuser or the admin)")
        client, secret = api_client_create(owner=owner, label=label)
        self.stdout.write(f"client_id: {client.client_id}\nsecret:    {secret}")
        self.stderr.write(
            "Keep the secret now: only its hash is stored, it cannot be shown again "
            "(rotate it in the admin if it is lost)."
        )
