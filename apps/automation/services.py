"""Running automated steps: scheduling a StepRun per step when an instance enters the
step's state, attempting it (the external call happens outside any transaction), and
recording the outcome: the result transition, a retry after a backoff, or a dead letter.

Every attempt checks, under the instance's row lock, that the run is still wanted (the
instance is still in the state the step expects, the result is not recorded, the run
was not superseded) and that this delivery of the job is the current attempt, so a
redelivered or duplicated job never applies a result twice.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.automation.adapters import adapter_for
from apps.automation.errors import PermanentAdapterError, TransientAdapterError
from apps.automation.models import StepRun
from apps.core.errors import InvalidProcessData, NotFound
from apps.notifications.services import outbox_put
from apps.workflows import services as workflow_services
from apps.workflows.transitions import TransitionContext
from apps.workflows.validation import validate_process_data

if TYPE_CHECKING:
    from apps.workflows.definitions import AutomatedStep
    from apps.workflows.models import WorkflowInstance
    from apps.workflows.reactions import StateChange

logger = logging.getLogger(__name__)

UNFINISHED = (StepRun.State.PENDING, StepRun.State.RUNNING, StepRun.State.RETRYING)
STEP_TOPIC = "automation.step"
# The transition a process kind declares for "a step gave up" (checks_running -> needs_attention).
DEAD_LETTER_TRANSITION = "step_failed"


def step_result_recorded(*, instance: WorkflowInstance, step: AutomatedStep) -> bool:
    return step.name in instance.data


def retry_delay(*, attempt: int) -> float:
    """Seconds before the attempt after `attempt`: exponential backoff with "equal jitter"
    (half the exponential delay for sure, up to as much again at random), so failed steps
    of many instances do not all come back at the same moment."""
    ceiling = min(
        settings.AUTOMATION_BACKOFF_MAX_SECONDS, settings.AUTOMATION_BACKOFF_SECONDS * 2 ** (attempt - 1)
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def step_runs_schedule(change: StateChange) -> list[StepRun]:
    """The engine's reaction (apps.workflows.reactions) when an instance entered a new state,
    inside instance_fire's transaction; the outbox relay enqueues each job after commit, so
    nothing is sent before the commit and nothing is lost if the broker is down then.

    Unfinished runs of earlier states are superseded; each step of the new state whose
    result is not recorded gets a run and an outbox row that enqueues its first attempt.
    """
    instance = change.instance
    if not change.entered_new_state or not instance.automated_steps:
        return []
    now = timezone.now()
    StepRun.objects.filter(instance=instance, state__in=UNFINISHED).update(
        state=StepRun.State.SKIPPED, finished_at=now, updated_at=now, next_attempt_at=None
    )
    runs = []
    for step in instance.automated_steps_in(instance.state):
        if step_result_recorded(instance=instance, step=step):
            continue
        run = StepRun.objects.create(
            instance=instance,
            step=step.name,
            expected_state=instance.state,
            entry_version=instance.version,
            idempotency_key=StepRun.key_for(
                instance_id=instance.pk, step=step.name, entry_version=instance.version
            ),
        )
        outbox_put(topic=STEP_TOPIC, payload={"step_run_id": run.pk, "attempt": 1}, instance=instance)
        runs.append(run)
    return runs


def _lock_run(step_run_id: int) -> tuple[StepRun, WorkflowInstance] | None:
    # Instance first, then the run: the order every writer of an instance's rows follows.
    instance_id = StepRun.objects.filter(pk=step_run_id).values_list("instance_id", flat=True).first()
    if instance_id is None:
        return None
    instance = workflow_services.instance_lock(instance_id=instance_id)
    return StepRun.objects.select_for_update().get(pk=step_run_id), instance


def _step_of(instance: WorkflowInstance, run: StepRun) -> AutomatedStep | None:
    return next((s for s in instance.automated_steps_in(run.expected_state) if s.name == run.step), None)


def _still_wanted(run: StepRun, instance: WorkflowInstance, step: AutomatedStep) -> bool:
    return instance.state == run.expected_state and not step_result_recorded(instance=instance, step=step)


def _finish(run: StepRun, state: str, **fields: Any) -> StepRun:
    now = timezone.now()
    for name, value in {"state": state, "finished_at": now, "next_attempt_at": None, **fields}.items():
        setattr(run, name, value)
    run.save()
    return run


def step_run_attempt(*, step_run_id: int, attempt: int) -> StepRun | None:
    """Make attempt number `attempt` of a step run, if it is still due; return the run.

    A delivery for an attempt that already has an outcome, for a finished run, or for an
    instance that moved on, changes nothing but marking the run skipped.
    """
    with transaction.atomic():
        locked = _lock_run(step_run_id)
        if locked is None:
            return None
        run, instance = locked
        if (
            run.is_finished
            or attempt < run.attempts
            or (attempt == run.attempts and run.state != StepRun.State.RUNNING)
        ):
            return run
        step = _step_of(instance, run)
        if step is None:
            return _finish(
                run, StepRun.State.FAILED, last_error=f"{instance.kind} has no step {run.step!r} any more"
            )
        if not _still_wanted(run, instance, step):
            return _finish(run, StepRun.State.SKIPPED)
        run.attempts, run.state, run.started_at, run.next_attempt_at = (
            attempt,
            StepRun.State.RUNNING,
            timezone.now(),
            None,
        )
        run.save()
        data = dict(instance.data)

    # No transaction and no row lock while the external system takes its time.
    result: dict[str, Any] | None = None
    transient: Exception | None = None
    permanent: Exception | None = None
    try:
        result = adapter_for(step.adapter).run(data=data, idempotency_key=run.idempotency_key)
        validate_process_data(step.result_schema, result, what=f"answer of {step.adapter}")
    except TransientAdapterError as error:
        transient = error
    except (PermanentAdapterError, InvalidProcessData) as error:
        permanent = error
    except Exception as error:
        # Unexpected (a bug, an odd network error): retried, and a dead letter if it persists.
        logger.exception("automated step %s of instance %s failed unexpectedly", run.step, run.instance_id)
        transient = error

    with transaction.atomic():
        locked = _lock_run(step_run_id)
        if locked is None:
            return None
        run, instance = locked
        if run.is_finished or run.attempts != attempt or run.state != StepRun.State.RUNNING:
            return run  # another delivery of this attempt got here first
        if not _still_wanted(run, instance, step):
            return _finish(run, StepRun.State.SKIPPED)
        if result is not None and transient is None and permanent is None:
            return _record_result(run=run, instance=instance, step=step, result=result)
        error = transient or permanent
        message = f"{type(error).__name__}: {error}"[:2000]
        if transient is not None and attempt < settings.AUTOMATION_MAX_ATTEMPTS:
            return _schedule_retry(run=run, instance=instance, error=message)
        return _dead_letter(run=run, instance=instance, error=message)


def _record_result(
    *, run: StepRun, instance: WorkflowInstance, step: AutomatedStep, result: dict[str, Any]
) -> StepRun:
    audit_record(
        action="automation.step_succeeded",
        actor=None,
        instance=instance,
        data={"step": step.name, "result": result},
    )
    _finish(run, StepRun.State.SUCCEEDED, result=result, last_error="")
    workflow_services.instance_fire(
        instance=instance,
        transition=step.result_transition,
        context=TransitionContext(actor=None, data=result),
        trigger="system",
    )
    return run


def _schedule_retry(*, run: StepRun, instance: WorkflowInstance, error: str) -> StepRun:
    delay = retry_delay(attempt=run.attempts)
    run.state, run.last_error = StepRun.State.RETRYING, error
    run.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    run.save()
    audit_record(
        action="automation.step_retry_scheduled",
        actor=None,
        instance=instance,
        data={"step": run.step, "attempt": run.attempts, "error": error, "retry_in_seconds": round(delay, 3)},
    )
    outbox_put(
        topic=STEP_TOPIC,
        payload={"step_run_id": run.pk, "attempt": run.attempts + 1},
        instance=instance,
        available_at=run.next_attempt_at,
    )
    return run


def _dead_letter(*, run: StepRun, instance: WorkflowInstance, error: str) -> StepRun:
    """The step gave up: the instance goes to its "needs attention" state, whose operations
    task offers retry, skip with a manual result, or cancel."""
    _finish(run, StepRun.State.FAILED, last_error=error)
    failure = {"step": run.step, "error": error, "attempts": run.attempts, "step_run_id": run.pk}
    audit_record(action="automation.step_failed", actor=None, instance=instance, data=failure)
    if hasattr(instance, DEAD_LETTER_TRANSITION):
        workflow_services.instance_fire(
            instance=instance,
            transition=DEAD_LETTER_TRANSITION,
            context=TransitionContext(actor=None, data=failure),
            trigger="system",
        )
    return run


def automated_step_run(*, instance_id: int, step_name: str, expected_state: str) -> bool:
    """Run one automated step now, in this process, and apply its result; True if this call
    applied it. Workers go through step_run_attempt; this is for the demo and for checks.

    Does nothing (False) if the instance has moved on from `expected_state` or the step's
    result is already recorded.
    """
    with transaction.atomic():
        instance = workflow_services.instance_lock(instance_id=instance_id)
        step = next((s for s in instance.automated_steps_in(expected_state) if s.name == step_name), None)
        if step is None:
            raise NotFound(
                f"A {instance.kind} has no automated step {step_name!r} in state {expected_state!r}."
            )
        if instance.state != expected_state or step_result_recorded(instance=instance, step=step):
            return False
        run = (
            StepRun.objects.filter(instance=instance, step=step_name, state__in=UNFINISHED)
            .order_by("-entry_version")
            .first()
        )
        if run is None:
            run, _ = StepRun.objects.get_or_create(
                idempotency_key=StepRun.key_for(
                    instance_id=instance.pk, step=step_name, entry_version=instance.version
                ),
                defaults={
                    "instance": instance,
                    "step": step_name,
                    "expected_state": expected_state,
                    "entry_version": instance.version,
                },
            )
        attempt = run.attempts if run.state == StepRun.State.RUNNING else run.attempts + 1
    run = step_run_attempt(step_run_id=run.pk, attempt=attempt)
    return run is not None and run.state == StepRun.State.SUCCEEDED and run.attempts == attempt


def step_runs_recover_stalled(*, older_than: timedelta | None = None) -> int:
    """Enqueue again the runs that have waited or run for far too long (their job was lost
    with a broker's data, say), so no instance is silently stuck; return how many."""
    cutoff = timezone.now() - (older_than or timedelta(seconds=settings.AUTOMATION_STALLED_AFTER_SECONDS))
    recovered = 0
    stalled = StepRun.objects.filter(
        state__in=(StepRun.State.PENDING, StepRun.State.RUNNING), updated_at__lt=cutoff
    ).values_list("pk", flat=True)[:500]
    for step_run_id in stalled:
        with transaction.atomic():
            locked = _lock_run(step_run_id)
            if locked is None:
                continue
            run, instance = locked
            if run.state not in (StepRun.State.PENDING, StepRun.State.RUNNING) or run.updated_at >= cutoff:
                continue
            attempt, stalled_since = max(run.attempts, 1), run.updated_at
            run.save()  # touches updated_at: one recovery per stall period
            audit_record(
                action="automation.step_requeued",
                actor=None,
                instance=instance,
                data={"step": run.step, "attempt": attempt, "stalled_since": stalled_since},
            )
            outbox_put(
                topic=STEP_TOPIC, payload={"step_run_id": run.pk, "attempt": attempt}, instance=instance
            )
            recovered += 1
    return recovered
