from django.db import migrations


class Migration(migrations.Migration):
    """`claimed_by` held the Celery task id of the lease holder (or of the last message queued):
    named for what it holds. A rename, so leases held during the upgrade are kept."""

    dependencies = [
        ('notifications', '0004_webhook_health_streak_start_and_disablement'),
    ]

    operations = [
        migrations.RenameField(
            model_name='delivery',
            old_name='claimed_by',
            new_name='task_id',
        ),
    ]
