"""Many tasks at once: the one per-item loop the API's bulk endpoint and the pages' bulk
forms share. Each item is its own service call (its own transaction and checks) and
answers for itself; one refusal never undoes another item's success.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from apps.core.errors import DomainError
from apps.humantasks.models import HumanTask
from apps.workflows.selectors import MAX_ID

Item = TypeVar("Item")
Explanation = TypeVar("Explanation")


@dataclass(frozen=True)
class BulkItemResult(Generic[Explanation]):
    """What became of one item: the task after a success, or the explanation of its failure."""

    index: int
    task_id: int | None
    task: HumanTask | None = None
    error: Exception | None = None
    explanation: Explanation | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None


def _domain_detail(error: Exception) -> str | None:
    return error.detail if isinstance(error, DomainError) else None


def task_ref(value: object) -> int | None:
    """A task id as an item names it, or None: bool is an int to Python, and only a real,
    storable number names a task."""
    return value if type(value) is int and 0 < value <= MAX_ID else None


def tasks_bulk_apply(
    *,
    items: Sequence[Item],
    task_of: Callable[[Item], int | None],
    act: Callable[[Item], HumanTask],
    explain: Callable[[Exception], Explanation | None] = _domain_detail,
) -> list[BulkItemResult[Explanation]]:
    """Run `act` on every item and return one result per item, in the items' order.

    Items run in the order the services lock (instance, then task): under an outer
    transaction (the API's Idempotency-Key) each item's locks are kept to the end, so two
    requests naming the same tasks in different orders would otherwise deadlock.
    An error `explain` has no explanation for (None) is unexpected and raised.
    """
    refs = {index: task_of(item) for index, item in enumerate(items)}
    instance_of = dict(
        HumanTask.objects.filter(pk__in={ref for ref in refs.values() if ref is not None}).values_list(
            "pk", "instance_id"
        )
    )
    order = sorted(
        range(len(items)), key=lambda index: (instance_of.get(refs[index], 0), refs[index] or 0, index)
    )
    results: list[BulkItemResult[Explanation]] = []
    for index in order:
        try:
            task = act(items[index])
        except Exception as error:  # noqa: BLE001 - each item answers for itself; unexpected errors still raise
            explanation = explain(error)
            if explanation is None:
                raise
            results.append(BulkItemResult(index, refs[index], error=error, explanation=explanation))
        else:
            results.append(BulkItemResult(index, refs[index], task=task))
    results.sort(key=lambda result: result.index)
    return results
