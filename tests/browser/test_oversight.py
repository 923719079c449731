"""The auditors' workspace and the managers' dashboard in a real browser, on the demo data:
find PO-DEMO-1006, read its story and diagram, export the search, verify the log before and
after someone tampers with it; a manager's dashboard shows their queues only."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from guardian.shortcuts import assign_perm
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.humantasks.models import Queue
from apps.ops.demo import demo_seed
from apps.workflows.models import WorkflowInstance
from tests.audit.tampering import tamper
from tests.browser.conftest import PASSWORD, beside_the_browser, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo() -> None:
    beside_the_browser(lambda: demo_seed(password=PASSWORD))


def run_a_verification(page: Page) -> None:
    page.get_by_role("navigation", name="Oversight").get_by_role("link", name="Verify the log").click()
    page.get_by_role("button", name="Run a verification").click()


def test_an_auditor_finds_reads_exports_and_verifies(page: Page, demo) -> None:
    order = WorkflowInstance.objects.get(business_key="PO-DEMO-1006")
    sign_in(page, User.objects.get(username="auditor"))

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Processes").click()
    page.get_by_label("Business key").fill("PO-DEMO-1006")
    page.get_by_role("button", name="Search").click()
    results = page.get_by_role("table", name="Matching processes")
    expect(results.get_by_role("row")).to_have_count(2)  # the header and the order
    expect(results).to_contain_text("Purchase-order approval")
    expect(results).to_contain_text("Rejected")
    results.get_by_role("link", name="PO-DEMO-1006").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Purchase-order approval PO-DEMO-1006")
    story = page.locator(".story").first
    expect(story).to_contain_text("Moved from Team lead review to Finance review (approve by team lead)")
    expect(story).to_contain_text("Moved from Finance review to Rejected (reject)")
    expect(story).to_contain_text("Over this quarter's furniture budget.")
    diagram = page.get_by_role("img", name="Purchase-order approval: process diagram, now Rejected")
    expect(diagram).to_be_visible()
    expect(diagram.locator('g.state-current[data-state="rejected"]')).to_have_count(1)
    expect(diagram.locator("path.edge-taken")).to_have_count(3)
    # The recorded event behind a sentence is one click away.
    raw = page.locator("details.raw").first
    raw.get_by_text("Recorded event").click()
    expect(raw.locator("pre")).to_contain_text("instance.started")

    page.get_by_role("link", name="Audit events").click()
    page.get_by_label("Business key").fill("PO-DEMO-1006")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("table", name="Matching events")).to_contain_text("task.completed")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export as CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    expected = list(AuditEvent.objects.filter(instance=order).order_by("id").values_list("id", flat=True))
    assert [int(row["id"]) for row in rows] == expected
    assert {row["instance_id"] for row in rows} == {str(order.pk)}

    events_now = AuditEvent.objects.count()
    run_a_verification(page)
    # The request's own event is checked too.
    expect(page.locator(".verdict")).to_contain_text(f"Verified {events_now + 1} events")

    victim = AuditEvent.objects.filter(instance=order, action="task.completed").order_by("id").last()
    tamper('UPDATE audit_auditevent SET data = data || \'{"outcome": "approve"}\' WHERE id = %s', [victim.pk])
    run_a_verification(page)
    verdict = page.get_by_role("alert")
    expect(verdict).to_contain_text(f"The first broken event is #{victim.pk}")
    expect(verdict).to_contain_text("content does not match its hash")


def test_a_manager_s_dashboard_shows_only_their_queues(new_page: Callable[[], Page], demo, make_user) -> None:
    manager = make_user(username="finance-manager")
    manager.set_password(PASSWORD)
    manager.save()
    assign_perm("humantasks.manage_queue", manager, Queue.objects.get(slug="finance"))
    page = sign_in(new_page(), manager)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    queues = page.get_by_role("table", name="Throughput, SLA breaches and reassignments per queue")
    expect(queues.get_by_role("row")).to_have_count(2)
    expect(queues).to_contain_text("Finance")
    steps = page.get_by_role(
        "table", name="Wait before claim, work after claim and whole cycle (median and 90th percentile)"
    )
    expect(steps).to_contain_text("Finance approval")
    expect(page.get_by_role("main")).not_to_contain_text("Team lead")
    expect(page.get_by_role("img", name="SLA breach rate per queue")).to_be_visible()
    # The queue picker offers their queues only.
    expect(page.get_by_label("Queue").locator("option")).to_have_text(["All my queues", "Finance"])
