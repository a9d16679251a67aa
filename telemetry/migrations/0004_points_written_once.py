from __future__ import annotations

from django.db import migrations, models

# Numbers each vehicle's points in id order (the order they were stored), and sets each
# vehicle's watermark before its first point still unevaluated. A point evaluated after an
# older one that was not is applied again: applying is idempotent (a merge ignores what is not
# newer, an event already raised is not raised twice). The SQL runs on PostgreSQL and SQLite.
_NUMBER_POINTS = """
UPDATE telemetry_telemetrypoint SET seq = numbered.seq
FROM (
    SELECT id, row_number() OVER (PARTITION BY vehicle_id ORDER BY id) AS seq FROM telemetry_telemetrypoint
) AS numbered
WHERE telemetry_telemetrypoint.id = numbered.id
"""
_COUNT_POINTS = """
UPDATE telemetry_vehicle SET points_stored = COALESCE(
    (SELECT MAX(seq) FROM telemetry_telemetrypoint AS point WHERE point.vehicle_id = telemetry_vehicle.id), 0
)
"""
_SET_WATERMARKS = """
UPDATE telemetry_vehiclestate SET applied_seq = COALESCE(
    (SELECT MIN(seq) - 1 FROM telemetry_telemetrypoint AS point
     WHERE point.vehicle_id = telemetry_vehiclestate.vehicle_id AND point.evaluated_at IS NULL),
    (SELECT MAX(seq) FROM telemetry_telemetrypoint AS point WHERE point.vehicle_id = telemetry_vehiclestate.vehicle_id),
    0
)
"""
# Backwards: the points up to the watermark were evaluated, when is no longer known.
_MARK_EVALUATED = """
UPDATE telemetry_telemetrypoint SET evaluated_at = CURRENT_TIMESTAMP
WHERE seq <= COALESCE(
    (SELECT applied_seq FROM telemetry_vehiclestate AS state WHERE state.vehicle_id = telemetry_telemetrypoint.vehicle_id), 0
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("telemetry", "0003_api_client"),
    ]

    operations = [
        migrations.AddField(
            model_name="vehicle",
            name="points_stored",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="vehiclestate",
            name="applied_seq",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="telemetrypoint",
            name="seq",
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.RunSQL(
            [_NUMBER_POINTS, _COUNT_POINTS, _SET_WATERMARKS],
            [_MARK_EVALUATED],
        ),
        migrations.AlterField(
            model_name="telemetrypoint",
            name="seq",
            field=models.BigIntegerField(editable=False, help_text="Its number among the vehicle's points, from 1."),
        ),
        migrations.RemoveIndex(
            model_name="telemetrypoint",
            name="point_pending_idx",
        ),
        migrations.RemoveIndex(
            model_name="telemetrypoint",
            name="point_pending_vehicle_idx",
        ),
        migrations.RemoveField(
            model_name="telemetrypoint",
            name="evaluated_at",
        ),
        migrations.AddConstraint(
            model_name="telemetrypoint",
            constraint=models.UniqueConstraint(fields=("vehicle", "seq"), name="point_vehicle_seq_unique"),
        ),
    ]
