from __future__ import annotations

from django.db import models


class StepRun(models.Model):
    """One run of an automated step for one entry of an instance into the step's state.

    Its `idempotency_key` (instance, step, and the instance version at which the state was
    entered) is unique, so however often the job is delivered (a killed worker, a
    redelivered message, a duplicate from the outbox) the step's result is applied once.
    The same key goes to the external system, which can then answer a repeat from memory.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Calling the external system"
        RETRYING = "retrying", "Failed for now; waiting to try again"
        SUCCEEDED = "succeeded", "Result recorded"
        FAILED = "failed", "Gave up; an operator decides (dead letter)"
        SKIPPED = "skipped", "Not needed any more: the instance moved on"

    FINISHED = (State.SUCCEEDED, State.FAILED, State.SKIPPED)

    instance = models.ForeignKey(
        "workflows.WorkflowInstance", on_delete=models.PROTECT, related_name="step_runs"
    )
    step = models.CharField(max_length=64)
    expected_state = models.CharField(max_length=64)
    entry_version = models.PositiveIntegerField(
        help_text="The instance's version when it entered expected_state."
    )
    idempotency_key = models.CharField(max_length=120, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "step", "entry_version"], name="step_run_once_per_entry"
            )
        ]
        indexes = [
            models.Index(
                fields=["instance"],
                name="step_run_unfinished_idx",
                condition=models.Q(state__in=["pending", "running", "retrying"]),
            ),
            models.Index(fields=["state", "updated_at"], name="step_run_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.step} for instance {self.instance_id} ({self.state}, {self.attempts} attempts)"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED

    @staticmethod
    def key_for(*, instance_id: int, step: str, entry_version: int) -> str:
        return f"instance-{instance_id}:{step}:v{entry_version}"
