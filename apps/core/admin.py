"""Admin helpers every app's admin uses."""

from __future__ import annotations

import json

from django.http import HttpRequest
from django.utils.html import format_html


def pretty_json(value: object) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


class ReadOnlyAdminMixin:
    """Shows rows to those with the view permission; offers no way to write them."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
