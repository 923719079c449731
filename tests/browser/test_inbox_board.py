"""The inbox's list, bulk actions, keyboard and saved views, and the managers' queue board,
in a real browser against a live server. Also writes the README's screenshots
(docs/screenshots/inbox.png, board.png)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_claim, task_complete
from apps.inbox.models import SavedView
from apps.workflows.models import WorkflowInstance
from apps.workflows.services import instance_start
from tests.browser.conftest import beside_the_browser, sign_in
from tests.factories import purchase_order_data

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
WIDE = {"width": 1600, "height": 1000}


def start_order(actor, key: str, amount: float = 1200) -> WorkflowInstance:
    return beside_the_browser(
        lambda: instance_start(
            kind="purchase_order", business_key=key, data=purchase_order_data(amount), actor=actor
        )
    )


def open_tasks(order: WorkflowInstance) -> list[HumanTask]:
    return list(HumanTask.objects.filter(instance=order, state__in=("open", "claimed")).order_by("pk"))


def lead_approves(people: dict[str, Any], order: WorkflowInstance) -> None:
    (task,) = open_tasks(order)
    beside_the_browser(lambda: task_complete(task=task, actor=people["lead"], outcome="approve"))


def test_a_lead_approves_with_the_keyboard(page: Page, people):
    order = start_order(people["requester"], "PO-KEYS")
    (task,) = open_tasks(order)
    sign_in(page, people["lead"])

    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Approve the task (asks first)")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    page.keyboard.press("j")
    expect(page.get_by_role("link", name=task.title)).to_be_focused()
    page.keyboard.press("c")
    results = page.locator("#bulk-results")
    expect(results).to_contain_text("Done: " + task.title + " — Claimed by you.")
    expect(page.get_by_role("row").filter(has_text=task.title)).to_contain_text("by you")

    page.keyboard.press("a")
    confirm = page.get_by_role("dialog", name="Approve 1 task?")
    expect(confirm).to_be_visible()
    expect(confirm.get_by_role("button", name="Approve")).to_be_focused()
    page.keyboard.press("Enter")
    expect(results).to_contain_text("1 of 1 task processed: 1 done")
    expect(results).to_contain_text("Approved. The process is now: Approved.")
    order.refresh_from_db()
    task.refresh_from_db()
    assert (order.state, task.state, task.decided_by) == ("approved", "completed", people["lead"])

    # The search key reaches the title filter.
    page.keyboard.press("/")
    expect(page.get_by_label("Title contains")).to_be_focused()


def test_finance_bulk_approves_and_reads_each_result_one_refused_by_four_eyes(page: Page, people):
    finance = people["finance"]
    finance.groups.add(*people["requester"].groups.all())  # may start orders too
    orders = [start_order(people["requester"], f"PO-BULK-{n}", amount=8000) for n in (1, 2, 3)]
    own = start_order(finance, "PO-BULK-OWN", amount=9000)
    for order in [*orders, own]:
        lead_approves(people, order)
    first_slots = [open_tasks(order)[0] for order in [*orders, own]]

    page.set_viewport_size(WIDE)
    sign_in(page, finance)
    own_row = page.get_by_role("row").filter(has_text=first_slots[-1].title)
    four_eyes = "Four-eyes rule: you requested this, so someone else must decide it."
    expect(own_row).to_contain_text(four_eyes)  # told before trying

    # The first box, then shift-click the last: the range between is selected as well.
    boxes = [page.get_by_role("checkbox", name=f"Select {task.title}") for task in first_slots]
    for box in boxes:
        box.check()
    expect(page.locator("[data-bulk-count]")).to_have_text("4 tasks selected")
    page.get_by_role("button", name="Approve…").click()
    page.get_by_role("dialog", name="Approve 4 tasks?").get_by_role("button", name="Approve").click()

    results = page.locator("#bulk-results")
    expect(results).to_contain_text("4 of 4 tasks processed: 3 done, 1 not done")
    for task in first_slots[:3]:
        expect(results.locator(f'[data-result-task="{task.pk}"]')).to_contain_text("Done")
    refused = results.locator(f'[data-result-task="{first_slots[-1].pk}"]')
    expect(refused).to_contain_text("Not done")
    expect(refused).to_contain_text(four_eyes)
    states = dict(HumanTask.objects.filter(pk__in=[t.pk for t in first_slots]).values_list("pk", "state"))
    assert [states[t.pk] for t in first_slots] == ["completed", "completed", "completed", "open"]
    # Each remaining second slot now tells finance it needs someone else.
    page.reload()
    second = open_tasks(orders[0])[0]
    expect(page.get_by_role("row").filter(has_text=second.title)).to_contain_text("needs different people")


def test_shift_click_selects_a_range(page: Page, people):
    tasks = [open_tasks(start_order(people["requester"], f"PO-R{n}"))[0] for n in range(4)]
    sign_in(page, people["lead"])
    rows = page.locator("tr[data-task-id] input[name=task]")
    expect(rows).to_have_count(4)
    rows.nth(0).click()
    rows.nth(3).click(modifiers=["Shift"])
    expect(page.locator("[data-bulk-count]")).to_have_text("4 tasks selected")
    assert len(tasks) == 4


def test_a_manager_reassigns_a_claimed_task_and_the_person_sees_it(
    page: Page, new_page: Callable[[], Page], people
):
    order = start_order(people["requester"], "PO-MOVE")
    (task,) = open_tasks(order)
    beside_the_browser(lambda: task_claim(task=task, actor=people["lead"]))
    for n in range(3):
        start_order(people["requester"], f"PO-WAIT-{n}", amount=500 + n)

    page.set_viewport_size(WIDE)
    sign_in(page, people["manager"])
    page.get_by_role("link", name="Queue board").click()
    leads = page.get_by_role("row").filter(has=page.get_by_role("link", name="Team leads", exact=True))
    expect(leads).to_contain_text("lead: 1")
    leads.get_by_role("link", name="Team leads", exact=True).click()
    page.screenshot(path=str(SCREENSHOTS / "board.png"), full_page=True)

    page.get_by_role("checkbox", name=f"Select {task.title}").check()
    page.get_by_label("Action").select_option(label="Reassign to a person")
    page.get_by_label("To person (username)").fill("lead2")
    page.get_by_label("Reason").fill("Carla is on leave this week")
    page.get_by_role("button", name="Apply to the selected tasks").click()
    expect(page.locator("#bulk-results")).to_contain_text(f"Done: {task.title} — Now held by")
    task.refresh_from_db()
    assert task.assignee == people["lead2"]
    event = AuditEvent.objects.filter(task=task, action="task.reassigned").get()
    assert event.data["reason"] == "Carla is on leave this week"

    colleague = sign_in(new_page(), people["lead2"])
    colleague.get_by_role("link", name="Mine").click()
    expect(colleague.get_by_role("row").filter(has_text=task.title)).to_contain_text("by you")


def test_a_saved_view_shared_with_the_team_appears_for_a_teammate(
    page: Page, new_page: Callable[[], Page], people
):
    small = start_order(people["requester"], "PO-SMALL-1", amount=300)
    start_order(people["requester"], "PO-OTHER-1", amount=900)
    sign_in(page, people["lead"])
    page.get_by_label("Title contains").fill("SMALL")
    page.get_by_label("Order", exact=True).select_option(label="Due soonest first")
    page.get_by_role("button", name="Show tasks").click()
    page.get_by_role("textbox", name="Save these filters as").fill("Small orders")
    page.get_by_role("button", name="Save view").click()
    expect(page.get_by_role("status")).to_contain_text("Saved the view “Small orders”")

    page.get_by_role("link", name="Saved views…").click()
    page.get_by_text("Change or share").click()
    page.get_by_label("Share with").select_option(label="The Team leads team")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("row").filter(has_text="Small orders")).to_contain_text("The Team leads team")
    assert SavedView.objects.get().filters == {"q": "SMALL", "sort": "due"}

    teammate = sign_in(new_page(), people["lead2"])
    teammate.get_by_role("link", name="★ Small orders").click()
    expect(teammate.get_by_text("shared by")).to_be_visible()
    (task,) = open_tasks(small)
    expect(teammate.locator("tr[data-task-id]")).to_have_count(1)
    expect(teammate.get_by_role("row").filter(has_text=task.title)).to_be_visible()

    outsider = sign_in(new_page(), people["finance"])
    expect(outsider.get_by_role("link", name="★ Small orders")).to_have_count(0)


def test_the_task_opens_beside_the_list_on_a_wide_screen(page: Page, people):
    orders = [start_order(people["requester"], f"PO-SIDE-{n}", amount=1200 + n) for n in range(3)]
    (task,) = open_tasks(orders[0])
    page.set_viewport_size(WIDE)
    sign_in(page, people["lead"])
    page.get_by_role("link", name=task.title).click()
    pane = page.locator("#task-pane")
    expect(pane.get_by_role("heading", name=task.title)).to_be_visible()
    expect(pane.get_by_role("button", name="Claim")).to_be_visible()
    expect(page.get_by_role("heading", name="My tasks")).to_be_visible()  # the list stays
    page.screenshot(path=str(SCREENSHOTS / "inbox.png"), full_page=True)
