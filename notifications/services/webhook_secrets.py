"""The fleet's webhook signing secrets, rotated with a grace period."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from notifications import selectors, signing
from notifications.models import WebhookSecret
from notifications.services import common
from telemetry.models import Fleet


def webhook_secret_get_or_create(*, fleet: Fleet) -> WebhookSecret:
    """The fleet's active secret, created on first use."""
    secret, _ = WebhookSecret.objects.get_or_create(
        fleet=fleet, expires_at=None, defaults={"secret": signing.generate_secret()}
    )
    return secret


def webhook_secrets_for_signing(*, fleet_id: str, now: datetime) -> list[str]:
    # Read first, create only when there is no active one (first use): one query per attempt.
    secrets = selectors.webhook_secrets_signing(fleet_id=fleet_id, now=now)
    if not secrets or secrets[0].expires_at is not None:
        webhook_secret_get_or_create(fleet=Fleet.objects.get(pk=fleet_id))
        secrets = selectors.webhook_secrets_signing(fleet_id=fleet_id, now=now)
    return [row.secret for row in secrets]


@transaction.atomic
def webhook_secret_rotate(*, fleet: Fleet, now: datetime | None = None) -> WebhookSecret:
    """A new active secret; the previous one keeps signing for FLEETMON_SECRET_ROTATION_GRACE
    seconds so receivers can switch over without rejecting anything."""
    now = common.clock(now)
    # Serialises rotations of one fleet: two at once would each retire the same secret.
    Fleet.objects.select_for_update().get(pk=fleet.pk)
    WebhookSecret.objects.filter(fleet=fleet, expires_at__lte=now).delete()
    WebhookSecret.objects.filter(fleet=fleet, expires_at__isnull=True).update(
        expires_at=now + timedelta(seconds=settings.FLEETMON_SECRET_ROTATION_GRACE)
    )
    return WebhookSecret.objects.create(fleet=fleet, secret=signing.generate_secret())
