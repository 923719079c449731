"""What a transition method receives, and how a transition says who may fire it.

Every transition of a process kind carries `custom={"trigger": ...}`:
- "start": fired once by instance_start;
- "task": fired by completing a human task (the step's outcome names it);
- "system": fired by an automated step's result;
- "external": fired by a person or an API client on request; its django-fsm
  `permission` callable says who.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    actor: User | None
    data: dict[str, Any] = field(default_factory=dict)
    task: HumanTask | None = None
