"""Statements the ORM builds once per process and shape, run with each call's own values.

Building and compiling a queryset with a few subqueries took longer (several ms on a shared
2-core machine) than PostgreSQL took to run the prepared statement. Where an operation on the
hot path asks the same question every time, the queryset is built once with stand-in values
and each call fills in its own (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

from django.db import connection
from django.db.models import QuerySet

# Stand-ins for the values a compiled statement is given per call: out of any id's range, and
# a string no business value starts with.
STAND_IN_ID = -2_000_000_001
STAND_IN_TEXT = "\x00stand-in"

_statements: dict[Hashable, tuple[str, tuple[Any, ...]]] = {}


def stand_ins_filled(params: Iterable[Any], values: dict[Any, Any]) -> list[Any]:
    """`params` with each stand-in replaced by its value for this call."""
    return [values.get(param, param) if type(param) in (int, str) else param for param in params]


def exists_compiled(key: Hashable, build: Callable[[], QuerySet[Any]], values: dict[Any, Any]) -> bool:
    """Whether the queryset `build()` returns (built once per `key`) has a row, for `values`."""
    statement = _statements.get(key)
    if statement is None:
        sql, params = build().values("pk")[:1].query.sql_with_params()
        statement = _statements[key] = (sql, tuple(params))
    sql, params = statement
    with connection.cursor() as cursor:
        cursor.execute(sql, stand_ins_filled(params, values))
        return cursor.fetchone() is not None
