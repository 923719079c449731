from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.core.management import call_command

from apps.accounts import roles
from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_first_break
from apps.humantasks.models import HumanTask, Queue
from apps.humantasks.selectors import inbox_for
from apps.ops.demo import DEMO_PEOPLE, DEMO_PROCESSES
from apps.workflows.models import WorkflowInstance

pytestmark = pytest.mark.django_db


def seed(password_file: Path) -> str:
    out = StringIO()
    call_command("seed_demo", password_file=password_file, stdout=out)
    return out.getvalue()


def table_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (User, Group, Queue, WorkflowInstance, HumanTask, AuditEvent)
    }


def test_every_demo_process_reaches_its_declared_state(tmp_path):
    seed(tmp_path / "pw")

    states = dict(WorkflowInstance.objects.values_list("business_key", "state"))
    assert states == {process.business_key: process.expected_state for process in DEMO_PROCESSES}
    assert {process.kind for process in DEMO_PROCESSES} == {
        "purchase_order",
        "account_activation",
        "employee_onboarding",
    }
    # Different states of each kind, not one state per kind.
    for kind in ("purchase_order", "account_activation", "employee_onboarding"):
        assert len({p.expected_state for p in DEMO_PROCESSES if p.kind == kind}) >= 3


def test_demo_processes_leave_tasks_as_their_stories_say(tmp_path):
    seed(tmp_path / "pw")

    finance = HumanTask.objects.filter(instance__business_key="PO-DEMO-1002", step="finance_approval")
    assert sorted((t.state, t.assignee.username if t.assignee else None) for t in finance) == [
        ("claimed", "finance1"),
        ("open", None),
    ]
    revise = HumanTask.objects.get(instance__business_key="PO-DEMO-1005", step="revise_order")
    assert (revise.state, revise.assignee.username) == ("claimed", "requester1")
    cancelled = HumanTask.objects.filter(instance__business_key="ONB-DEMO-3004")
    assert cancelled.count() == 3 and set(cancelled.values_list("state", flat=True)) == {"cancelled"}
    activated = WorkflowInstance.objects.get(business_key="ACC-DEMO-2001")
    assert {"credit_check", "employment_verification"} <= activated.data.keys()
    assert not activated.tasks.exists()


def test_people_hold_their_roles_and_share_the_printed_password(tmp_path):
    output = seed(tmp_path / "pw")
    password = (tmp_path / "pw").read_text().strip()

    assert len(password) >= 12
    assert password in output
    for role in roles.QUEUE_ROLES:
        members = User.objects.filter(groups__name=role.name, username__in=[p.username for p in DEMO_PEOPLE])
        assert members.count() >= 2, role.name
    assert User.objects.get(username="manager").groups.filter(name=roles.MANAGERS.name).exists()
    assert User.objects.get(username="auditor").groups.filter(name=roles.AUDITORS.name).exists()
    assert User.objects.get(username="erp").groups.filter(name=roles.INTEGRATIONS.name).exists()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    for person in DEMO_PEOPLE:
        assert authenticate(username=person.username, password=password) is not None, person.username
        assert person.username in output


def test_demo_people_see_their_own_queues_work(tmp_path):
    seed(tmp_path / "pw")

    def titles(username: str) -> list[str]:
        return [
            task.instance.business_key for task in inbox_for(user=User.objects.get(username=username)).tasks
        ]

    assert titles("lead1") == ["PO-DEMO-1001"]
    assert titles("cfo2") == ["PO-DEMO-1003"]
    assert sorted(titles("payroll1")) == ["ONB-DEMO-3001"]
    assert sorted(titles("hr2")) == ["ONB-DEMO-3001", "ONB-DEMO-3002"]
    assert titles("risk2") == ["ACC-DEMO-2002"]


def test_a_second_run_creates_nothing(tmp_path):
    seed(tmp_path / "pw")
    before = table_counts()

    output = seed(tmp_path / "pw")

    assert table_counts() == before
    assert "nothing created" in output
    checked, broken = audit_chain_first_break()
    assert broken is None and checked == before["AuditEvent"]


def test_a_lost_password_file_gives_everyone_the_new_password(tmp_path):
    seed(tmp_path / "pw")
    old = (tmp_path / "pw").read_text().strip()
    (tmp_path / "pw").unlink()

    seed(tmp_path / "pw")

    new = (tmp_path / "pw").read_text().strip()
    assert new != old
    assert authenticate(username="lead2", password=new) is not None
    assert authenticate(username="lead2", password=old) is None


def test_help_describes_the_command():
    from apps.ops.management.commands.seed_demo import Command

    text = Command().create_parser("manage.py", "seed_demo").format_help()
    assert "Idempotent" in text and "--password-file" in text
