"""The live inbox in a real browser: two team leads, each signed in on a different Daphne
server (channels-redis on the test's Redis between them), watch their inboxes change without
a reload, and the bell rings for a reminder. Runs static/js/live.js as shipped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from apps.accounts.models import User
from apps.humantasks.models import HumanTask
from apps.humantasks.services import task_claim
from tests.browser.conftest import TIMEOUT_MS, beside_the_browser, sign_in
from tests.factories import purchase_order_data
from tests.live.servers import DaphneServer, LiveServers

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def on_server(browser: Browser) -> Iterator[Callable[[DaphneServer], Page]]:
    """Opens a page in a fresh browser context (one signed-in person) on one Daphne server."""
    contexts: list[BrowserContext] = []

    def open_page(server: DaphneServer) -> Page:
        context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def inbox_of(page: Page, user: User) -> Page:
    """Signed in, on the inbox, and listening: the socket has subscribed and resumed."""
    sign_in(page, user)
    return listening(page)


def listening(page: Page) -> Page:
    expect(page.locator("html")).to_have_attribute("data-live", "live")
    # Marks the document: a reload would draw a fresh one without it.
    page.evaluate("document.documentElement.dataset.notReloaded = 'yes'")
    return page


def not_reloaded(page: Page) -> None:
    expect(page.locator("html")).to_have_attribute("data-not-reloaded", "yes")


def claim(page: Page, task: HumanTask) -> None:
    with page.expect_navigation():
        row(page, task).get_by_role("button", name="Claim").click()


def row(page: Page, task: HumanTask) -> Locator:
    return page.locator(f'[data-task-id="{task.pk}"]')


def start_order_over_the_api(server: DaphneServer, api_key: str, business_key: str) -> HumanTask:
    answer = requests.post(
        f"{server.url}/api/v1/instances/",
        json={"kind": "purchase_order", "business_key": business_key, "data": purchase_order_data(1200)},
        headers={"Authorization": f"Api-Key {api_key}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return HumanTask.objects.get(instance_id=answer.json()["id"], state="open")


def test_two_team_leads_see_a_new_order_and_who_took_it_without_reloading(
    live_servers: LiveServers, on_server, people, key_for
):
    a, b = live_servers.pair()
    carla = inbox_of(on_server(a), people["lead"])
    dev = inbox_of(on_server(b), people["lead2"])

    task = start_order_over_the_api(a, key_for(people["requester"]), "PO-LIVE-1")

    for page in (carla, dev):
        expect(row(page, task)).to_be_visible()
        expect(row(page, task).get_by_role("link", name=task.title)).to_be_visible()
        expect(row(page, task).get_by_role("button", name="Claim")).to_be_visible()

    for page in (carla, dev):
        not_reloaded(page)
    claim(carla, task)

    expect(row(dev, task)).to_have_attribute("data-task-state", "claimed")
    expect(row(dev, task)).to_contain_text(people["lead"].get_full_name() or people["lead"].username)
    expect(row(dev, task).get_by_role("button", name="Claim")).to_have_count(0)
    # Dev's page was redrawn in place, never reloaded.
    not_reloaded(dev)
    task.refresh_from_db()
    assert task.state == "claimed" and task.assignee == people["lead"]


def test_the_bell_rings_with_the_reminder_of_a_task_falling_due(
    live_servers: LiveServers, on_server, people, key_for
):
    a, b = live_servers.pair()
    task = start_order_over_the_api(a, key_for(people["requester"]), "PO-LIVE-2")
    beside_the_browser(lambda: task_claim(task=task, actor=people["lead"], expected_version=task.version))
    carla = inbox_of(on_server(b), people["lead"])
    expect(carla.locator("#bell-count")).to_have_count(0)
    expect(row(carla, task)).to_have_attribute("data-task-state", "claimed")

    # Due in ten minutes: inside the reminder window, so beat's timer reminds the assignee.
    HumanTask.objects.filter(pk=task.pk).update(due_at=timezone.now() + timedelta(minutes=10))
    assert live_servers.run("apps.humantasks.timers.tasks_remind_assignees") == "1"

    expect(carla.locator("#bell-count")).to_have_text("1 unread")
    carla.locator("#bell summary").click()
    reminder = carla.locator("#bell li.unread")
    expect(reminder).to_have_count(1)
    expect(reminder).to_contain_text("Falls due soon")
    expect(reminder.get_by_role("link", name=task.title)).to_have_attribute("href", f"/tasks/{task.pk}/")
    not_reloaded(carla)
