"""Statements the ORM builds once per process and shape, run with each call's own values.

Building and compiling a queryset with a few subqueries took longer (several ms on a shared
2-core machine) than PostgreSQL took to run the prepared statement. Where an operation on the
hot path asks the same question every time, the queryset is built once with stand-in values
and each call fills in its own (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler

# Stand-ins for the values a compiled statement is given per call: out of any id's range, and
# a string no business value starts with.
STAND_IN_ID = -2_000_000_001
STAND_IN_OTHER_ID = -2_000_000_002
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


@dataclass(frozen=True)
class _RowsStatement:
    sql: str
    params: tuple[Any, ...]
    compiler: SQLCompiler  # as_sql() has run: it knows the columns and their converters
    model: type[Model]
    fields: slice
    field_names: list[str]
    related: list[Any]
    annotations: dict[str, int]


_rows_statements: dict[Hashable, _RowsStatement] = {}


def rows_compiled(key: Hashable, build: Callable[[], QuerySet[Any]], values: dict[Any, Any]) -> list[Any]:
    """The model instances the queryset `build()` returns (built once per `key`), for `values`.

    What Django's ModelIterable does with a fresh compiler each time, done with the compiler
    of the first call: the row's own fields, select_related() objects and annotations. For
    querysets of plain rows, select_related() and annotate() only (no prefetching, no
    known related objects); select_for_update() ones are built inside the caller's transaction.
    """
    statement = _rows_statements.get(key)
    if statement is None:
        queryset = build()
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        info = compiler.klass_info
        first, last = info["select_fields"][0], info["select_fields"][-1] + 1
        statement = _rows_statements[key] = _RowsStatement(
            sql=sql,
            params=tuple(params),
            compiler=compiler,
            model=info["model"],
            fields=slice(first, last),
            field_names=[column[0].target.attname for column in compiler.select[first:last]],
            related=get_related_populators(info, compiler.select, queryset.db),
            annotations=dict(compiler.annotation_col_map or {}),
        )
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, stand_ins_filled(statement.params, values))
        rows = cursor.fetchall()
    found = []
    for row in statement.compiler.results_iter([rows]):
        obj = statement.model.from_db(connection.alias, statement.field_names, row[statement.fields])
        for related in statement.related:
            related.populate(row, obj)
        for name, position in statement.annotations.items():
            setattr(obj, name, row[position])
        found.append(obj)
    return found
