"""What a transaction has established about the rows it holds, remembered until it ends.

A service that has locked an instance, or read the head of its audit chain, knows facts
that stay true until its transaction ends, because no other transaction may change them
meanwhile. Remembering them saves reading them again, statement after statement.

A fact is remembered as a no-op on-commit callback, so Django's own bookkeeping decides
how long it lives: it goes with the transaction (commit or rollback), and with a savepoint
that rolls back (a row locked or written inside that savepoint is released or undone too).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from django.db import transaction

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
