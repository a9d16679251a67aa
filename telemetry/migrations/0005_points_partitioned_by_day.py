from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.utils import timezone

from telemetry.retention import DEFAULT_PARTITION, partition_days_ahead, point_days_stored, point_partition_create

# On PostgreSQL, the points table becomes partitioned by RANGE of received_at, a partition per
# day (telemetry.retention keeps them coming and drops the old ones), plus a DEFAULT partition
# so that no insert ever fails for want of one. The rows are copied into the new table, under
# an exclusive lock: ingestion waits for the migration. On SQLite nothing changes.
#
# PostgreSQL wants the partition key in every unique constraint of a partitioned table, so the
# database checks (id, received_at) and (vehicle_id, seq, received_at) instead of (id) and
# (vehicle_id, seq). Both stay unique all the same: ids come from the table's one identity
# sequence, and each vehicle's seq from its counter (Vehicle.points_stored), which ingestion
# increments under the vehicle's row lock (telemetry.services._seq_claim), handing each number
# out once. The engine's read of a vehicle's points past its watermark still uses the
# (vehicle_id, seq, …) index. Django's state is unchanged: to the ORM, id is the key and
# (vehicle, seq) unique, as they are.
TABLE = "telemetry_telemetrypoint"
# The other indexes and the foreign key, under the names migrations 0001-0004 gave them: a
# later migration altering them finds them by name.
_INDEXES_AND_KEYS = [
    f"CREATE INDEX point_vehicle_date_idx ON {TABLE} (vehicle_id, event_date)",
    f"CREATE INDEX telemetry_telemetrypoint_received_at_b120e64f ON {TABLE} (received_at)",
    f"CREATE INDEX telemetry_telemetrypoint_vehicle_id_e516380a ON {TABLE} (vehicle_id)",
    f"CREATE INDEX telemetry_telemetrypoint_vehicle_id_e516380a_like ON {TABLE} (vehicle_id varchar_pattern_ops)",
    f"""ALTER TABLE {TABLE} ADD CONSTRAINT telemetry_telemetryp_vehicle_id_e516380a_fk_telemetry
        FOREIGN KEY (vehicle_id) REFERENCES telemetry_vehicle (id) DEFERRABLE INITIALLY DEFERRED""",
]


def _rebuild(schema_editor: BaseDatabaseSchemaEditor, *, partitioned: bool) -> None:
    """Replace the points table by a copy, partitioned or not, with the same columns, rows,
    identity sequence (going on where it was), constraints and indexes."""
    if schema_editor.connection.vendor != "postgresql":
        return
    previous = f"{TABLE}_previous"
    key = ", received_at" if partitioned else ""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {previous}")
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {previous} INCLUDING DEFAULTS INCLUDING IDENTITY)"
            + (" PARTITION BY RANGE (received_at)" if partitioned else "")
        )
        if partitioned:
            cursor.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {TABLE} DEFAULT")
            for day in sorted(set(point_days_stored(table=previous)) | set(partition_days_ahead(now=timezone.now()))):
                point_partition_create(day=day)
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {previous}")
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id'), pg_get_serial_sequence(%s, 'id')", [previous, TABLE])
        old_sequence, new_sequence = cursor.fetchone()
        cursor.execute(f"SELECT setval(%s, last_value, is_called) FROM {old_sequence}", [new_sequence])
        cursor.execute(f"DROP TABLE {previous}")  # its partitions and its sequence with it
        cursor.execute(f"ALTER SEQUENCE {new_sequence} RENAME TO {TABLE}_id_seq")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id{key})")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT point_vehicle_seq_unique UNIQUE (vehicle_id, seq{key})")
        for statement in _INDEXES_AND_KEYS:
            cursor.execute(statement)


def partition(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _rebuild(schema_editor, partitioned=True)


def unpartition(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _rebuild(schema_editor, partitioned=False)


class Migration(migrations.Migration):
    dependencies = [
        ("telemetry", "0004_points_written_once"),
    ]

    operations = [
        migrations.RunPython(partition, unpartition),
    ]
