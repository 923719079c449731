from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django_fsm import RETURN_VALUE, transition

from apps.workflows.definitions import DecisionPolicy, HumanStep
from apps.workflows.models import WorkflowInstance
from apps.workflows.processes.permissions import may_cancel
from apps.workflows.registry import register
from apps.workflows.transitions import EXTERNAL, START, TASK, TransitionContext
from apps.workflows.validation import validate_process_data

REVIEW_STATES = ["team_lead_review", "finance_review", "cfo_review"]
OPEN_STATES = ["new", *REVIEW_STATES, "changes_requested"]
REVIEW_OUTCOMES_NEEDING_A_REASON = ("reject", "request_changes")

_ORDER_FIELDS = {
    "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 1_000_000_000},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "supplier": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": {"type": "string", "minLength": 1, "maxLength": 2000},
    "cost_center": {"type": "string", "maxLength": 50},
}


def _review_step(name: str, state: str, queue: str, approve: str, level: str, **extra: object) -> HumanStep:
    return HumanStep(
        name=name,
        state=state,
        queue=queue,
        title=f"{level} approval: purchase order {{business_key}}, {{amount}} {{currency}} from {{supplier}}",
        outcomes={"approve": approve, "reject": "reject", "request_changes": "request_changes"},
        comment_required_for=REVIEW_OUTCOMES_NEEDING_A_REASON,
        priority=lambda po: 70 if po.amount > PurchaseOrderApproval.FINANCE_LIMIT else 50,
        due_in=timedelta(days=2),
        **extra,
    )


@register
class PurchaseOrderApproval(WorkflowInstance):
    """Purchase-order approval: thresholds add approval levels, in sequence.

    Up to TEAM_LEAD_LIMIT a team lead approves; up to FINANCE_LIMIT finance approves too
    (two of them); above that the CFO as well. The requester never approves their own
    order, and nobody approves at two levels. "Request changes" sends the order back to
    the requester, whose resubmission starts the approvals again with the new figures.
    """

    process_name = "purchase_order"
    process_title = "Purchase-order approval"
    process_version = 1
    TEAM_LEAD_LIMIT = Decimal("5000")
    FINANCE_LIMIT = Decimal("50000")
    final_states = frozenset({"approved", "rejected", "withdrawn", "cancelled"})
    data_schema = {
        "type": "object",
        "required": ["amount", "currency", "supplier", "description"],
        "properties": _ORDER_FIELDS,
        "additionalProperties": False,
    }
    human_steps = (
        _review_step(
            "team_lead_approval", "team_lead_review", "team-leads", "approve_by_team_lead", "Team lead"
        ),
        _review_step(
            "finance_approval",
            "finance_review",
            "finance",
            "approve_by_finance",
            "Finance",
            policy=DecisionPolicy(approvals_required=2),
        ),
        _review_step("cfo_approval", "cfo_review", "cfo", "approve_by_cfo", "CFO"),
        HumanStep(
            name="revise_order",
            state="changes_requested",
            queue="requesters",
            title="Revise purchase order {business_key}: changes were requested",
            outcomes={"resubmit": "resubmit", "withdraw": "withdraw"},
            approving_outcome="resubmit",
            policy=DecisionPolicy(
                exclude_requester=False, exclude_earlier_deciders=False, only_requester=True
            ),
            # The requester's own task: granted to them alone, not shown to the whole Requesters queue.
            confidential=True,
            decision_schema={
                "type": "object",
                "properties": {k: v for k, v in _ORDER_FIELDS.items() if k != "currency"},
                "additionalProperties": False,
            },
            due_in=timedelta(days=5),
        ),
    )

    class Meta:
        proxy = True

    @property
    def amount(self) -> Decimal:
        return Decimal(str(self.data["amount"]))

    @transition(field="state", source="new", target="team_lead_review", custom=START)
    def start(self, ctx: TransitionContext) -> None:
        pass

    @transition(
        field="state",
        source="team_lead_review",
        target=RETURN_VALUE("approved", "finance_review"),
        custom=TASK,
    )
    def approve_by_team_lead(self, ctx: TransitionContext) -> str:
        return "approved" if self.amount <= self.TEAM_LEAD_LIMIT else "finance_review"

    @transition(
        field="state", source="finance_review", target=RETURN_VALUE("approved", "cfo_review"), custom=TASK
    )
    def approve_by_finance(self, ctx: TransitionContext) -> str:
        return "approved" if self.amount <= self.FINANCE_LIMIT else "cfo_review"

    @transition(field="state", source="cfo_review", target="approved", custom=TASK)
    def approve_by_cfo(self, ctx: TransitionContext) -> None:
        pass

    @transition(field="state", source=REVIEW_STATES, target="changes_requested", custom=TASK)
    def request_changes(self, ctx: TransitionContext) -> None:
        pass

    @transition(field="state", source=REVIEW_STATES, target="rejected", custom=TASK)
    def reject(self, ctx: TransitionContext) -> None:
        pass

    @transition(field="state", source="changes_requested", target="team_lead_review", custom=TASK)
    def resubmit(self, ctx: TransitionContext) -> None:
        revised = {**self.data, **ctx.data}
        validate_process_data(self.data_schema, revised)
        self.data = revised

    @transition(field="state", source="changes_requested", target="withdrawn", custom=TASK)
    def withdraw(self, ctx: TransitionContext) -> None:
        pass

    @transition(field="state", source=OPEN_STATES, target="cancelled", custom=EXTERNAL, permission=may_cancel)
    def cancel(self, ctx: TransitionContext) -> None:
        pass
