"""The roles (Django groups) the shipped process kinds use, and their global permissions.

Queue roles get object permissions on their queue (apps.humantasks.services.queue_create);
the permissions here are the model-wide ones a role needs beyond its queues.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    permissions: tuple[str, ...] = ()
    queue: str = ""  # the slug of the queue this role works, if any


REQUESTERS = Role(
    "Requesters", "Ask for purchases and revise them", ("workflows.start_instance",), "requesters"
)
TEAM_LEADS = Role("Team leads", "First approval level of purchase orders", (), "team-leads")
FINANCE = Role("Finance", "Second approval level of purchase orders", (), "finance")
CFO = Role("CFO", "Final approval level of purchase orders", (), "cfo")
RISK_OFFICERS = Role("Risk officers", "Review risky customer account activations", (), "risk-officers")
PAYROLL = Role("Payroll", "Set up payroll for new employees", (), "payroll")
IT = Role("IT", "Provision laptops and accounts", (), "it")
HR = Role("HR", "Contracts and paperwork", ("workflows.start_instance",), "hr")
MANAGERS = Role("Managers", "Watch every queue and reassign work", ("workflows.start_instance",))
AUDITORS = Role(
    "Auditors",
    "Read every process, task and audit event; change nothing",
    ("audit.view_auditevent", "humantasks.view_humantask", "workflows.view_workflowinstance"),
)
INTEGRATIONS = Role("Integrations", "External systems that start processes", ("workflows.start_instance",))
OPERATIONS = Role(
    "Operations",
    "Resolve automated steps that keep failing: retry, record a result by hand, or cancel",
    (),
    "operations",
)

QUEUE_ROLES = (REQUESTERS, TEAM_LEADS, FINANCE, CFO, RISK_OFFICERS, PAYROLL, IT, HR, OPERATIONS)
ALL_ROLES = (*QUEUE_ROLES, MANAGERS, AUDITORS, INTEGRATIONS)
