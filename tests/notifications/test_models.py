"""The delivery state machine: Delivery's transitions on unsaved rows, without a database
(pytest-django refuses any query here: the transitions only change fields)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifications.models import Delivery, DeliveryState, IllegalTransition

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
BATCHING, PENDING, DELIVERED, FAILED = (
    DeliveryState.BATCHING,
    DeliveryState.PENDING,
    DeliveryState.DELIVERED,
    DeliveryState.FAILED,
)


def delivery(state: str = PENDING, **fields: Any) -> Delivery:
    defaults: dict[str, Any] = {"task_id": "holder", "next_attempt_at": T0, "expires_at": T0 + timedelta(days=1)}
    return Delivery(state=state, **{**defaults, **fields})


def fields_of(row: Delivery) -> dict[str, Any]:
    return {field.attname: getattr(row, field.attname) for field in Delivery._meta.concrete_fields}


def changed(before: dict[str, Any], row: Delivery) -> dict[str, Any]:
    return {name: value for name, value in fields_of(row).items() if before[name] != value}


TRANSITIONS: dict[str, tuple[Callable[[Delivery], None], set[str]]] = {
    "seal": (lambda d: d.seal(variables={"vin": "V"}, body="{}", now=T0), {BATCHING}),
    "queue": (lambda d: d.queue(now=T0), {PENDING}),
    "lease": (lambda d: d.lease(task_id="holder", now=T0, until=T0 + 60 * SECOND), {PENDING}),
    "mark_delivered": (lambda d: d.mark_delivered(now=T0), {PENDING}),
    "schedule_retry": (
        lambda d: d.schedule_retry(task_id="holder", error="HTTP 500", at=T0 + SECOND, hold_until=None),
        {PENDING},
    ),
    "give_up": (lambda d: d.give_up(error="HTTP 500; gave up: retry policy exhausted"), {PENDING}),
    "reopen_for_replay": (lambda d: d.reopen_for_replay(now=T0), {DELIVERED, FAILED}),
}


@pytest.mark.parametrize("state", list(DeliveryState))
@pytest.mark.parametrize("transition", TRANSITIONS)
def test_a_transition_is_refused_from_any_other_state_before_changing_anything(transition, state):
    apply, allowed = TRANSITIONS[transition]
    row = delivery(state)
    before = fields_of(row)
    if state in allowed:
        apply(row)
        assert changed(before, row)
    else:
        with pytest.raises(IllegalTransition, match=f"delivery None \\({state}\\)"):
            apply(row)
        assert fields_of(row) == before


def test_sealing_freezes_the_request_and_makes_it_due():
    row = delivery(BATCHING, next_attempt_at=T0 + 30 * SECOND)
    before = fields_of(row)

    row.seal(variables={"vin": "VIN1"}, body='{"events":[]}', now=T0)

    assert changed(before, row) == {
        "state": PENDING,
        "variables": {"vin": "VIN1"},
        "body": '{"events":[]}',
        "next_attempt_at": T0,  # the time its window would have closed no longer matters
    }


def test_each_queueing_is_a_new_task_id_and_saves_only_its_fields():
    row = delivery(PENDING, enqueued_at=None)
    before = fields_of(row)

    row.queue(now=T0)
    first = row.task_id
    row.queue(now=T0 + SECOND)

    assert len(first) == 32 and row.task_id not in (first, "holder")
    assert changed(before, row) == {"task_id": row.task_id, "enqueued_at": T0 + SECOND}
    assert set(changed(before, row)) <= set(Delivery.QUEUED_FIELDS)


LEASES = {
    # name: (fields of the pending delivery, may task "me" lease it at T0?)
    "due, never leased": ({"task_id": "", "in_flight_until": None}, True),
    "queued for another message": ({"task_id": "other", "in_flight_until": None}, True),
    "another's lease ran out": ({"task_id": "other", "in_flight_until": T0}, True),
    "its own countdown retry": ({"task_id": "me", "in_flight_until": T0 + 30 * SECOND}, True),
    "leased to another": ({"task_id": "other", "in_flight_until": T0 + SECOND}, False),
    "not due yet": ({"task_id": "me", "next_attempt_at": T0 + SECOND}, False),
    "no next attempt": ({"task_id": "", "next_attempt_at": None}, True),
}


@pytest.mark.parametrize("case", LEASES)
def test_a_task_may_lease_a_due_pending_delivery_nobody_else_holds(case):
    fields, allowed = LEASES[case]
    row = delivery(PENDING, attempt_count=2, **fields)
    before = fields_of(row)
    assert row.may_lease(task_id="me", now=T0) is allowed

    if not allowed:
        with pytest.raises(IllegalTransition, match="not pending, not due or leased to another task than me"):
            row.lease(task_id="me", now=T0, until=T0 + 60 * SECOND)
        assert fields_of(row) == before
        return
    row.lease(task_id="me", now=T0, until=T0 + 60 * SECOND)
    expected = {"attempt_count": 3, "task_id": "me", "in_flight_until": T0 + 60 * SECOND}
    assert changed(before, row) == {name: value for name, value in expected.items() if before[name] != value}
    assert set(changed(before, row)) <= set(Delivery.LEASED_FIELDS)


def test_delivered_clears_the_schedule_the_lease_and_the_last_error():
    row = delivery(PENDING, in_flight_until=T0 + 60 * SECOND, last_error="HTTP 502", attempt_count=2)

    row.mark_delivered(now=T0)

    assert (row.state, row.delivered_at, row.next_attempt_at, row.in_flight_until, row.last_error) == (
        DELIVERED, T0, None, None, ""
    )
    assert row.task_id == "holder" and row.attempt_count == 2


@pytest.mark.parametrize(
    "hold_until, task_id_after",
    [
        (T0 + 90 * SECOND, "holder"),  # the task retries itself: the lease covers its countdown
        (None, ""),  # left to the sweeper: nobody holds it
    ],
)
def test_a_retry_is_either_the_holders_countdown_or_left_to_the_sweeper(hold_until, task_id_after):
    row = delivery(PENDING, in_flight_until=T0 + 60 * SECOND)

    row.schedule_retry(task_id="holder", error="HTTP 500", at=T0 + 30 * SECOND, hold_until=hold_until)

    assert (row.state, row.last_error, row.next_attempt_at) == (PENDING, "HTTP 500", T0 + 30 * SECOND)
    assert (row.in_flight_until, row.task_id) == (hold_until, task_id_after)


def test_only_the_task_holding_a_delivery_schedules_its_retry():
    row = delivery(PENDING, task_id="newer")  # our lease ran out mid-request; another task took it
    before = fields_of(row)
    assert not row.is_held_by("holder") and row.is_held_by("newer")

    with pytest.raises(IllegalTransition, match="not held by task holder"):
        row.schedule_retry(task_id="holder", error="HTTP 500", at=T0, hold_until=None)
    assert fields_of(row) == before


def test_giving_up_fails_it_with_the_error_and_sets_what_the_bulk_stop_sets():
    row = delivery(PENDING, in_flight_until=T0 + 60 * SECOND)
    before = fields_of(row)

    row.give_up(error="endpoint disabled")

    expected = Delivery.given_up_fields(error="endpoint disabled")
    assert changed(before, row) == expected
    assert expected == {
        "state": FAILED, "last_error": "endpoint disabled", "next_attempt_at": None, "in_flight_until": None
    }


@pytest.mark.parametrize("state", [DELIVERED, FAILED])
def test_a_replay_starts_a_new_round_due_now_with_the_same_body(state):
    row = delivery(
        state, attempt_count=4, retry_base=1, body='{"events":[1]}', webhook_id="msg_1",
        next_attempt_at=None, delivered_at=T0 if state == DELIVERED else None, last_error="HTTP 500",
    )

    row.reopen_for_replay(now=T0 + SECOND)

    assert (row.state, row.retry_base, row.next_attempt_at, row.delivered_at, row.last_error) == (
        PENDING, 4, T0 + SECOND, None, ""
    )
    assert (row.body, row.webhook_id, row.attempt_count) == ('{"events":[1]}', "msg_1", 4)
