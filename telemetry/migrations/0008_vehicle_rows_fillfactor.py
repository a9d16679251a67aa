from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# Both rows are rewritten for every batch of a vehicle's points: the vehicle's by ingestion
# (its point counter), its state's by the evaluation (the state and the watermark). A rewrite
# that finds room on its own page is a heap-only tuple, which touches none of the table's
# indexes; on full pages a third of the state rows' rewrites and an eighth of the vehicles'
# (with six indexes) went through every index (the e2e benchmark, pg_stat_user_tables).
# PostgreSQL only; SQLite rewrites rows in place.
TABLES = ["telemetry_vehicle", "telemetry_vehiclestate"]
FILLFACTOR = 70


def set_fillfactor(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def reset_fillfactor(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("telemetry", "0007_point_vehicle_index_dropped"),
    ]

    operations = [
        migrations.RunPython(set_fillfactor, reset_fillfactor),
    ]
