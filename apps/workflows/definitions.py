"""How a process kind declares its steps and who may decide them.

A process kind is a proxy model over WorkflowInstance (see apps/workflows/processes/)
whose django-fsm transitions are its life; the declarations here say which human tasks
exist in which state, which automated steps run, and the decision policy of each step.
The services read these declarations; no transition hand-codes who may act.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from apps.workflows.models import WorkflowInstance


@dataclass(frozen=True)
class DecisionPolicy:
    """Who may decide a step, beyond holding the step's queue role.

    - exclude_requester: four-eyes; the person who asked may not approve.
    - exclude_earlier_deciders: separation of duties; nobody who decided another step of
      this instance may decide this one.
    - only_requester: the step is the requester's own (e.g. revising an order).
    - approvals_required: an int N (N of the role's members, each a different person),
      or "all" (every eligible member of the role when the step opens). Any outcome
      other than the step's approving outcome decides the step at once.
    """

    exclude_requester: bool = True
    exclude_earlier_deciders: bool = True
    only_requester: bool = False
    approvals_required: int | Literal["all"] = 1

    def describe(self) -> dict[str, Any]:
        return {
            "exclude_requester": self.exclude_requester,
            "exclude_earlier_deciders": self.exclude_earlier_deciders,
            "only_requester": self.only_requester,
            "approvals_required": self.approvals_required,
        }


@dataclass(frozen=True)
class HumanStep:
    """A step a person decides. Its tasks are open while the instance is in `state`."""

    name: str
    state: str
    queue: str
    title: str
    outcomes: Mapping[str, str]
    policy: DecisionPolicy = field(default_factory=DecisionPolicy)
    approving_outcome: str = "approve"
    # By default a decision carries no data beyond its outcome and comment.
    decision_schema: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}, "additionalProperties": False}
    )
    comment_required_for: tuple[str, ...] = ()
    priority: int | Callable[[WorkflowInstance], int] = 50
    due_in: timedelta = timedelta(days=2)
    confidential: bool = False
    # The decision data as a form should ask for it, when that depends on the instance (the
    # manual result of whichever automated step failed); the transition validates it further.
    form_schema: Callable[[WorkflowInstance], Mapping[str, Any]] | None = None

    def decision_schema_for(self, instance: WorkflowInstance) -> Mapping[str, Any]:
        return self.form_schema(instance) if self.form_schema else self.decision_schema

    @property
    def takes_data(self) -> bool:
        """Whether a decision of this step carries data beyond its outcome and comment."""
        schema = self.decision_schema
        return bool(schema.get("properties")) or schema.get("additionalProperties", True) is not False

    def title_for(self, instance: WorkflowInstance) -> str:
        return self.title.format_map({**instance.data, "business_key": instance.business_key})

    def priority_for(self, instance: WorkflowInstance) -> int:
        return self.priority(instance) if callable(self.priority) else self.priority


@dataclass(frozen=True)
class AutomatedStep:
    """A step a machine runs while the instance is in `state`.

    `adapter` names an entry of settings.AUTOMATION_ADAPTERS; its result, valid against
    `result_schema`, is handed to the system transition `result_transition`. An operator who
    skips a failed step with a manual result gives one valid against the same schema.
    """

    name: str
    state: str
    adapter: str
    result_transition: str
    result_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
