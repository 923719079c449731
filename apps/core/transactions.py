"""What a transaction has established about the rows it holds, remembered until it ends.

A service that has locked an instance, or read the head of its audit chain, knows facts
that stay true until its transaction ends, because no other transaction may change them
meanwhile. Remembering them saves reading them again, statement after statement.

A fact is remembered as a no-op on-commit callback, so Django's own bookkeeping decides
how long it lives: it goes with the transaction (commit or rollback), and with a savepoint
that rolls back (a row locked or written inside that savepoint is released or undone too).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.db.models import Model

from apps.core.compiled import rows_insert_compiled

_MISSING = object()


class _Fact:
    """An on-commit callback that does nothing: its presence in the transaction's list is the fact."""

    __slots__ = ("key", "value")

    def __init__(self, key: Hashable, value: Any) -> None:
        self.key, self.value = key, value

    def __call__(self) -> None:
        return None


def remember(key: Hashable, value: Any = True) -> None:
    """Remember `value` under `key` until the current transaction (or the savepoint it is
    in) ends. Outside a transaction nothing is remembered: there is nothing it would hold."""
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_Fact(key, value))


def recall(key: Hashable, default: Any = None) -> Any:
    """The latest value remembered under `key` in the current transaction, or `default`."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return default
    for _savepoints, callback, _robust in reversed(connection.run_on_commit):
        if type(callback) is _Fact and callback.key == key:
            return callback.value
    return default


def row_key(row: Any) -> tuple[str, Any]:
    """The key of a model row's facts, the same for a proxy model's rows as for its concrete model's."""
    return (row._meta.concrete_model._meta.label_lower, row.pk)


def row_hold(row: Any) -> None:
    """Record that this transaction holds `row` for itself: it locked it, or created it."""
    remember(("held", *row_key(row)))


def row_is_held(row: Any) -> bool:
    return recall(("held", *row_key(row)), False) is True


def is_remembered(key: Hashable) -> bool:
    return recall(key, _MISSING) is not _MISSING


# Rows a service's transaction writes at its end, one INSERT per model (see _rows_batched).
_BATCH_ATTRIBUTE = "_rows_batched"


@contextmanager
def _rows_batched() -> Iterator[None]:
    """Inside this block (opened by atomic_batched inside its atomic block, so it ends first), rows
    given to `rows_insert` are inserted when it ends, in one INSERT per model, in the order
    given: an audit trail of three events and two outbox rows costs two round trips, not five.

    A row written in a savepoint that rolls back is dropped with it, as its INSERT would have
    been: each row is remembered like a fact (a no-op on-commit callback), which Django drops
    with the savepoint. When the block ends by an exception, nothing is written (the
    transaction is rolling back). A block inside another joins it.

    Private to atomic_batched: opened on its own inside a wider transaction, an exception
    caught between the two would drop the block's rows while keeping its other writes."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("atomic_batched's rows are written inside its own transaction")
    if getattr(connection, _BATCH_ATTRIBUTE, None) is not None:
        yield
        return
    batch: list[tuple[Model, _Fact]] = []
    setattr(connection, _BATCH_ATTRIBUTE, batch)
    try:
        yield
    except BaseException:
        setattr(connection, _BATCH_ATTRIBUTE, None)
        raise
    setattr(connection, _BATCH_ATTRIBUTE, None)
    _batch_write(connection, batch)


@contextmanager
def atomic_batched() -> Iterator[None]:
    """A service's transaction whose audit events and outbox rows go in one INSERT per table
    at its end (`transaction.atomic()` and `_rows_batched()`)."""
    with transaction.atomic(), _rows_batched():
        yield


def rows_insert(rows: list[Model]) -> None:
    """Insert `rows` (of one model) now, in one INSERT, or at the end of the transaction's
    atomic_batched block if one is open. Their primary keys are known once they are written."""
    if not rows:
        return
    connection = transaction.get_connection()
    batch = getattr(connection, _BATCH_ATTRIBUTE, None)
    if batch is None or not connection.in_atomic_block:
        rows_insert_compiled(rows)
        return
    for row in rows:
        marker = _Fact(("batched", id(row)), row)
        transaction.on_commit(marker)
        batch.append((row, marker))


def _batch_write(connection: Any, batch: list[tuple[Model, _Fact]]) -> None:
    if connection.needs_rollback:
        return  # set_rollback(True): the transaction ends in a rollback, its rows with it
    alive = {id(callback) for _savepoints, callback, _robust in connection.run_on_commit}
    by_model: dict[type[Model], list[Model]] = {}
    for row, marker in batch:
        if id(marker) in alive:
            by_model.setdefault(type(row), []).append(row)
    for rows in by_model.values():
        rows_insert_compiled(rows)
