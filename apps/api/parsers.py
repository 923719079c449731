"""The request body parser: JSON, minus what PostgreSQL cannot store."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class StrictJSONParser(JSONParser):
    """JSON whose strings hold no NUL character: PostgreSQL text and jsonb refuse it, so it
    would otherwise surface as a server error deep inside a service."""

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None
    ) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
            has_nul = _has_nul(data)
        except RecursionError:
            # Arrays or objects nested thousands deep: the decoder (or the walk above) runs
            # out of stack, which is the sender's doing, not a server error.
            raise ParseError("The JSON is nested too deeply.") from None
        if has_nul:
            raise ParseError("JSON strings may not contain the NUL character (\\u0000).")
        return data
