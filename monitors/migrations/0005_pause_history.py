"""Every pause is kept (Monitor.pauses), not only the last one: the last pause carries over."""

from django.db import migrations, models


def carry_last_pause(apps, schema_editor):
    Monitor = apps.get_model("monitors", "Monitor")
    paused = Monitor.objects.filter(paused_at__isnull=False)
    for monitor in paused.only("pk", "paused_at", "resumed_at").iterator():
        resumed = monitor.resumed_at.isoformat() if monitor.resumed_at else None
        Monitor.objects.filter(pk=monitor.pk).update(pauses=[[monitor.paused_at.isoformat(), resumed]])


def restore_last_pause(apps, schema_editor):
    Monitor = apps.get_model("monitors", "Monitor")
    for monitor in Monitor.objects.exclude(pauses=[]).only("pk", "pauses").iterator():
        paused, resumed = monitor.pauses[-1]
        Monitor.objects.filter(pk=monitor.pk).update(paused_at=paused, resumed_at=resumed)


class Migration(migrations.Migration):

    dependencies = [
        ("monitors", "0004_boundary_evaluation_outbox"),
    ]

    operations = [
        migrations.AddField(
            model_name="monitor",
            name="pauses",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(carry_last_pause, restore_last_pause),
        migrations.RemoveField(model_name="monitor", name="paused_at"),
        migrations.RemoveField(model_name="monitor", name="resumed_at"),
    ]
