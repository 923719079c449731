from __future__ import annotations

import re
import zoneinfo

import pytest
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_claim, task_unclaim
from apps.inbox.views import PAGE_SIZE
from tests.factories import start_employee_onboarding, start_purchase_order
from tests.process_steps import open_task

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

PASSWORD = "correct horse battery staple"


def listed(response) -> list[int]:
    return [task.pk for task in response.context["page"].tasks]


def signed_in(client: Client, user) -> Client:
    client.force_login(user)
    return client


def writes(before: dict[str, int] | None = None) -> dict[str, int]:
    return {
        "tasks": HumanTask.objects.filter(state="completed").count(),
        "claimed": HumanTask.objects.filter(state="claimed").count(),
        "events": AuditEvent.objects.count(),
        "versions": sum(HumanTask.objects.values_list("version", flat=True)),
    }


# --- Signing in ------------------------------------------------------------------------------------


def test_the_inbox_asks_strangers_to_sign_in_and_then_shows_their_tasks(client, people):
    order = start_purchase_order(people["requester"], business_key="PO-1")

    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"
    login_page = client.get(response["Location"])
    assert login_page.status_code == 200
    assert b'autocomplete="current-password"' in login_page.content

    wrong = client.post("/accounts/login/", {"username": "lead", "password": "nope", "next": "/"})
    assert wrong.status_code == 200
    assert b"didn't match" in wrong.content
    right = client.post("/accounts/login/", {"username": "lead", "password": PASSWORD, "next": "/"})
    assert right.status_code == 302 and right["Location"] == "/"
    inbox = client.get("/")
    assert listed(inbox) == [open_task(order).pk]
    assert "Team lead approval: purchase order PO-1" in inbox.content.decode()


# --- The inbox -------------------------------------------------------------------------------------


def test_the_inbox_lists_exactly_the_tasks_of_the_users_queues(client, people):
    order = start_purchase_order(people["requester"], business_key="PO-1")
    onboarding = start_employee_onboarding(people["hr"], business_key="ONB-1")

    assert listed(signed_in(client, people["lead"]).get("/")) == [open_task(order).pk]
    payroll_task = open_task(onboarding, "payroll_setup")
    assert listed(signed_in(Client(), people["payroll"]).get("/")) == [payroll_task.pk]
    assert listed(signed_in(Client(), people["outsider"]).get("/")) == []


def test_the_inbox_costs_the_same_queries_for_one_task_or_many(client, people, django_assert_num_queries):
    start_purchase_order(people["requester"], business_key="PO-1")
    signed_in(client, people["lead"])
    # 1 session, 1 user, 1 the person's queues with whether they work and manage each and
    # its counts (the filter's choices, Claim buttons, the bulk form's manager actions, the
    # live counts), 1 their saved views, 1 their default view; then inbox_for: 1 the queue
    # ids, 1 the user's and their groups' model permissions (one UNION; auditors read every task), 1
    # the merged per-queue page, 1 the page's tasks with instance, queue and assignee; 2 the
    # refusals (their decisions on the page's instances, the N-of-M siblings they hold); then
    # the live parts: 1 the live cursor's roles (its queues were read above), 1 the bell
    # (latest five, with the unread count as a subquery). 13 in all, whatever the number of tasks.
    with django_assert_num_queries(13):
        assert len(listed(client.get("/"))) == 1

    for number in range(2, 8):
        start_purchase_order(people["requester"], business_key=f"PO-{number}")
    with django_assert_num_queries(13):
        assert len(listed(client.get("/"))) == 7


def test_filters_narrow_the_inbox(client, people):
    cheap, dear = (
        start_purchase_order(people["requester"], amount=100, business_key="PO-CHEAP"),
        start_purchase_order(people["requester"], amount=100, business_key="PO-DEAR"),
    )
    onboarding = start_employee_onboarding(people["hr"], business_key="ONB-1")
    lead = people["lead"]
    lead.groups.add(*people["it"].groups.all())
    task_claim(task=open_task(dear), actor=lead)
    signed_in(client, lead)

    it_task = open_task(onboarding, "it_provisioning")
    assert listed(client.get("/", {"queue": "it"})) == [it_task.pk]
    assert listed(client.get("/", {"state": "mine"})) == [open_task(dear).pk]
    assert listed(client.get("/", {"state": "open", "queue": "team-leads"})) == [open_task(cheap).pk]
    assert listed(client.get("/", {"q": "dear"})) == [open_task(dear).pk]
    filtered_out = client.get("/", {"q": "no such title"})
    assert listed(filtered_out) == []
    assert b"No tasks match these filters" in filtered_out.content


def test_an_empty_inbox_says_where_tasks_will_come_from(client, people):
    response = signed_in(client, people["cfo"]).get("/")

    assert listed(response) == []
    assert "Nothing is waiting for you" in response.content.decode()
    assert "CFO" in response.content.decode()


def test_bad_filter_input_is_a_form_error_not_a_crash(client, people):
    signed_in(client, people["lead"])

    bad_state = client.get("/", {"state": "exploded"})
    assert bad_state.status_code == 400
    assert b"Select a valid choice" in bad_state.content
    bad_cursor = client.get("/", {"after": "not-a-cursor"})
    assert bad_cursor.status_code == 400
    assert b"The cursor is not valid" in bad_cursor.content


def test_the_next_page_link_continues_where_the_page_ended(client, people):
    orders = [
        start_purchase_order(people["requester"], business_key=f"PO-{number}")
        for number in range(PAGE_SIZE + 2)
    ]
    signed_in(client, people["lead"])

    first = client.get("/")
    assert len(listed(first)) == PAGE_SIZE
    next_link = re.search(r'href="([^"]*after=[^"]+)" rel="next"', first.content.decode()).group(1)
    second = client.get(next_link.replace("&amp;", "&"))

    assert len(listed(second)) == 2
    assert sorted(listed(first) + listed(second)) == sorted(open_task(order).pk for order in orders)
    assert 'rel="next"' not in second.content.decode()


def test_times_are_shown_in_the_users_time_zone(client, people):
    order = start_purchase_order(people["requester"], business_key="PO-1")
    lead = people["lead"]
    lead.time_zone = "Asia/Tokyo"
    lead.save()
    due = open_task(order).due_at.astimezone(zoneinfo.ZoneInfo("Asia/Tokyo"))

    page = signed_in(client, lead).get("/").content.decode()

    assert f'datetime="{due.isoformat()}"' in page
    assert "times in Asia/Tokyo" in page


# --- A task's page ---------------------------------------------------------------------------------


def test_a_task_outside_the_users_reach_is_not_found(client, people):
    task = open_task(start_purchase_order(people["requester"], business_key="PO-1"))
    signed_in(client, people["finance"])
    before = writes()

    assert client.get(reverse("inbox:task", args=[task.pk])).status_code == 404
    assert (
        client.post(reverse("inbox:task_claim", args=[task.pk]), {"version": task.version}).status_code == 404
    )
    decide = client.post(reverse("inbox:task_decide", args=[task.pk]), {"version": 1, "outcome": "approve"})
    assert decide.status_code == 404
    assert client.get(reverse("inbox:task", args=[999_999])).status_code == 404
    assert writes() == before


def test_claim_and_decide_through_the_forms(client, people):
    order = start_purchase_order(people["requester"], business_key="PO-1")
    task = open_task(order)
    signed_in(client, people["lead"])

    page = client.get(reverse("inbox:task", args=[task.pk])).content.decode()
    assert f'action="/tasks/{task.pk}/claim/"' in page
    assert "Instance started" in page and "Task created" in page

    claimed = client.post(reverse("inbox:task_claim", args=[task.pk]), {"version": task.version}, follow=True)
    task.refresh_from_db()
    assert (task.state, task.assignee) == ("claimed", people["lead"])
    assert "You have claimed this task" in claimed.content.decode()
    assert 'name="outcome"' in claimed.content.decode()

    decided = client.post(
        reverse("inbox:task_decide", args=[task.pk]),
        {"version": task.version, "outcome": "approve", "comment": "Fine by me"},
        follow=True,
    )
    assert decided.redirect_chain == [("/", 302)]
    assert "The purchase order is approved." in decided.content.decode()
    order.refresh_from_db()
    task.refresh_from_db()
    assert (order.state, task.outcome, task.comment) == ("approved", "approve", "Fine by me")


def test_unclaim_puts_the_task_back(client, people):
    task = task_claim(
        task=open_task(start_purchase_order(people["requester"], business_key="PO-1")), actor=people["lead"]
    )
    signed_in(client, people["lead"])

    response = client.post(reverse("inbox:task_unclaim", args=[task.pk]), {"version": task.version})

    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.state, task.assignee) == ("open", None)


def test_decision_data_goes_to_the_step(client, people):
    onboarding = start_employee_onboarding(people["hr"], business_key="ONB-1")
    task = open_task(onboarding, "it_provisioning")
    signed_in(client, people["it"])
    form = client.get(reverse("inbox:task", args=[task.pk])).content.decode()
    assert '<input type="text" name="data__asset_tag" maxlength="40"' in form

    response = client.post(
        reverse("inbox:task_decide", args=[task.pk]),
        {"version": task.version, "outcome": "done", "data__asset_tag": "LT-9"},
    )

    assert response.status_code == 302
    task.refresh_from_db()
    assert task.decision_data == {"asset_tag": "LT-9"}


def test_a_step_that_takes_no_data_shows_no_data_field(client, people):
    task = open_task(start_purchase_order(people["requester"], business_key="PO-1"))
    signed_in(client, people["lead"])

    page = client.get(reverse("inbox:task", args=[task.pk])).content.decode()

    assert 'name="outcome"' in page
    assert 'name="data__' not in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"outcome": "done"}, "Laptop asset tag</a>: Please fill this in."),
        ({"outcome": "done", "data__asset_tag": "   "}, "Laptop asset tag</a>: Please fill this in."),
        ({"outcome": "done", "data__asset_tag": "L" * 41}, "Use at most 40 characters (this has 41)."),
        ({"outcome": "done", "data__asset_tag": "LT\x00"}, "Null characters are not allowed."),
    ],
)
def test_bad_decision_data_shows_an_error_and_writes_nothing(client, people, fields, message):
    onboarding = start_employee_onboarding(people["hr"], business_key="ONB-1")
    task = open_task(onboarding, "it_provisioning")
    signed_in(client, people["it"])
    before = writes()

    response = client.post(reverse("inbox:task_decide", args=[task.pk]), {"version": task.version, **fields})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert writes() == before
    task.refresh_from_db()
    assert task.state == "open"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"outcome": "maybe"}, "That is not one of this step&#x27;s choices; use one of the buttons."),
        ({"outcome": "reject", "comment": "   "}, "Comment</a>: Please say why: “Reject” needs a comment."),
        ({}, "Choose what to do with one of the buttons."),
    ],
)
def test_bad_decisions_show_an_error_and_write_nothing(client, people, fields, message):
    order = start_purchase_order(people["requester"], business_key="PO-1")
    task = task_claim(task=open_task(order), actor=people["lead"])
    signed_in(client, people["lead"])
    before = writes()

    response = client.post(reverse("inbox:task_decide", args=[task.pk]), {"version": task.version, **fields})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'role="alert"' in response.content.decode()
    assert writes() == before
    order.refresh_from_db()
    assert order.state == "team_lead_review"


def test_domain_conflicts_are_shown_with_their_status(client, people):
    task = task_claim(
        task=open_task(start_purchase_order(people["requester"], business_key="PO-1")), actor=people["lead2"]
    )
    signed_in(client, people["lead"])
    before = writes()

    claim = client.post(reverse("inbox:task_claim", args=[task.pk]), {"version": task.version})
    decide = client.post(
        reverse("inbox:task_decide", args=[task.pk]),
        {"version": task.version, "outcome": "approve"},
    )
    stale = client.post(reverse("inbox:task_unclaim", args=[task.pk]), {"version": task.version - 1})

    assert claim.status_code == 409 and "already claimed by someone else" in claim.content.decode()
    assert decide.status_code == 409 and "Someone else has claimed this task" in decide.content.decode()
    assert stale.status_code == 412 and "changed since you read it" in stale.content.decode()
    assert writes() == before


def test_the_requester_sees_why_they_cannot_decide(client, people):
    order = start_purchase_order(people["requester"], business_key="PO-1")
    requester = people["requester"]
    requester.groups.add(*people["lead"].groups.all())
    task = open_task(order)

    page = signed_in(client, requester).get(reverse("inbox:task", args=[task.pk])).content.decode()
    refused = client.post(reverse("inbox:task_claim", args=[task.pk]), {"version": task.version})

    assert "Four-eyes rule" in page
    assert 'name="outcome"' not in page
    assert refused.status_code == 403 and "Four-eyes rule" in refused.content.decode()


def test_forms_refuse_posts_without_the_csrf_token(people):
    task = open_task(start_purchase_order(people["requester"], business_key="PO-1"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["lead"])

    forged = client.post(reverse("inbox:task_claim", args=[task.pk]), {"version": task.version})
    assert forged.status_code == 403
    task.refresh_from_db()
    assert task.state == "open"

    page = client.get(reverse("inbox:task", args=[task.pk])).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    genuine = client.post(
        reverse("inbox:task_claim", args=[task.pk]), {"version": task.version, "csrfmiddlewaretoken": token}
    )
    assert genuine.status_code == 302
    task.refresh_from_db()
    assert task.state == "claimed"


def test_task_actions_only_accept_post(client, people):
    task = open_task(start_purchase_order(people["requester"], business_key="PO-1"))
    signed_in(client, people["lead"])

    assert client.get(reverse("inbox:task_claim", args=[task.pk])).status_code == 405


def test_the_task_page_costs_the_same_queries_however_long_its_history(
    client, people, django_assert_num_queries
):
    task = open_task(start_purchase_order(people["requester"], business_key="PO-1"))
    signed_in(client, people["lead"])
    url = reverse("inbox:task", args=[task.pk])
    # 1 session, 1 user, 1 the task with its instance, queue and assignee, 2 the reader's
    # queue and task grants (read once, for access and the page's buttons), 2 the step's
    # decision policy (earlier decisions, sibling approvals), 1 the requester, 1 the
    # history, 1 the instance's comments with their authors, 1 its attachments with their
    # uploaders; 1 the live cursor's streams (roles and queues in one UNION ALL), 1 the
    # bell (latest five with the unread count). 13, however many events it has.
    with django_assert_num_queries(13):
        assert client.get(url).status_code == 200
    for _ in range(5):
        task = task_unclaim(task=task_claim(task=task, actor=people["lead"]), actor=people["lead"])
    with django_assert_num_queries(13):
        page = client.get(url)
    # started, transitioned and task.created, then five claims and five releases.
    assert len(page.context["page"].history) == 3 + 10
