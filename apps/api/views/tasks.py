from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.accounts.selectors import user_active_by_username
from apps.api.conditional import expected_version, with_etag
from apps.api.idempotency import idempotent
from apps.api.pagination import next_link
from apps.api.problems import problem_for
from apps.api.serializers import (
    BulkCompleteItem,
    BulkReassignItem,
    EmptyInput,
    TaskBulkInput,
    TaskBulkOutput,
    TaskCompleteInput,
    TaskDelegateInput,
    TaskDetailOutput,
    TaskDueInput,
    TaskListOutput,
    TaskListQuery,
    TaskOutput,
    TaskPriorityInput,
    TaskReassignInput,
)
from apps.api.views.common import ETAG, IDEMPOTENCY_KEY, IF_MATCH, validated
from apps.core.errors import InvalidDecision, NotFound
from apps.humantasks import services
from apps.humantasks.models import OPEN_STATES, HumanTask, Queue
from apps.humantasks.selectors import InboxCursor, InboxFilters, inbox_for, task_get_for
from apps.humantasks.services.bulk import task_ref, tasks_bulk_apply
from apps.workflows.selectors import MAX_ID

TAGS = ["tasks"]


def _task_id(value: str) -> int:
    try:
        pk = int(value)
    except (TypeError, ValueError):
        raise NotFound("No such task.") from None
    if not 0 < pk <= MAX_ID:
        raise NotFound("No such task.")
    return pk


def _colleague(username: str, *, field: str = "to_user") -> User:
    user = user_active_by_username(username=username)
    if user is None:
        raise InvalidDecision(f"No active user {username!r}.", errors={field: ["No such active user."]})
    return user


def _queue(slug: str) -> Queue:
    queue = Queue.objects.filter(slug=slug).first()
    if queue is None:
        raise InvalidDecision(f"No queue {slug!r}.", errors={"to_queue": ["No such queue."]})
    return queue


def _inbox_cursor(token: str) -> InboxCursor:
    try:
        return InboxCursor.decode(token)
    except InvalidDecision as error:  # the same answer as a bad cursor on any other list
        raise serializers.ValidationError({"cursor": [error.detail]}) from None


def task_detail(request: Request, task_id: int) -> Response:
    """The task as `request.user` may see it now (read again, with their access)."""
    return task_answer(task_get_for(user=request.user, task_id=task_id))


def task_answer(task: HumanTask) -> Response:
    """A task's representation with its version as the ETag.

    A claim, release or decision answers with the task as the service left it: the service
    read it under its lock with all the answer shows (instance, queue, assignee) and checked
    the caller's access in that transaction, and these writes do not change who may see the
    task, so task_detail's second read (a query, and two for the access) would only repeat
    what is known. Reassignment and delegation can take the task out of the caller's sight,
    so they answer with task_detail."""
    return with_etag(Response(TaskDetailOutput(task).data), task.version)


class TaskListView(APIView):
    @extend_schema(operation_id="tasks_list", parameters=[TaskListQuery], responses=TaskListOutput, tags=TAGS)
    def get(self, request: Request) -> Response:
        """The caller's inbox: tasks they may see, most urgent first (priority, then due)."""
        query = validated(TaskListQuery, request.query_params)
        assignee_id = None
        if "assignee" in query:
            assignee = (
                request.user
                if query["assignee"] == "me"
                else user_active_by_username(username=query["assignee"])
            )
            assignee_id = assignee.pk if assignee else 0  # nobody: an empty page, not an error
        filters = InboxFilters(
            queues=(query["queue"],) if "queue" in query else (),
            states=(query["state"],) if "state" in query else OPEN_STATES,
            kinds=(query["kind"],) if "kind" in query else (),
            min_priority=query.get("priority"),
            due_before=query.get("due_before"),
            assignee_id=assignee_id,
            instance_id=query.get("instance"),
            text=query.get("q", ""),
        )
        after = _inbox_cursor(query["cursor"]) if "cursor" in query else None
        page = inbox_for(user=request.user, filters=filters, limit=query.get("page_size", 50), after=after)
        cursor = page.next_cursor.encode() if page.next_cursor else None
        return Response(
            {"results": TaskOutput(page.tasks, many=True).data, "next": next_link(request, cursor)}
        )


class TaskDetailView(APIView):
    @extend_schema(operation_id="tasks_read", parameters=[ETAG], responses=TaskDetailOutput, tags=TAGS)
    def get(self, request: Request, pk: str) -> Response:
        """One task, with the outcomes and decision schema of its step."""
        return task_detail(request, _task_id(pk))


def _action_schema(operation_id: str, request: type[serializers.Serializer]) -> Any:
    return extend_schema(
        operation_id=operation_id,
        request=request,
        parameters=[IDEMPOTENCY_KEY, IF_MATCH, ETAG],
        responses=TaskDetailOutput,
        tags=TAGS,
    )


class TaskClaimView(APIView):
    @_action_schema("tasks_claim", EmptyInput)
    @idempotent
    def post(self, request: Request, pk: str) -> Response:
        """Take an open task. If someone else got there first: 409."""
        validated(EmptyInput, request.data)
        task = services.task_claim(
            task=_task_id(pk), actor=request.user, expected_version=expected_version(request)
        )
        return task_answer(task)


class TaskUnclaimView(APIView):
    @_action_schema("tasks_unclaim", EmptyInput)
    @idempotent
    def post(self, request: Request, pk: str) -> Response:
        """Put a claimed task back in its queue (its assignee or a queue manager)."""
        validated(EmptyInput, request.data)
        task = services.task_unclaim(
            task=_task_id(pk), actor=request.user, expected_version=expected_version(request)
        )
        return task_answer(task)


class TaskCompleteView(APIView):
    @_action_schema("tasks_complete", TaskCompleteInput)
    @idempotent
    def post(self, request: Request, pk: str) -> Response:
        """Decide the task with one of its step's outcomes; `data` follows the step's decision schema."""
        body = validated(TaskCompleteInput, request.data)
        task = services.task_complete(
            task=_task_id(pk),
            actor=request.user,
            outcome=body["outcome"],
            data=body["data"],
            comment=body["comment"],
            expected_version=expected_version(request),
        )
        return task_answer(task)


class TaskReassignView(APIView):
    @_action_schema("tasks_reassign", TaskReassignInput)
    @idempotent
    def post(self, request: Request, pk: str) -> Response:
        """A queue manager moves the task to a person or another queue."""
        body = validated(TaskReassignInput, request.data)
        task = services.task_reassign(
            task=_task_id(pk),
            actor=request.user,
            reason=body["reason"],
            to_user=_colleague(body["to_user"]) if "to_user" in body else None,
            to_queue=_queue(body["to_queue"]) if "to_queue" in body else None,
            expected_version=expected_version(request),
        )
        return task_detail(request, task.pk)


class TaskDelegateView(APIView):
    @_action_schema("tasks_delegate", TaskDelegateInput)
    @idempotent
    def post(self, request: Request, pk: str) -> Response:
        """The assignee hands the task to a colleague who could decide it."""
        body = validated(TaskDelegateInput, request.data)
        task = services.task_delegate(
            task=_task_id(pk),
            actor=request.user,
            to_user=_colleague(body["to_user"]),
            reason=body["reason"],
            expected_version=expected_version(request),
        )
        return task_detail(request, task.pk)


class TaskPriorityView(APIView):
    @_action_schema("tasks_priority", TaskPriorityInput)
    @idempotent
    def post(self, request: Request, pk: str) -> Response:
        """A queue manager makes the task more or less urgent, saying why."""
        body = validated(TaskPriorityInput, request.data)
        task = services.task_priority_change(
            task=_task_id(pk),
            actor=request.user,
            priority=body["priority"],
            reason=body["reason"],
            expected_version=expected_version(request),
        )
        return task_detail(request, task.pk)


class TaskDueView(APIView):
    @_action_schema("tasks_due", TaskDueInput)
    @idempotent
    def post(self, request: Request, pk: str) -> Response:
        """A queue manager moves the task's due time, saying why."""
        body = validated(TaskDueInput, request.data)
        task = services.task_due_change(
            task=_task_id(pk),
            actor=request.user,
            due_at=body["due_at"],
            reason=body["reason"],
            expected_version=expected_version(request),
        )
        return task_detail(request, task.pk)


def _bulk_complete(request: Request, item: dict[str, Any]) -> HumanTask:
    body = validated(BulkCompleteItem, item)
    return services.task_complete(
        task=body["task"],
        actor=request.user,
        outcome=body["outcome"],
        data=body["data"],
        comment=body["comment"],
        expected_version=body.get("version"),
    )


def _bulk_reassign(request: Request, item: dict[str, Any]) -> HumanTask:
    body = validated(BulkReassignItem, item)
    return services.task_reassign(
        task=body["task"],
        actor=request.user,
        reason=body["reason"],
        to_user=_colleague(body["to_user"]) if "to_user" in body else None,
        to_queue=_queue(body["to_queue"]) if "to_queue" in body else None,
        expected_version=body.get("version"),
    )


class TaskBulkView(APIView):
    @extend_schema(
        operation_id="tasks_bulk",
        request=TaskBulkInput,
        parameters=[IDEMPOTENCY_KEY],
        responses=TaskBulkOutput,
        tags=TAGS,
    )
    @idempotent
    def post(self, request: Request) -> Response:
        """Complete or reassign many tasks; each item succeeds or fails on its own, in its own transaction,
        and is answered with the status it would have had alone."""
        body = validated(TaskBulkInput, request.data)
        act = _bulk_complete if body["action"] == "complete" else _bulk_reassign
        outcomes = tasks_bulk_apply(
            items=body["items"],
            task_of=lambda item: task_ref(item.get("task")) if isinstance(item, dict) else None,
            act=lambda item: act(request, item),
            explain=lambda error: problem_for(error, request),
        )
        results = []
        for outcome in outcomes:
            item = body["items"][outcome.index]
            raw = item.get("task") if isinstance(item, dict) else None
            # bool is an int to Python; only a real number names a task.
            entry: dict[str, Any] = {"index": outcome.index, "task": raw if type(raw) is int else None}
            if outcome.succeeded:
                entry.update(status=200, result=TaskOutput(outcome.task).data, problem=None)
            else:
                entry.update(
                    status=outcome.explanation.status_code, result=None, problem=outcome.explanation.data
                )
            results.append(entry)
        failed = sum(1 for entry in results if entry["status"] != 200)
        return Response({"results": results, "succeeded": len(results) - failed, "failed": failed})
