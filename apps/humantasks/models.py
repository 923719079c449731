from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

OPEN_STATES = ("open", "claimed")


class Queue(models.Model):
    """A role's work queue. Members of `role` see and work its tasks; members of
    `managers` also reassign them. Both are granted as guardian object permissions
    on the queue (apps.humantasks.services.queue_create), so a queue can also be
    opened to one more person or group without changing roles.
    """

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    role = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="work_queues")
    managers = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="managed_queues")
    # The queue's SLA policy, applied by beat's timers (apps.humantasks.timers). Empty fields
    # take the defaults in settings (SLA_*).
    sla_escalation_queue = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Overdue tasks move here (unclaimed); empty keeps them in this queue.",
    )
    sla_priority_boost = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Added to an overdue task's priority (capped at 100)."
    )
    sla_remind_before = models.DurationField(
        null=True, blank=True, help_text="Remind the assignee this long before the task is due."
    )
    sla_stale_claim_after = models.DurationField(
        null=True, blank=True, help_text="A claim untouched this long goes back to the queue."
    )

    class Meta:
        ordering = ["name"]
        permissions = [
            ("work_on_queue", "Can see, claim and decide the queue's tasks"),
            ("manage_queue", "Can see and reassign the queue's tasks"),
        ]

    def __str__(self) -> str:
        return self.name


class HumanTask(FSMModelMixin, models.Model):
    """A decision a person makes for a workflow instance's step.

    Visible to the queue's role unless confidential; confidential tasks are visible only
    through explicit per-task grants (HumanTaskUserObjectPermission).
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CLAIMED = "claimed", "Claimed"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    # No index of its own: task_instance_step_idx starts with this column and serves its lookups;
    # another index would only slow every write.
    instance = models.ForeignKey(
        "workflows.WorkflowInstance", on_delete=models.PROTECT, related_name="tasks", db_index=False
    )
    process_kind = models.CharField(
        max_length=64, help_text="Copied from the instance so the inbox filters by it."
    )
    # No index of its own: task_queue_state_idx starts with this column and serves its lookups;
    # another index would only slow every write.
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="tasks", db_index=False)
    step = models.CharField(max_length=64)
    # The tasks opened together for one entry into a step (N of M approvals share it).
    activation = models.UUIDField()
    title = models.CharField(max_length=300)
    state = FSMField(default=State.OPEN, choices=State.choices, protected=True, max_length=16)
    # No index of its own: task_assignee_idx starts with this column and serves its lookups;
    # another index would only slow every write.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_tasks",
        db_index=False,
    )
    priority = models.PositiveSmallIntegerField(default=50, help_text="Higher is more urgent (0-100).")
    due_at = models.DateTimeField()
    is_confidential = models.BooleanField(default=False)
    outcome = models.CharField(max_length=40, blank=True)
    decision_data = models.JSONField(default=dict, blank=True)
    comment = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="decided_tasks",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    # Set once by the SLA timers, so each happens once per task however many beats run.
    escalated_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("work_humantask", "Can claim and decide this task")]
        indexes = [
            # The inbox: one index-ordered walk per queue (see apps.humantasks.selectors.inbox_for).
            models.Index(
                "queue",
                models.F("priority").desc(),
                "due_at",
                "id",
                name="task_inbox_open_idx",
                condition=Q(state__in=OPEN_STATES),
            ),
            # The inbox's other sorts (apps.humantasks.selectors.INBOX_SORTS): due soonest, oldest.
            models.Index(
                "queue", "due_at", "id", name="task_inbox_due_idx", condition=Q(state__in=OPEN_STATES)
            ),
            models.Index(
                "queue", "created_at", "id", name="task_inbox_age_idx", condition=Q(state__in=OPEN_STATES)
            ),
            models.Index(
                "queue",
                "process_kind",
                models.F("priority").desc(),
                "due_at",
                "id",
                name="task_inbox_kind_idx",
                condition=Q(state__in=OPEN_STATES),
            ),
            models.Index(
                "queue", "state", models.F("priority").desc(), "due_at", "id", name="task_queue_state_idx"
            ),
            models.Index(
                "assignee", "state", models.F("priority").desc(), "due_at", "id", name="task_assignee_idx"
            ),
            # The inbox's "assigned to me" filter: one ordered walk per queue across both open
            # states (task_assignee_idx has the state second, so it cannot order across them).
            models.Index(
                "queue",
                "assignee",
                models.F("priority").desc(),
                "due_at",
                "id",
                name="task_inbox_assignee_idx",
                condition=Q(state__in=OPEN_STATES),
            ),
            # Queue counts (open, claimed, overdue) from the index alone, per queue, never by
            # reading the queue's closed tasks (queue_counts_for, the board).
            models.Index(
                "queue",
                "state",
                "due_at",
                name="task_queue_counts_idx",
                condition=Q(state__in=OPEN_STATES, is_confidential=False),
            ),
            # The title search of open tasks (icontains: UPPER(title) LIKE) has a trigram index on
            # PostgreSQL only, made by migration 0007 with SQL (task_title_search_idx): SQLite has
            # no GIN, and an index here would be rebuilt on SQLite whenever a migration remakes
            # the table.
            models.Index("instance", "step", "state", name="task_instance_step_idx"),
            models.Index("due_at", name="task_open_due_idx", condition=Q(state__in=OPEN_STATES)),
            # The stale-claim timer: claimed tasks by when they were last touched.
            models.Index("updated_at", name="task_claimed_touched_idx", condition=Q(state="claimed")),
            # The dashboard: decided tasks per queue by when, with every column its figures
            # read, so PostgreSQL answers from the index alone (apps.oversight.selectors).
            models.Index(
                "queue",
                "closed_at",
                name="task_completed_idx",
                condition=Q(state="completed"),
                include=["step", "created_at", "claimed_at", "due_at"],
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @transition(field=state, source=State.OPEN, target=State.CLAIMED)
    def claim(self) -> None:
        pass

    @transition(field=state, source=[State.OPEN, State.CLAIMED], target=State.CLAIMED)
    def assign(self) -> None:
        pass

    @transition(field=state, source=[State.OPEN, State.CLAIMED], target=State.OPEN)
    def release(self) -> None:
        pass

    @transition(field=state, source=[State.OPEN, State.CLAIMED], target=State.COMPLETED)
    def complete(self) -> None:
        pass

    @transition(field=state, source=[State.OPEN, State.CLAIMED], target=State.CANCELLED)
    def cancel(self) -> None:
        pass


class QueueUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Queue, on_delete=models.CASCADE)


class QueueGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Queue, on_delete=models.CASCADE)


class HumanTaskUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(HumanTask, on_delete=models.CASCADE)


class HumanTaskGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(HumanTask, on_delete=models.CASCADE)


class InstanceComment(models.Model):
    """A remark on a process instance by someone who may see it, shown with its tasks and in
    its history. People named as @username who may see the instance are told of it."""

    instance = models.ForeignKey(
        "workflows.WorkflowInstance", on_delete=models.PROTECT, related_name="comments"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    mentioned = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index("instance", "created_at", "id", name="comment_instance_idx")]

    def __str__(self) -> str:
        return f"Comment {self.pk} on {self.instance_id}"


def _attachment_path(attachment: InstanceAttachment, filename: str) -> str:
    # The stored name never carries the uploader's file name (which is kept in `name`): no
    # path tricks, no clashes, nothing to guess.
    return f"attachments/{attachment.instance_id}/{uuid.uuid4().hex}"


class InstanceAttachment(models.Model):
    """A file attached to a process instance, kept through Django's storage API and served
    only to people who may see the instance (apps.inbox.views.attachment_download)."""

    instance = models.ForeignKey(
        "workflows.WorkflowInstance", on_delete=models.PROTECT, related_name="attachments"
    )
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file = models.FileField(upload_to=_attachment_path, max_length=200)
    name = models.CharField(max_length=255, help_text="The file's name as the uploader had it.")
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index("instance", "created_at", "id", name="attachment_instance_idx")]

    def __str__(self) -> str:
        return self.name
