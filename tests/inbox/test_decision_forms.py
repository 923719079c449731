"""The task page's typed decision forms: fields from the step's schema, outcome buttons,
comments where required, the resubmission pre-filled with the reason shown, refusals with
their reason, and the sentence that says what the decision did to the process."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_claim, task_complete
from apps.workflows.models import WorkflowInstance
from apps.workflows.services import instance_fire, instance_lock, instance_start
from apps.workflows.transitions import TransitionContext
from tests.factories import (
    account_activation_data,
    employee_onboarding_data,
    start_purchase_order,
)
from tests.process_steps import open_task

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def signed_in(user, **headers) -> Client:
    client = Client(**headers)
    client.force_login(user)
    return client


def rows() -> dict[str, object]:
    return {
        "instances": list(WorkflowInstance.objects.values_list("pk", "state", "version", "data")),
        "tasks": list(HumanTask.objects.values_list("pk", "state", "version", "assignee")),
        "events": AuditEvent.objects.count(),
    }


def order(people, amount: float = 3400, key: str = "PO-1") -> WorkflowInstance:
    return start_purchase_order(people["requester"], amount=amount, business_key=key)


def sent_back(people, amount: float = 3400) -> WorkflowInstance:
    po = order(people, amount)
    task_complete(
        task=open_task(po),
        actor=people["lead"],
        outcome="request_changes",
        comment="Split the drills from the batteries, please.",
    )
    return po


def decide(client: Client, task: HumanTask, **fields) -> object:
    return client.post(reverse("inbox:task_decide", args=[task.pk]), {"version": task.version, **fields})


def page_of(client: Client, task: HumanTask) -> str:
    return client.get(reverse("inbox:task", args=[task.pk])).content.decode()


# --- The resubmission ----------------------------------------------------------------------------


def test_the_revise_form_shows_the_reason_and_the_current_figures(people):
    po = sent_back(people)
    task = open_task(po)

    page = page_of(signed_in(people["requester"]), task)

    assert "Why it came back to you" in page
    assert "Split the drills from the batteries, please." in page
    assert "chose “Send back for changes”" in page
    assert 'name="data__amount" value="3400"' in page
    assert 'name="data__supplier" value="Acme Tools"' in page
    assert ">Resubmit</button>" in page and ">Withdraw the order</button>" in page
    assert "{}" not in page and "JSON" not in page


def test_resubmitting_revised_figures_sends_the_order_back_to_the_team_leads(people):
    po = sent_back(people)
    task = open_task(po)
    client = signed_in(people["requester"])

    response = decide(
        client,
        task,
        outcome="resubmit",
        data__amount="3000",
        data__supplier="Acme Tools",
        data__description="Drills only",
        data__cost_center="",
    )

    assert response.status_code == 302
    po.refresh_from_db()
    assert po.state == "team_lead_review"
    assert (po.data["amount"], po.data["description"]) == (3000, "Drills only")
    assert "Resubmitted. The purchase order now waits for the team leads." in client.get("/").content.decode()


def test_a_wrong_revised_amount_is_shown_beside_its_field_and_nothing_changes(people):
    po = sent_back(people)
    task = open_task(po)
    client = signed_in(people["requester"])
    before = rows()

    response = decide(client, task, outcome="resubmit", data__amount="-1", data__supplier="Acme Tools")

    assert response.status_code == 400
    assert response.context["decision_form"].errors == {"data__amount": ["Enter a number greater than 0."]}
    assert "The decision was not recorded." in response.content.decode()
    assert rows() == before


def test_withdrawing_ignores_the_figures(people):
    po = sent_back(people)
    client = signed_in(people["requester"])

    response = decide(client, open_task(po), outcome="withdraw", data__amount="not a number")

    assert response.status_code == 302
    po.refresh_from_db()
    assert (po.state, po.data["amount"]) == ("withdrawn", 3400)
    assert "The purchase order is withdrawn." in client.get("/").content.decode()


@pytest.mark.parametrize("role", ["requester2", "lead", "finance", "outsider"])
def test_nobody_else_reads_or_decides_the_requesters_revise_task(people, role):
    task = open_task(sent_back(people))
    client = signed_in(people[role])
    before = rows()

    assert client.get(reverse("inbox:task", args=[task.pk])).status_code == 404
    assert decide(client, task, outcome="withdraw").status_code == 404
    assert rows() == before


# --- Typed fields of other steps -----------------------------------------------------------------


def onboarding(people) -> WorkflowInstance:
    return instance_start(
        kind="employee_onboarding", business_key="ONB-1", data=employee_onboarding_data(), actor=people["hr"]
    )


def test_the_signed_contract_is_a_box_to_tick(people):
    task = open_task(onboarding(people), "hr_paperwork")
    client = signed_in(people["hr2"])
    assert '<input type="checkbox" name="data__contract_signed"' in page_of(client, task)
    before = rows()

    unticked = decide(client, task, outcome="done")

    assert unticked.status_code == 400
    assert unticked.context["decision_form"].errors == {"data__contract_signed": ["Tick this box to go on."]}
    assert rows() == before
    ticked = decide(client, task, outcome="done", data__contract_signed="on")
    assert ticked.status_code == 302
    task.refresh_from_db()
    assert task.decision_data == {"contract_signed": True}


def test_a_failed_check_is_resolved_with_typed_result_fields(people, make_user):
    activation = instance_start(
        kind="account_activation",
        business_key="ACC-1",
        data=account_activation_data(),
        actor=people["integration"],
    )
    # As the automation app does when a check keeps failing (its dead letter).
    with transaction.atomic():
        instance_fire(
            instance=instance_lock(instance_id=activation.pk),
            transition="step_failed",
            context=TransitionContext(
                actor=None, data={"step": "credit_check", "attempts": 5, "error": "timeout"}
            ),
            trigger="system",
        )
    task = open_task(activation)
    client = signed_in(make_user("Operations", username="ops"))
    page = page_of(client, task)
    assert '<input type="checkbox" name="data__result__passed"' in page
    assert '<input type="number" name="data__result__score" step="any" min="0" max="100"' in page

    refused = decide(
        client, task, outcome="skip", comment="Bureau confirmed by phone", data__result__score="120"
    )
    assert refused.status_code == 400
    assert refused.context["decision_form"].errors == {"data__result__score": ["Enter 100 or less."]}

    done = decide(
        client,
        task,
        outcome="skip",
        comment="Bureau confirmed by phone",
        data__result__passed="on",
        data__result__score="12",
    )
    assert done.status_code == 302
    activation.refresh_from_db()
    assert activation.data["credit_check"] == {"passed": True, "score": 12, "manual": True}


# --- Outcomes, comments and what happened --------------------------------------------------------


def test_reject_needs_a_reason(people):
    task = open_task(order(people))
    client = signed_in(people["lead"])
    before = rows()

    response = decide(client, task, outcome="reject")

    assert response.status_code == 400
    assert response.context["decision_form"].errors == {
        "comment": ["Please say why: “Reject” needs a comment."]
    }
    assert rows() == before


@pytest.mark.parametrize(
    ("amount", "outcome", "comment", "said"),
    [
        (1200, "approve", "", "The purchase order is approved."),
        (18500, "approve", "", "Approved. The purchase order now waits for finance."),
        (18500, "reject", "Over budget", "The purchase order is rejected."),
        (18500, "request_changes", "Split it", "Sent back to Ana Ruiz for changes."),
    ],
)
def test_after_a_decision_the_page_says_what_happened_to_the_order(people, amount, outcome, comment, said):
    people["requester"].first_name, people["requester"].last_name = "Ana", "Ruiz"
    people["requester"].save()
    task = open_task(order(people, amount))
    client = signed_in(people["lead"])

    decide(client, task, outcome=outcome, comment=comment)

    assert said in client.get("/").content.decode()


def test_the_first_of_two_finance_approvals_says_one_more_is_needed(people):
    po = order(people, 18500)
    task_complete(task=open_task(po), actor=people["lead"], outcome="approve")
    first = HumanTask.objects.filter(instance=po, step="finance_approval").order_by("pk").first()
    client = signed_in(people["finance"])

    decide(client, first, outcome="approve")

    assert "Approved. This step needs 1 more approval; the purchase order stays with Finance." in (
        client.get("/").content.decode()
    )


# --- Tasks the reader may not decide -------------------------------------------------------------


def test_a_finance_slot_held_by_a_colleague_says_who_holds_it(people):
    po = order(people, 18500)
    task_complete(task=open_task(po), actor=people["lead"], outcome="approve")
    people["finance"].first_name, people["finance"].last_name = "Eva", "Novak"
    people["finance"].save()
    held = task_claim(
        task=HumanTask.objects.filter(instance=po, step="finance_approval").order_by("pk").first(),
        actor=people["finance"],
    )

    page = page_of(signed_in(people["finance2"]), held)

    assert "You cannot decide this task." in page
    assert "Eva Novak has claimed it" in page
    assert f'action="/tasks/{held.pk}/decide/"' not in page


def test_four_eyes_is_said_on_the_page_of_the_person_who_started_it(people):
    task = open_task(onboarding(people), "hr_paperwork")

    page = page_of(signed_in(people["hr"]), task)

    assert "You cannot decide this task." in page and "Four-eyes rule" in page
    assert "data__contract_signed" not in page


def test_the_order_shows_money_in_the_readers_format(people):
    task = open_task(order(people, 120000))

    english = page_of(signed_in(people["lead"], HTTP_ACCEPT_LANGUAGE="en"), task)
    german = page_of(signed_in(people["lead"], HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9"), task)

    assert "<dt>Amount</dt><dd>120,000.00 EUR</dd>" in english
    assert "<dt>Amount</dt><dd>120.000,00 EUR</dd>" in german
    assert "<dt>Currency</dt>" not in english
    assert "Process state</dt><dd>Team lead review</dd>" in english


def test_the_task_page_with_its_decision_form_costs_a_fixed_number_of_queries(
    people, django_assert_num_queries
):
    task = open_task(sent_back(people))
    client = signed_in(people["requester"])
    # 1 session, 1 user, 1 the task with its instance, queue and assignee, 2 the reader's
    # queue and task grants, 1 the step's decision policy (only the requester's; the other
    # approvals of the step), 1 the history with its actors (the reason is in it), 1 the
    # requester, 1 the instance's comments, 1 its attachments, 1 the live cursor's streams
    # (roles and queues in one UNION ALL), 1 the bell (latest five with the unread count).
    # The typed form, pre-filled from the instance, reads nothing more.
    with django_assert_num_queries(12):
        assert client.get(reverse("inbox:task", args=[task.pk])).status_code == 200
