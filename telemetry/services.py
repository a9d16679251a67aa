from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from fleetmon_project.authentication import secret_digest
from fleetmon_project.errors import conflict, field_errors
from fleetmon_project.metrics import POINTS_INGESTED
from telemetry import selectors
from telemetry.ingestion import ValidPoint, is_vin, normalize_vin, validate_batch
from telemetry.models import ApiClient, Fleet, TelemetryPoint, Vehicle
from telemetry.signals import points_stored


def fleet_create(*, owner: User, label: str) -> Fleet:
    return Fleet.objects.create(owner=owner, label=label)


def fleet_update(*, fleet: Fleet, label: str | None = None) -> Fleet:
    if label is not None:
        fleet.label = label
        fleet.save(update_fields=["label", "updated_at"])
    return fleet


def fleet_delete(*, fleet: Fleet) -> None:
    fleet.delete()


def vehicle_create(*, fleet: Fleet, vin: str) -> Vehicle:
    vin = vin.upper()
    try:
        with transaction.atomic():
            return Vehicle.objects.create(fleet=fleet, vin=vin)
    except IntegrityError:
        raise conflict(f"VIN {vin} is already registered", field="vin") from None


def vehicle_delete(*, vehicle: Vehicle) -> None:
    vehicle.delete()


def telemetry_ingest(*, owner: User, body: Any, now: datetime | None = None) -> int:
    """Validate a point or a batch (all or nothing), store it durably, and let the engine know
    after commit. Returns the number of points accepted."""
    now = now or timezone.now()
    vins = {
        normalize_vin(item["vin"])
        for item in (body if isinstance(body, list) else [body])
        if isinstance(item, dict) and isinstance(item.get("vin"), str) and is_vin(item["vin"])
    }
    owned = selectors.vehicle_ids_by_vin(owner=owner, vins=vins)
    validation = validate_batch(body, resolve_vin=owned.get, now=now)
    if validation.errors:
        raise field_errors(validation.errors, message=f"Rejected: {len(validation.errors)} problem(s) in the batch.")
    with transaction.atomic():
        points_store(points=validation.points)
        points_stored.send(sender=TelemetryPoint, vehicle_ids=sorted({p.vehicle_id for p in validation.points}))
    POINTS_INGESTED.inc(len(validation.points))
    return len(validation.points)


def _seq_claim(counts: Counter[str]) -> dict[str, int]:
    """Claim each vehicle's next `counts[vehicle]` sequence numbers; returns the first of them.
    The vehicles' rows stay locked until this transaction commits, so a batch that claims later
    numbers commits later, and a reader never sees a point while an earlier one of its vehicle
    is still in flight (on SQLite, writers are serialised whole). Evaluations do not take these
    locks: only batches for the same vehicles wait on each other."""
    ids = sorted(counts)
    table = Vehicle._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Locked in id order, so that overlapping batches wait for each other instead of
            # deadlocking; the counts joined as arrays, where a CASE would cost a batch of n
            # vehicles n² comparisons. The vehicles are found from the batch's ids, not by
            # `id = ANY(ids)` over the table: a prepared statement's generic plan scanned every
            # vehicle and compared each with every id of the batch.
            cursor.execute(
                f"""UPDATE {table} AS vehicle SET points_stored = vehicle.points_stored + claim.count
                FROM (
                    SELECT locked.id, counts.count
                    FROM unnest(%s::text[], %s::bigint[]) AS counts(id, count)
                    JOIN {table} AS locked ON locked.id = counts.id
                    ORDER BY locked.id FOR NO KEY UPDATE OF locked
                ) AS claim
                WHERE vehicle.id = claim.id
                RETURNING vehicle.id, vehicle.points_stored""",
                [ids, [counts[vehicle_id] for vehicle_id in ids]],
            )
        else:
            cases: list[str | int] = [value for vehicle_id in ids for value in (vehicle_id, counts[vehicle_id])]
            cursor.execute(
                f"""UPDATE {table} SET points_stored = points_stored + CASE id {" ".join(["WHEN %s THEN %s"] * len(ids))} END
                WHERE id IN ({", ".join(["%s"] * len(ids))}) RETURNING id, points_stored""",
                [*cases, *ids],
            )
        claimed = {vehicle_id: last - counts[vehicle_id] + 1 for vehicle_id, last in cursor.fetchall()}
    if len(claimed) < len(ids):
        # Deleted since the batch was validated: the batch is refused whole, as validation would have.
        gone = sorted(set(ids) - set(claimed))
        raise conflict(f"vehicle(s) {', '.join(gone)} deleted while the batch was stored; nothing was stored", field="vin")
    return claimed


def points_store(*, points: Sequence[ValidPoint]) -> None:
    """Store valid points, numbered per vehicle in the batch's order (which breaks eventDate ties).
    On PostgreSQL as one JSON document: a bulk insert passes each point's data as an element of
    an array parameter, which psycopg escapes character by character, at about a third of the
    request's time.

    All or nothing: in a transaction of its own, or as part of the caller's, which a failure here
    dooms whole. No savepoint: one cost every POST two round trips, and no caller recovers from a
    failure to store inside its transaction."""
    with transaction.atomic(savepoint=False):
        _points_insert(points)


def _points_insert(points: Sequence[ValidPoint]) -> None:
    next_seq = _seq_claim(Counter(point.vehicle_id for point in points))
    seqs = []
    for point in points:
        seqs.append(next_seq[point.vehicle_id])
        next_seq[point.vehicle_id] += 1
    if connection.vendor != "postgresql":
        TelemetryPoint.objects.bulk_create(
            [
                TelemetryPoint(
                    vehicle_id=point.vehicle_id,
                    seq=seq,
                    event_date=point.event_date,
                    latitude=point.latitude,
                    longitude=point.longitude,
                    data=point.data,
                )
                for point, seq in zip(points, seqs, strict=True)
            ]
        )
        return
    document = json.dumps(
        [
            {
                "vehicle_id": point.vehicle_id,
                "seq": seq,
                "event_date": point.event_date.isoformat(),
                "latitude": point.latitude,
                "longitude": point.longitude,
                "data": point.data,
            }
            for point, seq in zip(points, seqs, strict=True)
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {TelemetryPoint._meta.db_table}
                (vehicle_id, seq, event_date, received_at, latitude, longitude, data)
            SELECT point.vehicle_id, point.seq, point.event_date, %s, point.latitude, point.longitude, point.data
            FROM ROWS FROM (
                jsonb_to_recordset(%s::jsonb) AS (
                    vehicle_id text, seq bigint, event_date timestamptz, latitude double precision,
                    longitude double precision, data jsonb
                )
            ) WITH ORDINALITY AS point(vehicle_id, seq, event_date, latitude, longitude, data, position)
            ORDER BY point.position""",
            [timezone.now(), document],
        )


# last_used_at is for the operator ("is this client still in use?"): a minute's precision
# spares a write on every request of a busy client.
API_CLIENT_USE_PRECISION = timedelta(minutes=1)


def _new_api_client_secret() -> str:
    # URL-safe base64 has no ':', which would break the `user:secret` of HTTP Basic.
    return secrets.token_urlsafe(32)


def api_client_create(*, owner: User, label: str = "") -> tuple[ApiClient, str]:
    """The new client and its secret in clear, which is not kept: show it once."""
    client = ApiClient(owner=owner, label=label)
    return client, api_client_rotate_secret(client=client)


def api_client_rotate_secret(*, client: ApiClient) -> str:
    """A new secret (saving a new client with it); the old one is refused from the next request."""
    secret = _new_api_client_secret()
    client.secret_hash = secret_digest(secret)
    client.save(update_fields=["secret_hash"] if client.pk else None)
    return secret


def api_client_secret_upgrade(*, client: ApiClient, digest: str) -> None:
    """Once its secret matched it, replace the hash an earlier release stored (a password
    hasher's, ~100 ms a check) by the secret's digest; unless the secret was rotated since."""
    ApiClient.objects.filter(pk=client.pk, secret_hash=client.secret_hash).update(secret_hash=digest)
    client.secret_hash = digest


def api_client_deactivate(*, clients: QuerySet[ApiClient]) -> int:
    return clients.update(is_active=False)


def api_client_mark_used(*, client: ApiClient, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if client.last_used_at is None or now - client.last_used_at >= API_CLIENT_USE_PRECISION:
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now
