from __future__ import annotations

from datetime import timedelta

from django_fsm import RETURN_VALUE, transition

from apps.workflows.definitions import DecisionPolicy, HumanStep
from apps.workflows.models import WorkflowInstance
from apps.workflows.processes.permissions import may_cancel
from apps.workflows.registry import register
from apps.workflows.transitions import EXTERNAL, START, TASK, TransitionContext

_PARALLEL = DecisionPolicy(exclude_requester=True, exclude_earlier_deciders=False)


def _parallel_step(name: str, queue: str, title: str, schema: dict) -> HumanStep:
    return HumanStep(
        name=name,
        state="in_progress",
        queue=queue,
        title=title,
        outcomes={"done": "record_task_done"},
        approving_outcome="done",
        policy=_PARALLEL,
        decision_schema=schema,
        due_in=timedelta(days=3),
    )


@register
class EmployeeOnboarding(WorkflowInstance):
    """Employee onboarding: payroll, IT provisioning and HR paperwork run in parallel in
    their own queues; the instance completes when all three are done. Cancelling it
    cancels whatever is still open.
    """

    process_name = "employee_onboarding"
    process_title = "Employee onboarding"
    process_version = 1
    final_states = frozenset({"completed", "cancelled"})
    started_by_roles = ("HR",)
    start_summary = "Get a new employee ready: payroll, IT and HR each receive their task at once."
    business_key_prefix = "ONB"
    words = {
        "noun": "onboarding",
        "steps": {"it_provisioning": "IT provisioning", "hr_paperwork": "HR paperwork"},
        "outcomes": {"done": "Mark as done"},
        "done": {"done": "Done"},
    }
    data_schema = {
        "type": "object",
        "required": ["employee_name", "employee_email", "start_date", "department", "job_title"],
        "properties": {
            "employee_name": {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "title": "New employee's name",
                "description": "Full name, as on the contract.",
            },
            "employee_email": {
                "type": "string",
                "maxLength": 254,
                "pattern": "^[^@\\s]+@[^@\\s]+$",
                "format": "email",
                "title": "Their email address",
                "description": "Where IT sends the first sign-in.",
            },
            "start_date": {
                "type": "string",
                "pattern": "^\\d{4}-\\d{2}-\\d{2}$",
                "format": "date",
                "title": "First working day",
            },
            "department": {"type": "string", "minLength": 1, "maxLength": 100, "title": "Department"},
            "job_title": {"type": "string", "minLength": 1, "maxLength": 100, "title": "Job title"},
        },
        "additionalProperties": False,
    }
    human_steps = (
        _parallel_step(
            "payroll_setup",
            "payroll",
            "Set up payroll for {employee_name} (starts {start_date})",
            {
                "type": "object",
                "required": ["payroll_id"],
                "properties": {
                    "payroll_id": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 40,
                        "title": "Payroll id",
                        "description": "The employee's id in the payroll system.",
                    }
                },
                "additionalProperties": False,
            },
        ),
        _parallel_step(
            "it_provisioning",
            "it",
            "Provision laptop and accounts for {employee_name} (starts {start_date})",
            {
                "type": "object",
                "required": ["asset_tag"],
                "properties": {
                    "asset_tag": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 40,
                        "title": "Laptop asset tag",
                        "description": "The tag on the laptop handed out, e.g. LT-0001.",
                    }
                },
                "additionalProperties": False,
            },
        ),
        _parallel_step(
            "hr_paperwork",
            "hr",
            "Collect signed contract from {employee_name} (starts {start_date})",
            {
                "type": "object",
                "required": ["contract_signed"],
                "properties": {
                    "contract_signed": {
                        "const": True,
                        "title": "The signed contract is in",
                        "description": "Tick once you hold the contract signed by both sides.",
                    }
                },
                "additionalProperties": False,
            },
        ),
    )

    class Meta:
        proxy = True

    @transition(field="state", source="new", target="in_progress", custom=START)
    def start(self, ctx: TransitionContext) -> None:
        pass

    @transition(
        field="state", source="in_progress", target=RETURN_VALUE("in_progress", "completed"), custom=TASK
    )
    def record_task_done(self, ctx: TransitionContext) -> str:
        done = ctx.steps_completed
        return "completed" if {step.name for step in self.human_steps} <= done else "in_progress"

    @transition(
        field="state",
        source=["new", "in_progress"],
        target="cancelled",
        custom=EXTERNAL,
        permission=may_cancel,
    )
    def cancel(self, ctx: TransitionContext) -> None:
        pass
