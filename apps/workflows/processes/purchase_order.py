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
    "amount": {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 1_000_000_000,
        "x-decimal-places": 2,
        "x-currency-field": "currency",
        "title": "Amount",
        "description": "The order's total, in the currency below. Over 5,000 finance approves too; "
        "over 50,000 the CFO as well.",
    },
    "currency": {
        "type": "string",
        "pattern": "^[A-Z]{3}$",
        "default": "EUR",
        "examples": ["EUR", "USD", "GBP", "CHF", "SEK"],
        "title": "Currency",
        "description": "Three capital letters, such as EUR or USD.",
    },
    "supplier": {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "title": "Supplier",
        "description": "Who you are buying from.",
    },
    "description": {
        "type": "string",
        "minLength": 1,
        "maxLength": 2000,
        "title": "What and why",
        "description": "What you are buying and what it is for; the approvers read this.",
        "x-multiline": True,
    },
    "cost_center": {
        "type": "string",
        "maxLength": 50,
        "title": "Cost center",
        "description": "Optional: the budget it is charged to.",
    },
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
    started_by_roles = ("Requesters",)
    start_summary = (
        "Ask to buy something: a team lead approves it, and finance and the CFO too for larger amounts."
    )
    business_key_prefix = "PO"
    words = {
        "noun": "purchase order",
        "states": {"cfo_review": "CFO review"},
        "steps": {"cfo_approval": "CFO approval", "revise_order": "Revise the order"},
        "outcomes": {
            "approve": "Approve",
            "reject": "Reject",
            "request_changes": "Send back for changes",
            "resubmit": "Resubmit",
            "withdraw": "Withdraw the order",
        },
        "done": {
            "approve": "Approved",
            "reject": "Rejected",
            "request_changes": "Sent back",
            "resubmit": "Resubmitted",
            "withdraw": "Withdrawn",
        },
        "waiting_for": {
            "team_lead_review": "the team leads",
            "finance_review": "finance",
            "cfo_review": "the CFO",
        },
    }
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
                # The revised figures; a field left out keeps its value (the form shows the current ones).
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
