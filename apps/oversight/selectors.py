"""Reads of the auditors' workspace and the managers' dashboard.

Who may use these pages is decided once, by `overseer_for`: auditors (the audit log's view
permission) see everything; managers see the queues they manage (`queues_managed_by`) and
the processes those queues touch; everyone else gets None, and the pages answer 404.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.selectors import VIEW_AUDIT, AuditFilters, audit_event_list
from apps.core.errors import UnknownProcessKind
from apps.humantasks.models import HumanTask, Queue
from apps.humantasks.selectors import history_visible_to, instance_list, queues_managed_by
from apps.workflows.diagram import state_label
from apps.workflows.models import WorkflowInstance
from apps.workflows.registry import definition_latest, process_kind_names
from apps.workflows.selectors import InstanceFilters, process_graph

if TYPE_CHECKING:
    from apps.accounts.models import User

PAGE_SIZE = 25


@dataclass(frozen=True)
class Overseer:
    """What an auditor or a manager may oversee: every queue, or the queues they manage."""

    is_auditor: bool
    queue_ids: tuple[int, ...] = ()


def overseer_for(*, user: User) -> Overseer | None:
    """The reader as an overseer, or None for anyone who is neither auditor nor manager."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.has_perm(VIEW_AUDIT):
        return Overseer(is_auditor=True)
    managed = tuple(queues_managed_by(user=user).order_by("id").values_list("id", flat=True))
    return Overseer(is_auditor=False, queue_ids=managed) if managed else None


def kind_label(kind: str) -> str:
    """`purchase_order` -> "Purchase-order approval" (the kind's own title)."""
    try:
        return definition_latest(kind).process_title
    except UnknownProcessKind:  # a kind no longer registered still reads as words in old history
        return state_label(kind)


def kind_choices() -> list[tuple[str, str]]:
    return [(kind, kind_label(kind)) for kind in process_kind_names()]


def state_choices() -> list[tuple[str, str]]:
    """Every state of every kind, in people's words, alphabetically."""
    states = {
        state: state_label(state)
        for kind in process_kind_names()
        for state in process_graph(kind=kind).states
    }
    return sorted(states.items(), key=lambda item: item[1])


# --- Search: instances and audit events, newest first, keyset pages ------------------------------------


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    # The id to pass as `before` for the next (older) page, or None on the last page.
    next_before: int | None


def _keyset(queryset: QuerySet, *, before: int | None, size: int) -> Page:
    """Newest first by id; `before` is the last id of the previous page. One query: it asks
    for one row more than a page to know whether another page follows."""
    if before is not None:
        queryset = queryset.filter(pk__lt=before)
    rows = list(queryset.order_by("-id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows=rows, next_before=rows[-1].pk if more and rows else None)


def instance_search(
    *, user: User, filters: InstanceFilters, actor_id: int | None = None, before: int | None = None
) -> Page:
    """Instances the reader may see matching `filters` (and requested or started by `actor_id`)."""
    instances = instance_list(user=user, filters=filters)
    if actor_id is not None:
        instances = instances.filter(Q(requester_id=actor_id) | Q(started_by_id=actor_id))
    return _keyset(instances, before=before, size=PAGE_SIZE)


def event_search_queryset(
    *, user: User, filters: AuditFilters, kinds: tuple[str, ...] = (), business_key: str = ""
) -> QuerySet[AuditEvent]:
    """Audit events (auditors only) matching `filters` and, through their instance, a kind
    and business key. The instance part is a subquery on the instances' own indexes, so the
    events are found through (instance, id)."""
    events = audit_event_list(user=user, filters=filters)
    if kinds or business_key:
        instances = WorkflowInstance.objects.filter(
            InstanceFilters(kinds=kinds, business_key=business_key).q()
        )
        events = events.filter(instance_id__in=instances.values("pk"))
    return events


def event_search(
    *,
    user: User,
    filters: AuditFilters,
    kinds: tuple[str, ...] = (),
    business_key: str = "",
    before: int | None = None,
) -> Page:
    events = event_search_queryset(user=user, filters=filters, kinds=kinds, business_key=business_key)
    return _keyset(events.select_related("instance"), before=before, size=PAGE_SIZE)


# --- An instance's story ---------------------------------------------------------------------------------

# Entries people do not need to follow the story; kept, folded away, one click from view.
BOOKKEEPING = frozenset(
    {
        "task.access_granted",
        "task.reminder_sent",
        "automation.step_retry_scheduled",
        "automation.step_requeued",
    }
)


@dataclass(frozen=True)
class Change:
    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class StoryEntry:
    event_id: int
    occurred_at: datetime
    who: str
    sentence: str
    from_state: str
    to_state: str
    changes: tuple[Change, ...] = ()
    comment: str = ""
    bookkeeping: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Story:
    instance: WorkflowInstance
    kind_title: str
    entries: list[StoryEntry]
    # The same events the entries came from, for the diagram's path (no second query).
    events: list[AuditEvent]

    @property
    def main(self) -> list[StoryEntry]:
        return [entry for entry in self.entries if not entry.bookkeeping]

    @property
    def bookkeeping(self) -> list[StoryEntry]:
        return [entry for entry in self.entries if entry.bookkeeping]


def _who(event: AuditEvent) -> str:
    if event.actor is not None:
        return event.actor.get_full_name() or event.actor.get_username()
    return "The system" if event.actor_type == AuditEvent.ActorType.SYSTEM else event.actor_label


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[Change, ...]:
    keys = sorted(set(before) | set(after))
    return tuple(
        Change(
            key,
            _shown(before[key]) if key in before else None,
            _shown(after[key]) if key in after else None,
        )
        for key in keys
        if before.get(key, object()) != after.get(key, object())
    )


def _step_words(event: AuditEvent) -> str:
    step = (event.data or {}).get("step") or (event.task.step if event.task else "")
    return f"the {state_label(step).lower()} task" if step else "a task"


def _sentence(event: AuditEvent, who: str) -> str:
    data = event.data or {}
    action = event.action
    if action == "instance.started":
        return f"{who} started it"
    if action == "instance.transitioned":
        transition = state_label(str(data.get("transition", ""))).lower()
        # Asked for by someone (cancel) rather than following from a decision or a step.
        asked = f"{who} asked to {transition}; " if data.get("trigger") == "external" else ""
        if event.from_state == event.to_state:
            return f"{asked}{transition}: stays {state_label(event.to_state)}"
        moved = f"from {state_label(event.from_state)} to {state_label(event.to_state)}"
        return f"{asked}moved {moved}" if asked else f"Moved {moved} ({transition})"
    if action == "task.created":
        queue = event.task.queue.name if event.task else data.get("queue", "")
        return f"{_step_words(event).capitalize()} was opened{f' for {queue}' if queue else ''}"
    if action == "task.claimed":
        return f"{who} claimed {_step_words(event)}"
    if action in ("task.unclaimed", "task.claim_released"):
        return f"{who} put {_step_words(event)} back in its queue"
    if action == "task.completed":
        outcome = state_label(str(data.get("outcome", ""))).lower()
        tally = ""
        if data.get("approvals_required", 1) > 1 and data.get("approvals"):
            tally = f" ({data.get('approvals')} of {data.get('approvals_required')} approvals)"
        return f"{who} decided “{outcome}” on {_step_words(event)}{tally}"
    if action == "task.reassigned":
        to = data.get("to_assignee") or data.get("to_queue")
        return f"{who} reassigned {_step_words(event)} to {to}"
    if action == "task.delegated":
        return f"{who} delegated {_step_words(event)} to {data.get('to_assignee', 'a colleague')}"
    if action == "task.escalated":
        return f"{_step_words(event).capitalize()} was overdue and escalated"
    if action == "task.cancelled":
        return f"{_step_words(event).capitalize()} was cancelled"
    if action == "task.access_granted":
        return f"{who} granted {data.get('user', 'someone')} access to {_step_words(event)}"
    if action.startswith("automation."):
        step = state_label(str(data.get("step", "automated step"))).lower()
        return f"Automated step {step}: {action.removeprefix('automation.').replace('_', ' ')}"
    return f"{who}: {action.replace('.', ' ').replace('_', ' ')}"


def instance_story(*, user: User, instance: WorkflowInstance) -> Story:
    """The instance's history (as `user` may read it, `history_visible_to`) told as a
    timeline in people's words; process data changes as before/after pairs. One query."""
    events = list(history_visible_to(user=user, instance=instance).select_related("actor", "task__queue"))
    entries = []
    snapshot: dict[str, Any] = {}
    for event in events:
        data = event.data or {}
        who = _who(event)
        changes: tuple[Change, ...] = ()
        if event.action == "instance.started" and isinstance(data.get("data"), dict):
            changes = _changes({}, data["data"])
            snapshot = dict(data["data"])
        elif (
            event.action == "instance.transitioned" and isinstance(data.get("input"), dict) and data["input"]
        ):
            revised = {**snapshot, **data["input"]}
            changes = _changes(snapshot, revised)
            snapshot = revised
        elif event.action == "task.completed" and isinstance(data.get("data"), dict):
            changes = _changes({}, data["data"])
        entries.append(
            StoryEntry(
                event_id=event.pk,
                occurred_at=event.occurred_at,
                who=who,
                sentence=_sentence(event, who),
                from_state=state_label(event.from_state) if event.action.startswith("instance.") else "",
                to_state=state_label(event.to_state) if event.action.startswith("instance.") else "",
                changes=changes,
                comment=str(data.get("comment") or data.get("reason") or ""),
                bookkeeping=event.action in BOOKKEEPING,
                raw={"action": event.action, "seq": event.seq, "data": data},
            )
        )
    return Story(instance=instance, kind_title=kind_label(instance.kind), entries=entries, events=events)


# --- The dashboard -----------------------------------------------------------------------------------


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), output_field=DurationField(), **extra)


@dataclass(frozen=True)
class StepFigures:
    queue_id: int
    queue_name: str
    step: str
    completed: int
    wait_p50: timedelta | None
    wait_p90: timedelta | None
    work_p50: timedelta | None
    work_p90: timedelta | None
    cycle_p50: timedelta | None
    cycle_p90: timedelta | None
    breaches: int
    reassignments: int

    @property
    def step_label(self) -> str:
        return state_label(self.step)

    @property
    def breach_rate(self) -> float:
        return self.breaches / self.completed if self.completed else 0.0


@dataclass(frozen=True)
class DayFigures:
    day: date
    completed: int
    cycle_p50: timedelta | None


@dataclass(frozen=True)
class Dashboard:
    queues: list[Queue]
    steps: list[StepFigures]
    days: list[DayFigures]
    since: datetime
    until: datetime
    # "database" on PostgreSQL; "python" where the database has no percentile_cont (SQLite).
    computed_in: str

    @property
    def bottleneck(self) -> StepFigures | None:
        """The step whose tasks take longest, by median time from opening to decision."""
        timed = [s for s in self.steps if s.cycle_p50 is not None]
        return max(timed, key=lambda s: s.cycle_p50) if timed else None

    def queue_totals(self) -> list[dict[str, Any]]:
        totals: dict[int, dict[str, Any]] = {}
        for queue in self.queues:
            totals[queue.pk] = {"queue": queue, "completed": 0, "breaches": 0, "reassignments": 0}
        for step in self.steps:
            row = totals.get(step.queue_id)
            if row is not None:
                row["completed"] += step.completed
                row["breaches"] += step.breaches
                row["reassignments"] += step.reassignments
        for row in totals.values():
            row["breach_rate"] = row["breaches"] / row["completed"] if row["completed"] else 0.0
        return list(totals.values())


REASSIGNING_ACTIONS = ("task.reassigned", "task.delegated")


def dashboard_queues(*, overseer: Overseer) -> list[Queue]:
    """Every queue for auditors; a manager's own queues otherwise. One query."""
    queues = Queue.objects.order_by("name", "id")
    if not overseer.is_auditor:
        queues = queues.filter(pk__in=overseer.queue_ids)
    return list(queues)


def completed_tasks(*, queue_ids: Iterable[int], since: datetime, until: datetime) -> QuerySet[HumanTask]:
    """Tasks decided in [since, until) in the queues; read through task_completed_idx."""
    return HumanTask.objects.filter(
        state=HumanTask.State.COMPLETED,
        closed_at__gte=since,
        closed_at__lt=until,
        queue_id__in=list(queue_ids),
    )


WAIT = ExpressionWrapper(F("claimed_at") - F("created_at"), output_field=DurationField())
WORK = ExpressionWrapper(F("closed_at") - F("claimed_at"), output_field=DurationField())
CYCLE = ExpressionWrapper(F("closed_at") - F("created_at"), output_field=DurationField())


def step_figures_query(*, queue_ids: list[int], since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Per queue and step: throughput, p50/p90 of wait, work and cycle time, SLA breaches."""
    rows = completed_tasks(queue_ids=queue_ids, since=since, until=until).values("queue_id", "step")
    if connection.vendor == "postgresql":
        return list(
            rows.annotate(
                # COUNT(*), not COUNT(id): id is not in the covering index, and need not be read.
                completed=Count("*"),
                wait_p50=Percentile(WAIT, 0.5),
                wait_p90=Percentile(WAIT, 0.9),
                work_p50=Percentile(WORK, 0.5),
                work_p90=Percentile(WORK, 0.9),
                cycle_p50=Percentile(CYCLE, 0.5),
                cycle_p90=Percentile(CYCLE, 0.9),
                breaches=Count("due_at", filter=Q(closed_at__gt=F("due_at"))),
            ).order_by("queue_id", "step")
        )
    # Without percentile_cont the figures are computed here from the rows: fine for the
    # embedded default's few thousand tasks, not meant for a million.
    groups: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for task in rows.values("queue_id", "step", "created_at", "claimed_at", "closed_at", "due_at"):
        groups[(task["queue_id"], task["step"])].append(task)
    result = []
    for (queue_id, step), tasks in sorted(groups.items()):
        waits = [t["claimed_at"] - t["created_at"] for t in tasks if t["claimed_at"]]
        works = [t["closed_at"] - t["claimed_at"] for t in tasks if t["claimed_at"]]
        cycles = [t["closed_at"] - t["created_at"] for t in tasks]
        result.append(
            {
                "queue_id": queue_id,
                "step": step,
                "completed": len(tasks),
                "wait_p50": _percentile(waits, 0.5),
                "wait_p90": _percentile(waits, 0.9),
                "work_p50": _percentile(works, 0.5),
                "work_p90": _percentile(works, 0.9),
                "cycle_p50": _percentile(cycles, 0.5),
                "cycle_p90": _percentile(cycles, 0.9),
                "breaches": sum(1 for t in tasks if t["closed_at"] > t["due_at"]),
            }
        )
    return result


def _percentile(values: list[timedelta], fraction: float) -> timedelta | None:
    """Linear interpolation between closest ranks, as percentile_cont does."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    seconds = sorted(v.total_seconds() for v in values)
    position = fraction * (len(seconds) - 1)
    low = int(position)
    high = min(low + 1, len(seconds) - 1)
    return timedelta(seconds=seconds[low] + (seconds[high] - seconds[low]) * (position - low))


def reassignments_query(
    *, queue_ids: list[int], since: datetime, until: datetime
) -> dict[tuple[int, str], int]:
    """Reassignments and delegations per (queue, step), from the audit log (action, time index)."""
    rows = (
        AuditEvent.objects.filter(
            action__in=REASSIGNING_ACTIONS,
            occurred_at__gte=since,
            occurred_at__lt=until,
            task__queue_id__in=queue_ids,
        )
        .values("task__queue_id", "task__step")
        .annotate(count=Count("id"))
        .order_by()
    )
    return {(row["task__queue_id"], row["task__step"]): row["count"] for row in rows}


def trend_query(*, queue_ids: list[int], since: datetime, until: datetime) -> list[DayFigures]:
    """Tasks decided per day (in the current time zone) and that day's median cycle time."""
    rows = completed_tasks(queue_ids=queue_ids, since=since, until=until).annotate(
        day=TruncDate("closed_at", tzinfo=timezone.get_current_timezone())
    )
    found: dict[date, DayFigures] = {}
    if connection.vendor == "postgresql":
        grouped = rows.values("day").annotate(completed=Count("*"), cycle_p50=Percentile(CYCLE, 0.5))
        found = {r["day"]: DayFigures(r["day"], r["completed"], r["cycle_p50"]) for r in grouped.order_by()}
    else:
        by_day: dict[date, list[timedelta]] = defaultdict(list)
        for row in rows.values("day", "created_at", "closed_at"):
            by_day[row["day"]].append(row["closed_at"] - row["created_at"])
        found = {
            day: DayFigures(day, len(cycles), _percentile(cycles, 0.5)) for day, cycles in by_day.items()
        }
    # Every day of the range, quiet ones as zero, so the chart's axis is time.
    first, last = timezone.localdate(since), timezone.localdate(until - timedelta(microseconds=1))
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [found.get(day, DayFigures(day, 0, None)) for day in days]


def dashboard_for(*, queues: list[Queue], since: datetime, until: datetime) -> Dashboard:
    """The figures of `queues` (from `dashboard_queues`: the overseer's) for [since, until).

    Three queries: the per-step figures, the reassignments, the daily trend.
    """
    queue_ids = [queue.pk for queue in queues]
    names = {queue.pk: queue.name for queue in queues}
    if not queue_ids:
        return Dashboard(queues, [], [], since, until, _computed_in())
    reassigned = reassignments_query(queue_ids=queue_ids, since=since, until=until)
    steps = [
        StepFigures(
            queue_name=names[row["queue_id"]],
            reassignments=reassigned.get((row["queue_id"], row["step"]), 0),
            **row,
        )
        for row in step_figures_query(queue_ids=queue_ids, since=since, until=until)
    ]
    days = trend_query(queue_ids=queue_ids, since=since, until=until)
    return Dashboard(queues, steps, days, since, until, _computed_in())


def _computed_in() -> str:
    return "database" if connection.vendor == "postgresql" else "python"
