"""The staff inbox in a real browser: sign in, find, claim and decide a task; refusals,
keyboard use, landmarks and labels, the not-found page, and how the pages look."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from apps.audit.models import AuditEvent
from apps.humantasks.models import HumanTask
from apps.workflows.models import WorkflowInstance
from tests.browser.conftest import beside_the_browser, sign_in
from tests.factories import start_purchase_order
from tests.process_steps import open_task

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def start_order(people: dict[str, Any], key: str, amount: float = 1200) -> WorkflowInstance:
    return beside_the_browser(
        lambda: start_purchase_order(people["requester"], amount=amount, business_key=key)
    )


def task_url(task: HumanTask) -> str:
    return f"/tasks/{task.pk}/"


def stored(order: WorkflowInstance) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    return {
        "order": WorkflowInstance.objects.filter(pk=order.pk).values_list("state", "version").get(),
        "tasks": list(
            HumanTask.objects.filter(instance=order).values_list("pk", "state", "assignee", "version")
        ),
        "events": AuditEvent.objects.count(),
    }


def tab_to(page: Page, target: Locator, *, presses: int = 30) -> None:
    """Presses Tab until `target` has the focus; fails if it is not in the tab order."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    pytest.fail(f"{target} was not reached with {presses} presses of Tab")


UNLABELLED_CONTROLS = """() => [...document.querySelectorAll("input, select, textarea")]
    .filter(el => el.type !== "hidden" && el.type !== "submit" && el.type !== "button")
    .filter(el => el.labels.length === 0)
    .filter(el => !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby"))
    .map(el => el.outerHTML)"""


def assert_accessible_outline(page: Page, *, title: str) -> None:
    """One <main> landmark, a <title> naming the page, and a label for every form control."""
    expect(page).to_have_title(f"{title} · Approval inbox")
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.locator("main")).to_have_count(1)
    assert page.evaluate(UNLABELLED_CONTROLS) == []


# --- Deciding a task -------------------------------------------------------------------------------


def test_a_team_lead_signs_in_claims_and_approves_an_order(
    page: Page, new_page: Callable[[], Page], people, live_server
):
    order = start_order(people, "PO-1")
    task = open_task(order)
    other_lead = sign_in(new_page(), people["lead2"])
    expect(other_lead.get_by_role("row").filter(has_text=task.title)).to_contain_text("Open")

    sign_in(page, people["lead"])
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=task.title))
    expect(row).to_contain_text("Open")
    expect(row).to_contain_text("PO-1")
    row.get_by_role("link", name=task.title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(task.title)

    page.get_by_role("button", name="Claim").click()
    expect(page.get_by_role("status")).to_contain_text("You have claimed this task")
    expect(page.locator(".lede")).to_contain_text("claimed by you")
    page.get_by_label("Comment").fill("Within the team's budget")
    page.get_by_role("button", name="Approve", exact=True).click()

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("status")).to_contain_text("The purchase order is approved.")
    expect(page.get_by_role("link", name=task.title)).to_have_count(0)
    order.refresh_from_db()
    task.refresh_from_db()
    assert order.state == "approved"
    assert (task.state, task.outcome, task.decided_by, task.comment) == (
        "completed",
        "approve",
        people["lead"],
        "Within the team's budget",
    )

    page.goto(task_url(task))
    expect(page.get_by_role("region", name="Your part")).to_contain_text(
        "This task is completed. Outcome: Approve by lead."
    )
    expect(page.get_by_role("button", name="Claim")).to_have_count(0)
    expect(page.get_by_role("region", name="Purchase-order approval PO-1")).to_contain_text("Approved")

    other_lead.reload()
    expect(other_lead.get_by_role("link", name=task.title)).to_have_count(0)
    expect(other_lead.get_by_role("heading", name="Nothing is waiting for you")).to_be_visible()
    other_lead.get_by_label("State").select_option(label="Completed")
    other_lead.get_by_role("button", name="Show tasks").click()
    expect(other_lead.get_by_role("row").filter(has_text=task.title)).to_contain_text("Completed")


def test_the_four_eyes_rule_is_a_readable_refusal_that_writes_nothing(page: Page, people):
    order = start_order(people, "PO-1")
    task = open_task(order)
    requester = people["requester"]
    requester.groups.add(*people["lead"].groups.all())
    sign_in(page, requester)

    page.get_by_role("link", name=task.title).click()
    refusal = "Four-eyes rule: you requested this, so someone else must decide it."
    expect(page.get_by_role("region", name="Your part")).to_contain_text(refusal)
    expect(page.get_by_role("button", name="Claim")).to_have_count(0)
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    before = stored(order)

    # The page offers no Claim button, but a request can still be sent by hand: post the
    # claim form as the browser would, with this page's CSRF token and the task's version.
    with page.expect_navigation() as navigation:
        page.evaluate(
            """([action, version]) => {
                const form = Object.assign(document.createElement("form"), {method: "post", action});
                const token = document.querySelector("input[name=csrfmiddlewaretoken]").value;
                for (const [name, value] of [["csrfmiddlewaretoken", token], ["version", version]]) {
                    const input = document.createElement("input");
                    form.append(Object.assign(input, {type: "hidden", name, value}));
                }
                document.body.append(form);
                form.submit();
            }""",
            [f"/tasks/{task.pk}/claim/", str(task.version)],
        )

    assert navigation.value.status == 403
    expect(page.get_by_role("alert")).to_have_text(refusal)
    expect(page.get_by_role("heading", level=1)).to_have_text(task.title)
    expect(page).to_have_title(f"{task.title} · Approval inbox")
    assert stored(order) == before


# --- Keyboard and structure ------------------------------------------------------------------------


def test_the_inbox_and_a_decision_work_by_keyboard_alone(page: Page, people, live_server):
    start_order(people, "PO-1")
    task = open_task(start_order(people, "PO-2"))

    page.goto("/")
    assert_accessible_outline(page, title="Sign in")
    sign_in(page, people["lead"])
    assert_accessible_outline(page, title="My tasks")

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    state = page.get_by_label("State")
    tab_to(page, state)
    page.keyboard.press("ArrowDown")
    expect(state).to_have_value("open")
    tab_to(page, page.get_by_label("Title contains"))
    page.keyboard.type("PO-2")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"\?queue=&state=open&q=PO-2"))
    expect(page.get_by_role("row")).to_have_count(2)  # the header and PO-2's task
    link = page.get_by_role("link", name=task.title)
    tab_to(page, link)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text(task.title)
    tab_to(page, page.get_by_role("button", name="Claim"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("You have claimed this task")
    assert_accessible_outline(page, title=task.title)
    tab_to(page, page.get_by_label("Comment"))
    page.keyboard.type("Fine by me")
    tab_to(page, page.get_by_role("button", name="Approve", exact=True))
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("status")).to_contain_text("The purchase order is approved.")
    task.refresh_from_db()
    assert (task.state, task.outcome, task.comment) == ("completed", "approve", "Fine by me")


# --- Out of reach ----------------------------------------------------------------------------------


def test_someone_elses_task_shows_the_not_found_page(page: Page, people):
    task = open_task(start_order(people, "PO-1"))
    sign_in(page, people["finance"])

    response = page.goto(task_url(task))

    assert response is not None and response.status == 404
    expect(page).to_have_title("Not found · Approval inbox")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_role("main")).not_to_contain_text(task.title)
    not_found = page.get_by_role("main").inner_text()
    # The same page as for a task that does not exist: it says nothing about which one this is.
    assert page.goto("/tasks/999999/").status == 404
    expect(page.get_by_role("main")).to_have_text(not_found)
    page.get_by_role("link", name="My tasks").first.click()
    expect(page).to_have_title("My tasks · Approval inbox")


# --- How the pages look ----------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_the_pages_are_styled_and_fit_the_screen(page: Page, people, tmp_path: Path, width: int):
    for number in range(1, 4):
        start_order(people, f"PO-{number}", amount=1200 * number)
    task = open_task(WorkflowInstance.objects.get(business_key="PO-1"))
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, people["lead"])

    for name, path in [("inbox", "/"), ("task", task_url(task))]:
        page.goto(path)
        # Kept in the test's tmp dir (pytest --basetemp=DIR to choose it) for a person to look at.
        shot = tmp_path / f"{name}-{width}.png"
        page.screenshot(path=shot, full_page=True)
        assert shot.read_bytes().startswith(b"\x89PNG")
        # The stylesheet arrived: the page's wash is app.css's, not the browser's white.
        assert (
            page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
            == "rgb(246, 248, 250)"
        )
        # Nothing pushes the page wider than the screen (a sideways scroll on a phone).
        assert page.evaluate("document.documentElement.scrollWidth") <= width
