"""Cursor pagination: lists are {"results": [...], "next": <url or null>} and take `page_size`.

Instances and audit events use DRF's CursorPagination over an indexed column; the task
inbox has its own cursor (apps.humantasks.selectors.InboxCursor) that only `next_link` wraps.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import pagination, serializers
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param


class IdCursorPagination(pagination.CursorPagination):
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    ordering = "-id"

    def __init__(self, *, ordering: str = "-id") -> None:
        self.ordering = ordering
        self.page_size = settings.API_PAGE_SIZE
        self.max_page_size = settings.API_MAX_PAGE_SIZE

    def decode_cursor(self, request: Request) -> Any:
        try:
            cursor = super().decode_cursor(request)
            # The position is compared with the id column: one that is not a whole number
            # (a cursor edited by hand) would fail in the query, as a server error.
            if cursor is not None and cursor.position is not None:
                int(cursor.position)
            return cursor
        except Exception:  # DRF answers a bad cursor with 404; it is the request that is wrong.
            raise serializers.ValidationError(
                {"cursor": ["Not a valid cursor; start again from the first page."]}
            ) from None


def next_link(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    return replace_query_param(request.build_absolute_uri(), "cursor", cursor)
