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


class _Converted:
    """A compiled statement's rows converted as the ORM converts them (JSON, decimals, ...),
    with the converters looked up once: results_iter() looked them up for every call, a
    tenth of a locked task's read."""

    def __init__(self, compiler: SQLCompiler) -> None:
        self.compiler = compiler
        selected = [column[0] for column in compiler.select[0 : compiler.col_count]]
        # Composite keys need results_iter()'s tuples; none of the models read here has one.
        self.composite = compiler.has_composite_fields(selected)
        self.converters = compiler.get_converters(selected)

    def rows(self, rows: list[Any]) -> Iterable[Any]:
        if self.composite:
            return self.compiler.results_iter([rows])
        return self.compiler.apply_converters(rows, self.converters) if self.converters else rows


def values_compiled(key: Hashable, build: Callable[[], QuerySet[Any]], values: dict[Any, Any]) -> list[tuple]:
    """The rows (tuples, converted as the ORM converts them) of the values_list() queryset
    `build()` returns (built once per `key`), for `values`."""
    statement = _values_statements.get(key)
    if statement is None:
        queryset = build()
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        statement = _values_statements[key] = (sql, tuple(params), _Converted(compiler))
    sql, params, converted = statement
    with connection.cursor() as cursor:
        cursor.execute(sql, stand_ins_filled(params, values))
        rows = cursor.fetchall()
    return [tuple(row) for row in converted.rows(rows)]


_values_statements: dict[Hashable, tuple[str, tuple[Any, ...], _Converted]] = {}


@dataclass(frozen=True)
class _RowsStatement:
    sql: str
    params: tuple[Any, ...]
    converted: _Converted  # as_sql() has run: the compiler knows the columns and their converters
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
            converted=_Converted(compiler),
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
    for row in statement.converted.rows(rows):
        obj = statement.model.from_db(connection.alias, statement.field_names, row[statement.fields])
        for related in statement.related:
            related.populate(row, obj)
        for name, position in statement.annotations.items():
            setattr(obj, name, row[position])
        found.append(obj)
    return found


# --- Writes ---------------------------------------------------------------------------------------------
#
# Model.save() and bulk_create() build an INSERT or UPDATE through the ORM's query machinery
# each time (and bulk_create on PostgreSQL passes each column as an array, which psycopg
# dumps element by element in Python). On the decision path that was a fifth of a start's
# time in the profile, for statements whose text never changes. These write the same rows
# with a statement built once per model and shape; the values are prepared by each field as
# the ORM prepares them (pre_save, get_db_prep_save). No signals are sent, as with
# bulk_create: none of the models written here has a receiver.


@dataclass(frozen=True)
class _InsertStatement:
    sql: str
    fields: tuple[Any, ...]


_insert_statements: dict[tuple[type[Model], int], _InsertStatement | None] = {}


def _insert_statement(model: type[Model], count: int) -> _InsertStatement | None:
    """The INSERT of `count` new rows of `model`, or None where the ORM must write them (a
    model with parents, or with fields the database fills in besides the primary key)."""
    key = (model, count)
    if key in _insert_statements:
        return _insert_statements[key]
    opts = model._meta.concrete_model._meta
    pk = opts.pk
    fields = tuple(field for field in opts.local_concrete_fields if field is not pk)
    statement = None
    if (
        not opts.parents
        and getattr(pk, "db_returning", False)
        and not any(getattr(field, "db_returning", False) for field in fields)
        and not any(hasattr(field, "get_placeholder") for field in fields)
        and connection.features.can_return_rows_from_bulk_insert
    ):
        quote = connection.ops.quote_name
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        statement = _InsertStatement(
            sql=(
                f"INSERT INTO {quote(opts.db_table)} ({', '.join(quote(field.column) for field in fields)})"
                f" VALUES {', '.join([row] * count)} RETURNING {quote(pk.column)}"
            ),
            fields=fields,
        )
    _insert_statements[key] = statement
    return statement


def rows_insert_compiled(rows: list[Model]) -> None:
    """Insert new rows of one model in one statement; each gets its primary key, as with
    Model.save(force_insert=True). Rows with a primary key set, or values that are expressions,
    go through bulk_create."""
    model = type(rows[0])
    statement = _insert_statement(model, len(rows))
    params = _insert_params(statement, rows) if statement is not None else None
    if params is None:
        model._base_manager.bulk_create(rows)
        return
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        keys = cursor.fetchall()
    alias = connection.alias
    for row, (key,) in zip(rows, keys, strict=True):
        row.pk = key
        row._state.adding = False
        row._state.db = alias


def _insert_params(statement: _InsertStatement, rows: list[Model]) -> list[Any] | None:
    """The statement's parameters for `rows`, or None if a row cannot be written by it (its
    primary key is set, or a value is an expression to compile)."""
    if any(row.pk is not None for row in rows):
        return None
    params: list[Any] = []
    for row in rows:
        for field in statement.fields:
            value = field.pre_save(row, True)
            if hasattr(value, "resolve_expression"):
                return None
            params.append(field.get_db_prep_save(value, connection))
    return params


_update_statements: dict[tuple[type[Model], tuple[str, ...]], tuple[str, tuple[Any, ...]]] = {}


def row_update_compiled(row: Model, field_names: tuple[str, ...] | None = None) -> None:
    """Write `row`'s fields (those named, or all) to its existing row by primary key, as
    Model.save(update_fields=...) does; DatabaseError if the row is not there."""
    from django.db import DatabaseError

    model = type(row)
    key = (model, field_names or ())
    statement = _update_statements.get(key)
    if statement is None:
        opts = model._meta.concrete_model._meta
        pk = opts.pk
        if field_names is None:
            fields = tuple(field for field in opts.local_concrete_fields if field is not pk)
        else:
            fields = tuple(opts.get_field(name) for name in field_names)
        quote = connection.ops.quote_name
        sets = ", ".join(f"{quote(field.column)} = %s" for field in fields)
        statement = _update_statements[key] = (
            f"UPDATE {quote(opts.db_table)} SET {sets} WHERE {quote(pk.column)} = %s",
            fields,
        )
    sql, fields = statement
    params = [field.get_db_prep_save(field.pre_save(row, False), connection) for field in fields]
    params.append(row.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != 1:
            raise DatabaseError(f"{model.__name__} {row.pk} was not there to update.")
