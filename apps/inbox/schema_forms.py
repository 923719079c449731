"""Django form fields generated from a JSON Schema: the start forms (a kind's `data_schema`)
and the decision forms (a step's `decision_schema`) both come from here.

Each property becomes a typed field with the schema's limits, its `title` as the label and
its `description` as the help text; messages are in plain words. Supported:

| schema | field |
| --- | --- |
| `"type": "number"` or `"integer"`, `minimum`, `maximum`, `exclusive*`, `x-decimal-places` | a number |
| `"type": "string"`, `minLength`, `maxLength`, `pattern`, `x-multiline`, `examples` | a text input |
| `"format": "date"`, or the pattern `^\\d{4}-\\d{2}-\\d{2}$` | a date picker (stored as YYYY-MM-DD) |
| `"format": "email"` | an email input |
| `"enum"` | a select; `x-labels` names the choices |
| `"type": "boolean"` | a checkbox |
| `"const": true` | a checkbox that must be ticked |
| a nested `"type": "object"` with `properties` | its fields, one level down |
| anything else | a JSON text box (no shipped step needs it) |

The schema stays the contract: the data a form produces is validated against it again
(`schema_errors`), and whatever the fields did not catch lands beside its field in plain
words, never in the validator's wording.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.core import validators

from apps.inbox.wording import humanize, number
from apps.workflows.validation import validation_errors

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
# Nested objects flatten into fields named parent__child.
SEPARATOR = "__"

REQUIRED = "Please fill this in."
REQUIRED_CHOICE = "Please choose one."
REQUIRED_TICK = "Tick this box to go on."


@dataclass(frozen=True)
class SchemaField:
    """One generated field: `path` is where its value goes in the data (("result", "score"))."""

    name: str
    path: tuple[str, ...]
    spec: Mapping[str, Any]
    required: bool
    field: forms.Field


def schema_fields(
    schema: Mapping[str, Any], *, language: str, prefix: str = "", required_marks: bool = True
) -> list[SchemaField]:
    """The form fields of `schema`'s properties, in its order.

    With `required_marks` False the fields are optional to Django (a decision form requires
    them only for the approving outcome) but remember in `SchemaField.required` whether the
    schema requires them.
    """
    return list(_fields(schema, language=language, prefix=prefix, path=(), required_marks=required_marks))


def _fields(
    schema: Mapping[str, Any], *, language: str, prefix: str, path: tuple[str, ...], required_marks: bool
) -> list[SchemaField]:
    required = set(schema.get("required", ()))
    found: list[SchemaField] = []
    for key, spec in schema.get("properties", {}).items():
        here = (*path, key)
        name = prefix + SEPARATOR.join(here)
        if spec.get("type") == "object" and spec.get("properties"):
            found += _fields(spec, language=language, prefix=prefix, path=here, required_marks=required_marks)
            continue
        is_required = key in required
        field = field_for(spec, name=key, required=is_required and required_marks, language=language)
        found.append(SchemaField(name=name, path=here, spec=spec, required=is_required, field=field))
    return found


def field_for(spec: Mapping[str, Any], *, name: str, required: bool, language: str) -> forms.Field:
    """A Django field for one property of a schema."""
    label = spec.get("title") or humanize(name)
    common: dict[str, Any] = {"label": label, "required": required, "help_text": spec.get("description", "")}
    if spec.get("const") is True:
        return forms.BooleanField(**common, error_messages={"required": REQUIRED_TICK})
    if "enum" in spec:
        names = spec.get("x-labels", {})
        choices = [(value, names.get(str(value)) or humanize(value)) for value in spec["enum"]]
        if not required:
            choices.insert(0, ("", "—"))
        return forms.TypedChoiceField(
            **common,
            choices=choices,
            coerce=lambda chosen: next((v for v in spec["enum"] if str(v) == chosen), chosen),
            empty_value=None,
            error_messages={"required": REQUIRED_CHOICE, "invalid_choice": "Please choose one of the list."},
        )
    kind = spec.get("type")
    if kind == "boolean":
        return forms.BooleanField(**{**common, "required": False})
    if kind in ("number", "integer"):
        return _number_field(spec, common=common, language=language, integer=kind == "integer")
    if kind == "string":
        return _text_field(spec, common=common)
    return JsonValueField(**common, widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}))


def _number_field(
    spec: Mapping[str, Any], *, common: dict[str, Any], language: str, integer: bool
) -> forms.Field:
    places = 0 if integer else spec.get("x-decimal-places")
    checks: list[validators.BaseValidator] = []
    attrs: dict[str, Any] = {
        "step": "1" if integer else ("0." + "0" * (places - 1) + "1" if places else "any")
    }

    def shown(limit: Any) -> str:
        return number(limit, language=language)

    if "minimum" in spec:
        attrs["min"] = spec["minimum"]
        checks.append(
            validators.MinValueValidator(spec["minimum"], f"Enter {shown(spec['minimum'])} or more.")
        )
    if "exclusiveMinimum" in spec:
        attrs["min"] = spec["exclusiveMinimum"]
        checks.append(
            _ExclusiveMin(
                spec["exclusiveMinimum"], f"Enter a number greater than {shown(spec['exclusiveMinimum'])}."
            )
        )
    if "maximum" in spec:
        attrs["max"] = spec["maximum"]
        checks.append(
            validators.MaxValueValidator(spec["maximum"], f"Enter {shown(spec['maximum'])} or less.")
        )
    if "exclusiveMaximum" in spec:
        attrs["max"] = spec["exclusiveMaximum"]
        checks.append(
            _ExclusiveMax(
                spec["exclusiveMaximum"], f"Enter a number less than {shown(spec['exclusiveMaximum'])}."
            )
        )
    widget = forms.NumberInput(attrs={**attrs, "inputmode": "numeric" if integer else "decimal"})
    if integer:
        return forms.IntegerField(
            **common,
            widget=widget,
            validators=checks,
            error_messages={"required": REQUIRED, "invalid": "Enter a whole number, such as 12."},
        )
    return forms.DecimalField(
        **common,
        widget=widget,
        validators=checks,
        decimal_places=places,
        error_messages={
            "required": REQUIRED,
            "invalid": "Enter a number, such as 1200 or 1200.50.",
            "max_decimal_places": "Use at most %(max)s digits after the decimal point.",
        },
    )


class _ExclusiveMin(validators.BaseValidator):
    def compare(self, value: Any, limit: Any) -> bool:
        return value <= limit


class _ExclusiveMax(validators.BaseValidator):
    def compare(self, value: Any, limit: Any) -> bool:
        return value >= limit


def _text_field(spec: Mapping[str, Any], *, common: dict[str, Any]) -> forms.Field:
    checks: list[Any] = []
    attrs: dict[str, Any] = {}
    if "maxLength" in spec:
        attrs["maxlength"] = spec["maxLength"]
        checks.append(
            validators.MaxLengthValidator(
                spec["maxLength"], "Use at most %(limit_value)d characters (this has %(show_value)d)."
            )
        )
    if spec.get("minLength", 0) > 1:
        attrs["minlength"] = spec["minLength"]
        checks.append(
            validators.MinLengthValidator(
                spec["minLength"], "Use at least %(limit_value)d characters (this has %(show_value)d)."
            )
        )
    messages = {"required": REQUIRED}
    if spec.get("format") == "date" or spec.get("pattern") == DATE_PATTERN:
        return forms.DateField(
            **common,
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            input_formats=["%Y-%m-%d"],
            error_messages={**messages, "invalid": "Enter a date, such as 2027-01-04."},
        )
    if "pattern" in spec and spec.get("format") != "email":
        # An email field checks more than the schema's pattern; the schema checks it again.
        checks.append(validators.RegexValidator(spec["pattern"], _pattern_message(spec)))
    if spec.get("format") == "email":
        email = forms.EmailField(
            **common,
            validators=checks,
            error_messages={**messages, "invalid": "Enter an email address, such as name@example.com."},
        )
        email.widget.attrs.update(attrs)  # the schema's limit, not Django's 320
        return email
    if spec.get("x-multiline"):
        widget: forms.Widget = forms.Textarea(attrs={**attrs, "rows": 3})
    elif spec.get("examples"):
        widget = SuggestingTextInput(attrs=attrs, suggestions=[str(e) for e in spec["examples"]])
    else:
        widget = forms.TextInput(attrs=attrs)
    if "default" in spec:
        common = {**common, "initial": spec["default"]}
    return forms.CharField(**common, widget=widget, validators=checks, strip=True, error_messages=messages)


def _pattern_message(spec: Mapping[str, Any]) -> str:
    if spec.get("x-invalid"):
        return str(spec["x-invalid"])
    if spec.get("description"):
        return f"Check this: {spec['description']}"
    return "This is not in the expected form."


class SuggestingTextInput(forms.TextInput):
    """A text input with a list of suggestions (an HTML datalist); anything else may be typed."""

    template_name = "inbox/widgets/suggesting_text_input.html"

    def __init__(self, attrs: dict[str, Any] | None = None, *, suggestions: list[str]) -> None:
        super().__init__(attrs)
        self.suggestions = suggestions

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        list_id = f"{context['widget']['attrs'].get('id', name)}-suggestions"
        context["widget"]["attrs"]["list"] = list_id
        context["widget"].update(list_id=list_id, suggestions=self.suggestions)
        return context


class JsonValueField(forms.CharField):
    """A value the generator has no input for, typed as JSON (kept for kinds yet to come)."""

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if text in ("", None):
            return None
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            raise forms.ValidationError('Enter it as JSON, for example {"passed": true}.') from None

    def prepare_value(self, value: Any) -> Any:
        return value if isinstance(value, str) else json.dumps(value)


# --- From cleaned values to data, and the schema's verdict back onto the fields ------------------


def schema_data(fields: list[SchemaField], cleaned: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON data the fields' cleaned values make: nested by path, empty optional ones left
    out, decimals as JSON numbers, dates as YYYY-MM-DD."""
    data: dict[str, Any] = {}
    for item in fields:
        value = cleaned.get(item.name)
        if isinstance(item.field, forms.BooleanField):
            value = bool(value)
        if value in (None, "") or (value is False and item.spec.get("const") is True):
            continue
        target = data
        for part in item.path[:-1]:
            target = target.setdefault(part, {})
        target[item.path[-1]] = _json_value(value)
    return data


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def initial_values(fields: list[SchemaField], data: Mapping[str, Any]) -> dict[str, Any]:
    """Form initial values from existing data (a resubmission shows the current figures)."""
    values: dict[str, Any] = {}
    for item in fields:
        value: Any = data
        for part in item.path:
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is not None:
            values[item.name] = value
    return values


def schema_errors(
    schema: Mapping[str, Any], data: Any, fields: list[SchemaField]
) -> dict[str | None, list[str]]:
    """What the schema still refuses in `data`, by form field name (None: the form as a whole),
    in plain words."""
    by_path = {".".join(item.path): item for item in fields}
    found: dict[str | None, list[str]] = {}
    for path, _messages in validation_errors(schema, data).items():
        item = by_path.get(path)
        if item is not None:
            found.setdefault(item.name, []).append(plain_error(item.spec))
        else:
            found.setdefault(None, []).append(
                "The form does not match what this process expects; reload the page and try again."
            )
    return found


def plain_error(spec: Mapping[str, Any]) -> str:
    """A message for a value the schema refused, from what the schema says about the field."""
    if spec.get("const") is True:
        return REQUIRED_TICK
    if "pattern" in spec:
        return _pattern_message(spec)
    if spec.get("description"):
        return f"This value is not accepted. {spec['description']}"
    return "This value is not accepted."


def field_name_for(error_path: str, fields: list[SchemaField], *, data_prefix: str = "") -> str | None:
    """The form field a service's error path names ("data.amount" -> "data__amount")."""
    path = error_path.removeprefix(data_prefix)
    return next((item.name for item in fields if ".".join(item.path) == path), None)
