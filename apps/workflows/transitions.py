"""What a transition method receives, and how a transition says who may fire it.

Every transition of a process kind carries `custom={"trigger": ...}`:
- "start": fired once by instance_start;
- "task": fired by completing a human task (the step's outcome names it);
- "system": fired by an automated step's result;
- "external": fired by a person or an API client on request; its django-fsm
  `permission` callable says who.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.humantasks.models import HumanTask

START = {"trigger": "start"}
TASK = {"trigger": "task"}
SYSTEM = {"trigger": "system"}
EXTERNAL = {"trigger": "external"}


@dataclass
class TransitionContext:
    """What a transition method receives.

    `steps_completed` names the human steps of the instance already decided. Whoever fires
    a "task" transition (the human-task app, which knows; the engine does not) passes
    `completed_steps`, a function the context calls once, the first time a transition asks,
    so that kinds which never ask cost no query.
    """

    actor: User | None
    data: dict[str, Any] = field(default_factory=dict)
    task: HumanTask | None = None
    completed_steps: Callable[[], frozenset[str]] | None = field(default=None, repr=False)

    @cached_property
    def steps_completed(self) -> frozenset[str]:
        return self.completed_steps() if self.completed_steps is not None else frozenset()
