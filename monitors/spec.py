"""The one reading of a stored monitor definition.

A monitor's definition is stored as the canonical `MonitorParameter` JSON that
`monitors.definition` produces (what GET returns). Everything that acts on it (the engine,
the admin, the notifier) reads it through `MonitorSpec`, so that its key paths are written
here and in the validator only.

Pure, and lazy: an accessor reads its part when first asked, so a definition stored under
older rules fails where it is used (and is reported there), not when a monitor is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

TRIGGER_KINDS = ("zone", "time", "data")

# What a webhook attribute's value may reference ($vin, ...; matched case-insensitively): the
# vehicle's VIN and id differ from one event to the next, the monitor's and fleet's do not.
VEHICLE_VARIABLES = ("vin", "vid")
WEBHOOK_VARIABLES = (*VEHICLE_VARIABLES, "monitorID", "fleetID")


@dataclass(frozen=True)
class Webhook:
    target: str
    name: str
    # {"type": "Header" | "Query" | "Body", "key", "value"}, values possibly using WEBHOOK_VARIABLES
    attributes: tuple[Mapping[str, str], ...]


@dataclass(frozen=True)
class RetryPolicy:
    policy: str  # "None", "Bounded" or "Always"
    retry_number: int  # retries allowed with policy Bounded
    retry_delay: int  # seconds between attempts


@dataclass(frozen=True)
class BatchNotify:
    size: int  # events in a request at most
    time_window: int  # seconds a batch collects events at most


@dataclass(frozen=True)
class TriggerSpec:
    name: str
    kind: str  # one of TRIGGER_KINDS
    params: Mapping[str, Any]  # the canonical object of its kind (`zone`, `time` or `data`)
    min_duration: str | None  # ISO 8601 duration, or None when satisfied at once


@dataclass(frozen=True, eq=False)
class MonitorSpec:
    """A canonical (validated) definition read through typed accessors; treat `canonical`
    as read-only."""

    canonical: Mapping[str, Any]

    @property
    def label(self) -> str:
        return self.canonical["label"]

    @cached_property
    def _subscribe(self) -> Mapping[str, Any]:
        return self.canonical["subscribeParam"]

    @cached_property
    def refresh_event(self) -> int | None:
        """Seconds between refresh events while the condition holds, or None."""
        return self._subscribe.get("refreshEvent")

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        policy = self._subscribe["retryPolicy"]
        return RetryPolicy(
            policy=policy["policy"], retry_number=policy["retryNumber"], retry_delay=policy["retryDelay"]
        )

    @cached_property
    def batch_notify(self) -> BatchNotify | None:
        """None when events are posted one by one."""
        batch = self._subscribe.get("batchNotify")
        return None if batch is None else BatchNotify(size=batch["size"], time_window=batch["timeWindow"])

    @cached_property
    def webhook(self) -> Webhook:
        webhook = self._subscribe["callback"]["webhook"]
        return Webhook(target=webhook["target"], name=webhook["name"], attributes=tuple(webhook["attributes"]))

    @cached_property
    def extended_event_params(self) -> tuple[str, ...]:
        return tuple(self.canonical["extendedEventParam"])

    @cached_property
    def triggers(self) -> tuple[TriggerSpec, ...]:
        """In definition order, which is the compiled expression's bit order."""
        return tuple(_trigger(trigger) for trigger in self.canonical["triggerParam"]["triggers"])

    @property
    def trigger_names(self) -> tuple[str, ...]:
        return tuple(trigger.name for trigger in self.triggers)

    @property
    def bool_exp(self) -> str:
        return self.canonical["triggerParam"]["boolExp"]

    @cached_property
    def trigger_kinds(self) -> tuple[str, ...]:
        """The kinds its triggers are of, each once, sorted."""
        return tuple(sorted({trigger.kind for trigger in self.triggers}))

    @property
    def has_time_triggers(self) -> bool:
        return "time" in self.trigger_kinds


def _trigger(trigger: Mapping[str, Any]) -> TriggerSpec:
    kind = next(kind for kind in TRIGGER_KINDS if kind in trigger)
    return TriggerSpec(
        name=trigger["name"], kind=kind, params=trigger[kind], min_duration=trigger.get("minDuration")
    )
