"""The start form of each process kind and the decision form of each step, generated from
their schemas (apps.inbox.schema_forms); a kind or step may register its own form class.

The forms check the shape of what was sent and say what is wrong in plain words; the
services decide whether it may happen, and their errors come back onto the fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from django import forms

from apps.core.errors import DomainError
from apps.humantasks.services import MAX_COMMENT_LENGTH
from apps.inbox.forms import TaskActionForm
from apps.inbox.schema_forms import (
    REQUIRED,
    SchemaField,
    initial_values,
    plain_error,
    schema_data,
    schema_errors,
    schema_fields,
)
from apps.inbox.wording import outcome_label
from apps.workflows.definitions import HumanStep

if TYPE_CHECKING:
    from apps.workflows.models import WorkflowInstance

DATA_PREFIX = "data__"


class SchemaFormMixin:
    """Adds a schema's fields to a form and turns the cleaned values back into its data."""

    schema_items: list[SchemaField]
    fields: dict[str, forms.Field]

    def add_schema_fields(
        self, schema: Mapping[str, Any], *, language: str, prefix: str, required: bool
    ) -> None:
        self.schema = schema
        self.schema_items = schema_fields(schema, language=language, prefix=prefix, required_marks=required)
        for item in self.schema_items:
            self.fields[item.name] = item.field

    @property
    def schema_rows(self) -> list[tuple[forms.BoundField, bool]]:
        """Each generated field with whether the schema requires it (for the required mark)."""
        return [(self[item.name], item.required) for item in self.schema_items]  # type: ignore[index]

    def schema_value(self) -> dict[str, Any]:
        return schema_data(self.schema_items, self.cleaned_data)  # type: ignore[attr-defined]

    def check_against_schema(self) -> None:
        for name, messages in schema_errors(self.schema, self.schema_value(), self.schema_items).items():
            for message in messages:
                self.add_error(name, message)  # type: ignore[attr-defined]

    def add_service_errors(self, error: DomainError, *, data_prefix: str = "") -> bool:
        """The service's field errors beside their fields, in the schema's words; True if any landed."""
        landed = False
        by_path = {".".join(item.path): item for item in self.schema_items}
        for path, messages in error.errors.items():
            item = by_path.get(path.removeprefix(data_prefix)) if path.startswith(data_prefix) else None
            if item is not None:
                self.add_error(item.name, plain_error(item.spec))  # type: ignore[attr-defined]
                landed = True
            elif path in self.fields and path not in ("version",) and isinstance(messages, list):
                for message in messages:
                    self.add_error(path, message)  # type: ignore[attr-defined]
                landed = True
        return landed


# --- Start forms --------------------------------------------------------------------------------


class StartForm(SchemaFormMixin, forms.Form):
    """A kind's data, one field per property of its `data_schema`."""

    def __init__(self, data: Any = None, *, definition: type[WorkflowInstance], language: str) -> None:
        super().__init__(data)
        self.definition = definition
        self.add_schema_fields(definition.data_schema, language=language, prefix="", required=True)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.errors:
            self.check_against_schema()
        return cleaned

    def process_data(self) -> dict[str, Any]:
        return self.schema_value()

    def add_domain_error(self, error: DomainError) -> None:
        if not self.add_service_errors(error):
            self.add_error(None, error.detail)


F = TypeVar("F", bound=type[forms.Form])
_start_forms: dict[str, type[StartForm]] = {}
_decision_forms: dict[tuple[str, str], type[DecisionForm]] = {}


def start_form_register(kind: str) -> Callable[[F], F]:
    """Use this form class, a StartForm subclass, for `kind` instead of the generated one."""

    def register(form_class: F) -> F:
        _start_forms[kind] = form_class  # type: ignore[assignment]
        return form_class

    return register


def start_form_class(kind: str) -> type[StartForm]:
    return _start_forms.get(kind, StartForm)


# --- Decision forms ------------------------------------------------------------------------------


class DecisionForm(SchemaFormMixin, TaskActionForm):
    """An outcome (the button pressed), a comment, and the step's decision data as fields.

    The data is what the approving outcome carries: its fields are checked, and required,
    only when that outcome is chosen; other outcomes send none.
    """

    outcome = forms.ChoiceField(
        widget=forms.HiddenInput,
        label="Outcome",
        error_messages={
            "required": "Choose what to do with one of the buttons.",
            "invalid_choice": "That is not one of this step's choices; use one of the buttons.",
        },
    )
    comment = forms.CharField(
        required=False,
        max_length=MAX_COMMENT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Comment",
    )

    def __init__(
        self,
        data: Any = None,
        *,
        step: HumanStep,
        kind: str,
        language: str,
        schema: Mapping[str, Any] | None = None,
        current: Mapping[str, Any] | None = None,
        initial: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(data, initial=initial)
        self.step, self.kind = step, kind
        self.outcome_choices = [(outcome, outcome_label(kind, outcome)) for outcome in step.outcomes]
        self.fields["outcome"].choices = self.outcome_choices
        self.add_schema_fields(
            step.decision_schema if schema is None else schema,
            language=language,
            prefix=DATA_PREFIX,
            required=False,
        )
        if current:
            self.initial.update(initial_values(self.schema_items, current))
        if step.comment_required_for:
            needing = " or ".join(f"“{outcome_label(kind, o)}”" for o in step.comment_required_for)
            self.fields["comment"].help_text = f"Needed for {needing}: say why."

    @property
    def approving_label(self) -> str:
        return outcome_label(self.kind, self.step.approving_outcome)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        outcome = cleaned.get("outcome")
        if outcome is None:
            return cleaned
        if outcome in self.step.comment_required_for and not cleaned.get("comment"):
            self.add_error(
                "comment", f"Please say why: “{outcome_label(self.kind, outcome)}” needs a comment."
            )
        if outcome != self.step.approving_outcome:
            # Other outcomes carry no data: whatever the data fields hold is not checked or sent.
            for item in self.schema_items:
                self.errors.pop(item.name, None)
            return cleaned
        for item in self.schema_items:
            ticked = isinstance(item.field, forms.BooleanField) and item.spec.get("const") is not True
            if (
                item.required
                and not ticked
                and item.name not in self.errors
                and cleaned.get(item.name) in (None, "", False)
            ):
                self.add_error(item.name, plain_error(item.spec) if item.spec.get("const") else REQUIRED)
        if not self.errors:
            self.check_against_schema()
        return cleaned

    def decision_data(self) -> dict[str, Any]:
        if self.cleaned_data.get("outcome") != self.step.approving_outcome:
            return {}
        return self.schema_value()

    def add_domain_error(self, error: DomainError) -> None:
        if not self.add_service_errors(error, data_prefix="data."):
            self.add_error(None, error.detail)


def decision_form_register(kind: str, step: str) -> Callable[[F], F]:
    """Use this form class, a DecisionForm subclass, for `step` of `kind`."""

    def register(form_class: F) -> F:
        _decision_forms[(kind, step)] = form_class  # type: ignore[assignment]
        return form_class

    return register


def decision_form_class(kind: str, step: str) -> type[DecisionForm]:
    return _decision_forms.get((kind, step), DecisionForm)
