from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from jsonschema import Draft202012Validator

from apps.workflows.errors import InvalidProcessData


def validation_errors(schema: Mapping[str, Any], data: Any) -> dict[str, list[str]]:
    """Field path -> messages, e.g. {"amount": ["-5 is less than or equal to the minimum of 0"]}."""
    errors: dict[str, list[str]] = {}
    for error in Draft202012Validator(schema).iter_errors(data):
        path = ".".join(str(part) for part in error.absolute_path) or "non_field_errors"
        errors.setdefault(path, []).append(error.message)
    return errors


def validate_process_data(schema: Mapping[str, Any], data: Any, *, what: str = "data") -> None:
    size = len(json.dumps(data, default=str).encode())
    if size > settings.WORKFLOW_DECISION_DATA_MAX_BYTES:
        raise InvalidProcessData(
            f"The {what} is {size} bytes; at most {settings.WORKFLOW_DECISION_DATA_MAX_BYTES} are accepted."
        )
    errors = validation_errors(schema, data)
    if errors:
        raise InvalidProcessData(f"The {what} is not valid.", errors=errors)
