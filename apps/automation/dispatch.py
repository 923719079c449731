"""How automated steps get run after the transition that reaches their state commits.

For now each step runs in this process right after commit (each in its own transaction,
see automated_step_run); the Celery worker and transactional outbox replace this module's
body without changing its callers.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from django.db import transaction

from apps.automation.services import automated_step_run

if TYPE_CHECKING:
    from apps.workflows.models import WorkflowInstance


def automated_steps_schedule(*, instance: WorkflowInstance) -> None:
    for step in instance.automated_steps_in(instance.state):
        transaction.on_commit(
            partial(automated_step_run, instance_id=instance.pk, step_name=step.name, expected_state=instance.state)
        )
