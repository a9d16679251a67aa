from __future__ import annotations

from django.db import migrations, models

# Every point is updated once (evaluated_at), which leaves a dead entry in the pending-point
# indexes until vacuum. With PostgreSQL's default scale factor (20 % of the table) a table of
# millions of points collects hundreds of thousands of them, and every evaluation's "points
# left to apply" read wades through them. Vacuum this table after 1 % instead.
_TUNE = (
    "ALTER TABLE telemetry_telemetrypoint SET "
    "(autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 5000)"
)
_UNTUNE = "ALTER TABLE telemetry_telemetrypoint RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold)"


def _on_postgresql(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("telemetry", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="telemetrypoint",
            index=models.Index(
                condition=models.Q(("evaluated_at__isnull", True)),
                fields=["vehicle", "event_date"],
                name="point_pending_vehicle_idx",
            ),
        ),
        migrations.RunPython(_on_postgresql(_TUNE), _on_postgresql(_UNTUNE)),
    ]
