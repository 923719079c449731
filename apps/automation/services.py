from __future__ import annotations

import logging

from django.db import transaction

from apps.automation.adapters import adapter_for
from apps.audit.services import audit_record
from apps.workflows import services as workflow_services
from apps.workflows.errors import NotFound
from apps.workflows.transitions import TransitionContext

logger = logging.getLogger(__name__)


def automated_step_run(*, instance_id: int, step_name: str, expected_state: str) -> bool:
    """Run one automated step and hand its result to the step's transition.

    Does nothing (returns False) if the instance has moved on from `expected_state` or the
    step's result is already recorded, so running a step twice never applies it twice.
    """
    with transaction.atomic():
        instance = workflow_services.instance_lock(instance_id=instance_id)
        steps = {step.name: step for step in instance.automated_steps_in(expected_state)}
        step = steps.get(step_name)
        if step is None:
            raise NotFound(f"A {instance.kind} has no automated step {step_name!r} in state {expected_state!r}.")
        if instance.state != expected_state or step.name in instance.data:
            logger.info("automated step %s on instance %s skipped: already done", step_name, instance_id)
            return False
        data = dict(instance.data)
    # The external call happens outside any transaction: no row lock is held while we wait.
    result = adapter_for(step.adapter).run(data=data)
    with transaction.atomic():
        instance = workflow_services.instance_lock(instance_id=instance_id)
        if instance.state != expected_state or step.name in instance.data:
            return False
        audit_record(action="automation.step_succeeded", actor=None, instance=instance, data={"step": step.name, "result": result})
        workflow_services.instance_fire(
            instance=instance,
            transition=step.result_transition,
            context=TransitionContext(actor=None, data=result),
            trigger="system",
        )
    return True
