"""The start and decision forms in a real browser: a requester starts an order from the form,
fixes the amount the page refused, and a team lead finds it; a requester revises an order
sent back to them in the typed form. With SCREENSHOTS=1 the tests also refresh the README's
pictures in docs/screenshots/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_complete
from apps.workflows.models import WorkflowInstance
from apps.workflows.services import instance_start
from config.env import env
from tests.browser.conftest import beside_the_browser, sign_in
from tests.factories import purchase_order_data

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


def picture(page: Page, name: str) -> None:
    """The README's screenshots, refreshed only when asked (SCREENSHOTS=1): they are committed."""
    if env.bool("SCREENSHOTS", default=False):
        page.screenshot(path=SCREENSHOTS / name, full_page=True)


def named(people: dict[str, Any]) -> dict[str, Any]:
    for key, (first, last) in {"requester": ("Ana", "Ruiz"), "lead": ("Carla", "Jensen")}.items():
        people[key].first_name, people[key].last_name = first, last
        people[key].save()
    return people


def test_a_requester_starts_an_order_fixes_the_amount_and_the_team_leads_get_it(
    page: Page, new_page: Callable[[], Page], people
):
    named(people)
    sign_in(page, people["requester"])
    page.get_by_role("link", name="Start something").click()
    page.get_by_role("link", name="Purchase-order approval").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Purchase-order approval")

    page.get_by_label("Amount").fill("-5")
    page.get_by_label("Supplier").fill("Acme Tools")
    page.get_by_label("What and why").fill("Cordless drills for the workshop")
    page.get_by_role("button", name="Start").click()

    amount_error = page.locator("#id_amount_error")
    expect(amount_error).to_have_text("Enter a number greater than 0.")
    expect(page.get_by_role("alert")).to_contain_text("Nothing was started.")
    expect(page.get_by_role("alert")).to_be_focused()
    # What was typed is still there; only the amount needs fixing.
    expect(page.get_by_label("Supplier")).to_have_value("Acme Tools")
    assert WorkflowInstance.objects.count() == 0
    picture(page, "start-form.png")

    page.get_by_label("Amount").fill("1200")
    page.get_by_role("button", name="Start").click()

    key = f"PO-{timezone.localdate().year}-000001"
    expect(page.get_by_role("status")).to_have_text(f"Purchase order {key} sent to the team leads.")
    order = WorkflowInstance.objects.get()
    assert (order.business_key, order.state, order.data["amount"]) == (key, "team_lead_review", 1200)

    lead = sign_in(new_page(), people["lead"])
    task = HumanTask.objects.get(instance=order)
    row = lead.get_by_role("row").filter(has=lead.get_by_role("link", name=task.title))
    expect(row).to_contain_text(key)
    row.get_by_role("link", name=task.title).click()
    facts = lead.get_by_role("region", name=f"Purchase-order approval {key}")
    expect(facts).to_contain_text("1,200.00 EUR")
    expect(facts).to_contain_text("Ana Ruiz")


def test_a_requester_revises_an_order_in_the_typed_form(page: Page, people):
    named(people)

    def sent_back() -> WorkflowInstance:
        order = instance_start(
            kind="purchase_order",
            business_key="PO-REVISE-1",
            data=purchase_order_data(3400),
            actor=people["requester"],
        )
        task_complete(
            task=HumanTask.objects.get(instance=order),
            actor=people["lead"],
            outcome="request_changes",
            comment="Please split the drills from the batteries.",
        )
        return order

    order = beside_the_browser(sent_back)
    task = HumanTask.objects.get(instance=order, state__in=("open", "claimed"))
    sign_in(page, people["requester"])
    page.get_by_role("link", name=task.title).click()

    reason = page.locator(".cause")
    expect(reason).to_contain_text("Why it came back to you")
    expect(reason).to_contain_text("Carla Jensen chose “Send back for changes”")
    expect(reason).to_contain_text("Please split the drills from the batteries.")
    expect(page.get_by_label("Amount")).to_have_value("3400")
    expect(page.get_by_label("Supplier")).to_have_value("Acme Tools")
    picture(page, "task-page.png")

    page.get_by_label("Amount").fill("-1")
    page.get_by_role("button", name="Resubmit").click()
    expect(page.locator("#id_data__amount_error")).to_have_text("Enter a number greater than 0.")
    order.refresh_from_db()
    assert (order.state, order.data["amount"]) == ("changes_requested", 3400)

    page.get_by_label("Amount").fill("2900")
    page.get_by_label("What and why").fill("Drills only; batteries on a second order")
    page.get_by_role("button", name="Resubmit").click()

    expect(page.get_by_role("status")).to_have_text(
        "Resubmitted. The purchase order now waits for the team leads."
    )
    order.refresh_from_db()
    assert (order.state, order.data["amount"], order.data["description"]) == (
        "team_lead_review",
        2900,
        "Drills only; batteries on a second order",
    )
