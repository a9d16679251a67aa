from __future__ import annotations

import pytest

from fleetmon_project.brokers import drop_all_messages, queue_depths, transport_options


def test_rabbitmq_publishes_with_confirms_and_no_visibility_timeout():
    assert transport_options("amqp://guest:guest@127.0.0.1:5672/v", visibility_timeout=3600) == {"confirm_publish": True}


def test_redis_gets_the_visibility_timeout():
    assert transport_options("redis://127.0.0.1:6379/0", visibility_timeout=900) == {"visibility_timeout": 900}


@pytest.mark.parametrize("url", ["amqp://guest:guest@127.0.0.1:1//", "redis://127.0.0.1:1/0", "filesystem://"])
def test_queue_depths_are_unknown_for_a_broker_that_does_not_answer_or_is_not_measured(url):
    assert queue_depths(url, timeout=1) is None


def test_dropping_messages_of_an_unsupported_broker_says_so():
    with pytest.raises(ValueError, match="not Redis or RabbitMQ"):
        drop_all_messages("filesystem://")
