"""The monitor admin's form: operators edit the same MonitorParameter the API takes and get the
API's own validation messages, so a definition saved here behaves exactly like one POSTed."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput

from fleetmon_project.errors import ApiError
from monitors import selectors, services
from monitors.definition import MonitorDefinition
from monitors.models import Monitor, MonitorStatus

# What a new monitor's JSON starts from: saving it untouched lists exactly what is still missing.
DEFINITION_SKELETON: dict[str, Any] = {
    "subscribeParam": {"callback": {"webhook": {"target": "", "name": "", "attributes": []}}},
    "triggerParam": {"triggers": [], "boolExp": ""},
}


class PrettyJSONField(forms.JSONField):
    """Indented JSON: a definition with five triggers must stay readable in a textarea."""

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, InvalidJSONInput):
            return value  # what the operator typed, so the mistake can be fixed in place
        text = json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)
        # A lone surrogate (refused by validation, but shown back for fixing) has no UTF-8 and
        # would break the whole page: it is shown as the JSON escape it was typed as.
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


class MonitorAdminForm(forms.ModelForm):
    definition = PrettyJSONField(
        help_text=(
            "The MonitorParameter body of the monitor API (subscribeParam, triggerParam, "
            "extendedEventParam). An API body pasted whole, label included, is accepted too."
        ),
        widget=forms.Textarea(
            attrs={"rows": 28, "cols": 100, "class": "vLargeTextField fleetmon-definition", "spellcheck": "false"}
        ),
    )

    class Meta:
        model = Monitor
        fields = ("label", "fleet", "status", "definition")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.monitor_definition: MonitorDefinition | None = None
        self._stored_definition = None if self.instance._state.adding else self.instance.definition
        if "label" in self.fields:
            self.fields["label"].required = False  # may come from the pasted body instead
        status_field = self.fields.get("status")
        if isinstance(status_field, forms.ChoiceField):
            # Failed is the notifier's verdict on the webhook, not something an operator sets.
            current = self.instance.status
            status_field.choices = [
                (status.value, status.label)
                for status in MonitorStatus
                if status != MonitorStatus.FAILED or status == current
            ]
        if self._stored_definition is not None:
            # The label has its own field; showing it twice would invite conflicting edits.
            shown = selectors.monitor_definition_get(monitor=self.instance)
            self.initial["definition"] = {k: v for k, v in shown.items() if k != "label"}
        elif not self.initial.get("definition"):
            self.initial["definition"] = DEFINITION_SKELETON

    @property
    def parsed_definition(self) -> MonitorDefinition:
        """The definition clean() parsed: a form is saved only once valid, so it is there."""
        if self.monitor_definition is None:
            raise ValueError("the form has no valid definition to save")
        return self.monitor_definition

    @property
    def definition_changed(self) -> bool:
        """False when the saved canonical form is unchanged: replacing it would needlessly
        start a new generation and re-evaluate every vehicle."""
        return self.monitor_definition is not None and self.monitor_definition.canonical != self._stored_definition

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if "definition" not in cleaned:
            return cleaned  # not JSON at all: the field already says so
        body = self._api_body(cleaned)
        if body is None:
            return cleaned
        try:
            definition = services.monitor_definition_parse(raw=body)
        except ApiError as exc:
            for error in exc.errors:
                self._add_api_error(error["field"], error["message"])
            return cleaned
        self.monitor_definition = definition
        cleaned["label"] = definition.spec.label
        cleaned["definition"] = definition.canonical
        return cleaned

    def _api_body(self, cleaned: dict[str, Any]) -> object | None:
        """The body the API would receive: the definition with the Label field merged in."""
        body = cleaned["definition"]
        if not isinstance(body, dict):
            return body  # the parser explains what a MonitorParameter must be
        label = cleaned.get("label") or ""
        if label and "label" in body and body["label"] != label:
            self.add_error(
                "definition", f"label: {body['label']!r} differs from the Label field ({label!r}); keep only one"
            )
            return None
        return {**body, "label": label} if label else body

    def _add_api_error(self, field: str, message: str) -> None:
        if field == "label" and "label" in self.fields:
            self.add_error("label", message)
        else:
            self.add_error("definition", f"{field}: {message}" if field else message)
