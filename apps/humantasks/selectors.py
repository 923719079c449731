from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_events_of_instance
from apps.core.compiled import STAND_IN_ID, STAND_IN_TEXT, rows_compiled, values_compiled
from apps.core.errors import NotFound
from apps.humantasks.models import (
    OPEN_STATES,
    HumanTask,
    HumanTaskGroupObjectPermission,
    HumanTaskUserObjectPermission,
    InstanceAttachment,
    InstanceComment,
    Queue,
    QueueGroupObjectPermission,
    QueueUserObjectPermission,
)
from apps.notifications.events import queue_group, role_group, user_group
from apps.workflows.models import WorkflowInstance
from apps.workflows.registry import as_definition
from apps.workflows.selectors import MAX_ID, InstanceFilters, instance_transitions_available

if TYPE_CHECKING:
    from apps.accounts.models import User

WORK = "work_on_queue"
MANAGE = "manage_queue"
TASK_VIEW = "view_humantask"
TASK_WORK = "work_humantask"
READ_EVERY_TASK = "humantasks.view_humantask"


def _queues_with(*, user: User, codenames: tuple[str, ...]) -> QuerySet[Queue]:
    if not user.is_active:
        return Queue.objects.none()
    if user.is_superuser:
        return Queue.objects.all()
    # By id, so that a stand-in person (not saved) can build the statement once.
    direct = QueueUserObjectPermission.objects.filter(user__pk=user.pk, permission__codename__in=codenames)
    through_role = QueueGroupObjectPermission.objects.filter(
        group__user__pk=user.pk, permission__codename__in=codenames
    )
    return Queue.objects.filter(
        Q(Exists(direct.filter(content_object=OuterRef("pk"))))
        | Q(Exists(through_role.filter(content_object=OuterRef("pk"))))
    )


def queues_workable_by(*, user: User) -> QuerySet[Queue]:
    return _queues_with(user=user, codenames=(WORK,))


def queues_managed_by(*, user: User) -> QuerySet[Queue]:
    return _queues_with(user=user, codenames=(MANAGE,))


def queues_visible_to(*, user: User) -> QuerySet[Queue]:
    return _queues_with(user=user, codenames=(WORK, MANAGE))


def _queue_ids_visible_to(user: User) -> list[int]:
    """The ids of queues_visible_to(user) for an active person who is not a superuser, with a
    statement built once per process (every inbox page reads them)."""

    def build() -> QuerySet:
        stand_in = get_user_model()(pk=STAND_IN_ID, is_active=True, is_superuser=False)
        return queues_visible_to(user=stand_in).values_list("pk")

    rows = values_compiled("queue ids visible to a person", build, {STAND_IN_ID: user.pk})
    return [queue_id for (queue_id,) in rows]


def _task_ids_granted_to(*, user: User) -> QuerySet:
    direct = HumanTaskUserObjectPermission.objects.filter(
        user=user, permission__codename__in=(TASK_VIEW, TASK_WORK)
    )
    through_group = HumanTaskGroupObjectPermission.objects.filter(
        group__user=user, permission__codename__in=(TASK_VIEW, TASK_WORK)
    )
    return direct.values("content_object_id").union(through_group.values("content_object_id"))


@dataclass(frozen=True)
class TaskAccess:
    view: bool = False
    work: bool = False
    manage: bool = False


@dataclass(frozen=True)
class TaskGrants:
    """The grants that decide what one person may do with one task: on its queue (to work
    it, to manage it, any at all) and on the task itself (to work it, any at all)."""

    queue_work: bool = False
    queue_manage: bool = False
    queue_any: bool = False
    task_work: bool = False
    task_any: bool = False


def task_access(*, user: User, task: HumanTask, grants: TaskGrants | None = None) -> TaskAccess:
    """What `user` may do with `task`, from queue grants, per-task grants and global view rights.

    Confidential tasks ignore queue grants: only per-task grants (and superusers) open them.
    `grants` are the person's grants when the caller read them with the task
    (task_grants_annotations); otherwise they are read here, in two queries.
    """
    if not user.is_authenticated or not user.is_active:
        return TaskAccess()
    if grants is None:
        grants = _task_grants_read(user=user, task=task)
    # A confidential task is open to its per-task grantees, and read by auditors (who review
    # every decision); not to its queue, its managers or superusers.
    through_queue = not task.is_confidential
    work = grants.task_work or (through_queue and grants.queue_work)
    manage = through_queue and (user.is_superuser or grants.queue_manage)
    view = (
        work
        or manage
        or grants.task_any
        or (through_queue and (grants.queue_any or user.has_perm(READ_EVERY_TASK)))
        or is_auditor(user)
    )
    return TaskAccess(view=view, work=work, manage=manage)


def _task_grants_read(*, user: User, task: HumanTask) -> TaskGrants:
    queue_perms = set(
        QueueUserObjectPermission.objects.filter(user=user, content_object_id=task.queue_id)
        .values_list("permission__codename", flat=True)
        .union(
            QueueGroupObjectPermission.objects.filter(
                group__user=user, content_object_id=task.queue_id
            ).values_list("permission__codename", flat=True)
        )
    )
    task_perms = set(
        HumanTaskUserObjectPermission.objects.filter(user=user, content_object_id=task.pk)
        .values_list("permission__codename", flat=True)
        .union(
            HumanTaskGroupObjectPermission.objects.filter(
                group__user=user, content_object_id=task.pk
            ).values_list("permission__codename", flat=True)
        )
    )
    return TaskGrants(
        queue_work=WORK in queue_perms,
        queue_manage=MANAGE in queue_perms,
        queue_any=bool(queue_perms),
        task_work=TASK_WORK in task_perms,
        task_any=bool(task_perms),
    )


# The bits of a grants mask (task_grants_annotations): one sum of distinct bits per table.
_WORK_BIT, _MANAGE_BIT, _OTHER_BIT = 1, 2, 4


def task_grants_annotations(*, user: User) -> dict[str, Any]:
    """Annotations of a HumanTask query that read `user`'s TaskGrants with each task row
    (task_lock uses them: the grants come with the locked row, in the same statement).

    Four small subqueries, one per grant table, each summing the distinct bits of the
    permissions it holds (a bit mask), so the statement stays cheap to plan."""
    roles = get_user_model().groups.through.objects.filter(user_id=user.pk).values("group_id")

    def mask(rows: QuerySet, work: str, manage: str | None = None) -> Subquery:
        bits = [When(permission__codename=work, then=Value(_WORK_BIT))]
        if manage:
            bits.append(When(permission__codename=manage, then=Value(_MANAGE_BIT)))
        bit = Case(*bits, default=Value(_OTHER_BIT), output_field=IntegerField())
        summed = rows.order_by().values("content_object_id").annotate(mask=Sum(bit, distinct=True))
        return Subquery(summed.values("mask"), output_field=IntegerField())

    queue, task = OuterRef("queue_id"), OuterRef("pk")
    return {
        "grants_queue_direct": mask(
            QueueUserObjectPermission.objects.filter(user_id=user.pk, content_object_id=queue), WORK, MANAGE
        ),
        "grants_queue_roles": mask(
            QueueGroupObjectPermission.objects.filter(group_id__in=roles, content_object_id=queue),
            WORK,
            MANAGE,
        ),
        "grants_task_direct": mask(
            HumanTaskUserObjectPermission.objects.filter(user_id=user.pk, content_object_id=task), TASK_WORK
        ),
        "grants_task_roles": mask(
            HumanTaskGroupObjectPermission.objects.filter(group_id__in=roles, content_object_id=task),
            TASK_WORK,
        ),
    }


def task_grants_of(task: HumanTask) -> TaskGrants | None:
    """The grants a task row was read with (task_grants_annotations), or None if it was not."""
    if not hasattr(task, "grants_queue_direct"):
        return None
    queue = (task.grants_queue_direct or 0) | (task.grants_queue_roles or 0)
    own = (task.grants_task_direct or 0) | (task.grants_task_roles or 0)
    return TaskGrants(
        queue_work=bool(queue & _WORK_BIT),
        queue_manage=bool(queue & _MANAGE_BIT),
        queue_any=bool(queue),
        task_work=bool(own & _WORK_BIT),
        task_any=bool(own),
    )


def is_auditor(user: User) -> bool:
    """Whether `user` reads every task, confidential ones included, through a role that holds
    the global read permission (Auditors). Superusers hold every permission implicitly, so
    that alone does not make them auditors: they see confidential tasks only when granted."""
    return user.is_active and not user.is_superuser and user.has_perm(READ_EVERY_TASK)


def task_get_for(*, user: User, task_id: int) -> HumanTask:
    """The task if `user` may see it; otherwise NotFound, never a hint that it exists."""
    return task_with_access_for(user=user, task_id=task_id)[0]


def task_with_access_for(*, user: User, task_id: int) -> tuple[HumanTask, TaskAccess]:
    """task_get_for, with what `user` may do with the task (computed once, for pages that show it)."""
    try:
        task = HumanTask.objects.select_related("instance", "queue", "assignee").get(pk=task_id)
    except (HumanTask.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such task.") from None
    access = task_access(user=user, task=task)
    if not access.view:
        raise NotFound("No such task.")
    return task, access


def steps_completed(*, instance: WorkflowInstance) -> set[str]:
    return set(
        HumanTask.objects.filter(instance=instance, state=HumanTask.State.COMPLETED).values_list(
            "step", flat=True
        )
    )


def tasks_of_instance(*, instance: WorkflowInstance) -> QuerySet[HumanTask]:
    return (
        HumanTask.objects.filter(instance=instance)
        .select_related("queue", "assignee")
        .order_by("created_at", "id")
    )


# --- The inbox ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxSort:
    """One order the inbox offers. Every one is backed by a partial index on
    (queue, <keys>, id) over open tasks, so each per-queue branch stays an ordered walk.

    `keys` are (field, descending) pairs before the final `id` tie-breaker.
    """

    name: str
    label: str
    keys: tuple[tuple[str, bool], ...]

    @property
    def order_by(self) -> tuple[str, ...]:
        return (*(f"-{key}" if desc else key for key, desc in self.keys), "id")

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(key for key, _desc in self.keys)


INBOX_SORTS: dict[str, InboxSort] = {
    sort.name: sort
    for sort in (
        InboxSort("priority", "Most urgent first", (("priority", True), ("due_at", False))),
        InboxSort("due", "Due soonest first", (("due_at", False),)),
        InboxSort("age", "Oldest first", (("created_at", False),)),
    )
}
DEFAULT_SORT = INBOX_SORTS["priority"]


@dataclass(frozen=True)
class InboxCursor:
    """Where the previous page ended, in the page's order: the sort keys' values and the id.

    The default sort's cursor is `[priority, due_at, id]`; the others name their sort first
    (`["due", due_at, id]`), so a cursor read under another sort is refused, not misread.
    """

    priority: int | None
    due_at: datetime | None
    id: int
    sort: str = "priority"
    created_at: datetime | None = None

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, key) for key in INBOX_SORTS[self.sort].fields)

    def encode(self) -> str:
        values = [value.isoformat() if isinstance(value, datetime) else value for value in self.values()]
        head = [] if self.sort == DEFAULT_SORT.name else [self.sort]
        raw = json.dumps([*head, *values, self.id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, *, sort: str = "priority") -> InboxCursor:
        from apps.core.errors import InvalidDecision

        try:
            padded = token + "=" * (-len(token) % 4)
            parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(parts, list) or not parts:
                raise ValueError
            if isinstance(parts[0], str) and parts[0] in INBOX_SORTS:
                named, parts = parts[0], parts[1:]
            else:
                named = DEFAULT_SORT.name
            if named != sort:
                raise ValueError
            spec = INBOX_SORTS[sort]
            if len(parts) != len(spec.fields) + 1:
                raise ValueError
            *raw_values, task_id = parts
            if not isinstance(task_id, int) or isinstance(task_id, bool):
                raise ValueError
            values: dict[str, Any] = {}
            for key, raw in zip(spec.fields, raw_values, strict=True):
                if key == "priority":
                    if not isinstance(raw, int) or isinstance(raw, bool):
                        raise ValueError
                    values[key] = raw
                    continue
                moment = parse_datetime(raw) if isinstance(raw, str) else None
                if moment is None or moment.tzinfo is None:
                    raise ValueError
                # Cursors are handed out in UTC; another offset was written by hand, and one
                # PostgreSQL cannot hold (beyond +-15:59) would fail the query rather than here.
                values[key] = moment.astimezone(UTC)
        except (ValueError, TypeError, OverflowError, binascii.Error, json.JSONDecodeError, UnicodeError):
            raise InvalidDecision("The cursor is not valid; start again from the first page.") from None
        return cls(
            priority=values.get("priority"),
            due_at=values.get("due_at"),
            id=task_id,
            sort=sort,
            created_at=values.get("created_at"),
        )

    @classmethod
    def after_row(cls, *, sort: InboxSort, row: tuple[Any, ...]) -> InboxCursor:
        """The cursor after a row read as (id, *sort keys)."""
        task_id, *values = row
        keys: dict[str, Any] = {"priority": None, "due_at": None, "created_at": None}
        keys.update(zip(sort.fields, values, strict=True))
        return cls(**keys, id=task_id, sort=sort.name)

    def after_q(self) -> Q:
        """Rows strictly after this cursor in its sort: a lexicographic keyset condition."""
        spec = INBOX_SORTS[self.sort]
        keys = [*spec.keys, ("id", False)]
        values = [*self.values(), self.id]
        branches = []
        for depth, (key, desc) in enumerate(keys):
            equal = {k: v for (k, _d), v in zip(keys[:depth], values[:depth], strict=True)}
            branches.append(Q(**equal, **{f"{key}__{'lt' if desc else 'gt'}": values[depth]}))
        condition = branches[0]
        for branch in branches[1:]:
            condition |= branch
        return condition


@dataclass(frozen=True)
class InboxFilters:
    queues: tuple[str, ...] = ()  # queue slugs; empty means every visible queue
    states: tuple[str, ...] = OPEN_STATES
    kinds: tuple[str, ...] = ()
    min_priority: int | None = None
    due_before: datetime | None = None
    assignee_id: int | None = None
    instance_id: int | None = None
    text: str = ""

    def q(self) -> Q:
        q = Q(state__in=self.states)
        if self.kinds:
            q &= Q(process_kind__in=self.kinds)
        if self.min_priority is not None:
            q &= Q(priority__gte=self.min_priority)
        if self.due_before is not None:
            q &= Q(due_at__lt=self.due_before)
        if self.assignee_id is not None:
            q &= Q(assignee_id=self.assignee_id)
        if self.instance_id is not None:
            q &= Q(instance_id=self.instance_id)
        if self.text:
            q &= Q(title__icontains=self.text)
        return q


@dataclass
class InboxPage:
    tasks: list[HumanTask] = field(default_factory=list)
    next_cursor: InboxCursor | None = None


def inbox_for(
    *,
    user: User,
    filters: InboxFilters | None = None,
    limit: int = 50,
    after: InboxCursor | None = None,
    sort: InboxSort = DEFAULT_SORT,
) -> InboxPage:
    """One page of the tasks `user` may see in `sort` order (most urgent first by default).
    Three queries (plus the reader's model permissions, read once per user object: is this
    an auditor?), whatever the page size or the number of queues.

    PostgreSQL cannot walk an index in order across `queue IN (...)`, so each visible queue
    gets its own index-ordered LIMIT (task_inbox_open_idx, task_inbox_due_idx or
    task_inbox_age_idx, one per sort): one branch written once and run per visible queue by a
    LATERAL join, merged with UNION ALL with a last branch of the tasks opened to `user` by
    per-task grants; then the page's tasks with instance, queue and assignee.
    """
    if after is not None and after.sort != sort.name:
        raise ValueError("The cursor belongs to another sort order.")
    if not user.is_authenticated or not user.is_active:
        # Per-task grants outlive a deactivation; task_access ignores them, and so must the inbox.
        return InboxPage()
    filters = filters or InboxFilters()
    limit = max(1, min(limit, 200))
    condition = filters.q()
    if after is not None:
        condition &= after.after_q()
    # Auditors read every task of every queue, confidential ones too: the same per-queue
    # index walk over all queues, with no grants branch.
    auditor = is_auditor(user)
    queues = Queue.objects.all() if auditor else queues_visible_to(user=user)
    if filters.queues:
        queues = queues.filter(slug__in=filters.queues)
    shown = {} if auditor else {"is_confidential": False}

    queue_ids = (  # query 1
        _queue_ids_visible_to(user)
        if not (auditor or filters.queues or user.is_superuser)
        else list(queues.values_list("pk", flat=True))
    )
    grants = None
    if not auditor:
        grants = HumanTask.objects.filter(pk__in=_task_ids_granted_to(user=user)).exclude(
            queue_id__in=queue_ids, is_confidential=False
        )
        if filters.queues:
            grants = grants.filter(queue__slug__in=filters.queues)
    if connection.vendor == "postgresql":
        # A title search reads the trigram index (task_title_search_idx) once for all queues:
        # its cost is the posting lists of the pattern's trigrams, which a walk per queue
        # would pay once per queue; the few matches are then sorted.
        per_queue = not filters.text
        walk = HumanTask.objects.filter(
            Q(queue_id=RawSQL("visible.id", ())) if per_queue else Q(queue_id__in=queue_ids), **shown
        )
        rows = _page_rows(
            queue_ids=queue_ids if per_queue else None,
            walk=walk,
            granted=grants,
            condition=condition,
            sort=sort,
            rows=limit + 1,
        )
    else:
        # SQLite (the embedded default) has no LATERAL and cannot LIMIT inside UNION branches;
        # at its size one ordered scan over every visible queue is fast enough.
        either = Q(queue_id__in=queue_ids, **shown)
        if grants is not None:
            either |= Q(pk__in=grants.values("pk"))
        page = HumanTask.objects.filter(either, condition).order_by(*sort.order_by)
        rows = list(page.values_list("id", *sort.fields)[: limit + 1])
    # query 2 above; query 3, the page's tasks:
    has_more = len(rows) > limit
    rows = rows[:limit]
    by_id = _page_tasks([row[0] for row in rows])
    tasks = [by_id[row[0]] for row in rows]
    next_cursor = InboxCursor.after_row(sort=sort, row=rows[-1]) if has_more and rows else None
    return InboxPage(tasks=tasks, next_cursor=next_cursor)


def _page_tasks(ids: list[int]) -> dict[int, HumanTask]:
    """The page's tasks by id, with instance, queue and assignee. On PostgreSQL the statement
    is built once per process, the ids passed as one array: building the IN list of 50 ids
    and the joins through the ORM took half of this read's time."""
    if connection.vendor != "postgresql" or not ids:
        return HumanTask.objects.select_related("instance", "queue", "assignee").in_bulk(ids)
    task_id = f"{connection.ops.quote_name(HumanTask._meta.db_table)}.{connection.ops.quote_name('id')}"
    found = rows_compiled(
        "inbox page tasks",
        lambda: HumanTask.objects.select_related("instance", "queue", "assignee").filter(
            RawSQL(f"{task_id} = ANY(%s)", (STAND_IN_TEXT,), output_field=BooleanField())
        ),
        {STAND_IN_TEXT: ids},
    )
    return {task.pk: task for task in found}


def _page_rows(
    *,
    queue_ids: list[int] | None,
    walk: QuerySet[HumanTask],
    granted: QuerySet[HumanTask] | None,
    condition: Q,
    sort: InboxSort,
    rows: int,
) -> list[tuple[Any, ...]]:
    """One page's (id, *sort keys), in one statement: `walk` (whose queue is `visible.id`) run
    for each of `queue_ids` by a LATERAL join, each run an ordered walk of the sort's index
    that stops after `rows` (or, without `queue_ids`, `walk` run once as it is); the granted
    tasks beside it in UNION ALL; ordered and limited again, which sorts at most
    (queues + 1) x `rows` rows. The branch is built and compiled once, however many queues
    (a UNION ALL of one branch per queue was compiled per queue).

    The page's tasks are loaded by a second statement rather than joined here: in one
    statement PostgreSQL took 15-20 ms to plan the joins around the union, against 2-3 ms
    for the two."""

    def ordered(tasks: QuerySet[HumanTask]) -> tuple[str, tuple] | None:
        limited = tasks.filter(condition).order_by(*sort.order_by).values_list("id", *sort.fields)[:rows]
        try:
            return limited.query.sql_with_params()
        except EmptyResultSet:  # e.g. a title search with no visible queue: nothing to walk
            return None

    branches: list[str] = []
    params: list[Any] = []
    walked = ordered(walk)
    if walked is not None:
        walk_sql, walk_params = walked
        if queue_ids is None:
            branches, params = [walk_sql], [*walk_params]
        else:
            lateral = f"unnest(%s::bigint[]) AS visible (id) CROSS JOIN LATERAL ({walk_sql}) AS walk"
            branches, params = [f"SELECT walk.* FROM {lateral}"], [queue_ids, *walk_params]
    granted_branch = ordered(granted) if granted is not None else None
    if granted_branch is not None:
        branches.append(granted_branch[0])
        params += granted_branch[1]
    if not branches:
        return []
    order = ", ".join(f"{key} {'DESC' if desc else 'ASC'}" for key, desc in (*sort.keys, ("id", False)))
    if len(branches) == 1 and (queue_ids is None or walked is None):
        # One plain branch (an auditor's title search, or the grants alone) is ordered and
        # limited already; PostgreSQL refuses a second ORDER BY after a parenthesised one.
        statement = branches[0]
    else:
        union = " UNION ALL ".join(f"({branch})" for branch in branches)
        statement = f"{union} ORDER BY {order} LIMIT {int(rows)}"
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


# --- Reads for the API: every visible task, queue counts -----------------------------------------


def tasks_visible_to(*, user: User) -> QuerySet[HumanTask]:
    """Every task `user` may see, as a filterable queryset (the same rules as task_access):
    non-confidential tasks of their visible queues and tasks granted to them; every task for
    auditors; every non-confidential task (and those granted) for superusers."""
    if not user.is_authenticated or not user.is_active:
        return HumanTask.objects.none()
    if is_auditor(user):
        return HumanTask.objects.all()
    if user.is_superuser:
        return HumanTask.objects.filter(Q(is_confidential=False) | Q(pk__in=_task_ids_granted_to(user=user)))
    return _tasks_seen_through_queues_and_grants(user=user)


def _tasks_seen_through_queues_and_grants(*, user: User) -> QuerySet[HumanTask]:
    """Non-confidential tasks of the queues `user` may see, and the tasks granted to them."""
    return HumanTask.objects.filter(
        Q(queue__in=queues_visible_to(user=user).values("pk"), is_confidential=False)
        | Q(pk__in=_task_ids_granted_to(user=user))
    )


def open_tasks_of_instance_for(*, user: User, instance: WorkflowInstance) -> list[HumanTask]:
    """The instance's open tasks that `user` may see, oldest first; one query."""
    return list(
        tasks_visible_to(user=user)
        .filter(instance=instance, state__in=OPEN_STATES)
        .select_related("queue", "assignee")
        .order_by("created_at", "id")
    )


@dataclass(frozen=True)
class QueueCounts:
    queue: Queue
    open: int
    claimed: int
    overdue: int


def _open_task_count(**where: Any) -> Coalesce:
    """A per-queue count of its open or claimed non-confidential tasks matching `where`, as a
    correlated subquery that reads only task_queue_counts_idx: the queue's closed tasks (most
    of the table) are never touched. A join with COUNT(FILTER) instead read every task of
    the queue: 1.6 s for three queues at a million tasks."""
    tasks = HumanTask.objects.filter(
        queue=OuterRef("pk"), state__in=OPEN_STATES, is_confidential=False, **where
    )
    counted = tasks.order_by().values("queue").annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def queue_counts_for(*, user: User) -> list[QueueCounts]:
    """Each queue `user` may see with its open, claimed and overdue (open or claimed, past
    due) task counts, in one query whatever the number of queues."""
    now = timezone.now()
    # Confidential tasks are not the queue's to see, so they are not the queue's to count.
    queues = (
        queues_visible_to(user=user)
        .annotate(
            open_count=_open_task_count(state=HumanTask.State.OPEN),
            claimed_count=_open_task_count(state=HumanTask.State.CLAIMED),
            overdue_count=_open_task_count(due_at__lt=now),
        )
        .order_by("name", "id")
    )
    return [QueueCounts(q, q.open_count, q.claimed_count, q.overdue_count) for q in queues]


@dataclass(frozen=True)
class InboxQueue:
    """A queue as the inbox page shows it: what the reader may do there, and its counts."""

    queue: Queue
    may_work: bool
    may_manage: bool
    counts: QueueCounts


def _holds(*, user: User, codename: str) -> Q:
    direct = QueueUserObjectPermission.objects.filter(user=user, permission__codename=codename)
    through_role = QueueGroupObjectPermission.objects.filter(group__user=user, permission__codename=codename)
    return Q(Exists(direct.filter(content_object=OuterRef("pk")))) | Q(
        Exists(through_role.filter(content_object=OuterRef("pk")))
    )


def inbox_queues_for(*, user: User) -> list[InboxQueue]:
    """Every queue `user` may see, by name, with whether they work and manage it and its
    counts (as queue_counts_for): the inbox page's filter choices, Claim buttons, manager
    actions and live counts from one query rather than four."""
    if not user.is_active:
        return []
    now = timezone.now()
    queues = queues_visible_to(user=user).annotate(
        open_count=_open_task_count(state=HumanTask.State.OPEN),
        claimed_count=_open_task_count(state=HumanTask.State.CLAIMED),
        overdue_count=_open_task_count(due_at__lt=now),
    )
    if not user.is_superuser:
        queues = queues.annotate(
            may_work=_holds(user=user, codename=WORK), may_manage=_holds(user=user, codename=MANAGE)
        )
    return [
        InboxQueue(
            queue=q,
            may_work=user.is_superuser or q.may_work,
            may_manage=user.is_superuser or q.may_manage,
            counts=QueueCounts(q, q.open_count, q.claimed_count, q.overdue_count),
        )
        for q in queues.order_by("name", "id")
    ]


# --- Instances and their history, as a person may see them -------------------------------------------
# The engine knows nothing of tasks, so what a person may see of a process (theirs, or one
# with a task they may see) is decided here, once, for the API, the pages, the admin and
# the export alike.

VIEW_ALL_INSTANCES = "workflows.view_workflowinstance"
VIEW_AUDIT = "audit.view_auditevent"


def instances_visible_to(*, user: User, instance_id: int | None = None) -> QuerySet[WorkflowInstance]:
    """Instances `user` may read: their own (requested or started), every one for holders of
    the global view permission (auditors), and any with a task `user` may see. With
    `instance_id`, only that one, if they may (see _narrowed)."""
    if not user.is_authenticated or not user.is_active:
        return WorkflowInstance.objects.none()
    if user.has_perm(VIEW_ALL_INSTANCES):
        return _narrowed(WorkflowInstance.objects.all(), instance_id)
    # A semi-join on the visible tasks' instance ids, not a correlated EXISTS around them: the
    # EXISTS nests the queue-grant subqueries one level deeper, and without table statistics
    # (a fresh database) PostgreSQL estimated it at ~760,000 and spent ~4 s compiling it (JIT)
    # for a few rows; this form plans at ~8,000 and runs in under a millisecond.
    seen_instances = _narrowed(tasks_visible_to(user=user), instance_id, field="instance_id")
    return _narrowed(
        WorkflowInstance.objects.filter(
            Q(requester=user) | Q(started_by=user) | Q(pk__in=seen_instances.values("instance_id"))
        ),
        instance_id,
    )


def _narrowed(rows: QuerySet, instance_id: int | None, *, field: str = "pk") -> QuerySet:
    """`rows` of one instance. The visible tasks' semi-join sits under an OR, which PostgreSQL
    cannot turn into a join: unnarrowed, asking about one instance read every task ever opened
    (200-300 ms at a million); narrowed inside, it is an index lookup of that instance's tasks."""
    return rows if instance_id is None else rows.filter(**{field: instance_id})


def instances_taken_part_in(*, user: User, instance_id: int | None = None) -> QuerySet[WorkflowInstance]:
    """Instances `user` takes part in: their own and those with a task their roles or grants
    let them see. Unlike `instances_visible_to`, the auditors' read-everything grant does
    not count: auditors change nothing, so they read every instance but write no notes."""
    if not user.is_authenticated or not user.is_active:
        return WorkflowInstance.objects.none()
    seen = _narrowed(
        _tasks_seen_through_queues_and_grants(user=user) if is_auditor(user) else tasks_visible_to(user=user),
        instance_id,
        field="instance_id",
    )
    return _narrowed(
        WorkflowInstance.objects.filter(
            Q(requester=user) | Q(started_by=user) | Q(pk__in=seen.values("instance_id"))
        ),
        instance_id,
    )


def instance_list(*, user: User, filters: InstanceFilters | None = None) -> QuerySet[WorkflowInstance]:
    """The instances `user` may read that match `filters`, with the people the list shows joined in."""
    filters = filters or InstanceFilters()
    return instances_visible_to(user=user).filter(filters.q()).select_related("requester", "started_by")


def instance_get_for(*, user: User, instance_id: int | str) -> WorkflowInstance:
    """The instance (as its kind) if `user` may read it; otherwise NotFound, never a hint it exists."""
    try:
        pk = int(instance_id)
    except (TypeError, ValueError):
        raise NotFound("No such process instance.") from None
    if not 0 < pk <= MAX_ID:
        raise NotFound("No such process instance.")
    instance = (
        instances_visible_to(user=user, instance_id=pk).select_related("requester", "started_by").first()
    )
    if instance is None:
        raise NotFound("No such process instance.")
    return as_definition(instance)


def history_visible_to(*, user: User, instance: WorkflowInstance) -> QuerySet[AuditEvent]:
    """An instance's history (its audit events in chain order) as `user` may read it: the
    events of a confidential task are left out unless `user` was granted that task;
    auditors (the audit log's view permission) read every event.

    One query, asked in SQL rather than with has_perm(), which would load every permission
    the reader has (two more queries) on pages that otherwise never need them.
    """
    events = audit_events_of_instance(instance=instance)
    if not user.is_active:
        return events.none()
    if user.is_superuser:
        return events
    app_label, codename = VIEW_AUDIT.split(".")
    auditor = Exists(
        Permission.objects.filter(content_type__app_label=app_label, codename=codename).filter(
            Q(user=user) | Q(group__user=user)
        )
    )
    hidden = Q(task__is_confidential=True) & ~Q(task_id__in=_task_ids_granted_to(user=user))
    return events.filter(auditor | ~hidden)


@dataclass(frozen=True)
class InstanceDetail:
    """An instance as `user` may see it, with everything its page or API answer shows,
    read once: the open tasks they may see, the external transitions they may fire now,
    and the history they may read."""

    instance: WorkflowInstance
    open_tasks: tuple[HumanTask, ...]
    transitions_available: tuple[str, ...]
    history: tuple[AuditEvent, ...]


def instance_detail_for(*, user: User, instance_id: int | str) -> InstanceDetail:
    """The instance's detail if `user` may read it; otherwise NotFound, never a hint it exists."""
    instance = instance_get_for(user=user, instance_id=instance_id)
    return InstanceDetail(
        instance=instance,
        open_tasks=tuple(open_tasks_of_instance_for(user=user, instance=instance)),
        transitions_available=tuple(instance_transitions_available(instance=instance, user=user)),
        history=tuple(history_visible_to(user=user, instance=instance)),
    )


# --- The live inbox: which streams a person hears ---------------------------------------------------


def live_streams_for(*, user: User, visible_queue_ids: list[int] | None = None) -> list[str]:
    """The channel-layer groups (apps.notifications.events) `user` may hear now: their own,
    each of their roles', and every queue they may work or manage. Decided by the server
    from the database, never by a client; one query: roles UNION ALL queues, or only the
    roles when the caller has just read the queues `user` may see (`visible_queue_ids`, from
    queues_visible_to)."""
    if not user.is_authenticated or not user.is_active:
        return []
    if visible_queue_ids is not None:
        roles = user.groups.values_list("pk", flat=True)
        return sorted(
            [
                user_group(user.pk),
                *(role_group(pk) for pk in roles),
                *(queue_group(pk) for pk in visible_queue_ids),
            ]
        )
    roles = user.groups.order_by().annotate(kind=Value("role")).values_list("kind", "pk")
    queues = queues_visible_to(user=user).order_by().annotate(kind=Value("queue")).values_list("kind", "pk")
    group_of = {"role": role_group, "queue": queue_group}
    rows = roles.union(queues, all=True)
    return sorted([user_group(user.pk), *(group_of[kind](pk) for kind, pk in rows)])


# --- Comments and attachments on an instance -------------------------------------------------------


def comments_of_instance(*, instance: WorkflowInstance) -> QuerySet[InstanceComment]:
    """An instance's comments, oldest first, with their authors (for a reader who may see it)."""
    return (
        InstanceComment.objects.filter(instance=instance)
        .select_related("author")
        .order_by("created_at", "id")
    )


def attachments_of_instance(*, instance: WorkflowInstance) -> QuerySet[InstanceAttachment]:
    return (
        InstanceAttachment.objects.filter(instance=instance)
        .select_related("uploaded_by")
        .order_by("created_at", "id")
    )


def attachment_get_for(*, user: User, attachment_id: int) -> InstanceAttachment:
    """The attachment if `user` may see its instance; otherwise NotFound."""
    attachment = (
        InstanceAttachment.objects.filter(pk=attachment_id, instance__in=instances_visible_to(user=user))
        .select_related("instance")
        .first()
    )
    if attachment is None:
        raise NotFound("No such attachment.")
    return attachment


# --- The managers' queue board ------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardHolder:
    """One person holding claimed tasks of a queue: how many, and how many are overdue."""

    user_id: int
    username: str
    name: str
    claimed: int
    overdue: int


@dataclass(frozen=True)
class BoardQueue:
    queue: Queue
    open: int
    claimed: int
    overdue: int
    oldest_created_at: datetime | None
    holders: list[BoardHolder] = field(default_factory=list)


def queue_board_for(*, user: User) -> list[BoardQueue]:
    """Each queue `user` manages with its open, claimed and overdue counts, its oldest open
    task's age, and who holds its claimed tasks. Two queries, whatever the number of queues
    or people; confidential tasks are their grantees' alone and are not counted."""
    now = timezone.now()
    # The oldest open task: the first step of a walk of task_inbox_age_idx per queue.
    oldest = (
        HumanTask.objects.filter(queue=OuterRef("pk"), state__in=OPEN_STATES, is_confidential=False)
        .order_by("created_at", "id")
        .values("created_at")[:1]
    )
    queues = list(
        queues_managed_by(user=user)
        .annotate(
            open_count=_open_task_count(state=HumanTask.State.OPEN),
            claimed_count=_open_task_count(state=HumanTask.State.CLAIMED),
            overdue_count=_open_task_count(due_at__lt=now),
            oldest=Subquery(oldest),
        )
        .order_by("name", "id")
    )  # query 1
    holders: dict[int, list[BoardHolder]] = {queue.pk: [] for queue in queues}
    rows = (
        HumanTask.objects.filter(
            queue_id__in=list(holders), state=HumanTask.State.CLAIMED, is_confidential=False
        )
        .values(
            "queue_id", "assignee_id", "assignee__username", "assignee__first_name", "assignee__last_name"
        )
        .annotate(claimed=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now)))
        .order_by("queue_id", "-claimed", "assignee__username")
    )  # query 2
    for row in rows:
        name = f"{row['assignee__first_name']} {row['assignee__last_name']}".strip()
        holders[row["queue_id"]].append(
            BoardHolder(
                user_id=row["assignee_id"],
                username=row["assignee__username"],
                name=name or row["assignee__username"],
                claimed=row["claimed"],
                overdue=row["overdue"],
            )
        )
    return [
        BoardQueue(
            queue=queue,
            open=queue.open_count,
            claimed=queue.claimed_count,
            overdue=queue.overdue_count,
            oldest_created_at=queue.oldest,
            holders=holders[queue.pk],
        )
        for queue in queues
    ]
