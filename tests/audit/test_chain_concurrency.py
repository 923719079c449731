"""Audit chains stay linear when many transactions append at once.

Chains are per instance (and per other subject), so writers of different instances never
wait for each other; writers of one chain are queued by an advisory lock, whether or not
they also hold a row lock.
"""

from __future__ import annotations

from functools import partial

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_first_break
from apps.humantasks.services import task_claim, task_complete, task_grant, task_unclaim
from apps.workflows.models import WorkflowInstance
from tests.factories import start_purchase_order
from tests.process_steps import open_task
from tests.racing import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 3


def assert_chain_linear(chain_key: str) -> int:
    """The chain's events are numbered 1..n, each linked to the one before; returns n."""
    events = list(
        AuditEvent.objects.filter(chain_key=chain_key).order_by("seq").values_list("seq", "prev_hash", "hash")
    )
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1))
    assert [prev for _, prev, _ in events] == ["", *(own for _, _, own in events[:-1])]
    return len(events)


def work_through(order: WorkflowInstance, lead, colleague) -> None:
    """Six task actions, each its own transaction, each appending to the order's chain."""
    task = open_task(order, "team_lead_approval")
    for _ in range(2):
        task_claim(task=task.pk, actor=lead)
        task_unclaim(task=task.pk, actor=lead)
    task_claim(task=task.pk, actor=colleague)
    task_complete(task=task.pk, actor=colleague, outcome="approve")


def test_two_instances_written_at_once_each_keep_a_valid_chain(people):
    for round_ in range(ROUNDS):
        first, second = (
            start_purchase_order(people["requester"], business_key=f"PO-CHAIN-{round_}-{n}") for n in (1, 2)
        )

        outcomes = run_together(
            partial(work_through, first, people["lead"], people["lead2"]),
            partial(work_through, second, people["lead2"], people["lead"]),
        )

        assert [o.error for o in outcomes] == [None, None]
        for order in (first, second):
            assert (
                assert_chain_linear(f"instance:{order.pk}")
                == AuditEvent.objects.filter(instance=order).count()
            )
            assert AuditEvent.objects.filter(instance=order, action="task.claimed").count() == 3
    assert audit_chain_first_break()[1] is None


def test_grants_racing_a_claim_append_to_the_instance_chain_in_turn_without_deadlock(people):
    """Both write the instance's chain and, at commit, check foreign keys to the task row:
    unless both take the instance and task locks first, the chain lock and the row lock are
    taken in opposite orders and PostgreSQL kills one of them as a deadlock."""
    for round_ in range(ROUNDS):
        order = start_purchase_order(people["requester"], business_key=f"PO-GRANT-{round_}")
        task = open_task(order, "team_lead_approval")

        outcomes = run_together(
            partial(task_claim, task=task.pk, actor=people["lead"]),
            partial(task_grant, task=task, user=people["auditor"], actor=people["manager"], can_work=False),
            partial(task_grant, task=task, user=people["cfo"], actor=people["manager"], can_work=False),
        )

        assert [o.error for o in outcomes] == [None, None, None]
        # started, start transition, task created, one claim, two grants
        assert assert_chain_linear(f"instance:{order.pk}") == 6
    assert audit_chain_first_break()[1] is None


def test_failed_sign_ins_arriving_together_append_to_one_shared_chain(people):
    attempts_each = 5

    def fail_to_sign_in(username: str) -> None:
        client = Client()
        for _ in range(attempts_each):
            assert not client.login(username=username, password="wrong")

    outcomes = run_together(
        *(partial(fail_to_sign_in, name) for name in ("lead", "lead2", "finance", "mallory"))
    )

    assert [o.error for o in outcomes] == [None] * 4
    assert assert_chain_linear("auth:failures") == 4 * attempts_each
    assert audit_chain_first_break()[1] is None
