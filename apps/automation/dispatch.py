"""How automated steps get run after the transition that reaches their state commits.

The transition service calls automated_steps_schedule inside its transaction; it writes a
StepRun and an outbox row per step, and the outbox relay enqueues the Celery job after
commit (apps.notifications.services.outbox_relay). Nothing is sent before the commit, and
nothing is lost if the broker is down at that moment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.automation.services import step_runs_schedule

if TYPE_CHECKING:
    from apps.workflows.models import WorkflowInstance


def automated_steps_schedule(*, instance: WorkflowInstance) -> None:
    step_runs_schedule(instance=instance)
