from __future__ import annotations

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# The points' foreign key had two indexes of its own, (vehicle_id) and, on PostgreSQL, the
# (vehicle_id varchar_pattern_ops) that Django adds for LIKE on a varchar: six indexes on a
# table written at every point, for lookups that (vehicle_id, seq, …) and (vehicle_id,
# event_date) serve as well, the cascade of a vehicle's deletion included. Dropped by name
# (migration 0005 recreated them under these names) rather than by AlterField, which would
# also drop and re-add the foreign key, checking every point again under a lock.
TABLE = "telemetry_telemetrypoint"
INDEXES = ["telemetry_telemetrypoint_vehicle_id_e516380a", "telemetry_telemetrypoint_vehicle_id_e516380a_like"]


def drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def restore(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.execute(f"CREATE INDEX {INDEXES[0]} ON {TABLE} (vehicle_id)")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX {INDEXES[1]} ON {TABLE} (vehicle_id varchar_pattern_ops)")


class Migration(migrations.Migration):
    dependencies = [
        ("telemetry", "0006_watermark_received_at"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop, restore)],
            state_operations=[
                migrations.AlterField(
                    model_name="telemetrypoint",
                    name="vehicle",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="points",
                        to="telemetry.vehicle",
                    ),
                ),
            ],
        ),
    ]
