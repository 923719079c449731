"""Who may see and act on which task: every role against a task in their queue, a task in
another queue, and a confidential task opened by per-task grants to exactly two people.

Each row is one person; each cell is what the services answer. Every action is tried in
a savepoint that is rolled back, so one setup serves the whole row.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.automation.services import automated_step_run
from apps.core.errors import (
    DecisionRefused,
    InvalidDecision,
    NotFound,
    NotPermitted,
    TaskClosed,
    TaskConflict,
)
from apps.humantasks.models import HumanTask
from apps.humantasks.selectors import inbox_for, task_get_for
from apps.humantasks.services import (
    task_cancel,
    task_claim,
    task_complete,
    task_delegate,
    task_grant,
    task_reassign,
)
from tests.factories import start_account_activation, start_employee_onboarding, start_purchase_order
from tests.process_steps import decide, open_task, open_tasks

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ACTIONS = ("see", "inbox", "claim", "complete", "reassign", "delegate", "cancel")
ANSWERS = {
    NotFound: "404",
    NotPermitted: "403",
    TaskConflict: "409",
    DecisionRefused: "policy",
    InvalidDecision: "invalid",
    TaskClosed: "closed",
}

WORKER = dict(zip(ACTIONS, ("ok", "ok", "ok", "ok", "403", "ok", "403"), strict=True))
MANAGER = dict(zip(ACTIONS, ("ok", "ok", "403", "403", "ok", "403", "ok"), strict=True))
READER = dict(zip(ACTIONS, ("ok", "ok", "403", "403", "403", "403", "403"), strict=True))
NOTHING = dict(zip(ACTIONS, ("404",) * len(ACTIONS), strict=True))
# The requester's own revision is assigned to them from the start and is theirs alone: it is
# confidential, so no other requester can even be handed it.
OWN_REVISION = dict(zip(ACTIONS, ("ok", "ok", "409", "ok", "403", "invalid", "403"), strict=True))

MATRIX = {
    "requester": {"revise": OWN_REVISION, "team_lead": NOTHING, "confidential": NOTHING},
    "lead": {"team_lead": WORKER, "finance": NOTHING, "confidential": WORKER},
    "lead2": {"team_lead": WORKER, "confidential": NOTHING},  # in the queue, but not granted
    "finance": {"finance": WORKER, "team_lead": NOTHING, "confidential": NOTHING},
    "cfo": {"cfo": WORKER, "finance": NOTHING, "confidential": WORKER},  # granted from outside the queue
    "risk": {"risk": WORKER, "payroll": NOTHING, "confidential": NOTHING},
    "payroll": {"payroll": WORKER, "it": NOTHING, "confidential": NOTHING},
    "it": {"it": WORKER, "hr": NOTHING, "confidential": NOTHING},
    "hr": {"hr": WORKER, "payroll": NOTHING, "confidential": NOTHING},
    # Managers manage every queue, but confidential tasks ignore queue rights.
    "manager": {"team_lead": MANAGER, "payroll": MANAGER, "confidential": NOTHING},
    # Auditors read every task but confidential ones, which only their grantees see.
    # Auditors review every decision, confidential ones too; they read and never act.
    "auditor": {"team_lead": READER, "payroll": READER, "confidential": READER},
    # The integration started the onboarding; starting a process gives no right to its tasks.
    "integration": {"team_lead": NOTHING, "payroll": NOTHING, "confidential": NOTHING},
    "outsider": {"team_lead": NOTHING, "risk": NOTHING, "confidential": NOTHING},
    "inactive_lead": {"team_lead": NOTHING, "confidential": NOTHING},
}

# Who the task goes to when reassigned or delegated: a colleague who could decide it too.
COLLEAGUES = {
    "team_lead": ("lead", "lead2"),
    "finance": ("finance", "finance2"),
    "cfo": ("cfo", "cfo2"),
    "revise": ("requester", "requester2"),
    "risk": ("risk", "risk2"),
    "payroll": ("payroll", "payroll2"),
    "it": ("it", "it2"),
    "hr": ("hr", "hr2"),
    "confidential": ("lead", "cfo"),
}
APPROVAL = {
    "revise": ("resubmit", {}),
    "payroll": ("done", {"payroll_id": "PR-1"}),
    "it": ("done", {"asset_tag": "LAP-1"}),
    "hr": ("done", {"contract_signed": True}),
}


@pytest.fixture
def tasks(people, make_user) -> dict[str, HumanTask]:
    """One open task in every queue, and a confidential team-lead task granted to `lead` and `cfo`."""
    people["inactive_lead"] = make_user("Team leads", username="inactive_lead", is_active=False)

    team_lead = open_task(start_purchase_order(people["requester"], amount=1200, business_key="PO-TL"))

    finance_order = start_purchase_order(people["requester"], amount=20000, business_key="PO-FIN")
    decide(open_task(finance_order), people["lead2"])

    cfo_order = start_purchase_order(people["requester2"], amount=90000, business_key="PO-CFO")
    decide(open_task(cfo_order), people["lead2"])
    for task, approver in zip(open_tasks(cfo_order), ("finance2", "finance3"), strict=True):
        decide(task, people[approver])

    revised = start_purchase_order(people["requester"], amount=1200, business_key="PO-REV")
    decide(open_task(revised), people["lead2"], "request_changes", comment="Add a quote")

    risky = start_account_activation(people["integration"], business_key="ACC-RISK", national_id="AB-999X")
    for step in ("credit_check", "employment_verification"):
        automated_step_run(instance_id=risky.pk, step_name=step, expected_state="checks_running")

    onboarding = start_employee_onboarding(people["integration"], business_key="EMP-1")

    confidential = open_task(start_purchase_order(people["requester2"], amount=1200, business_key="PO-CONF"))
    HumanTask.objects.filter(pk=confidential.pk).update(is_confidential=True)
    confidential.refresh_from_db()
    for grantee in ("lead", "cfo"):
        task_grant(task=confidential, user=people[grantee], actor=people["manager"])

    return {
        "team_lead": team_lead,
        "finance": open_tasks(finance_order)[0],
        "cfo": open_task(cfo_order),
        "revise": open_task(revised),
        "risk": open_task(risky),
        "payroll": open_task(onboarding, "payroll_setup"),
        "it": open_task(onboarding, "it_provisioning"),
        "hr": open_task(onboarding, "hr_paperwork"),
        "confidential": confidential,
    }


def _answer(action) -> str:
    """What the services answer to `action`; whatever it wrote is rolled back."""
    try:
        with transaction.atomic():
            action()
            transaction.set_rollback(True)
    except tuple(ANSWERS) as error:
        return ANSWERS[type(error)]
    return "ok"


def _observe(people, user, key: str, task: HumanTask) -> dict[str, str]:
    colleague = next(people[name] for name in COLLEAGUES[key] if people[name] != user)
    outcome, data = APPROVAL.get(key, ("approve", {}))

    def delegate() -> None:
        if HumanTask.objects.get(pk=task.pk).assignee_id != user.pk:
            task_claim(task=task, actor=user)
        task_delegate(task=task, actor=user, to_user=colleague, reason="Holiday")

    in_inbox = task.pk in {t.pk for t in inbox_for(user=user, limit=200).tasks}
    return {
        "see": _answer(lambda: task_get_for(user=user, task_id=task.pk)),
        "inbox": "ok" if in_inbox else "404",
        "claim": _answer(lambda: task_claim(task=task, actor=user)),
        "complete": _answer(lambda: task_complete(task=task, actor=user, outcome=outcome, data=data)),
        "reassign": _answer(
            lambda: task_reassign(task=task, actor=user, to_user=colleague, reason="Workload")
        ),
        "delegate": _answer(delegate),
        "cancel": _answer(lambda: task_cancel(task=task, actor=user, reason="Duplicate request")),
    }


@pytest.mark.parametrize("who", list(MATRIX))
def test_permission_matrix(people, tasks, who):
    user = people[who]
    before = {task.pk: (task.state, task.version) for task in HumanTask.objects.all()}

    observed = {key: _observe(people, user, key, tasks[key]) for key in MATRIX[who]}

    assert observed == MATRIX[who]
    # Every attempt was rolled back: the next row starts from the same tasks.
    assert {task.pk: (task.state, task.version) for task in HumanTask.objects.all()} == before


def test_confidential_task_is_visible_to_its_two_grantees_and_auditors_only(people, tasks):
    confidential = tasks["confidential"]

    seeing = {
        who
        for who, user in people.items()
        if _answer(lambda u=user: task_get_for(user=u, task_id=confidential.pk)) == "ok"
    }
    in_inbox = {who for who, user in people.items() if confidential in inbox_for(user=user, limit=200).tasks}

    # Its queue (lead2) and the managers do not see it; auditors read it, as they read its events.
    assert seeing == in_inbox == {"lead", "cfo", "auditor"}
