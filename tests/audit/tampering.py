"""Altering audit history as an attacker with database access would, for the tamper tests."""

from __future__ import annotations

from django.db import connection, transaction

from apps.audit.models import AuditEvent
from apps.humantasks.services import task_claim, task_complete, task_unclaim
from apps.workflows.models import WorkflowInstance
from tests.db_state import triggers_ignored_setting
from tests.factories import start_employee_onboarding, start_purchase_order
from tests.process_steps import open_task


def tamper(sql: str, params: list | None = None) -> None:
    """Run `sql` as someone who switched the append-only trigger off for it."""
    with transaction.atomic(), connection.cursor() as cursor:
        ignored = triggers_ignored_setting("audit.AuditEvent:audit_append_only")
        cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [ignored])
        cursor.execute(sql, params)


def make_history(people) -> WorkflowInstance:
    """An onboarding and a purchase order with a dozen events each, in separate chains."""
    start_employee_onboarding(people["hr"], business_key="ONB-AUDIT")
    order = start_purchase_order(people["requester"], business_key="PO-AUDIT")
    task = open_task(order, "team_lead_approval")
    task_claim(task=task, actor=people["lead"])
    task_unclaim(task=task, actor=people["lead"])
    task_claim(task=task, actor=people["lead2"])
    task_complete(task=task, actor=people["lead2"], outcome="approve", comment="Within budget")
    return order


def chain_of(instance: WorkflowInstance) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(chain_key=f"instance:{instance.pk}").order_by("seq"))
