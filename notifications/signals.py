"""What the delivery services announce for the task layer to turn into Celery messages: the
services never import the tasks (the tasks call the services). Both are sent inside the
transaction that wrote the row; the receivers (connected in apps.py) send once it commits."""

from __future__ import annotations

from django.dispatch import Signal

# `delivery_ids`, `task_id`: the deliveries were queued (`Delivery.queue`) under that task id,
# to be sent by one message (outbox.origin_groups).
deliveries_queued = Signal()

# `delivery_id`, `countdown`: a batch opened, to be sealed in `countdown` seconds.
batch_opened = Signal()
