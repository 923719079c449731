"""Starting processes in the browser: who may start what, the generated forms, plain-word
errors beside each field, nothing written on bad input, and what the page says after."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask
from apps.workflows.models import WorkflowInstance
from apps.workflows.services import instance_start
from tests.factories import purchase_order_data

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

START_ORDER = reverse("inbox:start", args=["purchase_order"])
START_ONBOARDING = reverse("inbox:start", args=["employee_onboarding"])


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rows() -> dict[str, int]:
    return {
        "instances": WorkflowInstance.objects.count(),
        "tasks": HumanTask.objects.count(),
        "events": AuditEvent.objects.count(),
    }


def year() -> int:
    return timezone.localdate().year


ORDER = {"amount": "1200", "currency": "EUR", "supplier": "Acme Tools", "description": "Drills"}
ONBOARDING = {
    "employee_name": "Grace Hopper",
    "employee_email": "grace@example.com",
    "start_date": "2027-01-04",
    "department": "Engineering",
    "job_title": "Compiler engineer",
}


# --- Who may start what ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "offered"),
    [
        ("requester", ["Purchase-order approval"]),
        ("hr", ["Employee onboarding"]),
        ("integration", ["Customer account activation", "Employee onboarding", "Purchase-order approval"]),
        ("lead", []),
        ("manager", []),
        ("auditor", []),
        ("outsider", []),
    ],
)
def test_the_start_page_offers_each_person_what_they_may_start(people, role, offered):
    page = signed_in(people[role]).get(reverse("inbox:start_list"))

    assert page.status_code == 200
    assert [kind.process_title for kind in page.context["kinds"]] == offered
    if not offered:
        assert "There is nothing you can start here." in page.content.decode()


@pytest.mark.parametrize(
    ("role", "kind", "status"),
    [
        ("requester", "purchase_order", 200),
        ("requester", "employee_onboarding", 403),
        ("hr", "employee_onboarding", 200),
        ("hr", "purchase_order", 403),
        ("lead", "purchase_order", 403),
        ("manager", "employee_onboarding", 403),
        ("auditor", "purchase_order", 403),
        ("outsider", "purchase_order", 403),
        ("requester", "no_such_kind", 404),
    ],
)
def test_start_forms_open_only_to_those_who_may_start_the_kind(people, role, kind, status):
    client = signed_in(people[role])
    before = rows()

    read = client.get(reverse("inbox:start", args=[kind]))
    write = client.post(
        reverse("inbox:start", args=[kind]), ORDER if kind == "purchase_order" else ONBOARDING
    )

    assert read.status_code == status
    if status == 200:
        assert write.status_code == 302
        assert rows()["instances"] == before["instances"] + 1
    else:
        assert write.status_code == status
        assert rows() == before
        # The site's own page, in its layout, never Django's.
        assert "Approval inbox" in write.content.decode()
        assert "Traceback" not in write.content.decode()


def test_strangers_are_asked_to_sign_in(client, people):
    assert client.get(START_ORDER)["Location"] == f"/accounts/login/?next={START_ORDER}"
    response = client.post(START_ORDER, ORDER)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert WorkflowInstance.objects.count() == 0


# --- The generated form ------------------------------------------------------------------------


def test_the_order_form_has_typed_fields_with_limits_labels_and_help(people):
    page = signed_in(people["requester"]).get(START_ORDER).content.decode()

    assert '<input type="number" name="amount" step="0.01" min="0" max="1000000000"' in page
    assert 'Amount <span class="required">(required)</span>' in page
    assert "over 50,000 the CFO as well" in page
    assert 'name="currency" value="EUR"' in page and '<option value="USD">' in page
    assert '<input type="text" name="supplier" maxlength="200"' in page
    assert '<textarea name="description" cols="40" rows="3" maxlength="2000"' in page
    assert 'Cost center <span class="optional">(optional)</span>' in page


def test_the_onboarding_form_asks_for_a_date_and_an_email(people):
    page = signed_in(people["hr"]).get(START_ONBOARDING).content.decode()

    assert '<input type="date" name="start_date"' in page
    assert '<input type="email" name="employee_email" maxlength="254"' in page, page


# --- Starting ----------------------------------------------------------------------------------


def test_a_requester_starts_an_order_and_it_reaches_the_team_leads(people):
    client = signed_in(people["requester"])

    response = client.post(START_ORDER, {**ORDER, "amount": "1200.50", "cost_center": ""}, follow=True)

    order = WorkflowInstance.objects.get()
    assert order.business_key == f"PO-{year()}-000001"
    assert order.data == {**purchase_order_data(1200.5)}
    assert (order.state, order.requester, order.started_by) == (
        "team_lead_review",
        people["requester"],
        people["requester"],
    )
    assert f"Purchase order PO-{year()}-000001 sent to the team leads." in response.content.decode()
    task = HumanTask.objects.get(instance=order)
    assert task.queue.slug == "team-leads"
    assert task.pk in [t.pk for t in signed_in(people["lead"]).get("/").context["page"].tasks]

    client.post(START_ORDER, ORDER)
    assert WorkflowInstance.objects.latest("pk").business_key == f"PO-{year()}-000002"


def test_an_onboarding_goes_to_all_three_teams_with_its_date(people):
    response = signed_in(people["hr"]).post(START_ONBOARDING, ONBOARDING, follow=True)

    onboarding = WorkflowInstance.objects.get()
    assert onboarding.data["start_date"] == "2027-01-04"
    assert f"Onboarding ONB-{year()}-000001 sent to HR, IT and Payroll." in response.content.decode()


def test_a_key_taken_meanwhile_makes_the_start_take_the_next_one(people, monkeypatch):
    taken = f"PO-{year()}-000007"
    instance_start(
        kind="purchase_order", business_key=taken, data=purchase_order_data(), actor=people["requester2"]
    )
    proposals = iter([taken, f"PO-{year()}-000008"])
    monkeypatch.setattr("apps.inbox.start_views.business_key_next", lambda **_: next(proposals))

    signed_in(people["requester"]).post(START_ORDER, ORDER)

    assert WorkflowInstance.objects.get(requester=people["requester"]).business_key == f"PO-{year()}-000008"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"amount": "-5"}, "amount", "Enter a number greater than 0."),
        ({"amount": "0"}, "amount", "Enter a number greater than 0."),
        ({"amount": "2000000000"}, "amount", "Enter 1,000,000,000 or less."),
        ({"amount": "twelve"}, "amount", "Enter a number, such as 1200 or 1200.50."),
        ({"amount": "12.345"}, "amount", "Use at most 2 digits after the decimal point."),
        ({"amount": ""}, "amount", "Please fill this in."),
        ({"currency": "eur"}, "currency", "Check this: Three capital letters, such as EUR or USD."),
        ({"supplier": "   "}, "supplier", "Please fill this in."),
        ({"supplier": "S" * 201}, "supplier", "Use at most 200 characters (this has 201)."),
        ({"description": "D" * 2001}, "description", "Use at most 2000 characters (this has 2001)."),
        ({"supplier": "Acme\x00"}, "supplier", "Null characters are not allowed."),
    ],
)
def test_a_wrong_order_shows_the_error_beside_its_field_and_starts_nothing(people, fields, field, message):
    client = signed_in(people["requester"])
    before = rows()

    response = client.post(START_ORDER, {**ORDER, **fields})

    assert response.status_code == 400
    assert response.context["form"].errors == {field: [message]}
    page = response.content.decode()
    assert f'<p class="field-error" id="id_{field}_error">{message}</p>' in page.replace("&#x27;", "'")
    assert "Nothing was started." in page
    assert "non_field_errors" not in page and "is not valid under" not in page
    assert rows() == before


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"start_date": "04/01/2027"}, "start_date", "Enter a date, such as 2027-01-04."),
        ({"start_date": "2027-02-30"}, "start_date", "Enter a date, such as 2027-01-04."),
        ({"employee_email": "grace"}, "employee_email", "Enter an email address, such as name@example.com."),
        ({"job_title": ""}, "job_title", "Please fill this in."),
    ],
)
def test_a_wrong_onboarding_starts_nothing(people, fields, field, message):
    client = signed_in(people["hr"])
    before = rows()

    response = client.post(START_ONBOARDING, {**ONBOARDING, **fields})

    assert response.status_code == 400
    assert response.context["form"].errors == {field: [message]}
    assert rows() == before


def test_unknown_fields_are_ignored_not_stored(people):
    signed_in(people["requester"]).post(START_ORDER, {**ORDER, "is_approved": "yes"})

    assert "is_approved" not in WorkflowInstance.objects.get().data


def test_the_start_page_and_form_cost_a_fixed_number_of_queries(people, django_assert_num_queries):
    client = signed_in(people["requester"])
    # 1 session, 1 user; then which kinds the person may start: 1 per kind (3 kinds), the
    # start permission (their own or their roles') and the roles the kind names in one query.
    # (+1 on each page: the bell, its latest five with the unread count.)
    with django_assert_num_queries(6):
        assert client.get(reverse("inbox:start_list")).status_code == 200
    # 1 session, 1 user, 1 may they start this kind. The form itself reads nothing.
    with django_assert_num_queries(4):
        assert client.get(START_ORDER).status_code == 200


def test_today_decides_the_year_of_the_key(people, monkeypatch):
    monkeypatch.setattr("apps.inbox.start_views.timezone.localdate", lambda: datetime.date(2031, 5, 1))

    signed_in(people["requester"]).post(START_ORDER, ORDER)

    assert WorkflowInstance.objects.get().business_key == "PO-2031-000001"
