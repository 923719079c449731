from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from jsonschema import Draft202012Validator

from apps.core.errors import InvalidProcessData


def validation_errors(schema: Mapping[str, Any], data: Any) -> dict[str, list[str]]:
    """Field path -> messages, e.g. {"amount": ["-5 is less than or equal to the minimum of 0"]}."""
    errors: dict[str, list[str]] = {}
    for error in Draft202012Validator(schema).iter_errors(data):
        path = ".".join(str(part) for part in error.absolute_path) or "non_field_errors"
        errors.setdefault(path, []).append(error.message)
    return errors


# An escaped NUL in JSON text: `\u0000` after an even number of backslashes (zero included).
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def text_is_storable(text: str) -> bool:
    """PostgreSQL text and jsonb hold neither NUL characters nor lone surrogates (not UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def validate_process_data(schema: Mapping[str, Any], data: Any, *, what: str = "data") -> None:
    # Checked here rather than left to the database, which would answer a server error:
    # values JSON cannot carry (Decimal, NaN, sets), lone surrogates and NUL characters.
    try:
        text = json.dumps(data, allow_nan=False, ensure_ascii=False)
        size = len(text.encode())
    except (TypeError, ValueError, RecursionError):
        raise InvalidProcessData(
            f"The {what} must be plain JSON: objects, arrays, text, finite numbers, true, false and null."
        ) from None
    if size > settings.WORKFLOW_DECISION_DATA_MAX_BYTES:
        raise InvalidProcessData(
            f"The {what} is {size} bytes; at most {settings.WORKFLOW_DECISION_DATA_MAX_BYTES} are accepted."
        )
    if _JSON_NUL.search(text):
        raise InvalidProcessData(f"The {what} contains a NUL character, which cannot be stored.")
    errors = validation_errors(schema, data)
    if errors:
        raise InvalidProcessData(f"The {what} is not valid.", errors=errors)
