"""The API's input and output shapes. Inputs validate shape only; business rules stay in
the services, which answer with domain errors (apps.api.problems)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from apps.humantasks.models import HumanTask
from apps.workflows.registry import as_definition
from apps.workflows.selectors import MAX_ID


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare: a misspelt field is an error, not silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class OutputSerializer(serializers.Serializer):
    """An answer's shape. DRF deep-copies a serializer's declared fields for every instance,
    rebuilding each field from its arguments: 0.3 of the 0.55 ms a task's answer took. A field
    that only renders keeps no state of its own once bound, so a shallow copy serves; nested
    serializers and fields with a child are still copied deeply.

    Times are rendered in the zone active when the answer is built: a signed-in person's own
    on the pages' requests (UserTimezoneMiddleware), TIME_ZONE for API clients, whom the
    middleware, running before DRF's authentication, does not know. DRF looked the active zone
    up for every value, through a context-local read that was a fifth of the rendering of a
    page of 50 tasks: the copies are given it once."""

    def get_fields(self) -> dict[str, serializers.Field]:
        zone = timezone.get_current_timezone() if settings.USE_TZ else None
        fields = {}
        for name, declared in self._declared_fields.items():
            if isinstance(declared, serializers.BaseSerializer) or hasattr(declared, "child"):
                # A nested serializer caches its own bound fields, and a ListField's or
                # DictField's child is bound to its parent: a shallow copy would share them.
                fields[name] = copy.deepcopy(declared)
                continue
            field = fields[name] = copy.copy(declared)
            if zone and isinstance(field, serializers.DateTimeField) and not hasattr(field, "timezone"):
                field.timezone = zone
        return fields


def object_id_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class PageQuery(StrictSerializer):
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=settings.API_MAX_PAGE_SIZE, help_text="Items per page."
    )
    cursor = serializers.CharField(required=False, max_length=500, help_text="The `next` link's cursor.")


# --- Process kinds --------------------------------------------------------------------------------------


class TransitionOutput(OutputSerializer):
    name = serializers.CharField()
    trigger = serializers.ChoiceField(choices=["start", "task", "system", "external"])
    external = serializers.BooleanField(
        help_text="Whether API clients may fire it (POST .../transitions/{name}/)."
    )
    sources = serializers.ListField(child=serializers.CharField())
    targets = serializers.ListField(child=serializers.CharField())


class DecisionPolicyOutput(OutputSerializer):
    exclude_requester = serializers.BooleanField()
    exclude_earlier_deciders = serializers.BooleanField()
    only_requester = serializers.BooleanField()
    approvals_required = serializers.JSONField(help_text='A number, or "all".')


class HumanStepOutput(OutputSerializer):
    name = serializers.CharField()
    state = serializers.CharField()
    queue = serializers.CharField()
    title = serializers.CharField()
    outcomes = serializers.DictField(
        child=serializers.CharField(), help_text="Outcome -> the transition it fires."
    )
    approving_outcome = serializers.CharField()
    comment_required_for = serializers.ListField(child=serializers.CharField())
    decision_schema = serializers.DictField(help_text="JSON Schema of `data` for the approving outcome.")
    policy = DecisionPolicyOutput()
    due_in_seconds = serializers.IntegerField()
    confidential = serializers.BooleanField()


class AutomatedStepOutput(OutputSerializer):
    name = serializers.CharField()
    state = serializers.CharField()
    result_transition = serializers.CharField()


class ProcessKindOutput(OutputSerializer):
    name = serializers.CharField()
    title = serializers.CharField()
    version = serializers.IntegerField()
    description = serializers.CharField()
    data_schema = serializers.DictField(help_text="JSON Schema (2020-12) of an instance's `data`.")
    states = serializers.ListField(child=serializers.CharField())
    initial_state = serializers.CharField()
    final_states = serializers.ListField(child=serializers.CharField())
    transitions = TransitionOutput(many=True)
    human_steps = HumanStepOutput(many=True)
    automated_steps = AutomatedStepOutput(many=True)


class ProcessKindListOutput(OutputSerializer):
    results = ProcessKindOutput(many=True)
    next = serializers.CharField(allow_null=True)


# --- Instances -------------------------------------------------------------------------------------------


class InstanceStartInput(StrictSerializer):
    kind = serializers.CharField(max_length=64)
    business_key = serializers.CharField(max_length=120, help_text="Your own reference, unique per kind.")
    data = serializers.DictField(help_text="Validated against the kind's `data_schema`.")


class InstanceTransitionInput(StrictSerializer):
    data = serializers.DictField(
        required=False, default=dict, help_text="Input for the transition, e.g. a reason."
    )


class InstanceListQuery(PageQuery):
    kind = serializers.CharField(required=False, max_length=64)
    state = serializers.CharField(required=False, max_length=64)
    business_key = serializers.CharField(required=False, max_length=120)
    started_after = serializers.DateTimeField(required=False)
    started_before = serializers.DateTimeField(required=False)


class InstanceOutput(OutputSerializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    definition_version = serializers.IntegerField()
    business_key = serializers.CharField()
    state = serializers.CharField()
    data = serializers.DictField()
    requester = serializers.CharField(source="requester.username", allow_null=True)
    started_by = serializers.CharField(source="started_by.username", allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField(help_text="Also the ETag; send it back as If-Match.")


class InstanceListOutput(OutputSerializer):
    results = InstanceOutput(many=True)
    next = serializers.CharField(allow_null=True, help_text="The next page's URL, or null on the last page.")
    previous = serializers.CharField(allow_null=True)


class HistoryEventOutput(OutputSerializer):
    id = serializers.IntegerField()
    seq = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    action = serializers.CharField()
    actor = serializers.CharField(source="actor_label")
    actor_type = serializers.ChoiceField(choices=["user", "api_client", "system"])
    task = serializers.IntegerField(source="task_id", allow_null=True)
    from_state = serializers.CharField()
    to_state = serializers.CharField()
    data = serializers.DictField()


class HistoryOutput(OutputSerializer):
    results = HistoryEventOutput(many=True)
    next = serializers.CharField(allow_null=True)


# --- Tasks -----------------------------------------------------------------------------------------------


class TaskOutput(OutputSerializer):
    id = serializers.IntegerField()
    instance = serializers.IntegerField(source="instance_id")
    kind = serializers.CharField(source="process_kind")
    queue = serializers.CharField(source="queue.slug")
    step = serializers.CharField()
    title = serializers.CharField()
    state = serializers.ChoiceField(choices=HumanTask.State.values)
    assignee = serializers.CharField(source="assignee.username", allow_null=True)
    priority = serializers.IntegerField()
    due_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    claimed_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField()
    version = serializers.IntegerField(help_text="Also the ETag; send it back as If-Match.")


class TaskDetailOutput(TaskOutput):
    is_confidential = serializers.BooleanField()
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True)
    decision_data = serializers.DictField()
    comment = serializers.CharField()
    instance_state = serializers.CharField(source="instance.state")
    outcomes = serializers.SerializerMethodField(help_text="The outcomes this task's step offers.")
    decision_schema = serializers.SerializerMethodField(
        help_text="JSON Schema of `data` for the approving outcome."
    )
    comment_required_for = serializers.SerializerMethodField()

    def to_representation(self, task: HumanTask) -> dict[str, Any]:
        # The step is looked up once per task, not once per field that reads it.
        self._current_step = as_definition(task.instance).human_step(task.step)
        return super().to_representation(task)

    def _step(self, task: HumanTask) -> Any:
        return self._current_step

    def get_outcomes(self, task: HumanTask) -> list[str]:
        step = self._step(task)
        return list(step.outcomes) if step else []

    def get_decision_schema(self, task: HumanTask) -> dict[str, Any]:
        step = self._step(task)
        return dict(step.decision_schema) if step else {}

    def get_comment_required_for(self, task: HumanTask) -> list[str]:
        step = self._step(task)
        return list(step.comment_required_for) if step else []


class TaskListOutput(OutputSerializer):
    results = TaskOutput(many=True)
    next = serializers.CharField(allow_null=True, help_text="The next page's URL, or null on the last page.")


class TaskListQuery(PageQuery):
    instance = object_id_field(required=False)
    queue = serializers.CharField(required=False, max_length=64, help_text="Queue slug.")
    state = serializers.ChoiceField(
        required=False, choices=HumanTask.State.values, help_text="Default: open and claimed."
    )
    kind = serializers.CharField(required=False, max_length=64)
    assignee = serializers.CharField(required=False, max_length=150, help_text='A username, or "me".')
    priority = serializers.IntegerField(
        required=False, min_value=0, max_value=100, help_text="At least this priority."
    )
    due_before = serializers.DateTimeField(required=False)
    q = serializers.CharField(required=False, max_length=200, help_text="Text in the title.")


class TransitionAvailableOutput(OutputSerializer):
    name = serializers.CharField()
    sources = serializers.ListField(child=serializers.CharField())
    targets = serializers.ListField(child=serializers.CharField())


class TransitionAvailableListOutput(OutputSerializer):
    results = TransitionAvailableOutput(many=True)
    next = serializers.CharField(allow_null=True)


class InstanceDetailOutput(InstanceOutput):
    """Renders an apps.humantasks.selectors.InstanceDetail: the instance's own fields, then
    what the selector read for the caller."""

    open_tasks = TaskOutput(many=True, help_text="Open tasks the caller may see.")
    transitions_available = serializers.ListField(
        child=serializers.CharField(), help_text="External transitions the caller may fire now."
    )
    history = HistoryEventOutput(many=True)

    def to_representation(self, detail: Any) -> dict[str, Any]:
        return {
            **InstanceOutput(detail.instance).data,
            "open_tasks": TaskOutput(detail.open_tasks, many=True).data,
            "transitions_available": list(detail.transitions_available),
            "history": HistoryEventOutput(detail.history, many=True).data,
        }


class TaskCompleteInput(StrictSerializer):
    outcome = serializers.CharField(max_length=40)
    data = serializers.DictField(required=False, default=dict)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class TaskReassignInput(StrictSerializer):
    reason = serializers.CharField(max_length=1000)
    to_user = serializers.CharField(required=False, max_length=150, help_text="Username.")
    to_queue = serializers.CharField(required=False, max_length=64, help_text="Queue slug.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("to_user" in attrs) == ("to_queue" in attrs):
            raise serializers.ValidationError("Give exactly one of to_user and to_queue.")
        return attrs


class TaskPriorityInput(StrictSerializer):
    priority = serializers.IntegerField(min_value=0, max_value=100, help_text="Higher is more urgent.")
    reason = serializers.CharField(max_length=1000)


class TaskDueInput(StrictSerializer):
    due_at = serializers.DateTimeField(help_text="With a time zone (RFC 3339).")
    reason = serializers.CharField(max_length=1000)


class TaskDelegateInput(StrictSerializer):
    to_user = serializers.CharField(max_length=150, help_text="Username.")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


class EmptyInput(StrictSerializer):
    pass


class BulkCompleteItem(TaskCompleteInput):
    task = object_id_field()
    version = serializers.IntegerField(required=False, min_value=1, help_text="Like If-Match, per item.")


class BulkReassignItem(TaskReassignInput):
    task = object_id_field()
    version = serializers.IntegerField(required=False, min_value=1, help_text="Like If-Match, per item.")


class TaskBulkInput(StrictSerializer):
    action = serializers.ChoiceField(choices=["complete", "reassign"])
    items = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        max_length=settings.API_BULK_MAX_ITEMS,
        help_text="complete: {task, outcome, data, comment, version}; "
        "reassign: {task, reason, to_user|to_queue, version}.",
    )


class ProblemOutput(OutputSerializer):
    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class BulkItemResult(serializers.Serializer):
    index = serializers.IntegerField()
    task = serializers.IntegerField(allow_null=True)
    status = serializers.IntegerField(help_text="What this item alone would have answered.")
    result = TaskOutput(allow_null=True, required=False)
    problem = ProblemOutput(allow_null=True, required=False)


class TaskBulkOutput(OutputSerializer):
    results = BulkItemResult(many=True)
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()


# --- Queues and audit ---------------------------------------------------------------------------------------


class QueueOutput(OutputSerializer):
    slug = serializers.CharField(source="queue.slug")
    name = serializers.CharField(source="queue.name")
    description = serializers.CharField(source="queue.description")
    open = serializers.IntegerField()
    claimed = serializers.IntegerField()
    overdue = serializers.IntegerField()


class QueueListOutput(OutputSerializer):
    results = QueueOutput(many=True)
    next = serializers.CharField(allow_null=True)


class AuditEventOutput(HistoryEventOutput):
    chain_key = serializers.CharField()
    instance = serializers.IntegerField(source="instance_id", allow_null=True)
    request_id = serializers.CharField()
    source_ip = serializers.CharField(allow_null=True)
    prev_hash = serializers.CharField()
    hash = serializers.CharField()


class AuditEventListOutput(OutputSerializer):
    results = AuditEventOutput(many=True)
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)


class AuditEventFilterQuery(StrictSerializer):
    instance = object_id_field(required=False)
    task = object_id_field(required=False)
    actor = serializers.CharField(required=False, max_length=150, help_text="Username as recorded.")
    actor_type = serializers.ChoiceField(required=False, choices=["user", "api_client", "system"])
    action = serializers.CharField(required=False, max_length=64, help_text="e.g. task.completed")
    occurred_after = serializers.DateTimeField(required=False)
    occurred_before = serializers.DateTimeField(required=False)


class AuditEventQuery(AuditEventFilterQuery, PageQuery):
    pass


class AuditExportQuery(AuditEventFilterQuery):
    format = serializers.ChoiceField(choices=["csv", "jsonl"], default="jsonl")
