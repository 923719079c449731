from __future__ import annotations

from datetime import timedelta

from django_fsm import RETURN_VALUE, transition

from apps.workflows.definitions import AutomatedStep, DecisionPolicy, HumanStep
from apps.workflows.models import WorkflowInstance
from apps.workflows.processes.permissions import may_cancel
from apps.workflows.registry import register
from apps.workflows.transitions import EXTERNAL, START, SYSTEM, TASK, TransitionContext
from apps.workflows.validation import validate_process_data

CHECK_RESULTS = {"credit_check", "employment_verification"}
CREDIT_CHECK_RESULT = {
    "type": "object",
    "required": ["passed", "score"],
    "properties": {
        "passed": {"type": "boolean", "title": "The credit check passed"},
        "score": {
            "type": "number",
            "minimum": 0,
            "maximum": 100,
            "title": "Risk score",
            "description": "0 (no risk) to 100; above 40 a risk officer reviews the account.",
        },
    },
}
EMPLOYMENT_VERIFICATION_RESULT = {
    "type": "object",
    "required": ["verified"],
    "properties": {"verified": {"type": "boolean", "title": "The employment is verified"}},
}


@register
class AccountActivation(WorkflowInstance):
    """Customer account activation: a credit check and an employment verification run as
    automated steps; both passing with a risk score at or below RISK_SCORE_LIMIT activate
    the account, anything else goes to a risk officer. A check that keeps failing puts the
    activation in "needs_attention", where an operator retries it, records the result by
    hand (skip), or cancels.
    """

    process_name = "account_activation"
    process_title = "Customer account activation"
    process_version = 1
    RISK_SCORE_LIMIT = 40
    final_states = frozenset({"active", "declined", "cancelled"})
    # Started by external systems over the API (the Integrations role); nobody in the pages.
    started_by_roles = ("Integrations",)
    start_summary = (
        "Open a customer account: automated checks run first, and a risk officer reviews anything risky."
    )
    business_key_prefix = "ACC"
    words = {
        "noun": "account activation",
        "states": {"needs_attention": "Needs attention (a check kept failing)"},
        "outcomes": {"skip": "Record the result by hand", "retry": "Retry the checks", "cancel": "Cancel it"},
        "done": {
            "approve": "Approved",
            "reject": "Rejected",
            "skip": "Result recorded",
            "retry": "Checks restarted",
            "cancel": "Cancelled",
        },
        "waiting_for": {"risk_review": "a risk officer", "checks_running": "the automated checks"},
    }
    data_schema = {
        "type": "object",
        "required": ["customer_name", "customer_email", "national_id", "employer", "requested_limit"],
        "properties": {
            "customer_name": {"type": "string", "minLength": 1, "maxLength": 200, "title": "Customer's name"},
            "customer_email": {
                "type": "string",
                "maxLength": 254,
                "pattern": "^[^@\\s]+@[^@\\s]+$",
                "format": "email",
                "title": "Customer's email address",
            },
            "national_id": {
                "type": "string",
                "pattern": "^[A-Za-z0-9-]{4,32}$",
                "title": "National id",
                "description": "4 to 32 letters, digits or dashes.",
            },
            "employer": {"type": "string", "minLength": 1, "maxLength": 200, "title": "Employer"},
            "requested_limit": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 10_000_000,
                "title": "Requested credit limit",
            },
        },
        "additionalProperties": False,
    }
    automated_steps = (
        AutomatedStep(
            "credit_check",
            "checks_running",
            "credit_bureau",
            "record_credit_check",
            result_schema=CREDIT_CHECK_RESULT,
        ),
        AutomatedStep(
            "employment_verification",
            "checks_running",
            "employment_verifier",
            "record_employment_verification",
            result_schema=EMPLOYMENT_VERIFICATION_RESULT,
        ),
    )
    human_steps = (
        HumanStep(
            name="risk_review",
            state="risk_review",
            queue="risk-officers",
            title="Review account activation {business_key} for {customer_name}",
            outcomes={"approve": "approve_after_review", "reject": "decline"},
            comment_required_for=("reject",),
            policy=DecisionPolicy(exclude_requester=True, exclude_earlier_deciders=True),
            priority=60,
            due_in=timedelta(days=1),
            confidential=False,
        ),
        HumanStep(
            name="resolve_failed_check",
            state="needs_attention",
            queue="operations",
            title=(
                "Automated step {automation_failure[step]} failed for {customer_name} ({business_key}) "
                "after {automation_failure[attempts]} attempts: {automation_failure[error]}"
            ),
            outcomes={"skip": "skip_with_result", "retry": "retry_checks", "cancel": "cancel_after_failure"},
            # "skip" carries the manual result, so it is the outcome whose data is validated.
            approving_outcome="skip",
            decision_schema={
                "type": "object",
                "required": ["result"],
                "properties": {"result": {"type": "object"}},
                "additionalProperties": False,
            },
            comment_required_for=("skip", "cancel"),
            form_schema=lambda activation: activation.manual_result_schema(),
            policy=DecisionPolicy(exclude_requester=True, exclude_earlier_deciders=False),
            priority=80,
            due_in=timedelta(hours=4),
        ),
    )

    class Meta:
        proxy = True

    def manual_result_schema(self) -> dict:
        """The form of a manual result: the failed step's own result fields."""
        failed = self.data.get("automation_failure", {}).get("step")
        step = next((step for step in self.automated_steps if step.name == failed), None)
        result = step.result_schema if step else {"type": "object"}
        return {"type": "object", "required": ["result"], "properties": {"result": result}}

    def _after_checks(self) -> str:
        if not self.data.keys() >= CHECK_RESULTS:
            return "checks_running"
        credit, employment = self.data["credit_check"], self.data["employment_verification"]
        low_risk = credit.get("score", 100) <= self.RISK_SCORE_LIMIT
        return "active" if credit.get("passed") and employment.get("verified") and low_risk else "risk_review"

    @transition(field="state", source="new", target="checks_running", custom=START)
    def start(self, ctx: TransitionContext) -> None:
        pass

    @transition(
        field="state",
        source="checks_running",
        target=RETURN_VALUE("checks_running", "active", "risk_review"),
        conditions=[lambda self: "credit_check" not in self.data],
        custom=SYSTEM,
    )
    def record_credit_check(self, ctx: TransitionContext) -> str:
        self.data = {**self.data, "credit_check": ctx.data}
        return self._after_checks()

    @transition(
        field="state",
        source="checks_running",
        target=RETURN_VALUE("checks_running", "active", "risk_review"),
        conditions=[lambda self: "employment_verification" not in self.data],
        custom=SYSTEM,
    )
    def record_employment_verification(self, ctx: TransitionContext) -> str:
        self.data = {**self.data, "employment_verification": ctx.data}
        return self._after_checks()

    @transition(field="state", source="checks_running", target="needs_attention", custom=SYSTEM)
    def step_failed(self, ctx: TransitionContext) -> None:
        self.data = {**self.data, "automation_failure": ctx.data}

    @transition(field="state", source="needs_attention", target="checks_running", custom=TASK)
    def retry_checks(self, ctx: TransitionContext) -> None:
        self.data = {k: v for k, v in self.data.items() if k != "automation_failure"}

    @transition(
        field="state",
        source="needs_attention",
        target=RETURN_VALUE("checks_running", "active", "risk_review"),
        custom=TASK,
    )
    def skip_with_result(self, ctx: TransitionContext) -> str:
        failed = self.data["automation_failure"]["step"]
        step = next(step for step in self.automated_steps if step.name == failed)
        result = ctx.data.get("result")
        validate_process_data(step.result_schema, result, what=f"manual result of {failed}")
        data = {k: v for k, v in self.data.items() if k != "automation_failure"}
        self.data = {**data, failed: {**result, "manual": True}}
        return self._after_checks()

    @transition(field="state", source="needs_attention", target="cancelled", custom=TASK)
    def cancel_after_failure(self, ctx: TransitionContext) -> None:
        pass

    @transition(field="state", source="risk_review", target="active", custom=TASK)
    def approve_after_review(self, ctx: TransitionContext) -> None:
        pass

    @transition(field="state", source="risk_review", target="declined", custom=TASK)
    def decline(self, ctx: TransitionContext) -> None:
        pass

    @transition(
        field="state",
        source=["new", "checks_running", "needs_attention", "risk_review"],
        target="cancelled",
        custom=EXTERNAL,
        permission=may_cancel,
    )
    def cancel(self, ctx: TransitionContext) -> None:
        pass
