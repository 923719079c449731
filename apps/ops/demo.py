"""The embedded default's demo: people in every role and a few processes of each kind in
different states.

Everything is made through the services people and systems use (instance_start,
task_claim, task_complete, instance_transition), so the tasks, grants and audit chains
are the real thing. Idempotent: people are found by username and processes by their fixed
business keys; a second run creates nothing and changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction

from apps.accounts import roles
from apps.accounts.models import User
from apps.accounts.services import roles_ensure
from apps.automation.services import automated_step_run
from apps.humantasks.models import HumanTask
from apps.humantasks.selectors import InboxFilters, inbox_for
from apps.humantasks.services import queues_ensure_standard, task_claim, task_complete
from apps.workflows.models import WorkflowInstance
from apps.workflows.registry import as_definition
from apps.workflows.services import instance_start, instance_transition


@dataclass(frozen=True)
class DemoPerson:
    username: str
    first_name: str
    last_name: str
    roles: tuple[str, ...] = ()
    time_zone: str = "UTC"
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def role_label(self) -> str:
        if self.is_superuser:
            return "Administrator (superuser)"
        return ", ".join(self.roles) or "-"


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson("requester1", "Ana", "Ruiz", (roles.REQUESTERS.name,), "Europe/Madrid"),
    DemoPerson("requester2", "Ben", "Okafor", (roles.REQUESTERS.name,), "Africa/Lagos"),
    DemoPerson("lead1", "Carla", "Jensen", (roles.TEAM_LEADS.name,), "Europe/Berlin"),
    DemoPerson("lead2", "Dev", "Patel", (roles.TEAM_LEADS.name,), "Asia/Kolkata"),
    DemoPerson("finance1", "Eva", "Novak", (roles.FINANCE.name,), "Europe/Prague"),
    DemoPerson("finance2", "Femi", "Adeyemi", (roles.FINANCE.name,)),
    DemoPerson("cfo1", "Grace", "Liu", (roles.CFO.name,), "America/New_York"),
    DemoPerson("cfo2", "Hugo", "Martin", (roles.CFO.name,), "Europe/Paris"),
    DemoPerson("risk1", "Ines", "Costa", (roles.RISK_OFFICERS.name,), "Europe/Lisbon"),
    DemoPerson("risk2", "Jonas", "Berg", (roles.RISK_OFFICERS.name,), "Europe/Stockholm"),
    DemoPerson("payroll1", "Kai", "Tanaka", (roles.PAYROLL.name,), "Asia/Tokyo"),
    DemoPerson("payroll2", "Lena", "Fischer", (roles.PAYROLL.name,), "Europe/Vienna"),
    DemoPerson("it1", "Malik", "Haddad", (roles.IT.name,)),
    DemoPerson("it2", "Nora", "Smith", (roles.IT.name,), "America/Chicago"),
    DemoPerson("hr1", "Omar", "Farouk", (roles.HR.name,), "Africa/Cairo"),
    DemoPerson("hr2", "Paula", "Rossi", (roles.HR.name,), "Europe/Rome"),
    DemoPerson("ops1", "Tariq", "Nasser", (roles.OPERATIONS.name,), "Asia/Dubai"),
    DemoPerson("ops2", "Uma", "Walsh", (roles.OPERATIONS.name,), "Europe/Dublin"),
    DemoPerson("manager", "Quinn", "Harper", (roles.MANAGERS.name,)),
    DemoPerson("auditor", "Rosa", "Diaz", (roles.AUDITORS.name,), is_staff=True),
    DemoPerson("admin", "Sam", "Admin", (), is_staff=True, is_superuser=True),
    DemoPerson("erp", "ERP", "system", (roles.INTEGRATIONS.name,)),
)


@dataclass(frozen=True)
class DemoDecision:
    """`by` takes the step's task; with an outcome they also decide it (else it stays claimed)."""

    step: str
    by: str
    outcome: str | None = None
    comment: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoProcess:
    kind: str
    business_key: str
    started_by: str
    data: dict[str, Any]
    expected_state: str
    decisions: tuple[DemoDecision, ...] = ()
    cancelled_by: str = ""
    story: str = ""


def _order(amount: int, supplier: str, description: str) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR", "supplier": supplier, "description": description}


def _customer(name: str, national_id: str, employer: str, limit: int) -> dict[str, Any]:
    email = name.lower().replace(" ", ".") + "@example.com"
    return {
        "customer_name": name,
        "customer_email": email,
        "national_id": national_id,
        "employer": employer,
        "requested_limit": limit,
    }


def _employee(name: str, start_date: str, department: str, job_title: str) -> dict[str, Any]:
    email = name.lower().replace(" ", ".") + "@example.com"
    return {
        "employee_name": name,
        "employee_email": email,
        "start_date": start_date,
        "department": department,
        "job_title": job_title,
    }


DEMO_PROCESSES: tuple[DemoProcess, ...] = (
    DemoProcess(
        "purchase_order",
        "PO-DEMO-1001",
        "requester1",
        _order(1200, "Office Depot", "Six ergonomic chairs"),
        "team_lead_review",
        story="waits for a team lead",
    ),
    DemoProcess(
        "purchase_order",
        "PO-DEMO-1002",
        "requester2",
        _order(18500, "Lenovo", "Ten laptops for the new support team"),
        "finance_review",
        decisions=(
            DemoDecision("team_lead_approval", "lead1", "approve"),
            DemoDecision("finance_approval", "finance1"),
        ),
        story="team lead approved; finance1 has claimed one of the two finance approvals",
    ),
    DemoProcess(
        "purchase_order",
        "PO-DEMO-1003",
        "requester1",
        _order(120000, "Siemens", "Replacement cooling unit for the data centre"),
        "cfo_review",
        decisions=(
            DemoDecision("team_lead_approval", "lead2", "approve"),
            DemoDecision("finance_approval", "finance1", "approve"),
            DemoDecision("finance_approval", "finance2", "approve"),
        ),
        story="team lead and both finance approvals done; waits for the CFO",
    ),
    DemoProcess(
        "purchase_order",
        "PO-DEMO-1004",
        "requester2",
        _order(800, "Staples", "Printer toner"),
        "approved",
        decisions=(DemoDecision("team_lead_approval", "lead2", "approve"),),
        story="approved by a team lead",
    ),
    DemoProcess(
        "purchase_order",
        "PO-DEMO-1005",
        "requester1",
        _order(3400, "Acme Tools", "Workshop tool set"),
        "changes_requested",
        decisions=(
            DemoDecision(
                "team_lead_approval",
                "lead1",
                "request_changes",
                comment="Please attach the supplier's quote.",
            ),
        ),
        story="sent back to requester1 to revise",
    ),
    DemoProcess(
        "purchase_order",
        "PO-DEMO-1006",
        "requester2",
        _order(9900, "Herman Miller", "Standing desks for the whole floor"),
        "rejected",
        decisions=(
            DemoDecision("team_lead_approval", "lead1", "approve"),
            DemoDecision(
                "finance_approval", "finance2", "reject", comment="Over this quarter's furniture budget."
            ),
        ),
        story="rejected by finance",
    ),
    DemoProcess(
        "account_activation",
        "ACC-DEMO-2001",
        "erp",
        _customer("Maria Garcia", "ES-4711", "Globex Corporation", 5000),
        "active",
        story="both checks passed with a low risk score: activated automatically",
    ),
    DemoProcess(
        "account_activation",
        "ACC-DEMO-2002",
        "erp",
        _customer("Tom Baker", "NL-2023R", "Initech", 20000),
        "risk_review",
        story="high risk score: waits for a risk officer",
    ),
    DemoProcess(
        "account_activation",
        "ACC-DEMO-2003",
        "erp",
        _customer("Lee Wong", "FR-9001X", "Unknown Ventures", 50000),
        "declined",
        decisions=(
            DemoDecision(
                "risk_review", "risk1", "reject", comment="Credit check failed and employer not verified."
            ),
        ),
        story="checks failed; declined by a risk officer",
    ),
    DemoProcess(
        "employee_onboarding",
        "ONB-DEMO-3001",
        "hr1",
        _employee("Alex Kim", "2027-02-01", "Engineering", "Backend developer"),
        "in_progress",
        story="payroll, IT and HR tasks all open",
    ),
    DemoProcess(
        "employee_onboarding",
        "ONB-DEMO-3002",
        "hr1",
        _employee("Sofia Rossi", "2027-01-18", "Sales", "Account executive"),
        "in_progress",
        decisions=(
            DemoDecision("payroll_setup", "payroll1", "done", data={"payroll_id": "PR-55012"}),
            DemoDecision("it_provisioning", "it1", "done", data={"asset_tag": "LT-0420"}),
        ),
        story="payroll and IT done; waits for HR",
    ),
    DemoProcess(
        "employee_onboarding",
        "ONB-DEMO-3003",
        "hr1",
        _employee("Noah Schmidt", "2027-01-04", "Finance", "Controller"),
        "completed",
        decisions=(
            DemoDecision("payroll_setup", "payroll2", "done", data={"payroll_id": "PR-55007"}),
            DemoDecision("it_provisioning", "it2", "done", data={"asset_tag": "LT-0415"}),
            DemoDecision("hr_paperwork", "hr2", "done", data={"contract_signed": True}),
        ),
        story="all three parallel tasks done",
    ),
    DemoProcess(
        "employee_onboarding",
        "ONB-DEMO-3004",
        "hr1",
        _employee("Eli Cohen", "2027-03-01", "Marketing", "Designer"),
        "cancelled",
        cancelled_by="hr1",
        story="cancelled by HR; its open tasks were cancelled with it",
    ),
)


@dataclass
class DemoSeedResult:
    people_created: list[str] = field(default_factory=list)
    processes_created: list[str] = field(default_factory=list)

    @property
    def created_anything(self) -> bool:
        return bool(self.people_created or self.processes_created)


def demo_password_ensure(*, path: Path) -> tuple[str, bool]:
    """The shared demo password kept in `path` (created once, readable by its owner only).

    Returns the password and whether it was made just now.
    """
    if path.exists():
        password = path.read_text().strip()
        if password:
            return password, False
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    path.write_text(password + "\n")
    path.chmod(0o600)
    return password, True


def demo_seed(*, password: str, reset_passwords: bool = False) -> DemoSeedResult:
    """Roles, queues, demo people and demo processes, each made only if missing.

    `reset_passwords` gives people who already exist `password` too (used when the
    password file was lost, so the printed credentials are the working ones).
    """
    result = DemoSeedResult()
    roles_ensure()
    queues_ensure_standard(actor=None)
    result.people_created = _people_ensure(password=password, reset_passwords=reset_passwords)
    people = {user.username: user for user in User.objects.filter(username__in=_usernames())}
    for process in DEMO_PROCESSES:
        if _process_exists(process):
            continue
        _process_create(process, people=people)
        result.processes_created.append(process.business_key)
    return result


def _usernames() -> list[str]:
    return [person.username for person in DEMO_PEOPLE]


def _people_ensure(*, password: str, reset_passwords: bool) -> list[str]:
    created = []
    missing = set(_usernames()) - set(
        User.objects.filter(username__in=_usernames()).values_list("username", flat=True)
    )
    # One hash for everyone, and only when needed: a strong hasher takes a good fraction of a second.
    hashed = make_password(password) if missing or reset_passwords else ""
    groups = {group.name: group for group in Group.objects.all()}
    with transaction.atomic():
        for person in DEMO_PEOPLE:
            user = User.objects.filter(username=person.username).first()
            if user is None:
                user = User.objects.create(
                    username=person.username,
                    first_name=person.first_name,
                    last_name=person.last_name,
                    email=f"{person.username}@example.com",
                    time_zone=person.time_zone,
                    is_staff=person.is_staff,
                    is_superuser=person.is_superuser,
                    password=hashed,
                )
                created.append(person.username)
            elif reset_passwords:
                user.password = hashed
                user.save(update_fields=["password"])
            user.groups.add(*(groups[name] for name in person.roles))
    return created


def _process_exists(process: DemoProcess) -> bool:
    return WorkflowInstance.objects.filter(kind=process.kind, business_key=process.business_key).exists()


def _process_create(process: DemoProcess, *, people: dict[str, User]) -> WorkflowInstance:
    # Each service call commits on its own, as it would for people clicking through the
    # inbox; automated steps run when the start commits.
    instance = instance_start(
        kind=process.kind,
        business_key=process.business_key,
        data=process.data,
        actor=people[process.started_by],
    )
    _automated_steps_finish(instance)
    for decision in process.decisions:
        _decide(instance, decision, person=people[decision.by])
    if process.cancelled_by:
        instance_transition(
            instance=instance,
            transition="cancel",
            actor=people[process.cancelled_by],
            data={"reason": "Start date moved to next year; will restart then."},
        )
    instance.refresh_from_db()
    return instance


def _automated_steps_finish(instance: WorkflowInstance) -> None:
    """Run any automated step still pending, so the demo does not wait for a worker.

    Normally they ran when the start committed; automated_step_run skips a step whose
    result is already recorded, so this never applies a result twice.
    """
    instance.refresh_from_db()
    instance = as_definition(instance)
    state = instance.state
    for step in instance.automated_steps_in(state):
        automated_step_run(instance_id=instance.pk, step_name=step.name, expected_state=state)


def _decide(instance: WorkflowInstance, decision: DemoDecision, *, person: User) -> HumanTask:
    visible = inbox_for(user=person, filters=InboxFilters(instance_id=instance.pk)).tasks
    task = next(
        task
        for task in visible
        if task.step == decision.step
        and (task.state == HumanTask.State.OPEN or task.assignee_id == person.pk)
    )
    if task.state == HumanTask.State.OPEN:
        task = task_claim(task=task, actor=person)
    if decision.outcome is not None:
        task = task_complete(
            task=task, actor=person, outcome=decision.outcome, data=decision.data, comment=decision.comment
        )
    return task


def demo_credentials_table(*, password: str) -> str:
    """The demo sign-ins as a plain-text table: user, name, roles, password."""
    rows = [("User", "Name", "Roles", "Password")]
    rows += [(p.username, f"{p.first_name} {p.last_name}", p.role_label, password) for p in DEMO_PEOPLE]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
